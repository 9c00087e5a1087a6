/**
 * The overlay and the sorted index on their own: memory is released on commit and rollback,
 * batches carry each key's final state once, and records held by a reader survive pruning.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { mapRef } from "../../runtime/kv/backend.js";
import { hexOf } from "../../runtime/kv/bytes.js";
import { compareBytes } from "../../runtime/kv/limits.js";
import { Overlay, type OverlayWrite, valueAt } from "../../runtime/kv/overlay.js";
import { lowerBound, SortedIndex } from "../../runtime/kv/sorted-index.js";
import { b, show } from "./fixtures.js";

const A = mapRef("a");
const B = mapRef("b");

function w(map: typeof A, key: Uint8Array, value: Uint8Array | null): OverlayWrite {
  return { map, key, hex: hexOf(key), value };
}

describe("Overlay", () => {
  it("answers reads at any held version and forgets versions on prune", () => {
    const o = new Overlay();
    o.add(2, [w(A, b(1), b(2)), w(B, b(1), b(20))]);
    o.add(3, []); // nothing written: not held
    o.add(4, [w(A, b(1), null)]);
    o.add(6, [w(A, b(1), b(6)), w(A, b(2), b(6))]);
    assert.equal(o.size, 3);
    const rec = o.record("a", hexOf(b(1)))!;
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((v) => {
        const value = valueAt(rec, v);
        return value === undefined ? "none" : value === null ? "deleted" : show(value);
      }),
      ["none", "2", "2", "deleted", "deleted", "6"],
    );
    assert.deepEqual(
      o.batch(0, 4).map((x) => [x.map.name, show(x.key), show(x.value ?? undefined) ?? null]),
      [
        ["a", "1", null],
        ["b", "1", "20"],
      ],
    );
    assert.deepEqual(
      o.batch(2, 6).map((x) => [x.map.name, show(x.key), show(x.value ?? undefined)]),
      [
        ["a", "1", "6"],
        ["a", "2", "6"],
      ],
    );
    o.pruneUpTo(4);
    assert.equal(o.size, 1);
    assert.deepEqual(o.mapNames(), ["a"]);
    assert.equal(o.record("b", hexOf(b(1))), undefined);
    assert.equal(valueAt(o.record("a", hexOf(b(1)))!, 6)![0], 6);
    assert.equal(
      valueAt(o.record("a", hexOf(b(1)))!, 5),
      undefined,
      "pruned writes now live in committed state",
    );
    assert.equal(valueAt(rec, 5), null, "a record held before the prune keeps its history");
    o.pruneUpTo(6);
    assert.equal(o.size, 0);
    assert.deepEqual(o.mapNames(), []);
  });

  it("discards versions above a rollback point, keys and maps included", () => {
    const o = new Overlay();
    o.add(1, [w(A, b(1), b(1))]);
    o.add(2, [w(A, b(1), b(2)), w(B, b(9), b(9))]);
    o.add(3, [w(A, b(3), b(3))]);
    o.discardAbove(1);
    assert.equal(o.size, 1);
    assert.deepEqual(o.mapNames(), ["a"]);
    assert.deepEqual(
      o.recordsWithin("a", {}, false).map((r) => show(r.key)),
      ["1"],
    );
    assert.equal(show(valueAt(o.record("a", hexOf(b(1)))!, 9) ?? undefined), "1");
    o.add(2, [w(A, b(2), b(22))]);
    assert.deepEqual(
      o.recordsWithin("a", {}, true).map((r) => show(r.key)),
      ["2", "1"],
    );
  });
});

describe("SortedIndex", () => {
  it("lists keys within bounds in both directions with limits, whatever the insert order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 3 }), { maxLength: 40 }),
        fc.array(fc.uint8Array({ maxLength: 3 }), { maxLength: 10 }),
        fc.option(fc.uint8Array({ maxLength: 3 }), { nil: undefined }),
        fc.option(fc.uint8Array({ maxLength: 3 }), { nil: undefined }),
        fc.boolean(),
        fc.boolean(),
        fc.nat(50),
        (inserts, deletes, lower, upper, lowerExclusive, reverse, limit) => {
          const index = new SortedIndex<Uint8Array>();
          const model = new Map<string, Uint8Array>();
          for (const key of inserts) {
            index.set(hexOf(key), key);
            model.set(hexOf(key), key);
          }
          // Listed once before the deletes: they then start from a built sorted list.
          if (reverse) index.keys();
          for (const key of deletes) {
            index.delete(hexOf(key));
            model.delete(hexOf(key));
          }
          let expected = [...model.values()]
            .filter(
              (k) =>
                lower === undefined ||
                (lowerExclusive ? compareBytes(k, lower) > 0 : compareBytes(k, lower) >= 0),
            )
            .filter((k) => upper === undefined || compareBytes(k, upper) < 0)
            .sort(compareBytes)
            .map(hexOf);
          if (reverse) expected.reverse();
          expected = expected.slice(0, limit);
          const got = index.keysWithin(
            {
              lower: lower === undefined ? undefined : hexOf(lower),
              lowerExclusive,
              upper: upper === undefined ? undefined : hexOf(upper),
            },
            reverse,
            limit,
          );
          assert.deepEqual(got, expected);
          assert.equal(index.size, model.size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("finds lower bounds", () => {
    assert.equal(lowerBound([], "a"), 0);
    assert.equal(lowerBound(["a", "c"], "b"), 1);
    assert.equal(lowerBound(["a", "c"], "c"), 1);
    assert.equal(lowerBound(["a", "c"], "d"), 2);
  });
});
