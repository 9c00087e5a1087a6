/**
 * Compiled contracts through the whole runtime: the hostile fixtures of test/fixtures/contracts
 * (written against treaty/contract) and the sample contracts. For every hostile method: the
 * expected code, nothing written, and the next call on the same contract works.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ContractCompiler, findPackageRoot } from "../../runtime/compiler/index.js";
import {
  type CallOutcome,
  type Caller,
  type ContractCall,
  ContractRuntime,
  resolveLimits,
} from "../../runtime/executor.js";
import { KvStore } from "../../runtime/kv/store.js";
import { TEST_LIMITS } from "../sandbox/harness.js";

const ROOT = findPackageRoot();
const USER: Caller = { id: "alice", role: "user" };
const MEMBER: Caller = { id: "board", role: "member" };

/** Expected outcome: a list of accepted error codes, or `{result}`. */
type Expect = readonly string[] | { readonly result: unknown };

interface Fixture {
  readonly calls: readonly (readonly [method: string, args: unknown, expect: Expect])[];
}

const CF = ["ContractFault"];

const FIXTURES: Readonly<Record<string, Fixture>> = {
  "api-abuse": {
    calls: [
      ["match", { pattern: "^a+$", value: "aaa" }, { result: true }],
      // A pattern that backtracks exponentially is matched on the call's fuel (docs/contracts.md,
      // "Argument shapes"): the call ends, the sandbox goes on.
      ["match", { pattern: "^(a|a)*$", value: `${"a".repeat(40)}b` }, ["ExecutionLimit"]],
      ...["Unavailable", "NotLeader", "Replay", "Timeout", "LedgerCorrupt", "ServiceNotOpen"].flatMap(
        (code) =>
          [
            ["reassignCode", { code }, ["InvalidErrorCode"]],
            ["apiError", { code }, ["InvalidErrorCode"]],
          ] as const,
      ),
      ["reassignCode", { code: "lowercase" }, ["InvalidErrorCode"]],
      ["reassignCode", { code: "Fine" }, ["Fine"]],
      ["apiError", { code: "InvalidArgs" }, ["InvalidArgs"]],
    ],
  },
  "async-method": {
    calls: [
      ["asyncResult", {}, CF],
      ["promiseResult", {}, CF],
      ["leaveJob", {}, CF],
      ["endlessJobs", {}, CF],
    ],
  },
  "code-generation": {
    calls: [
      ["evalCall", {}, CF],
      ["indirectEval", {}, CF],
      ["functionConstructor", {}, CF],
      ["functionViaPrototype", {}, CF],
      ["generatorConstructor", {}, CF],
      ["asyncConstructor", {}, CF],
      ["importViaFunction", {}, CF],
      ["date", {}, CF],
      ["mathRandom", {}, CF],
      ["ambient", {}, { result: "none" }],
    ],
  },
  // Declared events are checked in the sandbox, when emitted (contracts/api/events.ts): before,
  // only the node checked them, after the call, with an unmetered regex in the node's thread.
  "events-misdeclared": {
    calls: [
      ["undeclared", {}, CF],
      ["misshaped", {}, CF],
      ["ok", {}, { result: null }],
      ["tagged", { tag: "aaaa" }, { result: null }],
      ["tagged", { tag: "ab" }, CF],
      ["tagged", { tag: `${"a".repeat(40)}b` }, ["ExecutionLimit"]],
    ],
  },
  "forged-output": {
    calls: [
      ["deepResult", { depth: 3 }, { result: [[[]]] }],
      ["deepResult", { depth: 65 }, ["ValueTooDeep"]],
      ["deepResult", { depth: 10_000 }, ["ValueTooDeep"]],
      ["wideResult", { count: 300_000 }, ["ValueTooLarge"]],
      ["hugeResult", { bytes: 2 << 20 }, ["PayloadTooLarge"]],
      ["deepEvent", { depth: 20_000 }, ["ValueTooDeep"]],
      ["deepEvent", { depth: 200_000 }, ["ValueTooLarge", "ExecutionLimit"]],
      ["deepValue", { depth: 1000 }, ["ValueTooDeep"]],
      ...["Unavailable", "NotLeader", "Replay", "Timeout", "LedgerCorrupt", "Internal", "x", ""].map(
        (code) => ["forge", { code }, ["InvalidErrorCode"]] as const,
      ),
      ["forge", { code: 7 }, ["InvalidErrorCode"]],
      ["forgeWrite", { code: "Unavailable" }, ["InvalidErrorCode"]],
      ["forge", { code: "InvalidArgs" }, ["InvalidArgs"]],
      ["forge", { code: "OutOfStock" }, ["OutOfStock"]],
    ],
  },
  "global-tamper": {
    calls: [
      ["setGlobal", {}, CF],
      ["pollutePrototype", {}, CF],
      ["replaceArrayPush", {}, CF],
      ["tamperApi", {}, CF],
      ["tamperApiMethod", {}, CF],
      ["stashOnFunction", {}, CF],
      ["reachHost", {}, CF],
      ["hostPrototype", {}, CF],
      [
        "probe",
        {},
        {
          result: {
            globalSet: null,
            objectPrototype: null,
            arrayPush: false,
            apiString: null,
            apiExport: null,
            symbolRegistry: false,
          },
        },
      ],
    ],
  },
  "host-abuse": {
    calls: [
      ...[
        "other.messages",
        "public:other.messages",
        "public:gov.members",
        "public:treaty.nodes",
        "",
        "a:b",
        "public:",
      ].flatMap(
        (map) =>
          [
            ["readMap", { map }, ["MapAccessDenied"]],
            ["writeMap", { map }, ["MapAccessDenied"]],
          ] as const,
      ),
      ["readMap", { map: "m" }, { result: null }],
      ["bigKey", { bytes: 2000 }, ["KeyTooLarge"]],
      ["bigValue", { bytes: 70_000 }, ["ValueTooLarge"]],
      ["notJson", {}, CF],
      ["badRange", { options: "{" }, CF],
      ["badRange", { options: '{"limit":5000}' }, CF],
      ["badHex", {}, CF],
      ["tooRandom", {}, CF],
      ["manyEvents", { count: 101 }, ["PayloadTooLarge"]],
      ["manyEvents", { count: 2 }, { result: 2 }],
    ],
  },
  "infinite-loop": {
    calls: [
      ["spin", {}, ["ExecutionLimit"]],
      ["spinReadonly", {}, ["ExecutionLimit"]],
    ],
  },
  "loop-catch": {
    calls: [
      ["swallow", {}, ["ExecutionLimit"]],
      ["hammerHost", {}, ["ExecutionLimit"]],
    ],
  },
  "memory-bomb": {
    calls: [
      ["arrays", {}, ["MemoryLimit", "ExecutionLimit"]],
      ["typedArrays", {}, ["MemoryLimit"]],
      ["strings", {}, ["MemoryLimit", "ContractFault"]],
      ["hugeBuffer", {}, ["MemoryLimit", "ContractFault"]],
      ["catchAndRetry", {}, ["MemoryLimit", "ExecutionLimit"]],
    ],
  },
  "module-state": {
    calls: [
      ["count", {}, { result: { calls: 1, helperCalls: 1 } }],
      ["count", {}, { result: { calls: 1, helperCalls: 1 } }],
      ["remember", { value: "secret" }, { result: "secret" }],
      ["recall", {}, { result: null }],
    ],
  },
  "native-builtins": {
    calls: [
      ...[
        "stringIncludes",
        "stringLastIndexOf",
        "stringSplit",
        "repeat",
        "padStart",
        "arrayIncludes",
        "copyWithin",
        "join",
        "sort",
        "typedArrays",
        "typedFill",
        "jsonStringify",
      ].map((name) => [name, {}, ["ExecutionLimit", "MemoryLimit"]] as const),
      ["bigint", {}, CF],
    ],
  },
  "readonly-write": {
    calls: [
      ["write", {}, ["ReadonlyViolation"]],
      ["rawWrite", {}, ["ReadonlyViolation"]],
    ],
  },
  "stack-bomb": {
    calls: [
      ["recurse", {}, ["StackLimit"]],
      ["mutual", {}, ["StackLimit"]],
      ["recurseCatching", {}, ["StackLimit", "ExecutionLimit"]],
    ],
  },
  "throws-non-error": {
    calls: [
      ["string", {}, CF],
      ["number", {}, CF],
      ["nullValue", {}, CF],
      ["undefinedValue", {}, CF],
      ["object", {}, CF],
      ["fakeContractError", {}, CF],
      ["proxy", {}, CF],
      ["getterMessage", {}, CF],
      ["afterWrite", {}, CF],
    ],
  },
  "unencodable-result": {
    calls: [
      ["fn", {}, ["ResultNotEncodable"]],
      ["nan", {}, ["ResultNotEncodable"]],
      ["cycle", {}, ["ResultNotEncodable"]],
      ["mapObject", {}, ["ResultNotEncodable"]],
      ["symbol", {}, ["ResultNotEncodable"]],
      ["afterWrite", {}, ["ResultNotEncodable"]],
    ],
  },
};

/** Hostile fixtures break the rules the compiler checks, on purpose: test the sandbox's own defences. */
const unchecked = new ContractCompiler({ sandboxChecks: false });

function compile(dir: string): string {
  const compiled = unchecked.compile(join(ROOT, dir));
  if (!compiled.ok)
    throw new Error(
      `${dir}: ${compiled.diagnostics.map((d) => `${d.file}:${d.line} ${d.message}`).join("; ")}`,
    );
  return compiled.bundle;
}

describe("compiled contracts in the runtime", () => {
  let runtime: ContractRuntime;
  let kv: KvStore;
  let seq = 0;

  const run = (contract: string, method: string, args: unknown, caller: Caller | null): CallOutcome => {
    seq++;
    const call: ContractCall = {
      contract,
      method,
      args,
      caller,
      txid: `1.${seq}`,
      timeMs: 1_700_000_000_000 + seq,
      seed: new Uint8Array(32).fill(seq & 255),
    };
    const outcome = runtime.execute(call, kv.begin());
    if (outcome.ok) kv.apply(kv.appliedVersion + 1, outcome.writeSet);
    return outcome;
  };

  before(async () => {
    // A small stack and a short wall clock keep the stack bomb that catches its own overflow
    // (one backtrace per tick) short; no legitimate call here comes near either.
    const limits = resolveLimits({
      ...TEST_LIMITS,
      stackBytes: 16 * 1024,
      wallClockMs: 500,
      maxValueBytes: 64 * 1024,
    });
    runtime = await ContractRuntime.create({ limits });
    kv = KvStore.open(null);
  });
  after(async () => {
    runtime.dispose();
    await kv.close();
  });

  for (const [name, fixture] of Object.entries(FIXTURES)) {
    describe(`fixture ${name}`, () => {
      before(async () => {
        await runtime.ready();
        runtime.load(name, compile(`test/fixtures/contracts/${name}`));
      });

      for (const [method, args, expect] of fixture.calls) {
        const label = Array.isArray(expect)
          ? (expect as string[]).join(" or ")
          : JSON.stringify((expect as { result: unknown }).result);
        it(`${method}(${JSON.stringify(args).slice(0, 60)}) → ${label}; nothing else written; the next call works`, () => {
          const before = kv.appliedVersion;
          const caller = runtime.manifest(name)!.methods[method]!.auth === "anyone" ? null : USER;
          const outcome = run(name, method, args, caller);
          if (Array.isArray(expect)) {
            assert.equal(outcome.ok, false, JSON.stringify(outcome));
            if (!outcome.ok)
              assert.ok(
                (expect as string[]).includes(outcome.error.code),
                `${outcome.error.code}: ${outcome.error.message}`,
              );
            assert.equal(outcome.writeSet.public.length + outcome.writeSet.private.length, 0);
            assert.deepEqual(outcome.events, []);
            assert.equal(kv.appliedVersion, before);
          } else {
            assert.ok(outcome.ok, JSON.stringify(outcome));
            assert.deepEqual(outcome.result, (expect as { result: unknown }).result);
          }
          const ok = runtime.manifest(name)!.methods.ok;
          if (ok !== undefined) {
            const next = run(name, "ok", {}, ok.auth === "anyone" ? null : USER);
            assert.ok(next.ok, JSON.stringify(next));
          }
        });
      }

      if (name !== "readonly-write") return;
      it("a readonly method that catches the refusal of its write writes nothing", () => {
        const outcome = run(name, "writeAndCatch", {}, null);
        // The host refuses the write, and a host refusal is fatal for the call: catching it does not help.
        assert.ok(!outcome.ok && outcome.error.code === "ReadonlyViolation", JSON.stringify(outcome));
        assert.equal(outcome.writeSet.public.length + outcome.writeSet.private.length, 0);
      });
    });
  }

  describe("sample contracts", () => {
    before(async () => {
      for (const sample of ["log", "bank", "meter"]) {
        await runtime.ready();
        runtime.load(sample, compile(`contracts/examples/${sample}`));
      }
    });

    it("log: write and read back, private and public; MessageNotFound; InvalidArgs", () => {
      const write = run("log", "writePrivate", { id: 1, msg: "hello" }, USER);
      assert.ok(write.ok);
      assert.deepEqual(
        write.writeSet.private.map((w) => w.map),
        ["log.messages"],
      );
      assert.deepEqual(run("log", "readPrivate", { id: 1 }, USER), {
        ok: true,
        result: { msg: "hello" },
        writeSet: { public: [], private: [] },
        events: [],
      });
      const pub = run("log", "writePublic", { id: 2, msg: "world" }, USER);
      assert.ok(pub.ok);
      assert.deepEqual(
        pub.writeSet.public.map((w) => w.map),
        ["public:log.messages"],
      );
      const missing = run("log", "readPrivate", { id: 99 }, USER);
      assert.deepEqual(!missing.ok && missing.error.code, "MessageNotFound");
      const bad = run("log", "writePrivate", { id: -1, msg: "x" }, USER);
      assert.deepEqual(!bad.ok && bad.error.code, "InvalidArgs");
      assert.deepEqual(!bad.ok && /args\.id/.test(bad.error.message), true);
      const anonymous = run("log", "writePrivate", { id: 3, msg: "x" }, null);
      assert.deepEqual(!anonymous.ok && anonymous.error.code, "Forbidden");
    });

    it("bank: open, mint, transfer, with events and contract errors", () => {
      const bob: Caller = { id: "bob", role: "user" };
      assert.ok(run("bank", "openAccount", {}, USER).ok);
      assert.ok(run("bank", "openAccount", {}, bob).ok);
      const minted = run("bank", "mint", { to: "alice", amount: 100 }, MEMBER);
      assert.ok(minted.ok, JSON.stringify(minted));
      assert.deepEqual(minted.events, [{ name: "minted", data: { to: "alice", amount: 100 } }]);
      assert.ok(run("bank", "transfer", { to: "bob", amount: 30 }, USER).ok);
      const broke = run("bank", "transfer", { to: "alice", amount: 31 }, bob);
      assert.deepEqual(!broke.ok && broke.error.code, "InsufficientFunds");
      assert.deepEqual(!run("bank", "mint", { to: "alice", amount: 1 }, USER).ok, true);
    });
  });
});
