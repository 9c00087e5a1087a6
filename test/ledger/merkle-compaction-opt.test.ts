/**
 * The Merkle tree's first compaction keeps its optimized append path. `compact` reassigns the
 * tree's `#base` and `#compacted`; had they been initialized in their declarations, V8 would have
 * tracked them as constant until that first store, and the store would deoptimize every optimized
 * function that read them (`append`, `#node`, `#store` and what inlined them), to be compiled
 * again mid-run (docs/performance.md, "Steady-state TurboFan on the write path").
 *
 * Whether code stays optimized is only visible with `--allow-natives-syntax`, so the check runs
 * in a child process.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runWithNatives } from "../support/natives.js";

const treeUrl = new URL("../../runtime/ledger/merkle-tree.js", import.meta.url).href;
const ledgerUrl = new URL("../../runtime/ledger/ledger.js", import.meta.url).href;

describe("Merkle tree compaction and optimized code", () => {
  it("a first compaction does not deoptimize the tree's optimized appends", () => {
    const body = `
      import { MerkleTree } from ${JSON.stringify(treeUrl)};
      import { nodeHasher } from ${JSON.stringify(ledgerUrl)};
      const leaves = [];
      const tree = new MerkleTree({ hasher: nodeHasher, leafSource: (i) => leaves[i] });
      const add = (i) => {
        const leaf = nodeHasher.leaf(new Uint8Array([i & 255, i >> 8]));
        leaves.push(leaf);
        tree.append(leaf);
        return tree.size;
      };
      %PrepareFunctionForOptimization(add);
      for (let i = 0; i < 200; i++) add(i);
      %OptimizeFunctionOnNextCall(add);
      add(200);
      const before = %ActiveTierIsTurbofan(add);
      tree.compact(128);
      const after = %ActiveTierIsTurbofan(add);
      console.log(JSON.stringify({ before, after, size: add(201) }));
    `;
    assert.deepEqual(runWithNatives(body), { before: true, after: true, size: 202 });
  });
});
