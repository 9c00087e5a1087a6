/**
 * The hostile-input table: every entry is a contract method trying to hang, exhaust or escape
 * the sandbox. Each must end in its coded error, and the next call on the same sandbox must work.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ContractSandbox } from "../../runtime/sandbox/sandbox.js";
import { guestBundle } from "./guest.js";
import { resolveLimits } from "../../runtime/sandbox/limits.js";
import { call, codeOf, MapHost, sandboxFor, TEST_LIMITS } from "./harness.js";

interface Case {
  readonly name: string;
  readonly run: string;
  /** Accepted codes (a hostile input may legitimately hit one of several limits first). */
  readonly codes: readonly string[];
}

/** A case that must end in ContractFault (a refused escape, a bad throw, a bad result). */
const fault = (name: string, run: string): Case => ({ name, run, codes: ["ContractFault"] });

const CASES: readonly Case[] = [
  { name: "loop forever", run: "() => { for (;;) {} }", codes: ["ExecutionLimit"] },
  {
    name: "loop forever with a while",
    run: "() => { let i = 0; while (true) i++; }",
    codes: ["ExecutionLimit"],
  },
  {
    name: "loop inside try/catch swallowing the interrupt",
    run: "() => { for (;;) { try { for (;;) {} } catch (e) {} } }",
    codes: ["ExecutionLimit"],
  },
  {
    name: "interrupt swallowed by finally that loops again",
    run: "() => { for (;;) { try { for (;;) {} } finally { for (;;) {} } } }",
    codes: ["ExecutionLimit"],
  },
  {
    name: "unbounded array of objects",
    run: "() => { const a = []; for (;;) a.push({ a: 1, b: [1, 2, 3] }); }",
    codes: ["MemoryLimit"],
  },
  {
    name: "unbounded typed arrays",
    run: "() => { const a = []; for (;;) a.push(new Float64Array(100000)); }",
    codes: ["MemoryLimit"],
  },
  { name: "one huge ArrayBuffer", run: "() => new ArrayBuffer(1e9).byteLength", codes: ["MemoryLimit"] },
  {
    name: "string doubling",
    run: '() => { let s = "x"; for (;;) s += s; }',
    codes: ["MemoryLimit", "ContractFault"],
  },
  {
    name: "out of memory caught and retried",
    run: "() => { for (;;) { try { const a = []; for (;;) a.push(new Array(100000).fill(0)); } catch (e) {} } }",
    // The lockdown charges fill's native work to fuel, which may run out before the heap.
    codes: ["MemoryLimit", "ExecutionLimit"],
  },
  {
    name: "out of memory caught, then success returned",
    run: '() => { try { const a = []; for (;;) a.push(new Float64Array(100000)); } catch (e) {} return "fine"; }',
    codes: ["MemoryLimit"],
  },
  {
    name: "unbounded recursion",
    run: "() => { const f = (n) => f(n + 1) + 1; return f(0); }",
    codes: ["StackLimit"],
  },
  {
    name: "stack overflow caught and ignored, then a loop",
    run: "() => { try { const f = () => f(); f(); } catch (e) {} for (;;) {} }",
    codes: ["ExecutionLimit"],
  },
  fault("throws a string", '() => { throw "nope"; }'),
  fault("throws null", "() => { throw null; }"),
  fault("throws undefined", "() => { throw undefined; }"),
  fault("throws a number", "() => { throw 42; }"),
  fault("throws a symbol", '() => { throw Symbol("s"); }'),
  fault("throws a plain object", "() => { throw { message: 1 }; }"),
  {
    name: "throws a Proxy whose traps loop",
    run: "() => { throw new Proxy({}, { get() { for (;;) {} } }); }",
    codes: ["ContractFault", "ExecutionLimit"],
  },
  {
    name: "throws an Error whose message getter loops",
    run: '() => { const e = new Error("x"); Object.defineProperty(e, "message", { get() { for (;;) {} } }); throw e; }',
    codes: ["ContractFault", "ExecutionLimit"],
  },
  {
    name: "throws an Error whose prototype is a looping Proxy",
    run: '() => { const e = new Error("x"); delete e.message; Object.setPrototypeOf(e, new Proxy({}, { getOwnPropertyDescriptor() { for (;;) {} } })); throw e; }',
    codes: ["ContractFault", "ExecutionLimit"],
  },
  fault("leaves a promise job", "() => { Promise.resolve().then(() => { for (;;) {} }); return 1; }"),
  fault("dynamic import()", '() => { import("node:fs"); return 1; }'),
  fault("Function constructor", '() => Function("return globalThis")()'),
  fault("constructor of a function", '() => (function () {}).constructor("return 1")()'),
  fault("AsyncFunction constructor", '() => (async function () {}).constructor("return 1")'),
  fault("GeneratorFunction constructor", '() => (function* () {}).constructor("yield 1")'),
  fault("AsyncGeneratorFunction constructor", '() => (async function* () {}).constructor("yield 1")'),
  fault("eval", '() => eval("1 + 1")'),
  fault("indirect eval through globalThis", '() => globalThis["ev" + "al"]("1")'),
  fault("write to globalThis", "() => { globalThis.leak = 1; }"),
  fault("pollute Object.prototype", "() => { Object.prototype.polluted = 1; }"),
  fault("replace Array.prototype.push", "() => { Array.prototype.push = () => 0; }"),
  fault(
    "redefine JSON.stringify",
    '() => { Object.defineProperty(JSON, "stringify", { value: () => "{}" }); }',
  ),
  fault("tamper with the host object", "() => { __treatyHost.kvGet = () => 1; }"),
  fault("delete from the host object", "() => { delete __treatyHost.kvSet; }"),
  fault("host function prototype", "() => { Object.getPrototypeOf(__treatyHost.kvGet).x = 1; }"),
  fault("host function as constructor", "() => new __treatyHost.kvGet()"),
  fault("host call with wrong argument types", "(a, c, host) => host.kvGet({}, 1)"),
  fault("host call with missing arguments", "(a, c, host) => host.kvSet()"),
  fault("returns an unencodable result (BigInt)", "() => 10n"),
];

describe("hostile contracts", () => {
  let sandbox: ContractSandbox;
  const methods: Record<string, string> = { ok: '() => "fine"' };
  CASES.forEach((c, i) => {
    methods[`hostile${i}`] = c.run;
  });

  before(async () => {
    sandbox = await sandboxFor(guestBundle(methods));
  });
  after(() => sandbox.dispose());

  CASES.forEach((c, i) => {
    it(`${c.name}: ${c.codes.join(" or ")}, then the next call works`, () => {
      let message = "";
      const code = codeOf(() => {
        try {
          return call(sandbox, `hostile${i}`, {}, new MapHost());
        } catch (err) {
          message = (err as Error).message;
          throw err;
        }
      });
      assert.ok(c.codes.includes(code), `got ${code}: ${message}`);
      // A safe message: no host stack trace, no host file names.
      assert.doesNotMatch(message, /node:internal|file:\/\/|\/work\/|\.js:\d+|\n\s+at /, message);
      assert.deepEqual(call(sandbox, "ok"), { ok: true, result: "fine" });
    });
  });
});

describe("recursion catching its own stack overflow", () => {
  // Every tick of this bomb is a stack overflow whose error carries a backtrace as deep as the
  // stack, and interrupts are polled every ~10k ticks: the known worst case of the wall-clock
  // net (see runtime/sandbox/sandbox.ts). A tiny stack and budget keep the test short.
  it("ends in a coded limit and the next call works", async () => {
    const limits = resolveLimits({
      ...TEST_LIMITS,
      stackBytes: 16 * 1024,
      executionBudget: 20_000,
      wallClockMs: 50,
    });
    const sandbox = await sandboxFor(
      guestBundle({
        ok: '() => "fine"',
        bomb: "() => { const f = (n) => { try { return f(n + 1) + 1; } catch (e) { return f(n + 1); } }; return f(0); }",
      }),
      () => limits,
    );
    try {
      assert.ok(["StackLimit", "ExecutionLimit"].includes(codeOf(() => call(sandbox, "bomb"))));
      assert.deepEqual(call(sandbox, "ok"), { ok: true, result: "fine" });
    } finally {
      sandbox.dispose();
    }
  });
});
