/**
 * Below 2^31 (every ledger this machine will hold), MerkleTree's node indices are V8 small
 * integers, never heap numbers: a whole number computed as `start / 2 ** level` is a heap number,
 * and the tree's compiled `#node` deoptimized on one at every snapshot point ("not a Smi"). This
 * file only uses sizes below 2^31, in its own process (node --test runs each file alone), so V8
 * has seen no larger number here; %IsSmi is V8's own answer, no timing is involved.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { nodeHasher } from "../../runtime/ledger/ledger.js";
import {
  frontierIndex,
  type MerkleNodeArchive,
  MerkleTree,
  pow2,
  shiftDown,
  shiftUp,
} from "../../runtime/ledger/merkle-tree.js";

setFlagsFromString("--allow-natives-syntax");
const isSmi = new Function("x", "return %IsSmi(x)") as (x: number) => boolean;

const MAX_SMI = 2 ** 31 - 1;
const leaf = (i: number) => nodeHasher.leaf(new Uint8Array([i & 255, (i >> 8) & 255, (i >> 16) & 255, 9]));

/** An archive that keeps nothing and records each index it is handed that is a heap number. */
function recordingArchive(heapNumbers: string[]): MerkleNodeArchive {
  return {
    get: (level, index) => {
      if (!isSmi(index)) heapNumbers.push(`get ${level}:${index}`);
      return undefined;
    },
    put: (level, first) => {
      if (!isSmi(first)) heapNumbers.push(`put ${level}:${first}`);
    },
    clear: () => {},
  };
}

describe("MerkleTree indices below 2^31 are small integers", () => {
  it("shiftDown, shiftUp, pow2 and frontierIndex", () => {
    const values = [0, 1, 2, 3, 31, 32, 33, 4_095, 4_096, 40_000, 1_234_567, MAX_SMI - 1, MAX_SMI];
    for (let v = 0; v < 3_000; v++) values.push(v, MAX_SMI - v, (v * 715_827_883) % MAX_SMI);
    for (const value of values) {
      for (let level = 0; level <= 52; level++) {
        assert.ok(isSmi(shiftDown(value, level)), `shiftDown(${value}, ${level})`);
        assert.ok(isSmi(frontierIndex(value, level)), `frontierIndex(${value}, ${level})`);
      }
      for (let level = 0; level <= 20; level++) {
        const operand = shiftDown(value, level);
        assert.ok(isSmi(shiftUp(operand, level)), `shiftUp(${operand}, ${level})`);
      }
    }
    for (let level = 0; level <= 30; level++) assert.ok(isSmi(pow2(level)));
  });

  it("the indices a tree hands its archive, through appends, compactions and frontiers", () => {
    for (const base of [0, 40_001, MAX_SMI - 30_000]) {
      const heapNumbers: string[] = [];
      const tree = new MerkleTree({
        hasher: nodeHasher,
        residentLevel: 5,
        archive: recordingArchive(heapNumbers),
        leafSource: leaf,
      });
      // A made-up frontier of the right shape (the tree cannot tell: it is a snapshot's).
      assert.equal(tree.startAt(base, frontierOf(base)), true);
      for (let i = base; i < base + 25_000; i++) {
        tree.append(leaf(i));
        const size = i + 1;
        // As the ledger and the snapshot writer do: a frontier at each snapshot point, a
        // compaction at each commit checkpoint.
        if (size % 2_500 === 0) tree.frontier(size - 7);
        if (size % 4_096 === 0) tree.compact(size - 4_096);
      }
      tree.inclusionProof(base + 3);
      tree.consistencyProof(base + 1);
      assert.deepEqual(heapNumbers, [], `base ${base}`);
    }
  });
});

/** One hash per set bit of `size`. */
function frontierOf(size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let level = 52; level >= 0; level--) if (frontierIndex(size, level) >= 0) out.push(leaf(level));
  return out;
}
