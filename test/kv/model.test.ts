/**
 * Model-based property test: random sequences of begin / set / delete / get / range / apply /
 * commit (awaited or left in flight) / rollback / reuse of old transactions / restart, run against
 * KvStore (memory and LMDB) and against a reference model that keeps a full copy of the state
 * per version. Every read must match, stale transactions must fail with Conflict exactly when
 * the model says their view is gone, and after a restart the store equals the model's
 * committed state. A failure prints the fast-check seed and the shrunk op list.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { hexOf } from "../../runtime/kv/bytes.js";
import type { KvStore } from "../../runtime/kv/store.js";
import type { KvTx } from "../../runtime/kv/types.js";
import { isTreatyError } from "../../sdk/errors.js";
import { type KvFixtureFactory, lmdbFixture, memoryFixture } from "./fixtures.js";

type State = ReadonlyMap<string, ReadonlyMap<string, string>>;

const MAPS = ["a", "ab", "public:a", "é"] as const;

type Step =
  | { readonly op: "set"; readonly map: string; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly op: "delete"; readonly map: string; readonly key: Uint8Array }
  | { readonly op: "get"; readonly map: string; readonly key: Uint8Array }
  | {
      readonly op: "range";
      readonly map: string;
      readonly from: Uint8Array | undefined;
      readonly to: Uint8Array | undefined;
      readonly reverse: boolean;
      readonly limit: number | undefined;
    };

type Op =
  | {
      readonly op: "tx";
      readonly at: number;
      readonly steps: readonly Step[];
      readonly applyGap: number | null;
    }
  | { readonly op: "reuse"; readonly which: number; readonly steps: readonly Step[] }
  | { readonly op: "commit"; readonly pick: number; readonly wait: boolean }
  | { readonly op: "rollback"; readonly pick: number }
  | { readonly op: "restart" }
  | { readonly op: "check" };

const keyArb = fc.array(fc.constantFrom(0, 1, 255), { maxLength: 3 }).map((a) => Uint8Array.from(a));
const mapArb = fc.constantFrom(...MAPS);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant("set" as const), map: mapArb, key: keyArb, value: keyArb }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), map: mapArb, key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("get" as const), map: mapArb, key: keyArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("range" as const),
      map: mapArb,
      from: fc.option(keyArb, { nil: undefined }),
      to: fc.option(keyArb, { nil: undefined }),
      reverse: fc.boolean(),
      limit: fc.option(fc.nat(4), { nil: undefined }),
    }),
  },
);
const opArb = (durable: boolean): fc.Arbitrary<Op> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant("tx" as const),
        at: fc.nat(),
        steps: fc.array(stepArb, { maxLength: 8 }),
        applyGap: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null, freq: 4 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("reuse" as const),
        which: fc.nat(),
        steps: fc.array(stepArb, { maxLength: 4 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("commit" as const), pick: fc.nat(), wait: fc.boolean() }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant("rollback" as const), pick: fc.nat() }) },
    { weight: durable ? 1 : 0, arbitrary: fc.constant({ op: "restart" as const }) },
    { weight: 1, arbitrary: fc.constant({ op: "check" as const }) },
  );

/** The reference: a full state per applied version, plus the version bookkeeping. */
class Model {
  /** [version, state after it], ascending; the first is the committed base. */
  history: [number, State][] = [[0, new Map()]];
  applied = 0;
  committed = 0;
  floor = 0;

  stateAt(version: number): State {
    let state = this.history[0]![1];
    for (const [v, s] of this.history) if (v <= version) state = s;
    return state;
  }

  apply(version: number, writes: ReadonlyMap<string, ReadonlyMap<string, string | null>>): void {
    const next = new Map<string, Map<string, string>>();
    for (const [map, keys] of this.stateAt(this.applied)) next.set(map, new Map(keys));
    for (const [map, keys] of writes) {
      const target = next.get(map) ?? new Map<string, string>();
      for (const [hex, value] of keys) {
        if (value === null) target.delete(hex);
        else target.set(hex, value);
      }
      if (target.size > 0) next.set(map, target);
      else next.delete(map);
    }
    this.history.push([version, next]);
    this.applied = version;
  }

  rollback(version: number): void {
    this.history = this.history.filter(([v]) => v <= version);
    this.applied = Math.min(this.applied, version);
  }

  restart(): void {
    this.rollback(this.committed);
    this.applied = this.committed;
    this.floor = this.committed;
  }
}

interface ModelTx {
  readonly tx: KvTx;
  readonly version: number;
  stale: boolean;
  readonly writes: Map<string, Map<string, string | null>>;
  readonly reads: Map<string, Set<string>>;
}

function range(model: Model, mtx: ModelTx, step: Extract<Step, { op: "range" }>): [string, string][] {
  const base = model.stateAt(mtx.version).get(step.map) ?? new Map<string, string>();
  const merged = new Map<string, string | null>(base);
  for (const [hex, value] of mtx.writes.get(step.map) ?? []) merged.set(hex, value);
  const from = step.from === undefined ? undefined : hexOf(step.from);
  const to = step.to === undefined ? undefined : hexOf(step.to);
  let rows = [...merged]
    .filter((e): e is [string, string] => e[1] !== null)
    .filter(([hex]) => (from === undefined || hex >= from) && (to === undefined || hex < to))
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  if (step.reverse) rows.reverse();
  if (step.limit !== undefined) rows = rows.slice(0, step.limit);
  return rows;
}

function noteRead(mtx: ModelTx, map: string, hex: string): void {
  const set = mtx.reads.get(map) ?? new Set<string>();
  set.add(hex);
  mtx.reads.set(map, set);
}

function runSteps(model: Model, mtx: ModelTx, steps: readonly Step[]): void {
  for (const step of steps) {
    const hex = step.op === "range" ? "" : hexOf(step.key);
    if (mtx.stale) {
      assert.throws(
        () => (step.op === "range" ? [...mtx.tx.range(step.map)] : mtx.tx.get(step.map, step.key)),
        (err: unknown) => isTreatyError(err, "Conflict"),
        `tx at ${mtx.version} should be stale`,
      );
      return;
    }
    switch (step.op) {
      case "set":
        mtx.tx.set(step.map, step.key, step.value);
        mtx.writes.set(step.map, (mtx.writes.get(step.map) ?? new Map()).set(hex, hexOf(step.value)));
        break;
      case "delete":
        mtx.tx.delete(step.map, step.key);
        mtx.writes.set(step.map, (mtx.writes.get(step.map) ?? new Map()).set(hex, null));
        break;
      case "get": {
        const own = mtx.writes.get(step.map)?.get(hex);
        const expected =
          own !== undefined ? own : (model.stateAt(mtx.version).get(step.map)?.get(hex) ?? null);
        const got = mtx.tx.get(step.map, step.key);
        assert.equal(
          got === undefined ? null : hexOf(got),
          expected,
          `get ${step.map} ${hex} at ${mtx.version}`,
        );
        assert.equal(mtx.tx.has(step.map, step.key), expected !== null);
        noteRead(mtx, step.map, hex);
        break;
      }
      case "range": {
        const expected = range(model, mtx, step);
        const got = [...mtx.tx.range(step.map, step)].map(([k, v]): [string, string] => [hexOf(k), hexOf(v)]);
        assert.deepEqual(got, expected, `range ${JSON.stringify(step)} at ${mtx.version}`);
        for (const [k] of expected) noteRead(mtx, step.map, k);
        break;
      }
    }
  }
  const reads = mtx.tx.readSet();
  assert.deepEqual(
    [...reads].map(([m, keys]) => [m, [...keys]]),
    [...mtx.reads].sort(([x], [y]) => (x < y ? -1 : 1)).map(([m, keys]) => [m, [...keys].sort()]),
  );
}

/** Full contents of the store at appliedVersion, in the model's shape. */
function contents(store: KvStore): [string, [string, string][]][] {
  const tx = store.begin();
  return store
    .maps()
    .map((map) => [map, [...tx.range(map)].map(([k, v]): [string, string] => [hexOf(k), hexOf(v)])]);
}

function modelContents(state: State): [string, [string, string][]][] {
  return [...state.keys()]
    .sort()
    .map((map) => [map, [...state.get(map)!].sort(([x], [y]) => (x < y ? -1 : 1))]);
}

async function runScenario(factory: KvFixtureFactory, ops: readonly Op[]): Promise<void> {
  const fixture = factory();
  try {
    let store = fixture.store;
    const model = new Model();
    const txs: ModelTx[] = [];
    const pending: Promise<void>[] = [];
    const settle = async () => {
      await Promise.all(pending.splice(0));
      model.committed = model.floor;
      assert.equal(store.committedVersion, model.committed);
    };
    for (const op of ops) {
      switch (op.op) {
        case "tx": {
          const version = model.floor + (op.at % (model.applied - model.floor + 1));
          const tx = version === model.applied && op.at % 2 === 0 ? store.begin() : store.beginAt(version);
          assert.equal(tx.readVersion, version);
          const mtx: ModelTx = { tx, version, stale: false, writes: new Map(), reads: new Map() };
          txs.push(mtx);
          runSteps(model, mtx, op.steps);
          if (op.applyGap !== null) {
            const v = model.applied + op.applyGap;
            store.apply(v, tx.writeSet());
            model.apply(v, mtx.writes);
          }
          break;
        }
        case "reuse": {
          if (txs.length === 0) break;
          runSteps(model, txs[op.which % txs.length]!, op.steps);
          break;
        }
        case "commit": {
          const target = model.committed + (op.pick % (model.applied - model.committed + 1));
          const promise = store.commit(target);
          model.floor = Math.max(model.floor, target);
          for (const mtx of txs) if (mtx.version < model.floor) mtx.stale = true;
          pending.push(promise);
          if (op.wait) await settle();
          break;
        }
        case "rollback": {
          const target = model.floor + (op.pick % (model.applied - model.floor + 1));
          store.rollback(target);
          for (const mtx of txs) if (mtx.version > target && target < model.applied) mtx.stale = true;
          model.rollback(target);
          assert.equal(store.appliedVersion, model.applied);
          break;
        }
        case "restart": {
          await settle();
          store = await fixture.reopen();
          model.restart();
          for (const mtx of txs) mtx.stale = true;
          txs.length = 0;
          assert.equal(store.committedVersion, model.committed);
          assert.equal(store.appliedVersion, model.committed);
          break;
        }
        case "check":
          assert.deepEqual(contents(store), modelContents(model.stateAt(model.applied)));
          break;
      }
    }
    await settle();
    assert.equal(store.appliedVersion, model.applied);
    assert.deepEqual(contents(store), modelContents(model.stateAt(model.applied)));
    if (fixture.durable) {
      const again = await fixture.reopen();
      assert.equal(again.committedVersion, model.committed);
      assert.equal(again.appliedVersion, model.committed);
      assert.deepEqual(contents(again), modelContents(model.stateAt(model.committed)));
    }
  } finally {
    await fixture.dispose();
  }
}

describe("KvStore against a reference model", () => {
  it("matches in memory", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(false), { maxLength: 30 }), (ops) => runScenario(memoryFixture, ops)),
      { numRuns: 150 },
    );
  });

  it("matches on LMDB, and a restart restores exactly the committed state", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(true), { maxLength: 20 }), (ops) => runScenario(lmdbFixture, ops)),
      { numRuns: 30 },
    );
  });
});
