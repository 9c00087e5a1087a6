/**
 * ChildTx (the sub-transaction the constitution's apply runs in): reads see the parent with the
 * child's writes on top, ranges merge both in key order in either direction, committing copies
 * the writes into the parent, abandoning leaves the parent untouched. Checked against a plain
 * Map model over random operations.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { utf8 } from "../../sdk/bytes.js";
import { AssertionFailure } from "../../sdk/assert.js";
import { KvStore } from "../../runtime/kv/store.js";
import type { KvTx } from "../../runtime/kv/types.js";
import { ChildTx } from "../../node/gov/child-tx.js";

const MAP = "public:gov.t";
const store = KvStore.open(null);

type Op = { kind: "set"; key: string; value: string } | { kind: "delete"; key: string };

const key = fc.constantFrom("a", "b", "c", "d", "e", "f");
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key, value: fc.string({ maxLength: 4 }) }),
  fc.record({ kind: fc.constant("delete" as const), key }),
);

function run(tx: KvTx, model: Map<string, string>, ops: readonly Op[]): void {
  for (const o of ops) {
    if (o.kind === "set") {
      tx.set(MAP, utf8.encode(o.key), utf8.encode(o.value));
      model.set(o.key, o.value);
    } else {
      tx.delete(MAP, utf8.encode(o.key));
      model.delete(o.key);
    }
  }
}

function contents(tx: KvTx, options: { from?: string; to?: string; reverse?: boolean; limit?: number } = {}) {
  return [
    ...tx.range(MAP, {
      ...(options.from !== undefined && { from: utf8.encode(options.from) }),
      ...(options.to !== undefined && { to: utf8.encode(options.to) }),
      ...(options.reverse !== undefined && { reverse: options.reverse }),
      ...(options.limit !== undefined && { limit: options.limit }),
    }),
  ].map(([k, v]) => [utf8.decode(k), utf8.decode(v)]);
}

function expected(
  model: Map<string, string>,
  options: { from?: string; to?: string; reverse?: boolean; limit?: number },
) {
  const rows = [...model]
    .filter(
      ([k]) =>
        (options.from === undefined || k >= options.from) && (options.to === undefined || k < options.to),
    )
    .sort(([a], [b]) => (a < b ? -1 : 1));
  if (options.reverse) rows.reverse();
  return rows.slice(0, options.limit ?? rows.length);
}

describe("ChildTx", () => {
  after(() => store.close());

  it("reads, ranges, commits and abandons like a transaction layered on its parent", () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 12 }),
        fc.array(op, { maxLength: 12 }),
        fc.record(
          { from: key, to: key, reverse: fc.boolean(), limit: fc.integer({ min: 0, max: 7 }) },
          { requiredKeys: [] },
        ),
        fc.boolean(),
        (parentOps, childOps, options, commit) => {
          const parent = store.begin();
          const parentModel = new Map<string, string>();
          run(parent, parentModel, parentOps);
          const child = new ChildTx(parent);
          const childModel = new Map(parentModel);
          run(child, childModel, childOps);
          for (const k of ["a", "b", "c", "d", "e", "f"]) {
            const got = child.get(MAP, utf8.encode(k));
            assert.equal(got === undefined ? undefined : utf8.decode(got), childModel.get(k));
            assert.equal(child.has(MAP, utf8.encode(k)), childModel.has(k));
          }
          assert.deepEqual(contents(child, options), expected(childModel, options));
          assert.deepEqual(
            contents(parent),
            expected(parentModel, {}),
            "the parent is untouched until commit",
          );
          if (commit) {
            child.commitTo();
            assert.deepEqual(contents(parent), expected(childModel, {}));
            assert.throws(() => child.get(MAP, utf8.encode("a")), AssertionFailure);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("writeSet lists the child's own writes only; refusals of the store come at the write", () => {
    const parent = store.begin();
    parent.set(MAP, utf8.encode("p"), utf8.encode('"parent"'));
    const child = new ChildTx(parent);
    child.set(MAP, utf8.encode("c"), utf8.encode('"child"'));
    child.delete("public:gov.other", utf8.encode("x"));
    assert.deepEqual(child.maps(), ["public:gov.other", MAP]);
    const ws = child.writeSet();
    assert.deepEqual(
      ws.public.map((m) => [
        m.map,
        m.writes.map(([k, v]) => [utf8.decode(k), v === null ? null : utf8.decode(v)]),
      ]),
      [
        ["public:gov.other", [["x", null]]],
        [MAP, [["c", '"child"']]],
      ],
    );
    assert.deepEqual(ws.private, []);
    assert.throws(() => child.set("", utf8.encode("k"), utf8.encode("v")), { code: "InvalidArgs" });
  });
});
