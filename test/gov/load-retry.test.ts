/**
 * LoadRetries (node/gov/load-retry.ts) on a fake clock: a failed governance load is retried with
 * exponential backoff up to a cap, a deterministic failure never turns into a busy loop, a new
 * version starts over, success, removal or stop end the retries, and an execution worker restart
 * runs the waiting retries at once. Then the node's wiring: its worker's restart runs them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExecutionService } from "../../node/execution/service.js";
import { contractLoadKey, LoadRetries, type RetryTimers } from "../../node/gov/load-retry.js";
import { createLogger } from "../../node/log.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { until } from "../support/poll.js";

/** Timers on a fake clock: `advance(ms)` fires what falls due, in order. */
function fakeTimers() {
  let now = 0;
  let nextId = 1;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: RetryTimers = {
    set(fn, ms) {
      const id = nextId++;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clear(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    timers,
    get now() {
      return now;
    },
    get pending() {
      return pending.size;
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of pending)
          if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
        if (next === undefined) break;
        pending.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
}

function setup(delays = { baseMs: 1_000, maxMs: 300_000 }) {
  const clock = fakeTimers();
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  const runs: Array<{ key: string; at: number }> = [];
  let onRun: (key: string) => void = () => {};
  const retries = new LoadRetries({
    logger,
    delays,
    timers: clock.timers,
    run: (key) => {
      runs.push({ key, at: clock.now });
      onRun(key);
    },
  });
  return {
    clock,
    lines,
    runs,
    retries,
    setOnRun(fn: (key: string) => void) {
      onRun = fn;
    },
  };
}

describe("governance load retries", () => {
  it("a load that keeps failing is retried after 1, 2, 4 ... s, then every 5 minutes: no busy loop", () => {
    const t = setup();
    const key = contractLoadKey("alpha");
    // The node's retry loads again and fails again, every time (a deterministic failure).
    t.setOnRun((k) => t.retries.failed(k, "digest-1", new Error("refused")));
    t.retries.failed(key, "digest-1", new Error("refused"), { contract: "alpha" });
    t.clock.advance(24 * 3600 * 1000);
    const gaps = t.runs.map((run, i) => run.at - (i === 0 ? 0 : t.runs[i - 1]!.at));
    assert.deepEqual(
      gaps.slice(0, 10),
      [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000],
    );
    assert.ok(gaps.slice(9).every((gap) => gap === 300_000));
    // A day of a deterministic failure: 9 doubling retries, then one per 5 minutes.
    assert.equal(t.runs.length, 9 + Math.floor((86_400_000 - 511_000) / 300_000));
    assert.ok(t.runs.length < 300);
    assert.equal(t.clock.pending, 1, "one timer per failing load, never more");
    assert.equal(t.retries.stats().failing, 1);
    assert.equal(t.retries.stats().failures.contract, t.runs.length + 1);
    // Each failure is a structured warning saying when the next attempt comes.
    const first = t.lines[0]!;
    assert.equal(first.level, "error");
    assert.equal(first.msg, "contract failed to load on this node: retrying");
    assert.equal(first.contract, "alpha");
    assert.equal(first.attempt, 1);
    assert.equal(first.retryInMs, 1_000);
    assert.deepEqual(first.err, { name: "Error", message: "refused" });
  });

  it("a retry that loads ends the retries and is logged", () => {
    const t = setup();
    const key = contractLoadKey("alpha");
    t.setOnRun((k) => t.retries.succeeded(k, { contract: "alpha" }));
    t.retries.failed(key, "digest-1", new Error("worker restarting"));
    t.retries.failed(key, "digest-1", new Error("worker restarting"));
    assert.equal(t.retries.attempts(key), 2);
    t.clock.advance(3_600_000);
    assert.equal(t.runs.length, 1, "one retry, then none");
    assert.equal(t.runs[0]!.at, 2_000, "after the second failure's delay");
    assert.equal(t.retries.attempts(key), 0);
    assert.equal(t.retries.stats().failing, 0);
    assert.equal(t.clock.pending, 0);
    const last = t.lines.at(-1)!;
    assert.equal(last.level, "info");
    assert.equal(last.msg, "contract loaded on retry");
    assert.equal(last.attempts, 2);
  });

  it("a failure of another version starts over at the first delay", () => {
    const t = setup();
    const key = contractLoadKey("alpha");
    for (let i = 0; i < 5; i++) t.retries.failed(key, "digest-1", new Error("x"));
    assert.equal(t.retries.attempts(key), 5);
    const { attempt, retryInMs } = t.retries.failed(key, "digest-2", new Error("x"));
    assert.deepEqual({ attempt, retryInMs }, { attempt: 1, retryInMs: 1_000 });
    assert.equal(t.clock.pending, 1, "the old version's timer is gone");
    t.clock.advance(1_000);
    assert.deepEqual(t.runs, [{ key, at: 1_000 }]);
  });

  it("keys are independent; a dropped key and a stopped node retry nothing", () => {
    const t = setup();
    t.retries.failed(contractLoadKey("a"), "d", new Error("x"));
    t.retries.failed("limits", "{}", new Error("x"));
    t.retries.failed("constitution", "c", new Error("x"));
    assert.deepEqual(t.retries.stats(), {
      failures: { contract: 1, constitution: 1, limits: 1 },
      failing: 3,
    });
    t.retries.dropped(contractLoadKey("a"));
    t.clock.advance(1_000);
    assert.deepEqual(t.runs.map((r) => r.key).sort(), ["constitution", "limits"]);
    t.retries.failed("limits", "{}", new Error("x"));
    t.retries.stop();
    assert.equal(t.clock.pending, 0);
    t.clock.advance(3_600_000);
    assert.equal(t.runs.length, 2);
  });

  it("a worker restart runs the waiting retries at once; one that fails again goes on with its backoff", () => {
    const t = setup();
    const alpha = contractLoadKey("alpha");
    const versions: Record<string, string> = { [alpha]: "digest-1", limits: "{}" };
    t.setOnRun((k) => t.retries.failed(k, versions[k]!, new Error("refused")));
    t.retries.failed(alpha, "digest-1", new Error("refused"));
    t.retries.failed("limits", "{}", new Error("refused"));
    // Both keep failing until their retries wait 256 s.
    t.clock.advance(1_000 + 2_000 + 4_000 + 8_000 + 16_000 + 32_000 + 64_000 + 128_000);
    assert.equal(t.retries.attempts(alpha), 9);
    const before = t.runs.length;
    t.clock.advance(10_000);
    assert.equal(t.runs.length, before, "nothing due for a while: the next alpha retry is 256 s away");

    t.retries.retryNow("the execution worker restarted");
    const now = t.runs.slice(before);
    assert.deepEqual(now.map((r) => r.key).sort(), [alpha, "limits"]);
    assert.ok(
      now.every((r) => r.at === t.clock.now),
      "at once, not after the timers",
    );
    assert.equal(t.clock.pending, 2, "each failed again: one timer each, never more");
    assert.equal(t.retries.attempts(alpha), 10, "the backoff goes on from where it was");
    const logged = t.lines.find((line) => line.msg === "retrying failed loads now")!;
    assert.equal(logged.level, "info");
    assert.equal(logged.why, "the execution worker restarted");
    assert.deepEqual([...(logged.loads as string[])].sort(), [alpha, "limits"]);

    // A retry already on its way (its timer fired, its run not yet answered) is not run twice.
    t.setOnRun(() => {});
    t.clock.advance(300_000);
    const pendingRuns = t.runs.length;
    t.retries.retryNow("the execution worker restarted");
    assert.equal(t.runs.length, pendingRuns);
    // Stopped: nothing runs.
    t.retries.failed("constitution", "c", new Error("x"));
    t.retries.stop();
    t.retries.retryNow("the execution worker restarted");
    assert.equal(t.runs.length, pendingRuns);
  });

  it("refuses delays that would spin or never grow", () => {
    const logger = createLogger({ write: () => {} });
    for (const delays of [
      { baseMs: 0, maxMs: 10 },
      { baseMs: 10, maxMs: 5 },
      { baseMs: 1.5, maxMs: 10 },
    ]) {
      assert.throws(() => new LoadRetries({ logger, run: () => {}, delays }), RangeError);
    }
  });
});

describe("a node's execution worker restart runs its waiting load retries", () => {
  it("a load retry 5 minutes away runs as soon as the worker restarts", async () => {
    // The node registers its handler when it is built; keep it to play the worker's restart.
    let restarted: (() => void) | undefined;
    const onRestart = ExecutionService.prototype.onRestart;
    ExecutionService.prototype.onRestart = function (this: ExecutionService, handler: () => void) {
      restarted = handler;
      onRestart.call(this, handler);
    };
    let net: TestNode | undefined;
    try {
      net = await startTestNode();
      const retries = net.node.loadRetries;
      // The limits load failed ten times: its next retry is maxMs (5 minutes) away.
      for (let i = 0; i < 10; i++) retries.failed("limits", "{}", new Error("test: worker lost"));
      assert.equal(retries.attempts("limits"), 10);
      assert.ok(restarted !== undefined, "the node registers a restart handler");
      restarted();
      // The retry loads the committed limits (this worker is fine) and ends the retries.
      await until("the limits retry", () => retries.attempts("limits") === 0);
      assert.equal(retries.stats().failing, 0);
    } finally {
      ExecutionService.prototype.onRestart = onRestart;
      await net?.dispose();
    }
  });
});
