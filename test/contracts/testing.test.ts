import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contract, map, method, t } from "../../contracts/api/index.js";
import {
  CallHost,
  type CallResult,
  loadBundle,
  MemoryStore,
  member,
  storeMapName,
  testContract,
  user,
} from "../../contracts/testing/index.js";
import { ContractCompiler, compileContract } from "../../runtime/compiler/index.js";
import { isTreatyError, TreatyError } from "../../sdk/errors.js";

const FIXTURES = "test/fixtures/contracts";

const counters = map<string, number>("counters");
let moduleCalls = 0;

const counter = contract({
  bump: method({
    mode: "readwrite",
    auth: "users",
    args: { by: t.integer({ minimum: 1 }) },
    run: ({ by }) => {
      const next = (counters.get("n") ?? 0) + by;
      counters.set("n", next);
      return next;
    },
  }),
  read: method({ mode: "readonly", auth: "anyone", run: () => counters.get("n") ?? 0 }),
  moduleCalls: method({ mode: "readonly", auth: "anyone", run: () => ++moduleCalls }),
});

/** Hostile fixtures break the rules the compiler checks, on purpose: test the sandbox's own defences. */
const unchecked = new ContractCompiler({ sandboxChecks: false });

function compiled(name: string): string {
  const result = unchecked.compile(`${FIXTURES}/${name}`);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.diagnostics));
  return result.bundle;
}

function resultOf(result: CallResult): unknown {
  if (!result.ok) assert.fail(`expected a result, got ${JSON.stringify(result.error)}`);
  return result.result;
}

function errorOf(result: CallResult): { code: string; message: string } {
  if (result.ok) assert.fail(`expected an error, got ${JSON.stringify(result.result)}`);
  return result.error;
}

describe("testContract harness", () => {
  it("gives readwrite calls increasing txids, readonly calls none, and advances the clock", () => {
    const c = testContract(counter, { name: "counter", startTimeMs: 100 });
    assert.equal(c.call("bump", { by: 2 }, { caller: user("u") }).txid, "1.1");
    assert.equal(c.call("read").txid, null);
    assert.equal(c.call("bump", { by: 3 }, { caller: user("u") }).txid, "1.2");
    const r = c.call("read");
    assert.equal(r.ok && r.result, 5);
    c.setTime(0);
    c.advanceTime(10);
  });

  it("shares a store between harnesses without mixing namespaces", () => {
    const store = new MemoryStore();
    const a = testContract(counter, { name: "a", store });
    const b = testContract(counter, { name: "b", store });
    a.call("bump", { by: 1 }, { caller: user("u") });
    b.call("bump", { by: 7 }, { caller: user("u") });
    assert.deepEqual(store.maps(), ["a.counters", "b.counters"]);
    assert.equal(a.state.get("counters", "n"), 1);
    assert.equal(b.state.get("counters", "n"), 7);
  });

  it("seeds, reads and dumps state by local map names", () => {
    const c = testContract(counter, { name: "counter" });
    c.state.set("counters", "n", 41);
    c.state.set("public:ids", 3, "three");
    c.state.set("public:ids", -1, "minus one");
    assert.equal(c.call("bump", { by: 1 }, { caller: user("u") }).ok && c.state.get("counters", "n"), 42);
    assert.deepEqual(c.state.entries("public:ids", "number"), [
      [-1, "minus one"],
      [3, "three"],
    ]);
    assert.deepEqual(Object.keys(c.state.dump()), ["counters", "public:ids"]);
    c.state.delete("counters", "n");
    assert.equal(c.state.get("counters", "n"), undefined);
    assert.throws(
      () => c.state.set("counters", "x", Number.NaN),
      (err: unknown) => isTreatyError(err, "InvalidArgs"),
    );
    assert.throws(
      () => c.state.get("gov.members", "x"),
      (err: unknown) => isTreatyError(err, "MapAccessDenied"),
    );
  });

  it("refuses bad args at the boundary: JSON text, size, and values JSON cannot carry", () => {
    const c = testContract(counter, { name: "counter", limits: { maxArgsBytes: 32 } });
    assert.deepEqual(errorOf(c.callJson("bump", "{", { caller: user("u") })), {
      code: "InvalidArgs",
      message: "args: not valid JSON",
    });
    assert.equal(
      errorOf(c.callJson("bump", JSON.stringify({ by: 1, pad: "x".repeat(40) }), { caller: user("u") })).code,
      "PayloadTooLarge",
    );
    assert.throws(
      () => c.call("bump", { by: Number.NaN }, { caller: user("u") }),
      /call\("bump"\): args\.by: NaN is not JSON/,
    );
    assert.equal(errorOf(c.call("bump", { by: 1 }, { caller: member("m") })).code, "Forbidden");
    assert.equal(errorOf(c.callJson("nope", "{}")).code, "UnknownMethod");
  });

  it("refuses bad contract names and contracts that cannot describe themselves", () => {
    for (const name of ["gov", "treaty", "Upper", "", "a.b"]) {
      assert.throws(
        () => testContract(counter, { name }),
        (err: unknown) => isTreatyError(err, "InvalidArgs"),
      );
    }
    const broken = { describe: () => "{", invoke: () => "" };
    assert.throws(() => testContract(broken), SyntaxError);
    const throwing = {
      describe: () => {
        throw new Error("no");
      },
      invoke: () => "",
    };
    assert.throws(
      () => testContract(throwing),
      (err: unknown) => isTreatyError(err, "InvalidContract"),
    );
  });

  it("keeps a source contract's module state between calls (the documented difference)", () => {
    const c = testContract(counter, { name: "counter" });
    const first = c.call("moduleCalls");
    const second = c.call("moduleCalls");
    assert.ok(first.ok && second.ok);
    assert.equal((second.result as number) - (first.result as number), 1);
  });
});

describe("CallHost", () => {
  const host = (readonly = false) =>
    new CallHost({
      store: new MemoryStore(),
      contract: "c",
      readonly,
      seed: new Uint8Array(32),
      limits: { maxKeyBytes: 16, maxValueBytes: 16, maxEvents: 1, maxArgsBytes: 64, maxResultBytes: 64 },
    });

  it("namespaces maps and refuses names outside the contract", () => {
    assert.equal(storeMapName("bank", "accounts"), "bank.accounts");
    assert.equal(storeMapName("bank", "public:log"), "public:bank.log");
    for (const name of [
      "other.x",
      "public:gov.members",
      "public:treaty.nodes",
      "public:",
      "",
      "a:b",
      "public:public:x",
    ]) {
      assert.throws(
        () => storeMapName("bank", name),
        (err: unknown) => isTreatyError(err, "MapAccessDenied"),
      );
    }
  });

  it("remembers its first refusal, whatever the contract does with the exception", () => {
    const h = host(true);
    assert.throws(
      () => h.kvSet("m", "k", "1"),
      (err: unknown) => isTreatyError(err, "ReadonlyViolation"),
    );
    assert.throws(
      () => h.kvGet("m", "k".repeat(17)),
      (err: unknown) => isTreatyError(err, "KeyTooLarge"),
    );
    assert.equal(h.refusal?.code, "ReadonlyViolation");
  });

  it("checks range options like the sandbox host", () => {
    const h = host();
    h.kvSet("m", "a", "1");
    h.kvSet("m", "b", "2");
    h.kvDelete("m", "a");
    assert.equal(h.kvRange("m", JSON.stringify({ limit: 10 })), '[["b","2"]]');
    assert.equal(h.kvRange("m", JSON.stringify({ limit: 10, reverse: true, to: "b" })), "[]");
    for (const bad of [
      "[]",
      "x",
      '{"limit":1001}',
      '{"limit":1,"extra":1}',
      '{"limit":1,"from":3}',
      '{"limit":1,"reverse":"yes"}',
    ]) {
      assert.throws(
        () => host().kvRange("m", bad),
        (err: unknown) => isTreatyError(err, "ContractFault"),
        bad,
      );
    }
    assert.equal(h.verifySignature("rsa", "00", "00", "00"), false);
    assert.equal(h.verifySignature("ed25519", "zz", "00", "00"), false);
    assert.throws(
      () => h.kvSet("m", "k", "\ud800"),
      (err: unknown) => err instanceof TreatyError && err.code === "ContractFault",
    );
  });
});

describe("loadBundle: compiled bundles under the stand-in", () => {
  const call = (name: string, calls: Array<[string, unknown?]>, timeoutMs = 1000) => {
    const c = testContract(loadBundle(compiled(name), { timeoutMs }), { name: "fixture" });
    return {
      c,
      results: calls.map(([m, args]) =>
        c.call(m, (args ?? {}) as Record<never, never>, { caller: user("u") }),
      ),
    };
  };

  it("instantiates modules afresh on every call", () => {
    const { results } = call("module-state", [
      ["count"],
      ["count"],
      ["remember", { value: "x" }],
      ["recall"],
    ]);
    assert.deepEqual(
      results.map((r) => r.ok && r.result),
      [{ calls: 1, helperCalls: 1 }, { calls: 1, helperCalls: 1 }, "x", null],
    );
  });

  it("reports unencodable results with their path and writes nothing", () => {
    const { c, results } = call("unencodable-result", [
      ["fn"],
      ["nan"],
      ["cycle"],
      ["mapObject"],
      ["symbol"],
      ["afterWrite"],
      ["ok"],
    ]);
    assert.deepEqual(
      results.slice(0, 6).map((r) => errorOf(r).message),
      [
        "result.callback: a function is not JSON",
        "result[1]: NaN is not JSON",
        "result.next: a cycle is not JSON",
        "result: a Map is not JSON (only plain objects and arrays are)",
        "result: a symbol is not JSON",
        "result.when: undefined is not JSON (use null)",
      ],
    );
    assert.ok(results.slice(0, 6).every((r) => !r.ok && r.error.code === "ResultNotEncodable"));
    assert.equal(results[6]!.ok, true);
    assert.deepEqual(c.state.dump(), {});
  });

  it("reports what a contract throws as a ContractFault with a safe message", () => {
    const { c, results } = call(
      "throws-non-error",
      [
        ["string"],
        ["number"],
        ["nullValue"],
        ["object"],
        ["fakeContractError"],
        ["proxy"],
        ["getterMessage"],
        ["afterWrite"],
        ["ok"],
      ],
      300,
    );
    assert.deepEqual(
      results.slice(0, 8).map((r) => errorOf(r)),
      [
        { code: "ContractFault", message: "the contract threw a string: a plain string" },
        { code: "ContractFault", message: "the contract threw a non-Error value (number)" },
        { code: "ContractFault", message: "the contract threw a non-Error value (null)" },
        { code: "ContractFault", message: "the contract threw a non-Error value (object)" },
        { code: "ContractFault", message: "Error: not a real ContractError" },
        { code: "ContractFault", message: "the contract threw a non-Error value (object)" },
        { code: "ContractFault", message: "Error: " },
        { code: "ContractFault", message: "TypeError: after writing" },
      ],
    );
    assert.equal(results[8]!.ok, true);
    assert.deepEqual(c.state.dump(), {});
  });

  it("stops tampering with globals, intrinsics and the API, so no state leaks between calls", () => {
    const tamper = [
      "setGlobal",
      "pollutePrototype",
      "replaceArrayPush",
      "tamperApi",
      "tamperApiMethod",
      "stashOnFunction",
      "reachHost",
      "hostPrototype",
    ];
    const { results } = call("global-tamper", [["probe"], ...tamper.map((m): [string] => [m]), ["probe"]]);
    const clean = {
      globalSet: null,
      objectPrototype: null,
      arrayPush: false,
      apiString: null,
      apiExport: null,
      symbolRegistry: false,
    };
    assert.deepEqual(resultOf(results[0]!), clean);
    for (const [i, name] of tamper.entries())
      assert.equal(errorOf(results[i + 1]!).code, "ContractFault", name);
    assert.deepEqual(resultOf(results.at(-1)!), clean);
  });

  it("takes away code generation, Date, Math.random and ambient globals", () => {
    const methods = [
      "evalCall",
      "indirectEval",
      "functionConstructor",
      "functionViaPrototype",
      "generatorConstructor",
      "asyncConstructor",
      "importViaFunction",
      "date",
      "mathRandom",
    ];
    const { results } = call("code-generation", [...methods.map((m): [string] => [m]), ["ambient"]]);
    for (const [i, name] of methods.entries()) assert.equal(errorOf(results[i]!).code, "ContractFault", name);
    assert.equal(resultOf(results.at(-1)!), "none");
  });

  it("refuses host abuse with the host's codes", () => {
    const { c, results } = call("host-abuse", [
      ["readMap", { map: "other.x" }],
      ["writeMap", { map: "public:gov.members" }],
      ["bigKey", { bytes: 5000 }],
      ["bigValue", { bytes: 2_000_000 }],
      ["notJson"],
      ["badRange", { options: "{}" }],
      ["badHex"],
      ["tooRandom"],
      ["manyEvents", { count: 101 }],
      ["ok"],
    ]);
    assert.deepEqual(
      results.slice(0, 9).map((r) => errorOf(r).code),
      [
        "MapAccessDenied",
        "MapAccessDenied",
        "KeyTooLarge",
        "ValueTooLarge",
        "ContractFault",
        "ContractFault",
        "ContractFault",
        "ContractFault",
        "PayloadTooLarge",
      ],
    );
    assert.equal(results[9]!.ok, true);
    assert.deepEqual(c.state.dump(), {});
  });

  it("refuses writes in readonly methods, even when the contract catches the host's refusal", () => {
    const { results } = call("readonly-write", [["write"], ["writeAndCatch"], ["rawWrite"], ["ok"]]);
    assert.equal(errorOf(results[0]!).code, "ReadonlyViolation");
    assert.equal(errorOf(results[1]!).code, "ReadonlyViolation");
    assert.equal(errorOf(results[2]!).code, "ReadonlyViolation");
    assert.equal(results[3]!.ok, true);
  });

  it("maps time limits and stack overflows to ExecutionLimit and StackLimit; the next call works", () => {
    const loops = call("infinite-loop", [["spin"], ["spinReadonly"], ["ok"]], 100);
    assert.deepEqual(
      loops.results.slice(0, 2).map((r) => errorOf(r).code),
      ["ExecutionLimit", "ExecutionLimit"],
    );
    assert.equal(loops.results[2]!.ok, true);
    assert.deepEqual(loops.c.state.dump(), {});
    const catching = call("loop-catch", [["swallow"], ["hammerHost"], ["ok"]], 100);
    assert.deepEqual(
      catching.results.slice(0, 2).map((r) => errorOf(r).code),
      ["ExecutionLimit", "ExecutionLimit"],
    );
    assert.deepEqual(catching.c.state.dump(), {});
    const stack = call("stack-bomb", [["recurse"], ["mutual"], ["ok"]]);
    assert.deepEqual(
      stack.results.slice(0, 2).map((r) => errorOf(r).code),
      ["StackLimit", "StackLimit"],
    );
    assert.equal(stack.results[2]!.ok, true);
  });

  it("refuses Promise results; leftover jobs write nothing", () => {
    // Not `leaveJob` and `endlessJobs`: under node:vm a leftover job that fails inside the API
    // surfaces as an unhandled rejection after the call, and a vm timeout that fires while jobs
    // run corrupts Node's async hooks (documented in docs/contracts.md). They are sandbox fixtures.
    const { c, results } = call("async-method", [["asyncResult"], ["promiseResult"], ["ok"]]);
    assert.match(errorOf(results[0]!).message, /returned a Promise: contract methods must be synchronous/);
    assert.match(errorOf(results[1]!).message, /returned a Promise/);
    assert.equal(results[2]!.ok, true);
    assert.deepEqual(c.state.dump(), {});
  });

  it("fails a call whose leftover job reaches the host after the method returned", () => {
    const bundle = compileContract({
      files: {
        "index.ts": `import { contract, method } from "treaty/contract";
          const host = () => (globalThis as unknown as { __treatyHost: { kvGet(m: string, k: string): unknown } }).__treatyHost;
          export default contract({ later: method({ mode: "readonly", auth: "anyone", run: () => { void Promise.resolve().then(() => host().kvGet("m", "k")); return 1; } }) });`,
      },
    });
    assert.ok(bundle.ok);
    const c = testContract(loadBundle(bundle.bundle), { name: "late" });
    assert.match(errorOf(c.call("later")).message, /kvGet: the host was called after the method returned/);
  });

  it("throws for a bundle that is not a factory", () => {
    assert.throws(() => loadBundle("42"), /not a factory function/);
    assert.throws(() => loadBundle("(function () {"), SyntaxError);
  });
});
