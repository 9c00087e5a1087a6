/**
 * The replica's per-turn batch (node/replica-batch.ts): which append responses merge, and that a
 * turn's applies, commit and messages are handed on once, in order (apply before commit, both
 * before the messages), with nothing handed on after the replica stopped; and which of a leader's
 * appends join (mergeAppends), checked against real consensus cores too.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AppendMessage, AppendResponseMessage, Entry, Message } from "../../node/consensus/types.js";
import type { ExecutionService, VersionedWriteSet } from "../../node/execution/service.js";
import {
  KV_COMMIT_REQUEST_ENTRIES,
  KV_COMMIT_REQUEST_INTERVAL_MS,
  mergeAppendAcks,
  mergeAppends,
  ReplicaBatch,
} from "../../node/replica-batch.js";
import { TEST_LIMITS, TestCluster, text } from "../consensus/harness.js";
import { DEFAULT_CONSENSUS_LIMITS } from "../../node/consensus/options.js";
import { APPEND_PAYLOAD_BYTES, encodeConsensusMessages } from "../../node/replica.js";
import { MAX_MESSAGE_BYTES, MAX_NODE_ID_CHARS } from "../../node/transport/frame.js";
import { ExecutionService as RealExecutionService } from "../../node/execution/service.js";
import { createLogger } from "../../node/log.js";
import {
  call,
  counterBundle,
  okResult,
  TEST_LIMITS as SANDBOX_LIMITS,
  TestLedger,
} from "../execution/support.js";

function ack(to: string, seqno: number, extra: Partial<AppendResponseMessage> = {}): AppendResponseMessage {
  return {
    type: "appendResponse",
    from: "f",
    to,
    view: 2,
    success: true,
    seqno,
    hintSeqno: seqno,
    hintView: 2,
    ...extra,
  };
}

const vote: Message = { type: "voteResponse", from: "f", to: "l", view: 2, preVote: false, granted: true };

describe("mergeAppendAcks", () => {
  test("keeps only the highest of consecutive successful acks to one leader", () => {
    assert.deepEqual(mergeAppendAcks([ack("l", 5), ack("l", 9), ack("l", 12)]), [ack("l", 12)]);
  });

  test("keeps acks to different nodes apart", () => {
    const out = mergeAppendAcks([ack("a", 5), ack("b", 6), ack("a", 7), ack("b", 8)]);
    assert.deepEqual(out, [ack("a", 7), ack("b", 8)]);
  });

  test("never merges across views, NACKs, other messages, or a lower read round", () => {
    const cases: Message[][] = [
      [ack("l", 5), ack("l", 9, { view: 3, hintView: 3 })],
      [ack("l", 5), ack("l", 4, { success: false }), ack("l", 9)],
      [ack("l", 5), vote, ack("l", 9)],
      [ack("l", 5, { readRound: 4 }), ack("l", 9, { readRound: 3 })],
      [ack("l", 5, { readRound: 4 }), ack("l", 9)],
      [ack("l", 9), ack("l", 5)],
    ];
    for (const messages of cases) assert.deepEqual(mergeAppendAcks(messages), messages);
  });

  test("a later read round supersedes an earlier one", () => {
    const later = ack("l", 9, { readRound: 4 });
    assert.deepEqual(mergeAppendAcks([ack("l", 5, { readRound: 3 }), later]), [later]);
    assert.deepEqual(mergeAppendAcks([ack("l", 5), later]), [later]);
  });
});

const LIMITS = { maxBatchEntries: 4, maxBatchBytes: 100 };

function entry(seqno: number, bytes = 10, view = 2): Entry {
  return { view, seqno, signature: false, payload: new Uint8Array(bytes) };
}

/** An append to `to` after `prevSeqno` (view 2) carrying entries `from..to` (inclusive). */
function append(
  to: string,
  prevSeqno: number,
  entries: readonly Entry[],
  extra: Partial<AppendMessage> = {},
): AppendMessage {
  return {
    type: "append",
    from: "l",
    to,
    view: 2,
    prevSeqno,
    prevView: 2,
    entries,
    commitSeqno: prevSeqno,
    ...extra,
  };
}

describe("an append at the node's bounds", () => {
  /**
   * `maxBatchEntries` entries whose payloads add up to `payloadBytes`, the last one a
   * configuration of `maxConfigNodes` ids of the longest length, every number at its widest.
   */
  function fullAppend(payloadBytes: number): AppendMessage {
    const count = DEFAULT_CONSENSUS_LIMITS.maxBatchEntries;
    const big = Number.MAX_SAFE_INTEGER - count;
    const each = Math.floor(payloadBytes / count);
    const ids = Array.from({ length: DEFAULT_CONSENSUS_LIMITS.maxConfigNodes }, (_, i) =>
      `${i}`.padStart(MAX_NODE_ID_CHARS, "n"),
    );
    const entries: Entry[] = Array.from({ length: count }, (_, i) => ({
      view: big,
      seqno: big + i + 1,
      signature: false,
      payload: new Uint8Array(i === count - 1 ? payloadBytes - each * (count - 1) : each).fill(0xff),
      ...(i === count - 1 && { config: ids }),
    }));
    return append("b", big, entries, { view: big, prevView: big, commitSeqno: big, readRound: big });
  }

  test("fits one transport message (the core's default payload bound alone would not)", () => {
    const [fits] = encodeConsensusMessages([fullAppend(APPEND_PAYLOAD_BYTES)]);
    assert.ok(fits!.length <= MAX_MESSAGE_BYTES, `${fits!.length} > ${MAX_MESSAGE_BYTES}`);
    const [over] = encodeConsensusMessages([fullAppend(DEFAULT_CONSENSUS_LIMITS.maxBatchBytes)]);
    assert.ok(over!.length > MAX_MESSAGE_BYTES, `${over!.length}`);
  });
});

describe("mergeAppends", () => {
  test("joins an append that continues the previous one to the same node", () => {
    const first = append("a", 4, [entry(5), entry(6)], { commitSeqno: 3 });
    const second = append("a", 6, [entry(7)], { commitSeqno: 5, readRound: 2 });
    assert.deepEqual(mergeAppends([first, second], LIMITS), [
      append("a", 4, [entry(5), entry(6), entry(7)], { commitSeqno: 5, readRound: 2 }),
    ]);
  });

  test("joins heartbeats before and after an append, per node, keeping other nodes' order", () => {
    const out = mergeAppends(
      [
        append("a", 4, []),
        append("b", 2, [entry(3)]),
        append("a", 4, [entry(5)]),
        append("b", 3, [entry(4), entry(5)]),
        append("a", 5, [], { commitSeqno: 5 }),
      ],
      LIMITS,
    );
    assert.deepEqual(out, [
      append("a", 4, [entry(5)], { commitSeqno: 5 }),
      append("b", 2, [entry(3), entry(4), entry(5)], { commitSeqno: 3 }),
    ]);
  });

  test("never joins a gap, another view or sender, a lower read round, another message between, or past the limits", () => {
    const cases: Message[][] = [
      [append("a", 4, [entry(5)]), append("a", 6, [entry(7)])],
      [append("a", 4, [entry(5)]), append("a", 5, [entry(6)], { prevView: 1 })],
      [append("a", 4, [entry(5)]), append("a", 5, [entry(6, 10, 3)], { view: 3 })],
      [append("a", 4, [entry(5)]), append("a", 5, [entry(6)], { from: "m" })],
      [append("a", 4, [entry(5)], { readRound: 3 }), append("a", 5, [entry(6)], { readRound: 2 })],
      [append("a", 4, [entry(5)], { readRound: 3 }), append("a", 5, [entry(6)])],
      [append("a", 4, [entry(5)]), { ...vote, to: "a" }, append("a", 5, [entry(6)])],
      [append("a", 4, [entry(5), entry(6), entry(7)]), append("a", 7, [entry(8), entry(9)])],
      [append("a", 4, [entry(5, 60)]), append("a", 5, [entry(6, 41)])],
    ];
    for (const messages of cases) assert.deepEqual(mergeAppends(messages, LIMITS), messages);
  });

  test("a follower core answers a joined append as it would the two appends", () => {
    // Two clusters in the same state; the leader proposes twice in one Ready. One follower gets
    // the appends as the core sent them, the other the joined one: same log, commit and answer.
    const run = (join: boolean) => {
      const cluster = new TestCluster(["l", "f", "g"]);
      cluster.electAndSign("l");
      const leader = cluster.core("l");
      leader.propose([
        { signature: false, payload: text("one") },
        { signature: true, payload: new Uint8Array() },
      ]);
      leader.propose([{ signature: true, payload: new Uint8Array() }]);
      const ready = leader.ready();
      const toF = ready.messages.filter((m) => m.to === "f");
      const sent = join ? mergeAppends(toF, TEST_LIMITS as typeof LIMITS) : toF;
      assert.equal(sent.length, join ? 1 : 2);
      const follower = cluster.core("f");
      for (const m of sent) follower.step(m);
      const answer = follower.ready();
      const last = answer.entries.at(-1)!;
      follower.ackPersisted(last.seqno, last.view);
      const acks = [...answer.messages, ...follower.ready().messages].filter(
        (m) => m.type === "appendResponse",
      );
      return {
        entries: answer.entries.map((e) => [e.view, e.seqno, e.signature]),
        commit: follower.status().commitSeqno,
        lastAck: acks.at(-1),
      };
    };
    assert.deepEqual(run(true), run(false));
  });
});

/**
 * Records what the batch hands on, in order; `clock` drives its time and timers when given.
 * `request()` plays another execution request being queued (the service runs its request hook).
 */
function recorder(clock?: FakeClock) {
  const calls: string[] = [];
  let hook: (() => void) | undefined;
  const execution = {
    apply: async (items: readonly VersionedWriteSet[]) => {
      calls.push(`apply ${items.map((i) => i.version).join(",")}`);
    },
    commit: async (version: number) => {
      calls.push(`commit ${version}`);
    },
    setRequestHook: (h: (() => void) | undefined) => {
      hook = h;
    },
  } as unknown as ExecutionService;
  const request = (what: string) => {
    hook?.();
    calls.push(what);
  };
  let stopped = false;
  const failures: unknown[] = [];
  const batch = new ReplicaBatch({
    execution,
    send: (messages) =>
      calls.push(`send ${messages.map((m) => (m.type === "appendResponse" ? m.seqno : m.type)).join(",")}`),
    fail: (err) => failures.push(err),
    stopped: () => stopped,
    ...(clock !== undefined && {
      now: () => clock.ms,
      setTimer: (fire, ms) => clock.timers.push({ at: clock.ms + ms, fire }),
    }),
  });
  return { batch, calls, failures, request, stop: () => (stopped = true) };
}

/** A clock the test moves by hand; `advance` fires the timers that came due. */
class FakeClock {
  ms = 1_000;
  timers: Array<{ at: number; fire: () => void }> = [];
  advance(ms: number): void {
    this.ms += ms;
    const due = this.timers.filter((t) => t.at <= this.ms);
    this.timers = this.timers.filter((t) => t.at > this.ms);
    for (const t of due) t.fire();
  }
}

const turn = () => new Promise((resolve) => process.nextTick(resolve));

const empty = { public: [], private: [] };
const items = (...versions: number[]) => versions.map((version) => ({ version, writeSet: empty }));

describe("ReplicaBatch", () => {
  test("hands on a turn's applies, highest commit and merged acks once, after the turn", async () => {
    const { batch, calls } = recorder();
    batch.apply(items(1, 2));
    batch.send([ack("l", 2)]);
    batch.apply(items(3));
    batch.commit(2);
    batch.send([ack("l", 3)]);
    batch.commit(1);
    assert.deepEqual(calls, [], "nothing within the turn");
    await new Promise((resolve) => process.nextTick(resolve));
    assert.deepEqual(calls, ["apply 1,2,3", "commit 2", "send 3"]);
  });

  test("flushApplies hands on only the applies; flush everything, at once", () => {
    const { batch, calls } = recorder();
    batch.apply(items(4));
    batch.commit(4);
    batch.send([vote]);
    batch.flushApplies();
    assert.deepEqual(calls, ["apply 4"]);
    batch.flush();
    assert.deepEqual(calls, ["apply 4", "commit 4", "send voteResponse"]);
    batch.flush();
    assert.equal(calls.length, 3, "nothing twice");
  });

  test("KV commits within the request interval are held back with the applies, and go once it ends", async () => {
    const clock = new FakeClock();
    const { batch, calls } = recorder(clock);
    batch.commit(3);
    await turn();
    assert.deepEqual(calls, ["commit 3"], "the first commit goes at once");
    clock.advance(10);
    batch.apply(items(4, 5));
    batch.commit(5);
    batch.send([ack("l", 5)]);
    await turn();
    assert.deepEqual(calls, ["commit 3", "send 5"], "acks are not held back; applies are");
    clock.advance(40);
    batch.apply(items(6, 7, 8));
    batch.commit(8);
    await turn();
    assert.equal(calls.length, 2, "still within the interval");
    assert.equal(clock.timers.length, 1, "one timer for the held-back commit and applies");
    clock.advance(KV_COMMIT_REQUEST_INTERVAL_MS - 50);
    assert.deepEqual(calls.slice(2), ["apply 4,5,6,7,8", "commit 8"], "the timer sends both, applies first");
    clock.advance(KV_COMMIT_REQUEST_INTERVAL_MS);
    batch.apply(items(9));
    batch.commit(9);
    await turn();
    assert.deepEqual(calls.slice(4), ["apply 9", "commit 9"], "after the interval both go with their turn");
    assert.equal(clock.timers.length, 0);
  });

  test("held applies without a commit go once the interval since the first of them ends", async () => {
    const clock = new FakeClock();
    const { batch, calls } = recorder(clock);
    batch.commit(1);
    await turn();
    batch.apply(items(2));
    await turn();
    clock.advance(60);
    batch.apply(items(3));
    await turn();
    assert.deepEqual(calls, ["commit 1"]);
    clock.advance(KV_COMMIT_REQUEST_INTERVAL_MS - 60);
    assert.deepEqual(calls, ["commit 1", "apply 2,3"]);
    assert.equal(clock.timers.length, 0);
  });

  test("held applies go at once when KV_COMMIT_REQUEST_ENTRIES gathered", async () => {
    const clock = new FakeClock();
    const { batch, calls } = recorder(clock);
    batch.commit(1);
    await turn();
    const versions = Array.from({ length: KV_COMMIT_REQUEST_ENTRIES - 1 }, (_, i) => i + 2);
    batch.apply(items(...versions));
    await turn();
    assert.deepEqual(calls, ["commit 1"]);
    batch.apply(items(KV_COMMIT_REQUEST_ENTRIES + 1));
    await turn();
    assert.deepEqual(calls, ["commit 1", `apply ${[...versions, KV_COMMIT_REQUEST_ENTRIES + 1].join(",")}`]);
  });

  test("any other execution request takes the held applies first", async () => {
    const clock = new FakeClock();
    const { batch, calls, request } = recorder(clock);
    batch.commit(1);
    await turn();
    batch.apply(items(2, 3));
    batch.commit(3);
    await turn();
    assert.deepEqual(calls, ["commit 1"]);
    request("read");
    assert.deepEqual(calls, ["commit 1", "apply 2,3", "read"], "the applies are queued before the read");
    request("read");
    assert.deepEqual(calls.slice(3), ["read"], "nothing twice");
    clock.advance(KV_COMMIT_REQUEST_INTERVAL_MS);
    assert.deepEqual(calls.slice(4), ["commit 3"], "the held-back commit still goes by its timer");
  });

  test("a KV commit goes at once when it covers KV_COMMIT_REQUEST_ENTRIES more entries", async () => {
    const clock = new FakeClock();
    const { batch, calls } = recorder(clock);
    batch.commit(1);
    await turn();
    clock.advance(1);
    batch.commit(KV_COMMIT_REQUEST_ENTRIES);
    await turn();
    assert.deepEqual(calls, ["commit 1"]);
    batch.commit(1 + KV_COMMIT_REQUEST_ENTRIES);
    await turn();
    assert.deepEqual(calls, ["commit 1", `commit ${1 + KV_COMMIT_REQUEST_ENTRIES}`]);
  });

  test("flush sends a held-back KV commit at once, and nothing twice", async () => {
    const clock = new FakeClock();
    const { batch, calls } = recorder(clock);
    batch.commit(2);
    await turn();
    batch.commit(6);
    await turn();
    assert.deepEqual(calls, ["commit 2"]);
    batch.flush(); // the replica's own execution request (a rollback, ...) follows
    assert.deepEqual(calls, ["commit 2", "commit 6"]);
    clock.advance(KV_COMMIT_REQUEST_INTERVAL_MS);
    await turn();
    assert.deepEqual(calls, ["commit 2", "commit 6"], "the timer finds nothing left");
  });

  test("a stopped replica hands nothing on", async () => {
    const { batch, calls, stop } = recorder();
    batch.apply(items(1));
    batch.send([ack("l", 1)]);
    stop();
    await new Promise((resolve) => process.nextTick(resolve));
    assert.deepEqual(calls, []);
  });

  test("a failed apply or commit reaches fail", async () => {
    const failures: unknown[] = [];
    const execution = {
      apply: () => Promise.reject(new Error("apply broke")),
      commit: () => Promise.reject(new Error("commit broke")),
      setRequestHook: () => {},
    } as unknown as ExecutionService;
    const batch = new ReplicaBatch({
      execution,
      send: () => {},
      fail: (e) => failures.push(e),
      stopped: () => false,
    });
    batch.apply(items(1));
    batch.commit(1);
    batch.flush();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      failures.map((e) => (e as Error).message),
      ["apply broke", "commit broke"],
    );
  });
});

describe("ReplicaBatch with the real execution service", () => {
  test("a read queued while applies are held back sees every version applied before it", async () => {
    const start = (ledger: TestLedger) =>
      RealExecutionService.start({
        kvPath: null,
        limits: SANDBOX_LIMITS,
        logger: createLogger({ write: () => {} }),
        replaySource: ledger.replaySource,
      });
    const leaderLedger = new TestLedger();
    const leader = await start(leaderLedger);
    const follower = await start(new TestLedger());
    const failures: unknown[] = [];
    const batch = new ReplicaBatch({
      execution: follower,
      send: () => {},
      fail: (err) => failures.push(err),
      stopped: () => false,
      // Far from any interval: nothing but the request hook hands the applies on.
      now: () => 0,
      setTimer: () => {},
    });
    try {
      await leader.loadContract("counter", counterBundle());
      await follower.loadContract("counter", counterBundle());
      leaderLedger.record(
        await leader.executeBatch(
          1,
          1,
          [1, 2, 3].map((by) => call("counter", "add", { key: "f", by })),
        ),
      );
      batch.apply(leaderLedger.entries);
      batch.commit(1); // the first commit goes at once, the applies with it
      await turn();
      leaderLedger.record(await leader.executeBatch(4, 4, [call("counter", "add", { key: "f", by: 10 })]));
      batch.apply(leaderLedger.entries.slice(3));
      batch.commit(4);
      await turn(); // held back: within the commit request interval
      const read = await follower.read(call("counter", "get", { key: "f" }));
      assert.equal(okResult(read).result, 16, "the held apply went before the read");
      assert.equal(follower.appliedVersion, 4);
      assert.deepEqual(failures, []);
    } finally {
      await leader.close();
      await follower.close();
    }
  });
});
