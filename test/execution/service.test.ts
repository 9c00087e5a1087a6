/**
 * ExecutionService with the real worker and real LMDB: batches, reads and KV operations through
 * the thread boundary, errors keeping their codes, and restarts (close and start again).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { AssertionFailure } from "../../sdk/assert.js";
import { utf8 } from "../../sdk/bytes.js";
import { ExecutionService, type ExecutionServiceOptions } from "../../node/execution/service.js";
import { createLogger } from "../../node/log.js";
import { stageTotals } from "../../node/stage-times.js";
import { call, codeOf, counterBundle, okResult, TEST_LIMITS, TempDirs, TestLedger } from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const logger = createLogger({ write: () => {} });

function start(
  options: Partial<ExecutionServiceOptions> & { ledger: TestLedger },
): Promise<ExecutionService> {
  const { ledger, ...rest } = options;
  return ExecutionService.start({
    kvPath: null,
    limits: TEST_LIMITS,
    logger,
    replaySource: ledger.replaySource,
    ...rest,
  });
}

async function counterValue(service: ExecutionService, key: string): Promise<unknown> {
  return okResult(await service.read(call("counter", "get", { key }))).result;
}

/**
 * Records every message posted to an execution worker as `op`, or `op+v1,v2` when it carries
 * empty applies (protocol.ts `applyFirst`), until `restore`.
 */
function countPosts(): { readonly ops: string[]; readonly workers: Set<Worker>; restore(): void } {
  const ops: string[] = [];
  const workers = new Set<Worker>();
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker["postMessage"]>) {
    workers.add(this);
    const message = args[0] as { op: string; applyFirst?: number[] };
    ops.push(message.applyFirst === undefined ? message.op : `${message.op}+${message.applyFirst.join(",")}`);
    original.apply(this, args);
  };
  return {
    ops,
    workers,
    restore: () => {
      Worker.prototype.postMessage = original;
    },
  };
}

describe("ExecutionService", () => {
  test("runs batches and reads in the worker; commits survive a restart, the rest is replayed", async () => {
    const path = dirs.make();
    const ledger = new TestLedger();
    const service = await start({ kvPath: path, ledger });
    try {
      assert.equal(service.appliedVersion, 0);
      const manifest = await service.loadContract("counter", counterBundle());
      assert.deepEqual(Object.keys(manifest.methods).sort(), [
        "add",
        "explode",
        "fail",
        "get",
        "poison",
        "spin",
      ]);
      const results = await service.executeBatch(1, 1, [
        call("counter", "add", { key: "a", by: 1 }, { nonce: "n1" }),
        call("counter", "fail", { key: "a" }),
        call("counter", "add", { key: "a", by: 2 }),
        call("counter", "add", { key: "a", by: 2 }, { nonce: "n1" }),
      ]);
      assert.deepEqual(results.map(codeOf), ["ok", "Refused", "ok", "Replay"]);
      assert.deepEqual([okResult(results[0]).txid, okResult(results[2]).txid], ["1.1", "1.2"]);
      const first = okResult(results[0]);
      assert.ok(first.writeSet.private[0]!.writes[0]![0] instanceof Uint8Array, "write sets cross as bytes");
      ledger.record(results);
      assert.equal(service.appliedVersion, 2);
      assert.equal(await counterValue(service, "a"), 3);
      assert.deepEqual(await service.get("counter.counters", utf8.encode("a")), utf8.encode("3"));
      const rows = await service.scan("public:counter.audit");
      assert.deepEqual(
        rows.map(([k, v]) => [utf8.decode(k), utf8.decode(v)]),
        [["a", '"alice"']],
      );

      await service.commit(2);
      ledger.committed = 2;
      assert.equal(service.committedVersion, 2);
      ledger.record(await service.executeBatch(1, 3, [call("counter", "add", { key: "a", by: 10 })]));
      assert.equal(service.appliedVersion, 3);
      // Every request posted to the worker, by op (treaty_execution_requests_total).
      assert.deepEqual(service.stats(), {
        restarts: 0,
        batches: 2,
        calls: 6,
        requests: { load: 1, batch: 2, read: 1, commit: 1, get: 1, scan: 1 },
      });
    } finally {
      await service.close();
    }

    const again = await start({ kvPath: path, ledger });
    try {
      assert.equal(again.committedVersion, 2);
      assert.equal(again.appliedVersion, 3, "version 3 was replayed from the ledger");
      await again.loadContract("counter", counterBundle());
      assert.equal(await counterValue(again, "a"), 13);
      const [replay] = await again.executeBatch(2, 4, [
        call("counter", "add", { key: "a", by: 1 }, { nonce: "n1" }),
      ]);
      assert.equal(codeOf(replay), "Replay", "committed nonces survive the restart");
    } finally {
      await again.close();
    }

    ledger.truncate(2);
    const truncated = await start({ kvPath: path, ledger });
    try {
      assert.equal(truncated.appliedVersion, 2, "nothing to replay above the committed version");
      await truncated.loadContract("counter", counterBundle());
      assert.equal(await counterValue(truncated, "a"), 3);
    } finally {
      await truncated.close();
    }
  });

  test("pipelined applies and paced commits on LMDB: every answer arrives (several in one message), in order", async () => {
    const ledger = new TestLedger();
    const service = await start({ kvPath: dirs.make(), ledger });
    try {
      const pending: Promise<void>[] = [];
      for (let version = 1; version <= 40; version++) {
        const key = utf8.encode(`k${version}`);
        const writeSet = {
          public: [{ map: "public:t.rows", writes: [[key, utf8.encode(`${version}`)] as const] }],
          private: [],
        };
        ledger.record([
          { ok: true, seqno: version, txid: `1.${version}`, result: null, writeSet, events: [] },
        ]);
        pending.push(service.apply([{ version, writeSet }]));
        // Commits requested faster than the KV's pacing: they join paced writes, whose answers
        // the worker sends together.
        pending.push(service.commit(version));
      }
      await Promise.all(pending);
      assert.equal(service.appliedVersion, 40);
      assert.equal(service.committedVersion, 40);
      await service.rollback(40);
      assert.deepEqual(await service.get("public:t.rows", utf8.encode("k40")), utf8.encode("40"));
    } finally {
      await service.close();
    }
  });

  test("an empty apply (a signature's) sends no message: the next request carries it, the worker applies it first", async () => {
    const path = dirs.make();
    const ledger = new TestLedger();
    const service = await start({ kvPath: path, ledger });
    const posted = countPosts();
    try {
      await service.loadContract("counter", counterBundle());
      ledger.record(await service.executeBatch(1, 1, [call("counter", "add", { key: "a", by: 1 })]));
      posted.ops.length = 0;

      await service.applyEmpty(2);
      assert.deepEqual(posted.ops, [], "no message of its own");
      assert.equal(service.appliedVersion, 1);
      const [next] = await service.executeBatch(1, 3, [call("counter", "add", { key: "a", by: 1 })]);
      assert.equal(okResult(next).seqno, 3);
      ledger.entries.push({ version: 2, writeSet: { public: [], private: [] } });
      ledger.record([next!]);
      assert.deepEqual(posted.ops, ["batch+2"], "the batch carried it");
      assert.equal(service.appliedVersion, 3);

      // A commit carries it as well (the KV must hold the version it commits), and so does a read.
      await service.applyEmpty(4);
      await service.commit(4);
      assert.deepEqual([service.appliedVersion, service.committedVersion], [4, 4]);
      await service.applyEmpty(5);
      await service.applyEmpty(6);
      assert.equal(await counterValue(service, "a"), 2);
      assert.deepEqual(posted.ops, ["batch+2", "commit+4", "read+5,6"]);
      assert.equal(service.appliedVersion, 6);
      await assert.rejects(service.applyEmpty(6), AssertionFailure, "versions increase");
      await assert.rejects(service.applyEmpty(0), AssertionFailure, "versions increase");
      // A rollback drops it like any applied version; the next one may reuse the version.
      await service.applyEmpty(7);
      await service.rollback(6);
      await service.applyEmpty(7);
      await service.commit(7);
      assert.deepEqual([service.appliedVersion, service.committedVersion], [7, 7]);
      for (const version of [4, 5, 6, 7])
        ledger.entries.push({ version, writeSet: { public: [], private: [] } });
    } finally {
      posted.restore();
      await service.close();
    }
    // The carried versions were applied and committed like any other.
    const again = await start({ kvPath: path, ledger });
    try {
      assert.deepEqual([again.appliedVersion, again.committedVersion], [7, 7]);
      await again.loadContract("counter", counterBundle());
      assert.equal(await counterValue(again, "a"), 2);
    } finally {
      await again.close();
    }
  });

  test("an empty apply not carried yet when the worker is lost: the new worker replays it from the journal, once", async () => {
    const ledger = new TestLedger();
    const service = await start({ kvPath: dirs.make(), ledger });
    const posted = countPosts();
    try {
      await service.loadContract("counter", counterBundle());
      ledger.record(await service.executeBatch(1, 1, [call("counter", "add", { key: "a", by: 1 })]));
      await service.applyEmpty(2);
      const [worker] = posted.workers;
      await worker!.terminate(); // the service sees the exit before this resolves
      posted.ops.length = 0;
      await service.commit(2);
      assert.equal(service.stats().restarts, 1);
      // The replay holds version 2 (the journal's), and no request carries it again.
      assert.deepEqual(posted.ops, ["load", "apply", "commit"]);
      assert.deepEqual([service.appliedVersion, service.committedVersion], [2, 2]);
      assert.equal(await counterValue(service, "a"), 1);
    } finally {
      posted.restore();
      await service.close();
    }
  });

  test("a follower applies the leader's write sets, and rolls back uncommitted ones", async () => {
    const leaderLedger = new TestLedger();
    const leader = await start({ ledger: leaderLedger });
    const follower = await start({ ledger: new TestLedger() });
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
      await follower.apply(leaderLedger.entries);
      await follower.apply([]);
      assert.equal(follower.appliedVersion, 3);
      assert.equal(await counterValue(follower, "f"), 6);
      assert.deepEqual(await follower.scan("counter.counters"), await leader.scan("counter.counters"));
      await follower.commit(1);
      await follower.rollback(1);
      assert.equal(follower.appliedVersion, 1);
      assert.equal(follower.committedVersion, 1);
      assert.equal(await counterValue(follower, "f"), 1);
      await assert.rejects(follower.rollback(0), AssertionFailure, "never below committed");
      await assert.rejects(
        follower.apply([{ version: 1, writeSet: { public: [], private: [] } }]),
        AssertionFailure,
      );
      await assert.rejects(
        follower.apply([{ version: 2, writeSet: { public: [], private: [{ map: "", writes: [] }] } }]),
        { name: "TreatyError", code: "LedgerCorrupt" },
      );
      assert.equal(follower.appliedVersion, 1);
    } finally {
      await leader.close();
      await follower.close();
    }
  });

  test("errors cross the thread boundary with their codes", async () => {
    const service = await start({ ledger: new TestLedger() });
    try {
      await assert.rejects(service.loadContract("broken", "not a bundle("), {
        name: "TreatyError",
        code: "InvalidContract",
      });
      await assert.rejects(service.loadContract("Bad Name", counterBundle()), { code: "InvalidContract" });
      await assert.rejects(service.setLimits({ ...TEST_LIMITS, stackBytes: 1 }), { code: "InvalidArgs" });
      await service.loadContract("counter", counterBundle());
      await service.setLimits({ ...TEST_LIMITS, maxEvents: 5 });
      assert.equal(service.limits.maxEvents, 5);
      assert.equal(codeOf(await service.read(call("missing", "get", {}))), "UnknownContract");
      await service.unloadContract("counter");
      assert.equal(codeOf(await service.read(call("counter", "get", { key: "a" }))), "UnknownContract");
      await service.loadContract("counter", counterBundle());

      await assert.rejects(
        service.executeBatch(1, 0, [call("counter", "add", { key: "a", by: 1 })]),
        AssertionFailure,
      );
      await assert.rejects(service.commit(5), AssertionFailure, "commit only applied versions");
      await assert.rejects(service.scan("counter.counters", -1), { code: "InvalidArgs" });
      await assert.rejects(service.get("", new Uint8Array()), { code: "InvalidArgs" });
      await assert.rejects(service.read(call("counter", "get", { key: () => 1 })), {
        name: "TreatyError",
        code: "InvalidArgs",
      });
      assert.equal(codeOf(await service.read(call("counter", "get", { key: "a" }))), "ok", "still serving");
      assert.equal(service.stats().restarts, 0);
    } finally {
      await service.close();
    }
    await service.close();
    await assert.rejects(service.read(call("counter", "get", { key: "a" })), { code: "Unavailable" });
    await assert.rejects(service.commit(0), { code: "Unavailable" });
  });

  test("a batch's service time in the worker and the waits around it are added to their stages; reads add none", async () => {
    const ledger = new TestLedger();
    const service = await start({ ledger });
    try {
      await service.loadContract("counter", counterBundle());
      const before = stageTotals();
      const posted = performance.now();
      ledger.record(
        await service.executeBatch(1, 1, [
          call("counter", "add", { key: "a", by: 1 }),
          call("counter", "add", { key: "b", by: 1 }),
        ]),
      );
      const roundTripSeconds = (performance.now() - posted) / 1000;
      const afterBatch = stageTotals();
      assert.ok(
        afterBatch.executionWorker! > before.executionWorker!,
        "the worker's time running the batch is counted",
      );
      for (const stage of ["executionWorker", "executionToWorker", "executionFromWorker"]) {
        const added = afterBatch[stage]! - before[stage]!;
        // Seconds, within the round trip the caller saw (plus slack for the threads' clocks):
        // a unit slip (ms or µs counted as seconds) would be 1,000 times too large.
        assert.ok(
          added >= 0 && added <= roundTripSeconds + 0.05,
          `${stage}: ${added} s in a ${roundTripSeconds} s round trip`,
        );
      }
      await service.read(call("counter", "get", { key: "a" }));
      await service.commit(2);
      const afterRead = stageTotals();
      for (const stage of ["executionWorker", "executionToWorker", "executionFromWorker"])
        assert.equal(afterRead[stage], afterBatch[stage], `only batches carry ${stage}`);
    } finally {
      await service.close();
    }
  });

  test("start refuses bad options and reports a KV that cannot be opened", async () => {
    const ledger = new TestLedger();
    await assert.rejects(start({ ledger, kvPath: "" }), { code: "InvalidArgs" });
    await assert.rejects(start({ ledger, watchdogSlackMs: -1 }), { code: "InvalidArgs" });
    await assert.rejects(start({ ledger, limits: { ...TEST_LIMITS, wallClockMs: 0 } }), {
      code: "InvalidArgs",
    });
    const file = join(dirs.make(), "not-a-directory");
    writeFileSync(file, "x");
    await assert.rejects(start({ ledger, kvPath: file }), { name: "TreatyError", code: "Unavailable" });
    await assert.rejects(start({ ledger, workerUrl: new URL("./no-such-worker.js", import.meta.url) }), {
      code: "Unavailable",
    });
  });
});
