/**
 * The sequencer with a real ledger and a real execution worker, its replica replaced by a stand-in
 * whose leadership the test controls: seqnos agree across ledger, consensus log and KV; a
 * signature's KV apply is not waited for and has no worker message of its own (the next request
 * carries it); a pipeline that runs dry signs what it left unsigned
 * (in the batch's own run once the idle gap has passed, by a timer otherwise), a queue that never
 * runs dry by the policy only, unless an entry has waited the bound on unsigned waits (5 ms) and the
 * batches are small (a busy one, of many calls, leaves it to the policy);
 * leadership lost while a batch executes (carrying the
 * signature's apply) leaves nothing proposed, the KV rolled back to the
 * ledger, every call failed NotLeader (and a rollback that fails there stops the node); and the
 * resent signed requests execute exactly once.
 * Below saturation a batch lingers: calls that come within the interval wait and join one batch
 * (which starts at once when enough calls wait, or when the interval's timer fires), and a batch
 * after which the next lingers is followed by its signature.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { TreatyError } from "../../sdk/errors.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { parseSignaturePolicy, type UnsignedWaitBound } from "../../runtime/ledger/policy.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { DEFAULT_CONSENSUS_LIMITS } from "../../node/consensus/index.js";
import type { NodeStatus } from "../../node/consensus/node.js";
import type { ProposedEntry, TxId } from "../../node/consensus/types.js";
import { ExecutionService } from "../../node/execution/service.js";
import { createLogger } from "../../node/log.js";
import { type BatchLinger, Sequencer, type SequencerReplica } from "../../node/sequencer.js";
import { renderWritePhases } from "../../node/stage-times.js";
import { signerFor, testRandom, testSecrets, VALID_FROM_MS } from "../ledger/fixtures.js";
import { call, codeOf, counterBundle, okResult, TEST_LIMITS, TempDirs } from "../execution/support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const HOOKED_WORKER = new URL("../execution/fixtures/hooked-worker.js", import.meta.url);

/** The replica's stand-in: a consensus log of ids, and a role the test sets. */
class StandInReplica implements SequencerReplica {
  readonly log: TxId[] = [];
  role: "Leader" | "Follower" = "Leader";
  view = 2;

  readonly consensus = {
    limits: DEFAULT_CONSENSUS_LIMITS,
    leaderView: (): number | null => (this.role === "Leader" ? this.view : null),
    status: (): NodeStatus => ({
      id: "n1",
      role: this.role,
      view: this.view,
      leader: this.role === "Leader" ? "n1" : "n2",
      votedFor: "n1",
      commitSeqno: 0,
      lastSeqno: this.log.length,
      lastView: this.log.at(-1)?.view ?? 0,
      persistedSeqno: this.log.length,
      config: ["n1", "n2", "n3"],
      member: true,
      learners: [],
    }),
  };

  propose(entries: readonly ProposedEntry[]): TxId[] {
    if (this.role !== "Leader") throw new TreatyError("NotLeader", "stand-in: not the leader");
    return entries.map(() => {
      const id = { view: this.view, seqno: this.log.length + 1 };
      this.log.push(id);
      return id;
    });
  }

  changeMembership(): TxId {
    throw new Error("stand-in: no membership changes here");
  }

  checkMembershipChange(): void {
    throw new Error("stand-in: no membership changes here");
  }

  /** A new leader elsewhere: this node follows in a later view (its log unchanged here). */
  loseLeadership(): void {
    this.role = "Follower";
    this.view++;
  }

  /** This node leads again, in a later view. */
  regainLeadership(): void {
    this.role = "Leader";
    this.view++;
  }
}

async function setup(
  idleSignatureGapMs: number | null = null,
  clock: { ms: number } = { ms: VALID_FROM_MS + 1000 },
  maxBatchCalls?: number,
  unsignedWaitBound?: UnsignedWaitBound | null,
  /** Null unless a test is about it: the other tests count batches as calls come. */
  batchLinger: BatchLinger | null = null,
) {
  const ledger = Ledger.open({
    store: new MemoryLedgerStore(),
    secrets: testSecrets(),
    random: testRandom(),
  });
  const replica = new StandInReplica();
  /** What the sequencer reported as fatal (its node would stop). */
  const fatal: unknown[] = [];
  const execution = await ExecutionService.start({
    kvPath: null,
    limits: TEST_LIMITS,
    logger: createLogger({ write: () => {} }),
    replaySource: function* (from) {
      for (let seqno = from + 1; seqno <= ledger.lastSeqno; seqno++)
        yield { version: seqno, writeSet: ledger.writeSetAt(seqno) };
    },
    watchdogSlackMs: 60_000,
    workerUrl: HOOKED_WORKER,
  });
  await execution.loadContract("counter", counterBundle());
  const sequencer = new Sequencer({
    replica,
    ledger,
    execution,
    signer: () => signerFor(),
    // Signatures only when a view has none yet (a new leader's first).
    policy: parseSignaturePolicy({ maxTxs: 100_000, maxIntervalMs: 3_600_000 }),
    now: () => clock.ms,
    logger: createLogger({ write: () => {} }),
    onFatal: (err) => fatal.push(err),
    idleSignatureGapMs,
    ...(maxBatchCalls !== undefined && { maxBatchCalls }),
    ...(unsignedWaitBound !== undefined && { unsignedWaitBound }),
    batchLinger,
  });
  return { ledger, replica, execution, sequencer, fatal };
}

/**
 * Records every message posted to an execution worker as `op`, or `op+v1,v2` when it carries
 * empty applies (protocol.ts `applyFirst`), until `restore`.
 */
function countPosts(): { readonly ops: string[]; restore(): void } {
  const ops: string[] = [];
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker["postMessage"]>) {
    const message = args[0] as { op: string; applyFirst?: number[] };
    ops.push(message.applyFirst === undefined ? message.op : `${message.op}+${message.applyFirst.join(",")}`);
    original.apply(this, args);
  };
  return {
    ops,
    restore: () => {
      Worker.prototype.postMessage = original;
    },
  };
}

/** Waits (bounded) until `path` exists. */
async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 3000 && !existsSync(path); i++) await sleep(10);
  assert.ok(existsSync(path), `${path} appeared`);
}

describe("Sequencer", () => {
  test("leadership lost while a batch executes behind a signature's apply: nothing proposed, the KV back at the ledger, each resent request runs once", async () => {
    const { ledger, replica, execution, sequencer, fatal } = await setup();
    try {
      const first = await sequencer.submit(
        call("counter", "add", { key: "a", by: 1 }, { nonce: "n-a" }),
        "user",
        null,
      );
      assert.equal(okResult(first).seqno, 1);
      // The new view's first signature followed the batch (seqno 2); its apply was not awaited.
      const gate = dirs.make();
      const gated = call("counter", "add", { key: `gate:${gate}`, by: 1 }, { nonce: "n-b" });
      const other = call("counter", "add", { key: "c", by: 1 }, { nonce: "n-c" });
      const outcomes = [sequencer.submit(gated, "user", null), sequencer.submit(other, "user", null)].map(
        (p) => p.then(codeOf, (err: unknown) => (err instanceof TreatyError ? err.code : String(err))),
      );
      await waitForFile(join(gate, "reached"));
      assert.deepEqual(ledger.lastSignature, { seqno: 2, view: 2 }, "the signature is in the ledger");
      replica.loseLeadership();
      writeFileSync(join(gate, "open"), "");
      assert.deepEqual(await Promise.all(outcomes), ["NotLeader", "NotLeader"]);

      // Seqno order agrees everywhere, and the batch left no trace.
      assert.deepEqual(
        replica.log.map((id) => id.seqno),
        [1, 2],
      );
      assert.equal(ledger.lastSeqno, 2);
      assert.equal(execution.appliedVersion, 2, "the KV was rolled back to the ledger");
      assert.deepEqual(fatal, [], "a rollback that succeeds is not fatal");
      assert.equal(okResult(await execution.read(call("counter", "get", { key: "c" }))).result, null);

      // The client resends the same signed requests to the (again) leader: each runs once.
      replica.regainLeadership();
      writeFileSync(join(gate, "open"), "");
      const resent = await Promise.all([
        sequencer.submit(gated, "user", null),
        sequencer.submit(other, "user", null),
      ]);
      assert.deepEqual(resent.map(codeOf), ["ok", "ok"]);
      const seqnos = resent.map((r) => okResult(r).seqno);
      assert.deepEqual(seqnos, [3, 4]);
      assert.equal(okResult(await execution.read(call("counter", "get", { key: "c" }))).result, 1);
      const again = await sequencer.submit(other, "user", null);
      assert.equal(codeOf(again), "Replay");
      await sequencer.maybeSign();
      assert.deepEqual(
        replica.log.map((id) => id.seqno),
        Array.from({ length: ledger.lastSeqno }, (_, i) => i + 1),
      );
      assert.deepEqual(ledger.lastSignature, { seqno: 5, view: 4 }, "the new view signed after its batch");
      for (let seqno = 1; seqno <= ledger.lastSeqno; seqno++) {
        assert.equal(ledger.get(seqno)?.view, replica.log[seqno - 1]!.view, `seqno ${seqno}: same view`);
      }
      assert.equal(execution.appliedVersion, ledger.lastSeqno, "the KV holds every ledger entry");
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }
  });

  test("a KV rollback that fails after leadership is lost mid-batch is fatal: the calls fail with its error and the node is told to stop", async () => {
    const { replica, execution, sequencer, fatal } = await setup();
    try {
      okResult(
        await sequencer.submit(call("counter", "add", { key: "a", by: 1 }, { nonce: "f-a" }), "user", null),
      );
      const gate = dirs.make();
      const outcome = sequencer
        .submit(call("counter", "add", { key: `gate:${gate}`, by: 1 }, { nonce: "f-b" }), "user", null)
        .then(codeOf, (err: unknown) => (err instanceof TreatyError ? err.code : String(err)));
      await waitForFile(join(gate, "reached"));
      // The rollback that leadership lost calls for fails (a worker lost to its own deadline).
      const failing = new TreatyError("Unavailable", "test: the rollback failed");
      execution.rollback = () => Promise.reject(failing);
      replica.loseLeadership();
      writeFileSync(join(gate, "open"), "");
      assert.equal(await outcome, "Unavailable");
      assert.deepEqual(fatal, [failing], "the sequencer reported the failed rollback as fatal");
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }
  });

  test("a pipeline that runs dry signs its unsigned entries without waiting for the policy's interval", async () => {
    const { ledger, replica, execution, sequencer } = await setup(5);
    try {
      await sequencer.submit(call("counter", "add", { key: "a", by: 1 }, { nonce: "i-a" }), "user", null);
      // The new view's first signature comes right after the batch.
      for (let i = 0; i < 500 && ledger.lastSignature === undefined; i++) await sleep(10);
      assert.deepEqual(ledger.lastSignature, { seqno: 2, view: 2 });
      await sequencer.submit(call("counter", "add", { key: "a", by: 1 }, { nonce: "i-b" }), "user", null);
      // The policy (100,000 entries or an hour) is not due; the idle signature follows within the gap.
      for (let i = 0; i < 500 && ledger.unsignedCount > 0; i++) await sleep(10);
      assert.deepEqual(ledger.lastSignature, { seqno: 4, view: 2 });
      assert.deepEqual(
        replica.log.map((id) => id.seqno),
        [1, 2, 3, 4],
      );
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }
  });

  test("once the pipeline ran dry and the idle gap passed, a batch is followed by its signature in the same run; a queue that never runs dry signs by the policy only", async () => {
    const clock = { ms: VALID_FROM_MS + 1000 };
    const { ledger, replica, execution, sequencer } = await setup(5, clock, 1);
    const kinds = () =>
      Array.from({ length: ledger.lastSeqno }, (_, i) => ledger.entry(i + 1)!.header.kind).join(",");
    const add = (nonce: string) =>
      sequencer.submit(call("counter", "add", { key: "a", by: 1 }, { nonce }), "user", null);
    try {
      await add("d-a");
      for (let i = 0; i < 500 && ledger.lastSignature === undefined; i++) await sleep(10);
      assert.deepEqual(ledger.lastSignature, { seqno: 2, view: 2 }, "the view's first signature");

      // The gap has passed and no call waits when the results come back: the signature is in the
      // ledger by the time the call is answered (proposed in the batch's own run). Its KV apply
      // has no worker message of its own: the next batch carries it (as this one carries the
      // view's first signature, seqno 2).
      clock.ms += 5;
      const posted = countPosts();
      try {
        const b = await add("d-b");
        assert.equal(okResult(b).seqno, 3);
        assert.deepEqual(ledger.lastSignature, { seqno: 4, view: 2 }, "signed before the answer");
        assert.equal(execution.appliedVersion, 3, "the signature's apply waits for the next request");

        // Within the gap: no signature in the run; the idle timer signs once the gap has passed.
        const c = await add("d-c");
        assert.equal(okResult(c).seqno, 5);
        assert.deepEqual(posted.ops, ["batch+2", "batch+4"], "one message per batch");
      } finally {
        posted.restore();
      }
      assert.deepEqual(ledger.lastSignature, { seqno: 4, view: 2 }, "not signed within the gap");
      for (let i = 0; i < 500 && ledger.unsignedCount > 0; i++) await sleep(10);
      assert.deepEqual(ledger.lastSignature, { seqno: 6, view: 2 }, "the idle timer signed");

      // Calls queued behind one another (batches of one): the first batch's results find the
      // next call waiting, so only the last batch, which finds the queue empty, signs.
      clock.ms += 5;
      const queued = await Promise.all(["d-d", "d-e", "d-f"].map(add));
      assert.deepEqual(
        queued.map((r) => okResult(r).seqno),
        [7, 8, 9],
      );
      assert.deepEqual(ledger.lastSignature, { seqno: 10, view: 2 });
      assert.equal(kinds(), "user,signature,user,signature,user,signature,user,user,user,signature");
      assert.deepEqual(
        replica.log.map((id) => id.seqno),
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      // The last signature's KV apply reaches the worker with the next request (here a read).
      assert.equal(execution.appliedVersion, ledger.lastSeqno - 1);
      await execution.read(call("counter", "get", { key: "a" }));
      assert.equal(execution.appliedVersion, ledger.lastSeqno, "the KV holds every ledger entry");
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }
  });

  test("calls that keep the queue busy: once the oldest unsigned entry has waited the bound, the batch that returns is followed by a signature; after a busy batch only the next small one is", async () => {
    const clock = { ms: VALID_FROM_MS + 1000 };
    // A long idle gap, so that only the bound on unsigned waits can sign in this test.
    const { ledger, execution, sequencer } = await setup(60_000, clock, undefined, {
      maxWaitMs: 5,
      busyBatchCalls: 3,
    });
    const kinds = () =>
      Array.from({ length: ledger.lastSeqno }, (_, i) => ledger.entry(i + 1)!.header.kind).join(",");
    const add = (nonce: string, key = "a") =>
      sequencer.submit(call("counter", "add", { key, by: 1 }, { nonce }), "user", null);
    const gated = (nonce: string) => {
      const gate = dirs.make();
      return { gate, answer: add(nonce, `gate:${gate}`) };
    };
    const reached = (gate: string) => waitForFile(join(gate, "reached"));
    const release = async (gate: string) => {
      await reached(gate);
      writeFileSync(join(gate, "open"), "");
    };
    try {
      await add("w-0");
      for (let i = 0; i < 500 && ledger.lastSignature === undefined; i++) await sleep(10);
      assert.deepEqual(ledger.lastSignature, { seqno: 2, view: 2 }, "the view's first signature");

      // Batches [a], then [b, c]: they return 4 ms after a was appended, no signature.
      const a = gated("w-a");
      await reached(a.gate); // alone in its batch
      const b = gated("w-b");
      const c = add("w-c");
      await release(a.gate);
      await reached(b.gate);
      clock.ms += 4;
      await release(b.gate);
      await Promise.all([a.answer, b.answer, c]);
      assert.equal(kinds(), "user,signature,user,user,user");

      // [d] (4 ms after a), then [e, f] with g waiting: [e, f] returns 5 ms after a was
      // appended, and is followed by a signature before g.
      const d = gated("w-d");
      await reached(d.gate); // alone in its batch
      const e = gated("w-e");
      const f = add("w-f");
      await release(d.gate);
      await reached(e.gate);
      const g = add("w-g");
      clock.ms += 1;
      await release(e.gate);
      await Promise.all([d.answer, e.answer, f, g]);
      assert.equal(kinds(), "user,signature,user,user,user,user,user,user,signature,user");

      // [h], then [i, j, k] (busy) with l waiting: it returns 5 ms after g was appended, no
      // signature; [l] (one call) does, and is followed by one.
      const h = gated("w-h");
      await reached(h.gate); // alone in its batch
      const i = gated("w-i");
      const j = add("w-j");
      const k = add("w-k");
      await release(h.gate);
      await reached(i.gate);
      const l = add("w-l");
      clock.ms += 5;
      await release(i.gate);
      await Promise.all([h.answer, i.answer, j, k, l]);
      assert.equal(
        kinds(),
        "user,signature,user,user,user,user,user,user,signature,user,user,user,user,user,user,signature",
      );
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }
  });

  test("below saturation batches linger: calls within the interval join one batch, a busy queue starts it at once, a batch after which the next lingers is signed in its run, and the timer starts a lingering batch", async () => {
    const clock = { ms: VALID_FROM_MS + 1000 };
    // An hour-long interval (only a busy queue of 3 calls ends the wait), no bound on unsigned waits.
    const { ledger, execution, sequencer } = await setup(5, clock, undefined, null, {
      intervalMs: 3_600_000,
      busyCalls: 3,
    });
    const batches: number[] = [];
    const executeBatch = execution.executeBatch.bind(execution);
    execution.executeBatch = (view, first, calls) => {
      batches.push(calls.length);
      return executeBatch(view, first, calls);
    };
    const kinds = () =>
      Array.from({ length: ledger.lastSeqno }, (_, i) => ledger.entry(i + 1)!.header.kind).join(",");
    const add = (nonce: string, key = "a") =>
      sequencer.submit(call("counter", "add", { key, by: 1 }, { nonce }), "user", null);
    try {
      // The first batch in an hour starts at once; the view's first signature follows it.
      await add("l-a");
      assert.deepEqual(batches, [1]);
      assert.equal(kinds(), "user,signature");

      // Two calls within the interval wait (an hour: whatever the scheduler does, they do not run)...
      clock.ms += 5;
      const answered: string[] = [];
      const b = add("l-b").then(() => answered.push("b"));
      const c = add("l-c").then(() => answered.push("c"));
      for (let i = 0; i < 5; i++) await sleep(10);
      assert.deepEqual(batches, [1], "no batch while lingering");
      assert.equal(answered.length, 0, "none answered");
      // ...until a third makes the queue busy: one batch of three, signed in its own run (the queue
      // ran dry and the idle gap passed).
      const d = add("l-d");
      await Promise.all([b, c, d]);
      assert.deepEqual(batches, [1, 3]);
      assert.equal(kinds(), "user,signature,user,user,user,signature");

      // A busy queue while a batch runs: the batch returns with a call waiting for a lingering
      // batch, which counts as running dry, so the signature follows the batch before that call.
      clock.ms += 5;
      const gate = dirs.make();
      const e = add("l-e", `gate:${gate}`);
      const f = add("l-f");
      const g = add("l-g");
      await waitForFile(join(gate, "reached"));
      const h = add("l-h").then(() => answered.push("h"));
      writeFileSync(join(gate, "open"), "");
      await Promise.all([e, f, g]);
      assert.deepEqual(batches, [1, 3, 3]);
      assert.equal(kinds(), "user,signature,user,user,user,signature,user,user,user,signature");
      assert.ok(!answered.includes("h"), "h lingers");
      await Promise.all([add("l-i"), add("l-j"), h]);
      assert.deepEqual(batches, [1, 3, 3, 3]);
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }

    // A short interval: the timer starts the lingering batch (the test clock stands still, so
    // only the timer can end the wait).
    const short = await setup(5, clock, undefined, null, { intervalMs: 20, busyCalls: 100 });
    try {
      const run = (nonce: string) =>
        short.sequencer.submit(call("counter", "add", { key: "a", by: 1 }, { nonce }), "user", null);
      await run("t-a");
      const late = await run("t-b");
      assert.equal(okResult(late).seqno, 3, "ran after the view's first signature");
    } finally {
      short.sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await short.execution.close();
    }
  });

  test("a new leader's first batch does not linger", async () => {
    const { replica, execution, sequencer } = await setup(5, undefined, undefined, null, {
      intervalMs: 3_600_000,
      busyCalls: 100,
    });
    const add = (nonce: string) =>
      sequencer.submit(call("counter", "add", { key: "a", by: 1 }, { nonce }), "user", null);
    try {
      await add("n-a");
      replica.loseLeadership();
      sequencer.failQueued(new TreatyError("NotLeader", "leadership moved"));
      replica.regainLeadership();
      sequencer.onBecameLeader();
      // Within the hour since the last batch started, yet it runs at once: this leader's first.
      assert.equal(codeOf(await add("n-b")), "ok");
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }
  });

  test("failing the queue ends a linger: the calls fail and later calls run", async () => {
    const { execution, sequencer } = await setup(5, undefined, undefined, null, {
      intervalMs: 3_600_000,
      busyCalls: 100,
    });
    const add = (nonce: string) =>
      sequencer.submit(call("counter", "add", { key: "a", by: 1 }, { nonce }), "user", null);
    try {
      await add("f-a");
      const lingering = add("f-b").then(codeOf, (err: unknown) =>
        err instanceof TreatyError ? err.code : String(err),
      );
      await sleep(10);
      sequencer.failQueued(new TreatyError("Unavailable", "leadership moved"));
      assert.equal(await lingering, "Unavailable");
      // Not stuck: new calls linger again (the last batch started moments ago) and a busy queue
      // starts their batch.
      const next = Array.from({ length: 100 }, (_, i) => add(`f-c${i}`));
      const results = await Promise.all(next);
      assert.equal(results.length, 100);
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }
  });

  test("records each write's phases: queue, execution and proposal per call; commit once the commit point passes the batch", async () => {
    const { execution, sequencer } = await setup(5);
    const counts = () => phaseCounts();
    const add = (nonce: string) =>
      sequencer.submit(call("counter", "add", { key: "p", by: 1 }, { nonce }), "user", null);
    try {
      const before = counts();
      const results = await Promise.all([add("p-a"), add("p-b")]);
      const seqnos = results.map((r) => okResult(r).seqno);
      const answered = counts();
      for (const phase of ["queue", "execution", "proposal"])
        assert.equal(answered[phase]! - before[phase]!, 2, `${phase}: one per call`);
      assert.equal(answered.commit, before.commit, "nothing committed yet");
      sequencer.onCommit(Math.min(...seqnos) - 1);
      assert.equal(counts().commit, before.commit, "a commit point short of the batch records none");
      sequencer.onCommit(Math.max(...seqnos) + 1);
      assert.equal(counts().commit! - before.commit!, 2, "the batch's writes, once");
      sequencer.onCommit(Math.max(...seqnos) + 1);
      assert.equal(counts().commit! - before.commit!, 2, "not twice");
    } finally {
      sequencer.failQueued(new TreatyError("Unavailable", "test over"));
      await execution.close();
    }
  });
});

/** Writes recorded per phase so far (node/stage-times.ts, from its Prometheus text). */
function phaseCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of renderWritePhases("p", "h").matchAll(/^p_count\{phase="(\w+)"\} (\d+)$/gm))
    out[m[1]!] = Number(m[2]);
  return out;
}
