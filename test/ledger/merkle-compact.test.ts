import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { nodeHasher } from "../../runtime/ledger/ledger.js";
import { MerkleArchiveFiles } from "../../runtime/ledger/merkle-archive.js";
import { type MerkleNodeArchive, MerkleTree } from "../../runtime/ledger/merkle-tree.js";
import { AssertionFailure } from "../../sdk/assert.js";

const leaf = (i: number) => nodeHasher.leaf(new Uint8Array([i & 255, (i >> 8) & 255, (i >> 16) & 255, 9]));

/** An in-memory archive (pure logic stand-in for the file one), counting what it serves. */
class MapArchive implements MerkleNodeArchive {
  readonly nodes = new Map<string, Uint8Array>();
  hits = 0;
  get(level: number, index: number): Uint8Array | undefined {
    const hash = this.nodes.get(`${level}:${index}`);
    if (hash !== undefined) this.hits++;
    return hash;
  }
  put(level: number, firstIndex: number, hashes: Uint8Array): void {
    for (let i = 0; i * 32 < hashes.length; i++)
      this.nodes.set(`${level}:${firstIndex + i}`, hashes.slice(i * 32, (i + 1) * 32));
  }
  clear(): void {
    this.nodes.clear();
  }
}

function tree(residentLevel: number, archive?: MerkleNodeArchive, source: (i: number) => Uint8Array = leaf) {
  return new MerkleTree({
    hasher: nodeHasher,
    residentLevel,
    leafSource: source,
    ...(archive !== undefined && { archive }),
  });
}

describe("MerkleTree.compact: bounded memory, same proofs", () => {
  it("roots, inclusion and consistency proofs, appends and truncation equal the uncompacted tree's", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        (n, points, r, archived, pick) => {
          const reference = tree(r);
          const compacted = tree(r, archived ? new MapArchive() : undefined);
          let base = 0;
          for (let i = 0; i < n; i++) {
            reference.append(leaf(i));
            compacted.append(leaf(i));
            // Compact at increasing points as the tree grows (a commit point moving forward).
            for (const p of points) if (p === i) base = compacted.compact(Math.min(p, compacted.size));
          }
          assert.ok(base <= n && base % 2 ** r === 0, `base ${base} is a whole chunk`);
          for (let size = 0; size <= n; size++) assert.deepEqual(compacted.root(size), reference.root(size));
          for (let index = 0; index < n; index++)
            assert.deepEqual(compacted.inclusionProof(index), reference.inclusionProof(index));
          const size1 = pick % (n + 1);
          assert.deepEqual(compacted.consistencyProof(size1), reference.consistencyProof(size1));
          assert.deepEqual(compacted.frontier(size1), reference.frontier(size1));
          // Roll back above the compaction point and grow again.
          const cut = base + (pick % (n - base + 1));
          compacted.truncate(cut);
          reference.truncate(cut);
          for (let i = cut; i < n + 5; i++) {
            compacted.append(leaf(i));
            reference.append(leaf(i));
          }
          assert.deepEqual(compacted.root(), reference.root());
          assert.deepEqual(compacted.inclusionProof(n + 4), reference.inclusionProof(n + 4));
          if (base > 0) assert.throws(() => compacted.truncate(base - 1), AssertionFailure);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("resident bytes stay bounded however many leaves are appended (compacting as they commit)", () => {
    const compacted = tree(5, new MapArchive());
    const uncompacted = tree(5);
    let highest = 0;
    for (let i = 0; i < 100_000; i++) {
      const hash = leaf(i);
      compacted.append(hash);
      uncompacted.append(hash);
      if (i % 4096 === 4095) {
        compacted.compact(compacted.size - 4096); // one checkpoint behind, as the replica does
        highest = Math.max(highest, compacted.memoryBytes());
      }
    }
    // What stays: ~8192 entries' nodes (2 bytes each, arrays at most doubled) and the frontiers.
    assert.ok(highest < 64 * 1024, `compacted tree held ${highest} bytes`);
    assert.ok(uncompacted.memoryBytes() > 2 * 100_000, `uncompacted: ${uncompacted.memoryBytes()} bytes`);
    assert.deepEqual(compacted.root(), uncompacted.root());
  });

  it("proves compacted leaves from the archive, reading at most two chunks of leaves", () => {
    const archive = new MapArchive();
    let reads = 0;
    const compacted = tree(5, archive, (i) => {
      reads++;
      return leaf(i);
    });
    const reference = tree(0);
    for (let i = 0; i < 5000; i++) {
      compacted.append(leaf(i));
      reference.append(leaf(i));
    }
    compacted.compact(4990);
    for (const index of [0, 1000, 2047, 2048, 3000, 4000, 4099]) {
      reads = 0;
      assert.deepEqual(compacted.inclusionProof(index, 4100), reference.inclusionProof(index, 4100));
      // The leaf's chunk below level R, and the partial chunk at the proof's size.
      assert.ok(reads <= 64, `leaf ${index}: ${reads} leaf reads`);
    }
    assert.ok(archive.hits > 0, "the archive served nodes");
  });

  it("without an archive, recomputes compacted nodes from the leaf source", () => {
    const compacted = tree(3);
    const reference = tree(0);
    for (let i = 0; i < 700; i++) {
      compacted.append(leaf(i));
      reference.append(leaf(i));
    }
    assert.equal(compacted.compact(700), 696);
    for (let index = 0; index < 650; index += 37)
      assert.deepEqual(compacted.inclusionProof(index, 650), reference.inclusionProof(index, 650));
  });

  it("a tree started at a base clears an archive that contradicts the base's frontier", () => {
    const archive = new MapArchive();
    const first = tree(2, archive);
    for (let i = 0; i < 100; i++) first.append(leaf(i));
    first.compact(100);
    assert.ok(archive.nodes.size > 0);
    const other = tree(2);
    for (let i = 0; i < 64; i++) other.append(leaf(i + 1)); // another history
    const restarted = tree(2, archive);
    assert.equal(restarted.startAt(64, other.frontier()), true);
    assert.equal(archive.nodes.size, 0, "the archive was cleared");

    const same = new MapArchive();
    const again = tree(2, same);
    for (let i = 0; i < 100; i++) again.append(leaf(i));
    again.compact(100);
    const kept = same.nodes.size;
    assert.equal(tree(2, same).startAt(64, again.frontier(64)), true);
    assert.equal(same.nodes.size, kept, "an archive of the same history stays");
  });
});

describe("MerkleArchiveFiles", () => {
  it("stores nodes by level and index; holes and absent files read as missing; clear empties it", () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-merkle-archive-"));
    try {
      const archive = new MerkleArchiveFiles(join(dir, "merkle"));
      assert.equal(archive.get(5, 0), undefined);
      const hashes = new Uint8Array(3 * 32).map((_, i) => (i % 251) + 1);
      archive.put(5, 10, hashes);
      assert.deepEqual(archive.get(5, 11), hashes.slice(32, 64));
      assert.equal(archive.get(5, 9), undefined, "a hole");
      assert.equal(archive.get(5, 13), undefined, "past the end");
      assert.equal(archive.get(6, 0), undefined, "another level");
      archive.put(5, 0, hashes.slice(0, 32));
      assert.deepEqual(archive.get(5, 0), hashes.slice(0, 32));
      assert.deepEqual(archive.get(5, 12), hashes.slice(64));
      archive.clear();
      assert.equal(archive.get(5, 11), undefined);
      assert.deepEqual(readdirSync(join(dir, "merkle")), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("serves a compacted tree (real files)", () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-merkle-archive-"));
    try {
      const compacted = tree(5, new MerkleArchiveFiles(dir));
      const reference = tree(0);
      for (let i = 0; i < 3000; i++) {
        compacted.append(leaf(i));
        reference.append(leaf(i));
      }
      compacted.compact(2999);
      for (const index of [0, 777, 2047, 2900])
        assert.deepEqual(compacted.inclusionProof(index, 2950), reference.inclusionProof(index, 2950));
      assert.ok(readdirSync(dir).length >= 5, "one file per level ≥ 5");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
