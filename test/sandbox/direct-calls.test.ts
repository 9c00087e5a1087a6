/**
 * The direct host-call path (runtime/sandbox/direct-calls.ts) keeps quickjs-emscripten's
 * semantics (and its newString makes the library's strings): `this` and arguments are readable during the call, results cross back, a thrown
 * error becomes a guest Error with its name and message, and a context whose library internals
 * differ is refused loudly. The sandbox's own calls into the guest (`callDirect`, `isGuestString`)
 * answer as the library's `callFunction` and `typeof` do.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  DefaultIntrinsics,
  newQuickJSWASMModuleFromVariant,
  type QuickJSContext,
  type QuickJSRuntime,
  RELEASE_SYNC,
} from "quickjs-emscripten";
import {
  callDirect,
  installDirectCalls,
  isGuestString,
  newString,
} from "../../runtime/sandbox/direct-calls.js";
import { AssertionFailure } from "../../sdk/assert.js";

describe("direct host calls", () => {
  let runtime: QuickJSRuntime;
  let context: QuickJSContext;

  before(async () => {
    const module = await newQuickJSWASMModuleFromVariant(RELEASE_SYNC);
    runtime = module.newRuntime();
    context = runtime.newContext({ intrinsics: { ...DefaultIntrinsics, Date: false } });
    installDirectCalls(context);
    const define = (name: string, fn: Parameters<QuickJSContext["newFunction"]>[1]) => {
      const handle = context.newFunction(name, fn);
      context.setProp(context.global, name, handle);
      handle.dispose();
    };
    define("concat", function (this, ...args) {
      const parts = args.map((arg) => (context.typeof(arg) === "string" ? context.getString(arg) : "?"));
      return context.newString(`${context.getString(this)}|${parts.join(",")}`);
    });
    define("isEven", (arg) =>
      arg !== undefined && context.getNumber(arg) % 2 === 0 ? context.true : context.false,
    );
    define("nothing", () => undefined);
    define("refuse", () => {
      const error = new Error("no, not that");
      error.name = "RangeError";
      throw error;
    });
  });

  after(() => {
    context.dispose();
    runtime.dispose();
  });

  function run(code: string): unknown {
    const result = context.evalCode(code, "test.js", { type: "global", strict: true });
    if (result.error !== undefined) {
      const error = context.dump(result.error) as unknown;
      result.error.dispose();
      return { threw: error };
    }
    const value = context.dump(result.value) as unknown;
    result.value.dispose();
    return value;
  }

  it("passes this and every argument, and returns strings and booleans", () => {
    assert.equal(run(`concat.call("self", "a", "\\u00e9\\u{1F600}", 3)`), "self|a,\u00e9\u{1F600},?");
    assert.deepEqual(run(`[isEven(4), isEven(3)]`), [true, false]);
    assert.equal(run(`nothing("x")`), undefined);
  });

  it("turns a thrown error into a guest error with its name and message", () => {
    assert.equal(
      run(
        `try { refuse(); "not thrown" } catch (e) { e instanceof Error ? e.name + ": " + e.message : "other" }`,
      ),
      "RangeError: no, not that",
    );
  });

  it("survives many calls (no handle or memory leak that breaks the context)", () => {
    assert.equal(run(`let n = 0; for (let i = 0; i < 20000; i++) if (isEven(i)) n++; n`), 10000);
    assert.equal(run(`let s = ""; for (let i = 0; i < 2000; i++) s = concat.call("t", "x"); s`), "t|x");
  });

  it("newString makes the same guest string as context.newString", () => {
    const texts = [
      "",
      '{"id":1,"msg":"plain"}',
      "\u00e9\u4e2d\u{1F600} mixed",
      "lone \ud800 surrogate",
      "x".repeat(3 * 1024 * 1024), // several wasm pages: may grow the heap while encoding
    ];
    const equals = context.unwrapResult(context.evalCode("(a, b) => a === b"));
    for (const text of texts) {
      const fast = newString(context, text);
      const slow = context.newString(text);
      try {
        // Compared inside QuickJS (getString itself cannot read a lone surrogate back exactly).
        const same = context.callFunction(equals, context.undefined, fast, slow);
        const verdict = context.unwrapResult(same);
        assert.equal(context.dump(verdict), true);
        verdict.dispose();
        const length = context.getProp(fast, "length");
        assert.equal(context.getNumber(length), text.length);
        length.dispose();
      } finally {
        fast.dispose();
        slow.dispose();
      }
    }
    equals.dispose();
  });

  it("callDirect returns what context.callFunction returns: the value, or what the guest threw", () => {
    const fn = context.unwrapResult(
      context.evalCode(
        `(function (a, b, c) { "use strict"; if (a === "throw") throw new TypeError(b); return [this === undefined, a, b, c, arguments.length].join("|"); })`,
      ),
    );
    const args = ["x", "\u00e9", ""].map((text) => newString(context, text));
    try {
      for (const count of [0, 1, 3]) {
        const direct = callDirect(context, fn, args.slice(0, count));
        const library = context.callFunction(fn, context.undefined, args.slice(0, count));
        assert.ok(direct.error === undefined && library.error === undefined);
        assert.equal(context.getString(direct.value), context.getString(library.value));
        direct.value.dispose();
        library.value.dispose();
      }
      const message = newString(context, "refused");
      const thrower = newString(context, "throw");
      const thrown = callDirect(context, fn, [thrower, message]);
      thrower.dispose();
      message.dispose();
      assert.ok(thrown.error !== undefined && thrown.value === undefined);
      const name = context.getProp(thrown.error, "name");
      assert.equal(context.getString(name), "TypeError");
      name.dispose();
      thrown.error.dispose();
    } finally {
      for (const arg of args) arg.dispose();
      fn.dispose();
    }
  });

  it('isGuestString is typeof === "string" for every kind of value', () => {
    const values = context.unwrapResult(
      context.evalCode(
        `["", "text", Symbol("s"), 1, null, undefined, {}, [], () => 1, new String("boxed"), true]`,
      ),
    );
    const length = context.getProp(values, "length");
    const count = context.getNumber(length);
    length.dispose();
    let strings = 0;
    for (let i = 0; i < count; i++) {
      const value = context.getProp(values, i);
      assert.equal(isGuestString(context, value), context.typeof(value) === "string", `value ${i}`);
      if (isGuestString(context, value)) strings++;
      value.dispose();
    }
    assert.equal(strings, 2);
    values.dispose();
  });

  it("refuses a context that does not have the library internals it relies on", () => {
    assert.throws(() => installDirectCalls({} as QuickJSContext), AssertionFailure);
  });
});
