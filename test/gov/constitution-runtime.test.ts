/**
 * The runtime's privileged constitution slot (runtime/executor/constitution.ts): what the host
 * lets each entry point do, whatever the constitution's code tries, and the governance floor of
 * limits. Uses a tiny probing constitution, not the default one.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { compileContract } from "../../runtime/compiler/index.js";
import { GOVERNANCE_FLOOR, governanceLimits } from "../../runtime/executor/constitution.js";
import { type ConstitutionCall, ContractRuntime } from "../../runtime/executor/runtime.js";
import { KvStore } from "../../runtime/kv/store.js";
import { DEFAULT_LIMITS, resolveLimits } from "../../runtime/sandbox/limits.js";

/** Each entry point does what its argument asks, so a test can try every kind of access. */
const PROBE = `
import { contract, map, method, t } from "treaty/contract";
const members = map<string, unknown>("members", { public: true });
const secrets = map<string, unknown>("secrets");
function spin(n: number): number { let x = 0; for (let i = 0; i < n; i++) x += i; return x; }
export default contract({
  validate: method({ mode: "readonly", auth: "members", args: { proposal: t.any() }, run: ({ proposal }) => {
    if (proposal === "read") members.get("x");
    if (typeof proposal === "number") spin(proposal);
    return { valid: true };
  } }),
  resolve: method({ mode: "readonly", auth: "members", args: { proposal: t.any(), ballots: t.any() }, run: ({ proposal }) => {
    if (proposal === "write") members.set("x", 1);
    return members.get("x") ?? "Open";
  } }),
  apply: method({ mode: "readwrite", auth: "members", args: { proposal: t.any() }, run: ({ proposal }) => {
    if (proposal === "private") secrets.set("k", 1);
    else members.set("x", proposal);
    return null;
  } }),
});
`;

const SPINNER = `
import { contract, method, t } from "treaty/contract";
export default contract({
  spin: method({ mode: "readwrite", auth: "users", args: { n: t.integer() }, run: ({ n }) => {
    let x = 0; for (let i = 0; i < n; i++) x += i; return x;
  } }),
});
`;

function compile(source: string): string {
  const result = compileContract({ files: { "index.ts": source } });
  assert.ok(result.ok, JSON.stringify(!result.ok && result.diagnostics));
  return result.bundle;
}

const member = { id: "m".repeat(64), role: "member" as const };
let runtime: ContractRuntime;
const store = KvStore.open(null);

function call(method: ConstitutionCall["method"], args: unknown) {
  const tx = store.begin();
  const outcome = runtime.executeConstitution(
    { method, args, caller: member, txid: "1.2", timeMs: 1, seed: new Uint8Array(32) },
    tx,
  );
  return { outcome, tx };
}

describe("the constitution in the runtime", () => {
  before(async () => {
    runtime = await ContractRuntime.create();
    runtime.loadConstitution(compile(PROBE));
    runtime.load("spinner", compile(SPINNER));
  });
  after(async () => {
    runtime.dispose();
    await store.close();
  });

  it("validate sees no state; resolve reads but cannot write; apply writes public gov tables", () => {
    assert.equal(call("validate", { proposal: "nothing" }).outcome.ok, true);
    const touched = call("validate", { proposal: "read" }).outcome;
    assert.equal(touched.ok, false);
    assert.equal(!touched.ok && touched.error.code, "MapAccessDenied");
    const wrote = call("resolve", { proposal: "write", ballots: {} }).outcome;
    assert.equal(!wrote.ok && wrote.error.code, "ReadonlyViolation");
    const { outcome, tx } = call("apply", { proposal: "Accepted" });
    assert.equal(outcome.ok, true);
    assert.deepEqual(
      tx.writeSet().public.map((m) => [m.map, m.writes.map(([k, v]) => [utf8.decode(k), utf8.decode(v!)])]),
      [["public:gov.members", [["x", '"Accepted"']]]],
    );
    store.apply(1, tx.writeSet());
    const read = call("resolve", { proposal: "read", ballots: {} }).outcome;
    assert.deepEqual(read.ok && read.result, "Accepted", "resolve reads what apply wrote");
    const hidden = call("apply", { proposal: "private" }).outcome;
    assert.equal(!hidden.ok && hidden.error.code, "MapAccessDenied");
  });

  it("only the privileged slot holds it: gov is reserved for contracts and not callable as one", async () => {
    assert.throws(() => runtime.load("gov", compile(PROBE)), { code: "InvalidContract" });
    const outcome = runtime.execute(
      {
        contract: "gov",
        method: "apply",
        args: { proposal: 1 },
        caller: member,
        txid: "1.3",
        timeMs: 1,
        seed: new Uint8Array(32),
      },
      store.begin(),
    );
    assert.equal(!outcome.ok && outcome.error.code, "UnknownContract");
    await runtime.ready();
    assert.throws(() => runtime.loadConstitution(compile(SPINNER)), {
      code: "InvalidContract",
      message: /missing validate/,
    });
    const wrongMode = PROBE.replace('apply: method({ mode: "readwrite"', 'apply: method({ mode: "readonly"');
    await runtime.ready();
    assert.throws(() => runtime.loadConstitution(compile(wrongMode)), { message: /apply must be readwrite/ });
    const usersOnly = PROBE.replace(
      'validate: method({ mode: "readonly", auth: "members"',
      'validate: method({ mode: "readonly", auth: "users"',
    );
    await runtime.ready();
    assert.throws(() => runtime.loadConstitution(compile(usersOnly)), {
      message: /validate must admit members/,
    });
    assert.equal(call("validate", { proposal: "nothing" }).outcome.ok, true, "the loaded one keeps serving");
  });

  it("runs with at least the governance floor while contracts get the lowered limits", async () => {
    assert.deepEqual(governanceLimits(DEFAULT_LIMITS), DEFAULT_LIMITS);
    const starved = resolveLimits({ executionBudget: 10_000, maxArgsBytes: 8 });
    const floored = governanceLimits(starved);
    assert.equal(floored.executionBudget, GOVERNANCE_FLOOR.executionBudget);
    assert.equal(floored.maxArgsBytes, GOVERNANCE_FLOOR.maxArgsBytes);
    runtime.setLimits(resolveLimits({ executionBudget: 10_000 }));
    await runtime.ready();
    const contract = runtime.execute(
      {
        contract: "spinner",
        method: "spin",
        args: { n: 200_000 },
        caller: { id: "u", role: "user" },
        txid: "1.4",
        timeMs: 1,
        seed: new Uint8Array(32),
      },
      store.begin(),
    );
    assert.equal(!contract.ok && contract.error.code, "ExecutionLimit");
    assert.equal(call("validate", { proposal: 200_000 }).outcome.ok, true, "the same work fits the floor");
    const runaway = call("validate", { proposal: 1e12 }).outcome;
    assert.equal(!runaway.ok && runaway.error.code, "ExecutionLimit", "but the floor is a limit too");
    runtime.setLimits(DEFAULT_LIMITS);
    await runtime.ready();
  });
});
