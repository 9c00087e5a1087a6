import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { nodeHasher } from "../../runtime/ledger/ledger.js";
import { MerkleTree } from "../../runtime/ledger/merkle-tree.js";
import { AssertionFailure } from "../../sdk/assert.js";

const leaf = (i: number) => nodeHasher.leaf(new Uint8Array([i & 255, (i >> 8) & 255, 7]));

function full(n: number, residentLevel: number): MerkleTree {
  const tree = new MerkleTree({ hasher: nodeHasher, residentLevel, leafSource: leaf });
  for (let i = 0; i < n; i++) tree.append(leaf(i));
  return tree;
}

/** A tree started at `base` from a frontier; its source refuses leaves before the base unless `history`. */
function based(base: number, residentLevel: number, history: boolean): MerkleTree {
  const tree = new MerkleTree({
    hasher: nodeHasher,
    residentLevel,
    leafSource: (i) => {
      if (i < base && !history) throw new AssertionFailure(`leaf ${i} is before the base`);
      return leaf(i);
    },
  });
  assert.equal(tree.startAt(base, full(base, residentLevel).frontier()), true);
  return tree;
}

describe("MerkleTree started at a base (frontier only)", () => {
  it("the frontier has one hash per set bit of the size", () => {
    for (const n of [0, 1, 2, 3, 31, 32, 33, 1000]) {
      const bits = n
        .toString(2)
        .split("")
        .filter((b) => b === "1").length;
      assert.equal(full(n, 2).frontier().length, bits);
    }
  });

  it("appends, roots, proofs and truncation after the base equal the full tree's", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 150 }),
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 1000 }),
        (base, extra, r, pick) => {
          const n = base + extra;
          const reference = full(n, r);
          const tree = based(base, r, false);
          for (let i = base; i < n; i++) tree.append(leaf(i));
          assert.equal(tree.size, n);
          for (let size = base; size <= n; size++) assert.deepEqual(tree.root(size), reference.root(size));
          for (let index = base; index < n; index++) {
            assert.deepEqual(tree.inclusionProof(index), reference.inclusionProof(index));
          }
          if (n > base) {
            const size1 = base + (pick % (n - base + 1));
            assert.deepEqual(tree.consistencyProof(size1, n), reference.consistencyProof(size1, n));
            const cut = base + (pick % (n - base));
            tree.truncate(cut);
            for (let i = cut; i < n; i++) tree.append(leaf(i));
            assert.deepEqual(tree.root(), reference.root());
            for (let index = base; index < n; index++)
              assert.deepEqual(tree.inclusionProof(index), reference.inclusionProof(index));
          }
          assert.deepEqual(tree.frontier(), reference.frontier());
        },
      ),
      { numRuns: 150 },
    );
  });

  it("proves older leaves from a source that has them", () => {
    const reference = full(300, 3);
    const tree = based(200, 3, true);
    for (let i = 200; i < 300; i++) tree.append(leaf(i));
    for (const [index, size] of [
      [0, 199],
      [57, 150],
      [198, 300],
    ] as const) {
      assert.deepEqual(tree.inclusionProof(index, size), reference.inclusionProof(index, size));
      assert.deepEqual(tree.root(size), reference.root(size));
    }
  });

  it("refuses a frontier of the wrong shape and truncation below the base", () => {
    const tree = new MerkleTree({ hasher: nodeHasher, residentLevel: 2, leafSource: leaf });
    assert.equal(tree.startAt(5, [leaf(0)]), false);
    const ok = based(5, 2, false);
    assert.throws(() => ok.truncate(4), AssertionFailure);
  });
});
