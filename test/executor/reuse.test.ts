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
      "const table = { run() { return 1; }, arrow: () => 2, nested: { deep: [1, 2] } };",
      "const re = (): RegExp => /fresh per call/g;",
      "interface Point { x: number }\ntype P = Point;\nconst origin: P = { x: 0 };\ntype O = typeof origin;",
      // Top-level object and array literals used only in ways that cannot mutate them.
      'const NAMES = ["b", "a"];\nconst first = (i: number): string => NAMES[0]! + NAMES[i] + NAMES.length;',
      'const base = { a: 1, b: "x" };\nconst copy = (): object => ({ ...base, c: 2 });\nconst list = (): string[] => [..."ab", ...[base.b]];',
      "const settings = { limit: 5, inner: { deep: 1 } };\nconst read = (): number => settings.limit + settings.inner.deep;",
      'const shape = { id: t.integer() };\nconst all = { shape, more: [shape] };\nconst m = (): unknown => method({ mode: "readonly", auth: "anyone", args: all.shape, run: () => 1 });',
      'const more = { s: t.string() };\nconst tagged = map<string, string>("tags");\nconst s = (): unknown => [more.s, tagged];',
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
      // Classes: a constructor may assign over an inherited method (the override mistake).
      "class Local { value = 1; get double(): number { return this.value * 2; } }",
      "class Bound { constructor() { this.m = this.m.bind(this); } m(): number { return 1; } }",
      // Top-level object and array literals a call could mutate, or hand on to code that could.
      "const list: number[] = [];\nconst add = (x: number): number => list.push(x);",
      'const NAMES = ["b", "a"];\nconst sorted = (): string[] => NAMES.sort();',
      "const settings = { limit: 1 };\nconst set = (): void => { settings.limit = 5; };",
      "const counts = { n: 1 };\nconst bump = (): number => counts.n++;",
      "const X = { a: 1 };\nconst drop = (): boolean => delete (X as { a?: number }).a;",
      "const X = { a: [1] };\nconst grow = (): number => X.a.push(2);",
      "const X = { a: [1] };\nconst grow = (): number => X['a'].push(2);",
      "const X = { a: [1] };\nconst set = (): void => { [X.a[0]] = [2]; };",
      "const X = { a: [1] };\nfunction helper(o: object): object { return o; }\nconst pass = (): object => helper(X);",
      "const X = { a: [1] };\nfunction helper(o: object): object { return o; }\nconst pass = (): object => helper(X.a);",
      "const X = { a: [1] };\nconst alias = (): number[] => { const y = X.a; return y; };",
      "const X = { a: [1] };\nconst keys = (): string[] => Object.keys(X);",
      "const X = { run(): number { return 1; } };\nconst r = (): number => X.run();",
      "const X = [{ a: 1 }];\nconst at = (i: number): object => X[i]!;",
      "const X = { a: 1 };\nconst Y = { x: X };\nconst leak = (): object => Y.x;",
      "const X = { a: 1 };\nconst Y = [X];\nconst leak = (): object[] => Y;",
      "const X = { a: { b: 1 } };\nconst copy = (): object => ({ ...X });",
      "const X = { a: 1 };\nconst Y = X;\nconst set = (): void => { Y.a = 2; };",
      // Exported ones: importers are not checked.
      "export const origin = { x: 0 };",
      "const X = { a: 1 };\nexport { X as Y };",
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
    const literalDefault = bundleOf({
      "index.ts": `${HEADER}import settings from "./settings.js";\nexport const read = (): number => settings.limit;\n${OK}`,
      "settings.ts": "export default { limit: 1 };\n",
    });
    assert.equal(reusesInstance(literalDefault), false);
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
    stash: null,
    notes: null,
    helper: null,
    label: null,
    methodThis: null,
    shape: null,
    contractObject: null,
    max: 3,
    names: 2,
    first: "a",
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
    "stashOnFunction",
    "builderResult",
    "otherModuleBuilderResult",
    "otherModuleFunction",
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
      assert.deepEqual(outcome.ok && outcome.result, 4);
    }
    const ok = run("ok");
    assert.deepEqual(ok.ok && ok.result, "ok");
    assert.equal(runtime.stats("frozen")!.boots, 1, "no call needed a rebuilt context");
  });
});

describe("a contract that mutates its top-level objects keeps working as before", () => {
  // Correct contracts the rule must not keep: each method mutates a top-level object, array or
  // prototype during its call, which works on the per-call instance and would fail if frozen.
  const SOURCE = `${HEADER}
const list: number[] = [];
const NAMES = ["b", "a"];
const settings = { limit: 1 };
const X = { a: 1, nested: [1] };
const counter = { n: 0 };
function grow(o: { n: number }): number {
  return ++o.n;
}
class Bound {
  n = 0;
  constructor() {
    this.inc = this.inc.bind(this);
  }
  inc(): number {
    return ++this.n;
  }
}
const any = { mode: "readonly", auth: "anyone" } as const;
export default contract({
  push: method({ ...any, run: () => list.push(7) }),
  sort: method({ ...any, run: () => { const before = NAMES.join(); NAMES.sort(); return before + "|" + NAMES.join(); } }),
  assign: method({ ...any, run: () => { const was = settings.limit; settings.limit = 5; return [was, settings.limit]; } }),
  remove: method({ ...any, run: () => { const was = X.a; delete (X as { a?: number }).a; return [was, X.a ?? null]; } }),
  nested: method({ ...any, run: () => X.nested.push(2) }),
  helper: method({ ...any, run: () => grow(counter) }),
  bound: method({ ...any, run: () => new Bound().inc() }),
});
`;
  const EXPECTED: Record<string, unknown> = {
    push: 1,
    sort: "b,a|a,b",
    assign: [1, 5],
    remove: [1, null],
    nested: 2,
    helper: 1,
    bound: 1,
  };
  let runtime: ContractRuntime;
  let kv: KvStore;
  let seq = 0;

  before(async () => {
    runtime = await ContractRuntime.create({ limits: resolveLimits(TEST_LIMITS) });
    kv = KvStore.open(null);
    const bundle = bundleOf({ "index.ts": SOURCE });
    assert.equal(reusesInstance(bundle), false);
    runtime.load("stateful", bundle);
  });
  after(async () => {
    runtime.dispose();
    await kv.close();
  });

  for (const [method, expected] of Object.entries(EXPECTED)) {
    it(`${method}: the mutation works within a call, and the next call starts fresh`, () => {
      for (let i = 0; i < 2; i++) {
        seq++;
        const outcome = runtime.execute(
          {
            contract: "stateful",
            method,
            args: {},
            caller: null,
            txid: null,
            timeMs: 1_700_000_000_000 + seq,
            seed: new Uint8Array(32).fill(seq & 255),
          },
          kv.begin(),
        );
        assert.deepEqual(outcome.ok && outcome.result, expected, JSON.stringify(outcome));
      }
    });
  }
});
