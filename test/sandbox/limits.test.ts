/**
 * The pieces under the sandbox that need no QuickJS: limit validation, the call meter, the
 * memory-growth monitor; and the engine's pool of instances.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GrowthMonitor } from "../../runtime/sandbox/engine.js";
import {
  DEFAULT_LIMITS,
  FUEL_PER_HOST_CALL,
  FUEL_PER_POLL,
  MAX_STACK_BYTES,
  resolveLimits,
  WASM_PAGE_BYTES,
} from "../../runtime/sandbox/limits.js";
import { CallMeter } from "../../runtime/sandbox/meter.js";
import { TreatyError } from "../../sdk/errors.js";
import { TEST_LIMITS, testEngine } from "./harness.js";

describe("resolveLimits", () => {
  it("fills missing fields from the base and freezes the result", () => {
    const limits = resolveLimits({ maxEvents: 7 });
    assert.equal(limits.maxEvents, 7);
    assert.equal(limits.heapBytes, DEFAULT_LIMITS.heapBytes);
    assert.ok(Object.isFrozen(limits));
    assert.deepEqual(resolveLimits({}), DEFAULT_LIMITS);
  });

  it("rounds the heap cap up to whole wasm pages", () => {
    assert.equal(
      resolveLimits({ heapBytes: 32 * 1024 * 1024 + 1 }).heapBytes,
      32 * 1024 * 1024 + WASM_PAGE_BYTES,
    );
  });

  const bad: [string, unknown][] = [
    ["heapBytes", 1024],
    ["heapBytes", 4 * 1024 * 1024 * 1024],
    ["stackBytes", MAX_STACK_BYTES + 1],
    ["stackBytes", 1.5],
    ["executionBudget", 0],
    ["wallClockMs", -1],
    ["maxKeyBytes", 4096],
    ["maxEvents", "10"],
    ["maxArgsBytes", null],
    ["maxResultBytes", Number.NaN],
  ];
  for (const [field, value] of bad) {
    it(`refuses ${field}: ${String(value)} with InvalidArgs naming the field`, () => {
      assert.throws(
        () => resolveLimits({ [field]: value }),
        (err) =>
          err instanceof TreatyError &&
          err.code === "InvalidArgs" &&
          err.message.startsWith(`limits.${field}:`),
      );
    });
  }

  it("refuses unknown fields and non-objects", () => {
    assert.throws(() => resolveLimits({ heap: 1 }), /limits\.heap: unknown limit/);
    assert.throws(() => resolveLimits(null), { code: "InvalidArgs" });
    assert.throws(() => resolveLimits([1]), { code: "InvalidArgs" });
  });
});

describe("CallMeter", () => {
  it("charges polls and host calls, and stops past the budget", () => {
    const meter = new CallMeter(() => 0);
    meter.start({ ...DEFAULT_LIMITS, executionBudget: 3 * FUEL_PER_POLL });
    assert.equal(meter.poll(), false);
    assert.equal(meter.chargeHostCall(50), true);
    assert.equal(meter.fuelUsed, FUEL_PER_POLL + FUEL_PER_HOST_CALL + 50);
    assert.equal(meter.poll(), false);
    assert.equal(meter.poll(), true);
    assert.equal(meter.failure?.code, "ExecutionLimit");
  });

  it("once failed, every poll interrupts and every host call is refused until the next start", () => {
    const meter = new CallMeter(() => 0);
    meter.start(DEFAULT_LIMITS);
    meter.fail(new TreatyError("ReadonlyViolation", "no"));
    meter.fail(new TreatyError("KeyTooLarge", "later failures do not replace the first"));
    assert.equal(meter.poll(), true);
    assert.equal(meter.chargeHostCall(0), false);
    assert.equal(meter.failure?.code, "ReadonlyViolation");
    meter.start(DEFAULT_LIMITS);
    assert.equal(meter.failure, undefined);
    assert.equal(meter.poll(), false);
  });

  it("stops at the wall-clock deadline", () => {
    let now = 100;
    const meter = new CallMeter(() => now);
    meter.start({ ...DEFAULT_LIMITS, wallClockMs: 10 });
    now = 110;
    assert.equal(meter.poll(), false);
    now = 111;
    assert.equal(meter.poll(), true);
    assert.match(meter.failure?.message ?? "", /wall-clock/);
  });

  it("interrupts outside a metered section", () => {
    const meter = new CallMeter(() => 0);
    assert.equal(meter.poll(), true);
    meter.start(DEFAULT_LIMITS);
    meter.stop();
    assert.equal(meter.poll(), true);
  });
});

describe("GrowthMonitor", () => {
  it("counts a resize as failed only when all three grow attempts failed", () => {
    const monitor = new GrowthMonitor();
    let reported = 0;
    monitor.onResizeFailed = () => reported++;
    monitor.attempt(false); // +20% refused
    monitor.attempt(true); // +10% granted: the allocation succeeded
    assert.equal(monitor.failedResizes, 0);
    monitor.attempt(false);
    monitor.attempt(false);
    assert.equal(monitor.failedResizes, 0);
    monitor.attempt(false);
    assert.equal(monitor.failedResizes, 1);
    monitor.attempt(false);
    monitor.attempt(false);
    monitor.attempt(false);
    assert.equal(monitor.failedResizes, 2);
    assert.equal(reported, 2);
  });
});

describe("QuickJsEngine", () => {
  it("take is synchronous and empties the pool; ready refills it; target changes the cap", async () => {
    const engine = await testEngine();
    await engine.ready(TEST_LIMITS.heapBytes);
    const taken = [];
    for (
      let instance = engine.take(TEST_LIMITS.heapBytes);
      instance !== undefined;
      instance = engine.take(TEST_LIMITS.heapBytes)
    ) {
      taken.push(instance);
    }
    assert.ok(taken.length >= 1);
    assert.ok(taken.every((instance) => instance.heapBytes === TEST_LIMITS.heapBytes));
    await engine.ready(TEST_LIMITS.heapBytes);
    assert.ok(engine.spareCount >= 1);
    const bigger = TEST_LIMITS.heapBytes + 8 * WASM_PAGE_BYTES;
    engine.target(bigger);
    await engine.ready(bigger);
    const instance = engine.take(bigger);
    assert.equal(instance?.heapBytes, bigger);
    assert.equal(instance?.memory.buffer.byteLength, 256 * WASM_PAGE_BYTES);
    engine.target(TEST_LIMITS.heapBytes);
    await engine.ready(TEST_LIMITS.heapBytes);
  });
});
