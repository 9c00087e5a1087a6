/**
 * Declarative contracts (runtime/compiler/reuse.ts) keep one frozen instance of their modules for
 * every call instead of instantiating them per call. This checks both halves of that promise:
 * - the rule: the samples and the declarative fixtures are kept, and every top level that could
 *   hold or create state (or run code) is instantiated per call as before;
 * - isolation: a hostile declarative contract (test/fixtures/contracts/frozen-state) cannot leave
 *   anything for a later call through what the kept instance holds: each attempt fails, and a
 *   probe afterwards sees only initial values. (module-state and global-tamper, in
 *   fixtures.test.ts, cover the per-call and the kept loader respectively; checked here.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ContractCompiler, findPackageRoot, reusesInstance } from "../../runtime/compiler/index.js";
import { type CallOutcome, ContractRuntime, resolveLimits } from "../../runtime/executor.js";
import { KvStore } from "../../runtime/kv/store.js";
import { TEST_LIMITS } from "../sandbox/harness.js";

const ROOT = findPackageRoot();
const compiler = new ContractCompiler({ sandboxChecks: false });

function bundleOf(source: string | Record<string, string>): string {
  const compiled =
    typeof source === "string" ? compiler.compile(join(ROOT, source)) : compiler.compile({ files: source });
  if (!compiled.ok)
    throw new Error(compiled.diagnostics.map((d) => `${d.file}:${d.line} ${d.message}`).join("; "));
  return compiled.bundle;
}

const HEADER = 'import { contract, map, method, t } from "treaty/contract";\n';
const OK =
  'export default contract({ ok: method({ mode: "readonly", auth: "anyone", run: () => "ok" }) });\n';

describe("which bundles keep one instance", () => {
  it("keeps the samples and the declarative fixtures", () => {
    for (const dir of [
      "contracts/examples/log",
      "contracts/examples/bank",
      "contracts/examples/meter",
      "test/fixtures/contracts/frozen-state",
      "test/fixtures/contracts/global-tamper",
    ]) {
      assert.equal(reusesInstance(bundleOf(dir)), true, dir);
    }
    assert.equal(reusesInstance(bundleOf({ "index.ts": HEADER + OK })), true);
    const declarative = [
      'const messages = map<number, string>("messages", { key: "number" });',
      "const args = { id: t.integer({ minimum: 0 }), tags: t.array(t.string(), { maxItems: 8 }), low: t.integer({ minimum: -1 }) };",
      'const LIMIT = 10;\nconst NAMES = ["a", `b`, null, true, undefined];',
      "function helper(n: number): number { let local = n; local += 1; return local; }",
      "class Local { value = 1; get double(): number { return this.value * 2; } }",
      "const table = { run() { return 1; }, arrow: () => 2, nested: { deep: [1, 2] } };",
      "const re = (): RegExp => /fresh per call/g;",
      "interface Point { x: number }\ntype P = Point;\nexport const origin: P = { x: 0 };",
    ];
    for (const line of declarative) {
      assert.equal(reusesInstance(bundleOf({ "index.ts": `${HEADER}${line}\n${OK}` })), true, line);
    }
  });

  it("instantiates per call whatever could hold state or run code at the top level", () => {
    assert.equal(reusesInstance(bundleOf("test/fixtures/contracts/module-state")), false);
    const stateful = [
      "let count = 0;",
      "var count = 0;",
      "const cache = new Map<string, string>();",
      "const pattern = /a+/g;",
      "const next = (() => { let n = 0; return () => ++n; })();",
      "const biggest = Math.max(1, 2);",
      "const { a } = { a: 1 };",
      "const base = { a: 1 };\nconst copy = { ...base };",
      "const getter = { get now(): number { return 1; } };",
      "const proto = { __proto__: null, a: 1 };",
      "const key = 'k';\nconst computed = { [key]: 1 };",
      "class Counter { static count = 0; }",
      "class Block { static { } }",
      "enum Color { Red }",
      "if (Math.PI > 3) { }",
      "function f(): number { return 1; }\n// @ts-ignore\nf = () => 2;",
      "class K {}\n// @ts-ignore\n[K] = [class {}];",
      "const argsOf = function () { return () => arguments; };",
      "// @ts-ignore\nconst leak = () => __instance;",
      "// @ts-ignore\nconst seen = () => { modules = 1; };",
      'const unknown = map;\nconst viaAlias = unknown("m");',
      // A substitution in a top-level template runs code (toString): `${Math.PI}`.
      "const tpl = `$" + "{Math.PI}`;",
      'const m = map("m");\nconst read = m.get("x");',
    ];
    for (const line of stateful) {
      assert.equal(reusesInstance(bundleOf({ "index.ts": `${HEADER}${line}\n${OK}` })), false, line);
    }
    // One module that is not declarative makes the whole bundle per call.
    const mixed = bundleOf({
      "index.ts": `${HEADER}import { bump } from "./state.js";\nexport default contract({ ok: method({ mode: "readonly", auth: "anyone", run: () => bump() }) });\n`,
      "state.ts": "let n = 0;\nexport function bump(): number { return ++n; }\n",
    });
    assert.equal(reusesInstance(mixed), false);
  });
});

describe("a kept instance leaves nothing for the next call", () => {
  let runtime: ContractRuntime;
  let kv: KvStore;
  let seq = 0;

  const run = (method: string, args: unknown = {}): CallOutcome => {
    seq++;
    return runtime.execute(
      {
        contract: "frozen",
        method,
        args,
        caller: null,
        txid: null,
        timeMs: 1_700_000_000_000 + seq,
        seed: new Uint8Array(32).fill(seq & 255),
      },
      kv.begin(),
    );
  };

  const INITIAL = {
    box: 0,
    list: 0,
    stash: null,
    localProto: null,
    helper: null,
    settings: "initial",
    tags: 1,
    tallyProto: null,
    methodThis: null,
    shape: null,
    contractObject: null,
  };

  before(async () => {
    runtime = await ContractRuntime.create({ limits: resolveLimits(TEST_LIMITS) });
    kv = KvStore.open(null);
    const bundle = bundleOf("test/fixtures/contracts/frozen-state");
    assert.ok(reusesInstance(bundle));
    runtime.load("frozen", bundle);
  });
  after(async () => {
    runtime.dispose();
    await kv.close();
  });

  it("starts from the initial values", () => {
    const outcome = run("probe");
    assert.deepEqual(outcome.ok && outcome.result, INITIAL);
  });

  for (const method of [
    "bumpBox",
    "pushList",
    "stashOnFunction",
    "classPrototype",
    "otherModuleFunction",
    "otherModuleExport",
    "otherModuleNested",
    "otherModuleClass",
    "methodThis",
    "argsShape",
    "contractObject",
    "declaration",
  ]) {
    it(`${method}: the tampering fails, and the next call sees the initial values`, () => {
      const tampered = run(method, method === "argsShape" ? { value: "x" } : {});
      assert.ok(!tampered.ok && tampered.error.code === "ContractFault", JSON.stringify(tampered));
      const probe = run("probe");
      assert.deepEqual(probe.ok && probe.result, INITIAL);
    });
  }

  it("objects a call makes for itself are as mutable as ever, and calls keep working", () => {
    for (let i = 0; i < 3; i++) {
      const outcome = run("local");
      assert.deepEqual(outcome.ok && outcome.result, 3);
    }
    const ok = run("ok");
    assert.deepEqual(ok.ok && ok.result, "ok");
    assert.equal(runtime.stats("frozen")!.boots, 1, "no call needed a rebuilt context");
  });
});
