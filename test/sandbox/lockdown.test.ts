/**
 * What contract code sees after the lockdown, and proof that nothing leaks from one call to
 * the next on a reused context.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ContractSandbox } from "../../runtime/sandbox/sandbox.js";
import { guestBundle } from "./guest.js";
import { call, codeOf, sandboxFor } from "./harness.js";

/** Guest expressions that must all be true after the lockdown. */
const CHECKS: readonly string[] = [
  'typeof eval === "undefined"',
  'typeof Date === "undefined"',
  'typeof Math.random === "undefined"',
  'typeof WeakRef === "undefined"',
  'typeof FinalizationRegistry === "undefined"',
  'typeof SharedArrayBuffer === "undefined"',
  'typeof Atomics === "undefined"',
  'typeof setTimeout === "undefined" && typeof queueMicrotask === "undefined"',
  'typeof console === "undefined" && typeof print === "undefined"',
  "Object.isFrozen(globalThis)",
  "Object.isFrozen(Object.prototype) && Object.isFrozen(Array.prototype) && Object.isFrozen(Function.prototype)",
  "Object.isFrozen(__treatyHost) && Object.isFrozen(__treatyHost.kvGet)",
  "Object.isFrozen(Object.getPrototypeOf([][Symbol.iterator]()))",
  "Object.isFrozen(Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())))",
  "Object.isFrozen(Object.getPrototypeOf(Uint8Array)) && Object.isFrozen(Object.getPrototypeOf(Uint8Array.prototype))",
  // A generator object's own prototype is its function's fresh `prototype`; above it, %GeneratorPrototype%.
  "Object.isFrozen(Object.getPrototypeOf(function* () {})) && Object.isFrozen(Object.getPrototypeOf(Object.getPrototypeOf((function* () {})())))",
  "Object.isFrozen(Object.getPrototypeOf(async function () {}))",
  "Object.isFrozen(Object.getPrototypeOf(new Map()[Symbol.iterator]()))",
  'Object.isFrozen(Object.getPrototypeOf(/a/[Symbol.matchAll]("")))',
  'Object.isFrozen(Object.getOwnPropertyDescriptor(Function.prototype, "caller").get)',
  "Object.isFrozen(Math) && Object.isFrozen(JSON) && Object.isFrozen(Reflect)",
  "(function () {}) instanceof Function && (() => 1) instanceof Function",
  '(() => { try { (function () {}).constructor("return 1"); return false; } catch (e) { return e instanceof TypeError; } })()',
  '(() => { try { new Function("return 1"); return false; } catch (e) { return e instanceof TypeError; } })()',
  "Function.prototype.constructor === Function",
  // The override mistake is fixed: ordinary assignments that shadow frozen prototype properties work.
  '(() => { const e = new Error("m"); e.name = "Mine"; return e.name === "Mine" && Error.prototype.name === "Error"; })()',
  '(() => { const o = {}; o.toString = () => "q"; return String(o) === "q"; })()',
  "(() => { class A { constructor() { this.constructor = 1; } } return new A().constructor === 1; })()",
  '(() => { try { Object.prototype.toString = () => ""; return false; } catch (e) { return e instanceof TypeError; } })()',
  "JSON.stringify([1, { a: [true, null] }]) === '[1,{\"a\":[true,null]}]'",
  "[3, 1, 2].sort().join() === '1,2,3' && new Map([[1, 2]]).get(1) === 2",
];

describe("lockdown", () => {
  let sandbox: ContractSandbox;
  before(async () => {
    const methods: Record<string, string> = {};
    CHECKS.forEach((check, i) => {
      methods[`check${i}`] = `() => (${check})`;
    });
    sandbox = await sandboxFor(guestBundle(methods));
  });
  after(() => sandbox.dispose());

  CHECKS.forEach((check, i) => {
    it(check, () => {
      assert.deepEqual(call(sandbox, `check${i}`), { ok: true, result: true });
    });
  });
});

describe("no leakage across calls on a reused context", () => {
  let sandbox: ContractSandbox;
  before(async () => {
    sandbox = await sandboxFor(
      guestBundle(
        {
          bump: "() => { counter += 1; return counter; }",
          // Each attempt is caught, so the call itself succeeds: what matters is what the next call sees.
          tamper: `() => {
            const attempts = [
              () => { Object.prototype.leak = 1; },
              () => { Array.prototype.leak = 1; },
              () => { globalThis.leak = 1; },
              () => { Object.defineProperty(globalThis, "leak", { value: 1 }); },
              () => { JSON.leak = () => 1; },
              () => { __treatyHost.leak = 1; },
              () => { __treatyContract.leak = () => 1; },
              () => { __treatyContract.prototype.leak = 1; },
              () => { Error.prototype.toString = () => "leak"; },
              () => { Object.setPrototypeOf(Array.prototype, { leak: 1 }); },
              () => { Symbol.for("treaty-leak").leak = 1; },
              () => { Math.leak = 1; },
              () => { Object.getPrototypeOf(function* () {}).leak = 1; },
            ];
            let refused = 0;
            for (const attempt of attempts) {
              try { attempt(); } catch (e) { refused += 1; }
            }
            stash = "module state";
            return refused + "/" + attempts.length;
          }`,
          observe: `() => [
            ({}).leak, [].leak, globalThis.leak, JSON.leak, __treatyHost.leak, __treatyContract.leak,
            __treatyContract.prototype.leak, new Error("x").toString(), Math.leak,
            Object.getPrototypeOf(function* () {}).leak, stash, counter,
          ]`,
          sym: `() => { const s = Symbol.for("treaty-leak"); return [Symbol.keyFor(s), Object.getOwnPropertyNames(Object(s)).length]; }`,
          loop: "() => { counter = 1000; stash = 'abnormal'; for (;;) {} }",
        },
        { moduleLevel: "let counter = 0; let stash;" },
      ),
    );
  });
  after(() => sandbox.dispose());

  it("module-level variables start clean on every call", () => {
    for (let i = 0; i < 5; i++) assert.deepEqual(call(sandbox, "bump"), { ok: true, result: 1 });
  });

  it("every tampering attempt is refused and none is visible to the next call", () => {
    assert.deepEqual(call(sandbox, "tamper"), { ok: true, result: "13/13" });
    const observed = call(sandbox, "observe") as { result: unknown[] };
    assert.deepEqual(observed.result, [
      null,
      null,
      null,
      null,
      null,
      null,
      null,
      "Error: x",
      null,
      null,
      null,
      0,
    ]);
  });

  it("the Symbol registry carries nothing between calls", () => {
    call(sandbox, "tamper");
    assert.deepEqual(call(sandbox, "sym"), { ok: true, result: ["treaty-leak", 0] });
  });

  it("state from a call cut short by a limit does not survive", () => {
    assert.equal(
      codeOf(() => call(sandbox, "loop")),
      "ExecutionLimit",
    );
    const observed = call(sandbox, "observe") as { result: unknown[] };
    assert.equal(observed.result[11], 0);
    assert.equal(observed.result[10], null);
  });
});
