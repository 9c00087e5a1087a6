/**
 * The watchdog: its decision logic on a fake clock, and the service's recovery with a worker
 * that really hangs or dies at chosen calls (fixtures/hooked-worker.ts): the call fails with
 * ExecutionLimit, the rest of the batch still runs, the worker is replaced, the state is as if
 * the poison call never happened, and the main thread stays responsive throughout.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ExecutionEngine } from "../../node/execution/engine.js";
import { type ExecCall, PROGRESS_RUNNING, PROGRESS_STARTED } from "../../node/execution/protocol.js";
import { ExecutionService } from "../../node/execution/service.js";
import { Watchdog } from "../../node/execution/watchdog.js";
import { createLogger } from "../../node/log.js";
import { resolveLimits } from "../../runtime/sandbox/limits.js";
import { utf8 } from "../../sdk/bytes.js";
import {
  call,
  codeOf,
  counterBundle,
  okResult,
  TEST_LIMITS,
  TempDirs,
  TestLedger,
  withPlainWriteSets,
} from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const HOOKED_WORKER = new URL("./fixtures/hooked-worker.js", import.meta.url);

/**
 * A short wall clock so a stalled call is caught in about two seconds, yet roomy enough that an
 * ordinary call never hits it on a loaded machine.
 */
const SHORT_LIMITS = resolveLimits({ wallClockMs: 1000 }, TEST_LIMITS);
const SLACK_MS = 500;

describe("Watchdog (fake clock)", () => {
  function setup(budget: { totalMs: number; stallMs: number | null }) {
    const progress = new Int32Array(2);
    progress[PROGRESS_RUNNING] = -1;
    let nowMs = 1000;
    const watchdog = new Watchdog(progress, budget, () => nowMs);
    return {
      progress,
      watchdog,
      advance: (ms: number) => {
        nowMs += ms;
      },
      startCall: (index: number) => {
        progress[PROGRESS_STARTED]! += 1;
        progress[PROGRESS_RUNNING] = index;
      },
    };
  }

  test("the total deadline trips whatever the progress", () => {
    const { watchdog, advance, startCall } = setup({ totalMs: 500, stallMs: 200 });
    for (let i = 0; i < 4; i++) {
      startCall(i);
      advance(120);
      assert.equal(watchdog.check(), undefined);
    }
    advance(20);
    assert.equal(watchdog.check(), "deadline");
  });

  test("a call running longer than the stall bound trips it; progress resets the bound", () => {
    const { watchdog, advance, startCall, progress } = setup({ totalMs: 10_000, stallMs: 200 });
    startCall(0);
    advance(150);
    assert.equal(watchdog.check(), undefined, "progress seen: the bound restarts now");
    advance(150);
    assert.equal(watchdog.check(), undefined);
    advance(50);
    assert.equal(watchdog.check(), "stalled");
    progress[PROGRESS_RUNNING] = -1;
    assert.equal(watchdog.check(), undefined, "between calls nothing stalls");
  });

  test("a gap between checks beyond MAX_COUNTED_GAP_MS (a frozen process) counts only that much", () => {
    const { watchdog, advance, startCall } = setup({ totalMs: 10_000, stallMs: 1500 });
    startCall(0);
    advance(200);
    assert.equal(watchdog.check(), undefined, "progress seen: the stall bound restarts now");
    advance(60_000); // SIGSTOP, then SIGCONT: the first check after it counts 1000 ms
    assert.equal(watchdog.check(), undefined, "the freeze is not blamed on the call");
    advance(250);
    assert.equal(watchdog.check(), undefined);
    advance(250);
    assert.equal(watchdog.check(), "stalled", "1000 + 2 × 250 ms counted: the bound stays finite");
  });

  test("requests without contract calls have no stall bound; the poll period is bounded", () => {
    const control = setup({ totalMs: 60_000, stallMs: null });
    control.startCall(0);
    control.advance(59_000);
    assert.equal(control.watchdog.check(), undefined);
    assert.equal(control.watchdog.pollMs, 250);
    assert.equal(setup({ totalMs: 8, stallMs: 4 }).watchdog.pollMs, 5);
    assert.equal(setup({ totalMs: 10_000, stallMs: 600 }).watchdog.pollMs, 150);
  });
});

/** Runs `work` while a 10 ms interval timer counts how often the main thread's loop got to it. */
async function whileCountingTicks<T>(work: () => Promise<T>): Promise<{ value: T; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
  }, 10);
  try {
    const value = await work();
    return { value, ticks };
  } finally {
    clearInterval(timer);
  }
}

function hookedService(
  ledger: TestLedger,
  kvPath: string | null,
  lines: string[],
): Promise<ExecutionService> {
  return ExecutionService.start({
    kvPath,
    limits: SHORT_LIMITS,
    logger: createLogger({ write: (line) => lines.push(line) }),
    replaySource: ledger.replaySource,
    watchdogSlackMs: SLACK_MS,
    workerUrl: HOOKED_WORKER,
  });
}

/** What the calls give on a healthy in-thread engine: the reference for "as if never run". */
async function reference(
  batches: ReadonlyArray<readonly [view: number, firstSeqno: number, calls: ExecCall[]]>,
) {
  const engine = await ExecutionEngine.open({ kvPath: null, limits: SHORT_LIMITS });
  try {
    await engine.loadContract("counter", counterBundle());
    const results = batches.map(([view, firstSeqno, calls]) => engine.executeBatch(view, firstSeqno, calls));
    return { results, counters: engine.scan("counter.counters"), audit: engine.scan("public:counter.audit") };
  } finally {
    await engine.close();
  }
}

describe("ExecutionService watchdog", () => {
  test("a hung call fails with ExecutionLimit; the rest of the batch runs on a fresh worker", async () => {
    const ledger = new TestLedger();
    const lines: string[] = [];
    const service = await hookedService(ledger, dirs.make(), lines);
    try {
      await service.loadContract("counter", counterBundle());
      const before = [
        call("counter", "add", { key: "a", by: 1 }),
        call("counter", "add", { key: "a", by: 1 }),
      ];
      ledger.record(await service.executeBatch(1, 1, before));
      await service.commit(1);
      ledger.committed = 1;

      const batch = [
        call("counter", "add", { key: "a", by: 1 }, { nonce: "x1" }),
        call("counter", "poison", { key: "a" }, { nonce: "x2" }),
        call("counter", "add", { key: "b", by: 1 }, { nonce: "x3" }),
      ];
      const { value: results, ticks } = await whileCountingTicks(() => service.executeBatch(2, 3, batch));
      assert.ok(ticks >= 3, `the main thread kept running timers while the worker hung (${ticks} ticks)`);

      assert.deepEqual(results.map(codeOf), ["ok", "ExecutionLimit", "ok"]);
      const killed = results[1]!;
      assert.ok(!killed.ok);
      assert.match(killed.error.message, /^counter\.poison: the call ran longer than 1500 ms/);
      assert.deepEqual(
        results.filter((r) => r.ok).map((r) => okResult(r).txid),
        ["2.3", "2.4"],
      );
      assert.equal(service.stats().restarts, 1);
      assert.equal(service.appliedVersion, 4);
      assert.equal(service.committedVersion, 1);
      assert.ok(lines.some((line) => line.includes("execution worker restarted")));
      assert.ok(lines.some((line) => line.includes('"reason":"stalled"')));
      ledger.record(results);

      // Exactly the state (and results) of the same calls without the poison one.
      const expected = await reference([
        [1, 1, before],
        [2, 3, [batch[0]!, batch[2]!]],
      ]);
      assert.deepEqual(
        withPlainWriteSets([results[0]!, results[2]!]),
        withPlainWriteSets(expected.results[1]!),
      );
      assert.deepEqual(await service.scan("counter.counters"), expected.counters);
      assert.deepEqual(await service.scan("public:counter.audit"), expected.audit);
      const [retry] = await service.executeBatch(2, 5, [
        call("counter", "add", { key: "c", by: 1 }, { nonce: "x2" }),
      ]);
      assert.equal(codeOf(retry), "ok", "the poison call's nonce was not consumed");
    } finally {
      await service.close();
    }
  });

  test("a worker that dies mid-batch is replaced; only the calls running at death fail", async () => {
    const ledger = new TestLedger();
    const lines: string[] = [];
    const service = await hookedService(ledger, null, lines);
    try {
      await service.loadContract("counter", counterBundle());
      ledger.record(await service.executeBatch(1, 1, [call("counter", "add", { key: "a", by: 5 })]));
      const results = await service.executeBatch(1, 2, [
        call("counter", "explode", { key: "a" }),
        call("counter", "add", { key: "a", by: 1 }),
        call("counter", "explode", { key: "a" }),
        call("counter", "add", { key: "a", by: 1 }),
      ]);
      assert.deepEqual(results.map(codeOf), ["ExecutionLimit", "ok", "ExecutionLimit", "ok"]);
      assert.deepEqual(
        results.filter((r) => r.ok).map((r) => okResult(r).seqno),
        [2, 3],
      );
      const killed = results[0]!;
      assert.ok(!killed.ok);
      assert.match(killed.error.message, /crashed the worker \(exit code 70\)/);
      assert.equal(service.stats().restarts, 2);
      assert.ok(lines.some((line) => line.includes("execution worker crashed")));
      // In-memory KV: the replay from the ledger restored version 1 in each new worker.
      assert.equal(okResult(await service.read(call("counter", "get", { key: "a" }))).result, 7);
    } finally {
      await service.close();
    }
  });

  test("a worker lost while an apply and a commit are in flight: one restart serves them all", async () => {
    const ledger = new TestLedger();
    const lines: string[] = [];
    const service = await hookedService(ledger, dirs.make(), lines);
    try {
      await service.loadContract("counter", counterBundle());
      const first = await service.executeBatch(1, 1, [call("counter", "add", { key: "a", by: 5 })]);
      ledger.record(first);
      // A signature's empty apply and a commit, sent without waiting (as the sequencer and the
      // replica do), then a batch whose first call kills the worker.
      const signature = { version: 2, writeSet: { public: [], private: [] } };
      ledger.entries.push(signature);
      const applied = service.apply([signature]);
      const committed = service.commit(2);
      const results = await service.executeBatch(1, 3, [
        call("counter", "explode", { key: "a" }, { nonce: "e1" }),
        call("counter", "add", { key: "a", by: 1 }, { nonce: "e2" }),
      ]);
      await applied;
      await committed;
      assert.deepEqual(results.map(codeOf), ["ExecutionLimit", "ok"]);
      assert.equal(okResult(results[1]).seqno, 3, "the batch runs above the signature");
      assert.equal(service.stats().restarts, 1, "one restart for every request the loss failed");
      assert.equal(service.committedVersion, 2);
      assert.equal(service.appliedVersion, 3);
      ledger.record(results);
      // The requests queued behind pipelined ones see them: an apply not awaited, then a read.
      const next = {
        version: 4,
        writeSet: {
          public: [],
          private: [{ map: "counter.counters", writes: [[utf8.encode("a"), utf8.encode("42")]] }],
        },
      } as const;
      ledger.entries.push(next);
      const reapplied = service.apply([next]);
      assert.equal(okResult(await service.read(call("counter", "get", { key: "a" }))).result, 42);
      await reapplied;
      assert.equal(await service.commit(4), undefined);
      assert.equal(service.committedVersion, 4);
    } finally {
      await service.close();
    }
  });

  test("a process frozen past the deadline (as by SIGSTOP) does not get its worker killed", async () => {
    const ledger = new TestLedger();
    const lines: string[] = [];
    const service = await ExecutionService.start({
      kvPath: null,
      limits: resolveLimits({ wallClockMs: 3000 }, TEST_LIMITS),
      logger: createLogger({ write: (line) => lines.push(line) }),
      replaySource: ledger.replaySource,
      watchdogSlackMs: SLACK_MS,
      workerUrl: HOOKED_WORKER,
    });
    try {
      await service.loadContract("counter", counterBundle());
      const gate = dirs.make();
      const batch = service.executeBatch(1, 1, [call("counter", "add", { key: `gate:${gate}`, by: 1 })]);
      for (let i = 0; i < 6000 && !existsSync(join(gate, "reached")); i++) await sleep(10);
      // As under SIGSTOP: the main thread stops for longer than the batch's whole budget (3.5 s)
      // while the call makes no progress either; then the watchdog checks (every 250 ms) before
      // the call can finish. The freeze is not blamed on the call.
      const until = performance.now() + 5000;
      while (performance.now() < until) {
        // Busy: no timer, no message.
      }
      await sleep(600);
      writeFileSync(join(gate, "open"), "");
      const [result] = await batch;
      assert.equal(codeOf(result), "ok");
      assert.equal(service.stats().restarts, 0);
      assert.ok(!lines.some((line) => line.includes("execution watchdog")));
    } finally {
      await service.close();
    }
  });

  test("a hung read fails with ExecutionLimit and the service keeps serving", async () => {
    const ledger = new TestLedger();
    const service = await hookedService(ledger, null, []);
    try {
      await service.loadContract("counter", counterBundle());
      ledger.record(await service.executeBatch(1, 1, [call("counter", "add", { key: "r", by: 2 })]));
      const result = await service.read(call("counter", "poison", { key: "r" }));
      assert.equal(codeOf(result), "ExecutionLimit");
      assert.equal(service.stats().restarts, 1);
      assert.equal(okResult(await service.read(call("counter", "get", { key: "r" }))).result, 2);
      assert.equal(service.appliedVersion, 1);
    } finally {
      await service.close();
    }
  });
});
