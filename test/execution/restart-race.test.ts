/**
 * A worker restart racing the main thread's ledger, with the real worker (the hooked test entry,
 * fixtures/hooked-worker.ts) and real LMDB: while a request hangs the worker, the ledger is
 * truncated and gains entries, and the replica's requests queue behind the hung one. After the
 * watchdog's kill the new worker must hold exactly the state the queue expects at the request it
 * retries (not the ledger's head), so the retried batch runs on the state before it and the
 * queued rollback and applies fit. Also: several requests missing their deadlines at once end
 * their worker once.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import { ExecutionEngine } from "../../node/execution/engine.js";
import type { VersionedWriteSet } from "../../node/execution/protocol.js";
import { ExecutionService } from "../../node/execution/service.js";
import { createLogger } from "../../node/log.js";
import { resolveLimits } from "../../runtime/sandbox/limits.js";
import type { WriteSet } from "../../runtime/kv/types.js";
import { utf8 } from "../../sdk/bytes.js";
import { call, codeOf, counterBundle, okResult, TEST_LIMITS, TempDirs, TestLedger } from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const HOOKED_WORKER = new URL("./fixtures/hooked-worker.js", import.meta.url);
/** A stalled call is caught after 1.5 s (wall clock 1 s + slack 0.5 s). */
const SHORT_LIMITS = resolveLimits({ wallClockMs: 1000 }, TEST_LIMITS);

function hookedService(ledger: TestLedger, kvPath: string, controlDeadlineMs?: number) {
  return ExecutionService.start({
    kvPath,
    limits: SHORT_LIMITS,
    logger: createLogger({ write: () => {} }),
    replaySource: ledger.replaySource,
    watchdogSlackMs: 500,
    ...(controlDeadlineMs !== undefined && { controlDeadlineMs }),
    workerUrl: HOOKED_WORKER,
  });
}

/** A replicated entry's write set: counter `key` set to `value` (as the counter contract stores it). */
function counterWrite(version: number, key: string, value: number): VersionedWriteSet {
  const writeSet: WriteSet = {
    public: [],
    private: [{ map: "counter.counters", writes: [[utf8.encode(key), utf8.encode(String(value))]] }],
  };
  return { version, writeSet };
}

/** The counters after applying `entries` to a fresh in-memory KV: the state a node must hold. */
async function stateOf(entries: readonly VersionedWriteSet[]) {
  const engine = await ExecutionEngine.open({ kvPath: null, limits: SHORT_LIMITS });
  try {
    engine.apply(entries);
    return engine.scan("counter.counters");
  } finally {
    await engine.close();
  }
}

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 6000 && !existsSync(path); i++) await sleep(10);
  assert.ok(existsSync(path), `${path} appeared`);
}

describe("ExecutionService restart racing the ledger", () => {
  test("a batch retried after a watchdog kill runs on the state before it, whatever the ledger gained meanwhile", async () => {
    const ledger = new TestLedger();
    const service = await hookedService(ledger, dirs.make());
    try {
      await service.loadContract("counter", counterBundle());
      ledger.record(
        await service.executeBatch(1, 1, [
          call("counter", "add", { key: "a", by: 1 }),
          call("counter", "add", { key: "a", by: 1 }),
        ]),
      );
      await service.commit(1);
      ledger.committed = 1;

      // Leader of view 1: a batch above version 2 whose first call hangs the worker.
      const gate = dirs.make();
      const batch = service.executeBatch(1, 3, [
        call("counter", "add", { key: `gate:${gate}`, by: 1 }),
        call("counter", "add", { key: "a", by: 1 }),
      ]);
      await waitForFile(join(gate, "reached"));
      // Meanwhile leadership moved: the leader of view 2 replaced version 2 and added 3..5. The
      // replica truncates the ledger, appends, and queues the KV rollback and apply.
      ledger.truncate(1);
      const fresh = [2, 3, 4, 5].map((version) => counterWrite(version, "n", version));
      ledger.entries.push(...fresh);
      const rolledBack = service.rollback(1);
      const applied = service.apply(fresh);

      // The gate never opens: the watchdog kills the worker and the rest of the batch runs again.
      const results = await batch;
      assert.deepEqual(results.map(codeOf), ["ExecutionLimit", "ok"]);
      const rerun = okResult(results[1]);
      assert.equal(rerun.seqno, 3, "seqnos assigned afresh from the batch's firstSeqno");
      assert.equal(rerun.result, 3, "it ran on the state the batch was sent against (a = 2 at version 2)");
      await rolledBack;
      await applied;
      assert.equal(service.stats().restarts, 1);
      assert.equal(service.appliedVersion, 5);
      assert.equal(service.committedVersion, 1);
      assert.deepEqual(await service.scan("counter.counters"), await stateOf(ledger.entries));

      // Leading again: the next batch runs above the ledger's end, on the new leader's state.
      const [next] = await service.executeBatch(3, 6, [call("counter", "add", { key: "n", by: 1 })]);
      assert.equal(okResult(next).seqno, 6);
      assert.equal(okResult(next).result, 6);
    } finally {
      await service.close();
    }
  });

  test("entries applied while the worker restarts are applied once, in queue order", async () => {
    const ledger = new TestLedger();
    const service = await hookedService(ledger, dirs.make());
    try {
      await service.loadContract("counter", counterBundle());
      const first = [counterWrite(1, "f", 1), counterWrite(2, "f", 2)];
      ledger.entries.push(...first);
      await service.apply(first);
      await service.commit(1);
      ledger.committed = 1;

      // A follower: a read hangs the worker while the leader's next entries arrive.
      const gate = dirs.make();
      const read = service.read(call("counter", "get", { key: `gate:${gate}` }));
      await waitForFile(join(gate, "reached"));
      const fresh = [counterWrite(3, "f", 3), counterWrite(4, "g", 4)];
      ledger.entries.push(...fresh);
      const applied = service.apply(fresh);
      const committed = service.commit(3);

      assert.equal(codeOf(await read), "ExecutionLimit");
      await applied;
      await committed;
      assert.equal(service.stats().restarts, 1);
      assert.equal(service.appliedVersion, 4);
      assert.equal(service.committedVersion, 3);
      assert.deepEqual(await service.scan("counter.counters"), await stateOf(ledger.entries));
    } finally {
      await service.close();
    }
  });

  test("an in-memory KV restarts from the ledger's committed versions and the journal above them", async () => {
    const ledger = new TestLedger();
    const service = await ExecutionService.start({
      kvPath: null,
      limits: SHORT_LIMITS,
      logger: createLogger({ write: () => {} }),
      replaySource: ledger.replaySource,
      workerUrl: HOOKED_WORKER,
    });
    try {
      await service.loadContract("counter", counterBundle());
      const first = [1, 2, 3].map((version) => counterWrite(version, "m", version));
      ledger.entries.push(...first);
      await service.apply(first);
      await service.commit(2);
      ledger.committed = 2;
      // The worker dies on this read; the ledger gains version 4 before the new worker replays.
      const read = service.read(call("counter", "explode", { key: "m" }));
      const fourth = counterWrite(4, "m", 4);
      ledger.entries.push(fourth);
      const applied = service.apply([fourth]);
      assert.equal(codeOf(await read), "ExecutionLimit");
      await applied;
      assert.equal(service.stats().restarts, 1);
      assert.equal(service.appliedVersion, 4);
      assert.deepEqual(await service.scan("counter.counters"), await stateOf(ledger.entries));
    } finally {
      await service.close();
    }
  });

  test("a restart restores applied, uncommitted versions from the journal alone: commits above the committed version still land", async () => {
    // As bench:snapshot drives the service: write sets applied and committed in a pipeline, with
    // no ledger behind them (replaySource has nothing above the start). A restart that rebuilt
    // the KV from replaySource left it at its committed version, and the retried commit failed
    // "commit only applied versions" (an AssertionFailure the bench died of).
    const kvPath = dirs.make();
    let replays = 0;
    const service = await ExecutionService.start({
      kvPath,
      limits: SHORT_LIMITS,
      logger: createLogger({ write: () => {} }),
      replaySource: () => {
        replays++;
        return [];
      },
      controlDeadlineMs: 3000,
      workerUrl: HOOKED_WORKER,
    });
    try {
      const entries = [1, 2, 3].map((version) => counterWrite(version, "b", version));
      await service.apply(entries);
      await service.commit(3);

      // The next apply hangs the worker; applies and commits keep coming behind it. (Not a
      // commit: whether the apply posted just before it was answered before the hang is a race,
      // and a commit whose own deadline killed the worker is not retried: control-stall.test.ts.
      // An apply whose own deadline killed the worker is replayed from the journal.)
      writeFileSync(join(kvPath, "hang-next-apply"), "");
      const requests: Promise<unknown>[] = [];
      for (let version = 4; version <= 9; version++) {
        const entry = counterWrite(version, "b", version);
        entries.push(entry);
        requests.push(service.apply([entry]), service.commit(version));
      }
      const outcomes = await Promise.allSettled(requests);
      assert.deepEqual(
        outcomes.map((o) => (o.status === "rejected" ? String(o.reason) : o.status)),
        requests.map(() => "fulfilled"),
      );
      assert.equal(service.stats().restarts, 1);
      assert.equal(replays, 1, "replaySource is read at start only: an LMDB KV keeps its committed versions");
      assert.equal(service.appliedVersion, 9);
      assert.equal(service.committedVersion, 9);
      assert.deepEqual(await service.scan("counter.counters"), await stateOf(entries));
      const rows = await service.snapshotRows(9);
      assert.equal(rows?.version, 9);
      assert.equal(rows?.rows, 1);
    } finally {
      await service.close();
    }
  });

  test("several requests missing their deadline at once: one terminate, one restart, each answered", async () => {
    const ledger = new TestLedger();
    const kvPath = dirs.make();
    const terminations = new Map<Worker, number>();
    const terminate = Worker.prototype.terminate;
    Worker.prototype.terminate = function (this: Worker): Promise<number> {
      terminations.set(this, (terminations.get(this) ?? 0) + 1);
      return terminate.call(this);
    };
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const service = await hookedService(ledger, kvPath, 3000);
      try {
        const first = [1, 2, 3].map((version) => counterWrite(version, "c", version));
        ledger.entries.push(...first);
        await service.apply(first);

        // The first commit hangs the worker before it reads on: every request after it waits.
        writeFileSync(join(kvPath, "hang-next-commit"), "");
        const requests: Promise<unknown>[] = [service.commit(1)];
        for (let version = 4; version <= 9; version++) {
          const entry = counterWrite(version, "c", version);
          ledger.entries.push(entry);
          requests.push(service.apply([entry]), service.commit(version - 2));
        }
        const limits = service.setLimits(SHORT_LIMITS);

        const outcomes = await Promise.allSettled(requests);
        assert.deepEqual(
          outcomes.map((o) => o.status),
          requests.map((_, i) => (i === 0 ? "rejected" : "fulfilled")),
          "the hung commit fails (its own deadline killed the worker); the applies behind it are replayed and the commits retried on the new worker",
        );
        await assert.rejects(limits, {
          name: "TreatyError",
          code: "Unavailable",
          message:
            /^setLimits: the execution worker was lost \(it exceeded the request deadline of 3000 ms\)/,
        });
        assert.equal(service.stats().restarts, 1);
        assert.equal(service.appliedVersion, 9);
        assert.equal(service.committedVersion, 7);
        assert.deepEqual(await service.scan("counter.counters"), await stateOf(ledger.entries));
        assert.deepEqual([...terminations.values()], [1], "the lost worker was terminated once");
      } finally {
        await service.close();
      }
      assert.deepEqual([...terminations.values()], [1, 1], "each worker terminated once");
      await sleep(10); // warnings are emitted on a later tick
      assert.deepEqual(
        warnings.map((w) => w.name),
        [],
      );
    } finally {
      Worker.prototype.terminate = terminate;
      process.off("warning", onWarning);
    }
  });
});
