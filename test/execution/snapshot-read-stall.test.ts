/**
 * A snapshot read has no total deadline, only one on its progress: the worker counts the slices
 * of the read it finishes (PROGRESS_SNAPSHOT_SLICES) and the read fails only when none finishes
 * for the stall window (`snapshotReadStallMs`, default SNAPSHOT_READ_STALL_MS). A fixed total
 * (600 s before) failed every snapshot of a state large enough (~30M rows) to take longer. The
 * watchdog's decisions on a fake clock; then the service with a worker whose reads are slowed or
 * hang on demand (fixtures/snapshot-worker.ts). A read whose own stall killed the worker fails at
 * once (a read that hangs on the state would hang again: retrying cost a second restart and a
 * second window); a read lost with a worker killed for another reason is retried once.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  PROGRESS_SLOTS,
  PROGRESS_SNAPSHOT_SLICES,
  type VersionedWriteSet,
} from "../../node/execution/protocol.js";
import {
  type ExecutionServiceOptions,
  ExecutionService,
  SNAPSHOT_READ_STALL_MS,
} from "../../node/execution/service.js";
import { Watchdog } from "../../node/execution/watchdog.js";
import { createLogger } from "../../node/log.js";
import { DEFAULT_LIMITS } from "../../runtime/sandbox/limits.js";
import { utf8 } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { call, codeOf, counterBundle, okResult, TempDirs } from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const SNAPSHOT_WORKER = new URL("./fixtures/snapshot-worker.js", import.meta.url);

describe("Watchdog of a snapshot read (fake clock)", () => {
  function setup(readStallMs: number) {
    const progress = new Int32Array(PROGRESS_SLOTS);
    let nowMs = 1000;
    const watchdog = new Watchdog(progress, { totalMs: null, stallMs: null, readStallMs }, () => nowMs);
    return {
      watchdog,
      advance: (ms: number) => {
        nowMs += ms;
      },
      slice: () => {
        progress[PROGRESS_SNAPSHOT_SLICES]! += 1;
      },
    };
  }

  test("a read that keeps finishing slices runs past 600 s (the old total deadline) untouched", () => {
    const { watchdog, advance, slice } = setup(SNAPSHOT_READ_STALL_MS);
    // One slice every 30 s (slower than any healthy read) for 20 minutes.
    for (let ms = 0; ms < 1_200_000; ms += 250) {
      if (ms % 30_000 === 0) slice();
      advance(250);
      assert.equal(watchdog.check(), undefined, `at ${ms} ms`);
    }
  });

  test("no slice for the stall window trips readStalled; a slice restarts the window", () => {
    const { watchdog, advance, slice } = setup(1000);
    advance(750);
    assert.equal(watchdog.check(), undefined);
    slice();
    advance(250);
    assert.equal(watchdog.check(), undefined, "progress seen: the window restarts now");
    advance(750);
    assert.equal(watchdog.check(), undefined);
    advance(250);
    assert.equal(watchdog.check(), "readStalled");
  });

  test("a frozen process (a gap beyond MAX_COUNTED_GAP_MS) is not blamed on the read", () => {
    const { watchdog, advance } = setup(1500);
    advance(60_000);
    assert.equal(watchdog.check(), undefined, "the first check after the freeze counts 1000 ms");
    advance(500);
    assert.equal(watchdog.check(), "readStalled");
  });
});

/** One version writing `rows` rows into one private map. */
function rowsWrite(version: number, rows: number): VersionedWriteSet {
  const writes: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < rows; i++)
    writes.push([utf8.encode(`k${String(i).padStart(6, "0")}`), utf8.encode(`v${i}`)]);
  return { version, writeSet: { public: [], private: [{ map: "counter.counters", writes }] } };
}

/** A service on the snapshot worker with `rows` rows committed at version 1. */
async function serviceWith(
  kvPath: string,
  rows: number,
  snapshotReadStallMs: number,
  options: Partial<ExecutionServiceOptions> = {},
): Promise<ExecutionService> {
  const service = await ExecutionService.start({
    kvPath,
    logger: createLogger({ write: () => {} }),
    replaySource: () => [],
    snapshotReadStallMs,
    workerUrl: SNAPSHOT_WORKER,
    ...options,
  });
  await service.apply([rowsWrite(1, rows)]);
  await service.commit(1);
  return service;
}

describe("ExecutionService snapshot read: a deadline on progress", () => {
  test("a read slower than its stall window, still making progress, completes", async () => {
    // 12 slices of 256 rows, each followed by at least 300 ms: the read lasts over 3.6 s, about
    // twice the 2 s window, and only the progress keeps it alive.
    const kvPath = dirs.make();
    const service = await serviceWith(kvPath, 12 * 256, 2000);
    try {
      writeFileSync(join(kvPath, "slow-snapshot"), "300");
      const read = await service.snapshotRows(1);
      assert.equal(read?.version, 1);
      assert.equal(read?.rows, 12 * 256);
      assert.equal(service.stats().restarts, 0);
    } finally {
      await service.close();
    }
  });

  test("a hung read restarts the worker once and fails with Unavailable naming the window; the next requests work", async () => {
    const kvPath = dirs.make();
    const service = await serviceWith(kvPath, 300, 1000);
    let restarts = 0;
    service.onRestart(() => {
      restarts++;
    });
    try {
      await service.loadContract("counter", counterBundle());
      writeFileSync(join(kvPath, "hang-snapshot"), "");
      await assert.rejects(service.snapshotRows(1), (err: unknown) => {
        assert.ok(isTreatyError(err), String(err));
        assert.equal(err.code, "Unavailable");
        assert.match(err.message, /made no progress in a snapshot read for 1000 ms/);
        return true;
      });
      assert.equal(restarts, 1, "its own stall killed the worker: the read is not retried");
      assert.equal(service.stats().restarts, 1);
      // The new worker serves: a batch, a read, and (once the state no longer hangs it) a snapshot read.
      const [added] = await service.executeBatch(1, 2, [call("counter", "add", { key: "k", by: 5 })]);
      assert.equal(okResult(added).seqno, 2);
      assert.equal(okResult(await service.read(call("counter", "get", { key: "k" }))).result, 5);
      rmSync(join(kvPath, "hang-snapshot"));
      assert.equal((await service.snapshotRows(1))?.rows, 300);
      assert.equal(restarts, 1);
    } finally {
      await service.close();
    }
  });

  test("a read in flight when another request's call got the worker killed is retried once and completes", async () => {
    // The read is slowed (4 slices, at least 300 ms apart) so that the call runs between two of
    // its slices; the call hangs (method poison) and its own stall bound (200 + 100 ms) kills
    // the worker. The read's window (60 s) waits while the call runs, so the call is the culprit.
    const kvPath = dirs.make();
    const service = await serviceWith(kvPath, 4 * 256, 60_000, {
      limits: { ...DEFAULT_LIMITS, wallClockMs: 200 },
      watchdogSlackMs: 100,
    });
    let restarts = 0;
    service.onRestart(() => {
      restarts++;
    });
    try {
      writeFileSync(join(kvPath, "slow-snapshot"), "300");
      const snapshot = service.snapshotRows(1);
      const poisoned = await service.read(call("counter", "poison", { key: "k" }));
      assert.equal(codeOf(poisoned), "ExecutionLimit");
      assert.equal(restarts, 1);
      const read = await snapshot;
      assert.equal(read?.version, 1);
      assert.equal(read?.rows, 4 * 256);
      assert.equal(restarts, 1, "the retried read ran on the worker started for the call");
      assert.equal(service.stats().restarts, 1);
    } finally {
      await service.close();
    }
  });

  test("snapshotReadStallMs is checked", async () => {
    await assert.rejects(
      ExecutionService.start({
        kvPath: null,
        logger: createLogger({ write: () => {} }),
        replaySource: () => [],
        snapshotReadStallMs: 0,
      }),
      (err: unknown) =>
        isTreatyError(err) && err.code === "InvalidArgs" && /snapshotReadStallMs/.test(err.message),
    );
  });
});
