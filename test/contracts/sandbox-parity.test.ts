/**
 * The samples as compiled artifacts, and the stand-in against the sandbox:
 * - each sample's bundle (under node:vm) must behave like its source;
 * - the same scenarios run through `treaty/testing` and through the real runtime (QuickJS
 *   sandbox, executor host, in-memory KvStore) must give equal outcomes, events and stored bytes.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  type CallOptions,
  type CallResult,
  loadBundle,
  testContract,
  type TestContract,
  user,
  member,
} from "../../contracts/testing/index.js";
import { compileContract } from "../../runtime/compiler/index.js";
import { ContractRuntime } from "../../runtime/executor.js";
import { KvStore } from "../../runtime/kv/store.js";
import { utf8 } from "../../sdk/bytes.js";
import bank from "../../contracts/examples/bank/index.js";
import log from "../../contracts/examples/log/index.js";
import meter from "../../contracts/examples/meter/index.js";
import { guestBundle } from "../sandbox/guest.js";
import { sameAsBundle, sampleBundle } from "./samples.js";

type Step = [method: string, args: unknown, options?: CallOptions];

interface Outcome {
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: { code: string; message: string };
  readonly events: readonly unknown[];
}

const TIME_MS = Date.UTC(2025, 0, 1, 8);
const SEED = new Uint8Array(32).fill(3);

let runtime: ContractRuntime;

before(async () => {
  runtime = await ContractRuntime.create();
});

after(() => {
  runtime.dispose();
});

/** Runs `steps` in the real runtime on a fresh store; returns outcomes and the store. */
async function inSandbox(
  name: string,
  bundle: string,
  steps: readonly Step[],
): Promise<{ outcomes: Outcome[]; store: KvStore }> {
  await runtime.ready();
  runtime.load(name, bundle);
  const store = KvStore.open(null);
  const outcomes: Outcome[] = [];
  let version = 0;
  for (const [method, args, options = {}] of steps) {
    await runtime.ready();
    const mode = runtime.manifest(name)?.methods[method]?.mode;
    const out = runtime.execute(
      {
        contract: name,
        method,
        args,
        caller: options.caller ?? null,
        txid: mode === "readwrite" ? `1.${version + 1}` : null,
        timeMs: options.timeMs ?? TIME_MS,
        seed: options.seed ?? SEED,
      },
      store.begin(),
    );
    if (out.ok) {
      store.apply(++version, out.writeSet);
      outcomes.push({
        ok: true,
        result: out.result,
        events: out.events.map((e) => ({ name: e.name, data: e.data })),
      });
    } else {
      outcomes.push({ ok: false, error: { code: out.error.code, message: out.error.message }, events: [] });
    }
  }
  return { outcomes, store };
}

function inStandIn(c: TestContract, steps: readonly Step[]): Outcome[] {
  return steps.map(([method, args, options = {}]) => {
    const r: CallResult = c.callJson(method, JSON.stringify(args), {
      timeMs: TIME_MS,
      seed: SEED,
      ...options,
    });
    return r.ok
      ? { ok: true, result: r.result, events: r.events }
      : { ok: false, error: r.error, events: [] };
  });
}

/** Same outcomes and same stored bytes (both namespace maps as `<contract>.<map>`). */
async function assertParity(name: string, bundle: string, steps: readonly Step[]): Promise<void> {
  const standIn = testContract(loadBundle(bundle), { name });
  const expected = inStandIn(standIn, steps);
  const { outcomes, store } = await inSandbox(name, bundle, steps);
  assert.deepEqual(outcomes, expected);
  assert.deepEqual(store.maps(), standIn.store.maps());
  for (const map of standIn.store.maps()) {
    for (const [key, value] of standIn.store.entries(map)) {
      const stored = store.get(map, utf8.encode(key));
      assert.equal(stored === undefined ? undefined : utf8.decode(stored), value, `${map} ${key}`);
    }
  }
}

const alice = { caller: user("alice") };
const bob = { caller: user("bob") };
const treasurer = { caller: member("treasurer") };
const operator = { caller: member("operator") };
const bands = [
  { startHour: 0, centsPerKwh: 20 },
  { startHour: 7, centsPerKwh: 35 },
];
const at = (day: number, hour: number) => Date.UTC(2025, 0, 1 + day, hour, 30);

describe("compiled samples behave like their source", () => {
  it("behaves the same compiled", () => {
    sameAsBundle("log", log, (c) => [
      c.call("writePrivate", { id: 1, msg: "a" }, alice),
      c.call("writePublic", { id: 2, msg: "b" }, alice),
      c.call("readPrivate", { id: 1 }, alice),
      c.call("readPublic", { id: 2 }, alice),
      c.call("readPrivate", { id: 2 }, alice),
      c.callJson("writePublic", '{"id":1.5,"msg":"c"}', alice),
      c.call("writePrivate", { id: 3, msg: "c" }, { caller: member("m") }),
    ]);
  });

  it("behaves the same compiled", () => {
    sameAsBundle("bank", bank, (c) => [
      c.call("openAccount", {}, alice),
      c.call("openAccount", {}, bob),
      c.call("mint", { to: "alice", amount: 50 }, treasurer),
      c.call("transfer", { to: "bob", amount: 20 }, alice),
      c.call("transfer", { to: "bob", amount: 31 }, alice),
      c.call("transfer", { to: "alice", amount: 1 }, alice),
      c.call("balance", {}, alice),
      c.call("balance", {}, bob),
      c.call("totalSupply", {}, treasurer),
    ]);
  });

  it("behaves the same compiled", () => {
    sameAsBundle("meter", meter, (c) => [
      c.call("setTariff", { bands }, { ...operator, timeMs: at(0, 0) }),
      c.call("submitReading", { wh: 10 }, { caller: user("m"), timeMs: at(0, 6) }),
      c.call("submitReading", { wh: 110 }, { caller: user("m"), timeMs: at(0, 7) }),
      c.call("submitReading", { wh: 100 }, { caller: user("m"), timeMs: at(0, 8) }),
      c.call("myBill", {}, { caller: user("m") }),
      c.call("tariff"),
    ]);
  });
});

describe("stand-in and sandbox agree", () => {
  it("on results checked against a declared returns shape", async () => {
    const source = `import { contract, method, t } from "treaty/contract";
const counted = t.object({ n: t.integer() });
export default contract({
  liar: method({ mode: "readonly", auth: "users", returns: counted, run: () => ({ n: "x" }) as unknown as { n: number } }),
  honest: method({ mode: "readonly", auth: "users", returns: counted, run: () => ({ n: 1 }) }),
});
`;
    const compiled = compileContract({ files: { "index.ts": source } });
    assert.ok(compiled.ok, JSON.stringify(!compiled.ok && compiled.diagnostics));
    const steps: Step[] = [
      ["liar", {}, alice],
      ["honest", {}, alice],
    ];
    await assertParity("returns", compiled.bundle, steps);
    const [liar, honest] = inStandIn(testContract(loadBundle(compiled.bundle), { name: "returns" }), steps);
    assert.deepEqual(liar?.error, {
      code: "ContractFault",
      message: 'method "liar" broke its returns shape: result.n: expected an integer, got "x"',
    });
    assert.deepEqual(honest?.result, { n: 1 });
  });

  it("on the log sample", async () => {
    await assertParity("log", sampleBundle("log"), [
      ["writePrivate", { id: 1, msg: "a" }, alice],
      ["writePublic", { id: -0, msg: "zero" }, alice],
      ["readPrivate", { id: 1 }, alice],
      ["readPublic", { id: 0 }, alice],
      ["readPrivate", { id: 9 }, alice],
      ["writePrivate", { id: "x", msg: "a" }, alice],
      ["writePrivate", { id: 1, msg: "a", extra: 1 }, alice],
      ["nope", {}, alice],
    ]);
  });

  it("on the bank sample", async () => {
    await assertParity("bank", sampleBundle("bank"), [
      ["openAccount", {}, alice],
      ["openAccount", {}, bob],
      ["openAccount", {}, bob],
      ["mint", { to: "alice", amount: 100 }, treasurer],
      ["transfer", { to: "bob", amount: 40, memo: "rent" }, alice],
      ["transfer", { to: "bob", amount: 61 }, alice],
      ["transfer", { to: "alice", amount: 1 }, alice],
      ["balance", {}, bob],
      ["totalSupply", {}, treasurer],
      ["totalSupply", {}, alice],
    ]);
  });

  it("on the meter sample", async () => {
    const bands = [
      { startHour: 0, centsPerKwh: 20 },
      { startHour: 7, centsPerKwh: 35 },
    ];
    await assertParity("meter", sampleBundle("meter"), [
      ["submitReading", { wh: 1 }, alice],
      ["setTariff", { bands }, treasurer],
      ["submitReading", { wh: 100 }, { ...alice, timeMs: TIME_MS }],
      ["submitReading", { wh: 350 }, { ...alice, timeMs: TIME_MS + 3_600_000 }],
      ["submitReading", { wh: 300 }, { ...alice, timeMs: TIME_MS + 7_200_000 }],
      ["myBill", {}, alice],
      ["tariff", {}],
    ]);
  });

  it("on randomness, events, ranges, host refusals and API errors", async () => {
    const source = `import { ContractError, contract, emit, map, method, randomHex, randomInt, t } from "treaty/contract";
      const nums = map<number, string>("nums", { key: "number" });
      export default contract({
        draw: method({ mode: "readwrite", auth: "users", run: () => ({ hex: randomHex(40), die: randomInt(6), big: randomHex(1500).length }) }),
        fill: method({ mode: "readwrite", auth: "users", args: { n: t.integer({ maximum: 200 }) }, run: ({ n }) => {
          for (let i = 0; i < n; i++) nums.set((i % 2 === 0 ? -1 : 1) * i / 4, "v" + i);
          emit("filled", { n });
        } }),
        scan: method({ mode: "readonly", auth: "users", args: { reverse: t.boolean() }, run: ({ reverse }) => nums.keys({ reverse, from: -10, to: 10 }) }),
        big: method({ mode: "readwrite", auth: "users", run: () => nums.set(1, "x".repeat(1_048_576)) }),
        fail: method({ mode: "readwrite", auth: "users", run: () => { nums.set(5, "partial"); throw new ContractError("Nope", "no"); } }),
        reserved: method({ mode: "readonly", auth: "users", run: () => { const code: string = "NotFound"; throw new ContractError(code, "x"); } }),
        sneaky: method({ mode: "readonly", auth: "users", run: () => nums.set(1, "x") }),
      });`;
    const compiled = compileContract({ files: { "index.ts": source } });
    assert.ok(compiled.ok);
    await assertParity("mixed", compiled.bundle, [
      ["draw", {}, alice],
      ["draw", {}, { ...alice, seed: new Uint8Array(32).fill(9) }],
      ["fill", { n: 60 }, alice],
      ["scan", { reverse: false }, alice],
      ["scan", { reverse: true }, alice],
      ["big", {}, alice],
      ["fail", {}, alice],
      ["reserved", {}, alice],
      ["sneaky", {}, alice],
      ["fill", { n: 1 }, { caller: member("m") }],
    ]);
  });

  it("on tuple keys and prefix ranges", async () => {
    const source = `import { contract, map, method, t } from "treaty/contract";
      const transfers = map<[string, number], string>("transfers", { key: ["string", "number"] });
      export default contract({
        record: method({ mode: "readwrite", auth: "users", args: { p: t.string(), seq: t.number(), to: t.string() },
          run: ({ p, seq, to }) => transfers.set([p, seq], to) }),
        history: method({ mode: "readonly", auth: "users", args: { p: t.string(), reverse: t.boolean() },
          run: ({ p, reverse }) => [...transfers.range({ prefix: [p], reverse })] }),
        between: method({ mode: "readonly", auth: "users", args: { from: t.string(), to: t.string() },
          run: ({ from, to }) => transfers.keys({ from: [from], to: [to] }) }),
        bad: method({ mode: "readonly", auth: "users", run: () => transfers.get(["x"] as unknown as [string, number]) ?? null }),
      });`;
    const compiled = compileContract({ files: { "index.ts": source } });
    assert.ok(compiled.ok);
    const rows: Array<[string, number, string]> = [
      ["w", 10, "c"],
      ["w", -2.5, "a"],
      ["w\u0000", 1, "x"],
      ["w\u0001", 1, "y"],
      ["v", 3, "d"],
      ["wa", 0, "e"],
      ["w", 2, "b"],
    ];
    await assertParity("chain", compiled.bundle, [
      ...rows.map(([p, seq, to]): [string, unknown, typeof alice] => ["record", { p, seq, to }, alice]),
      ["history", { p: "w", reverse: false }, alice],
      ["history", { p: "w", reverse: true }, alice],
      ["history", { p: "w\u0000", reverse: false }, alice],
      ["between", { from: "v", to: "wa" }, alice],
      ["bad", {}, alice],
    ]);
  });

  it("on event names: dot-separated non-empty segments, in treaty/contract's emit and in the host", async () => {
    const names = ["order.created", "a.1", "a..b", "a.", ".a", "a.*", "a.>", "a b", "a".repeat(65)];
    const steps = names.map((name): Step => ["emit", { name }, alice]);
    const valid = (o: Outcome) => o.ok && (o.events[0] as { name: string }).name;
    const source = `import { contract, emit, method, t } from "treaty/contract";
      export default contract({
        emit: method({ mode: "readwrite", auth: "users", args: { name: t.string() }, run: ({ name }) => emit(name, 1) }),
      });`;
    const compiled = compileContract({ files: { "index.ts": source } });
    assert.ok(compiled.ok);
    // The host's own check, for a bundle that calls it without treaty/contract.
    const raw = guestBundle({ emit: '(args, c, host) => { host.emit(args.name, "1"); return null; }' });
    for (const [name, bundle] of [
      ["named", compiled.bundle],
      ["rawnamed", raw],
    ] as const) {
      await assertParity(name, bundle, steps);
      const outcomes = inStandIn(testContract(loadBundle(bundle), { name }), steps);
      assert.deepEqual(outcomes.map(valid), ["order.created", "a.1", ...names.slice(2).map(() => false)]);
      for (const o of outcomes.slice(2)) {
        assert.equal(o.error?.code, "ContractFault");
        assert.match(o.error?.message ?? "", /^emit\(name\): event name ".*" is invalid/);
      }
    }
  });
});
