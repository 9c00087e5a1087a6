import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fromHex, toHex } from "../../sdk/bytes.js";
import {
  inclusionProofLength,
  rootFromInclusionProof,
  sha256Hasher,
  verifyConsistency,
  verifyInclusion,
} from "../../sdk/merkle.js";
import { nodeHasher } from "../../runtime/ledger/ledger.js";
import { MerkleFrontier, MerkleTree } from "../../runtime/ledger/merkle-tree.js";

// --- An independent, naive RFC 9162 implementation (recursive definitions, node:crypto) ---

function sha(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}
const ZERO = new Uint8Array([0]);
const ONE = new Uint8Array([1]);

function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * MTH(D[n]) of RFC 9162 2.1.1. Memoized on the identity of the leaf data (the recursion asks for
 * the same subranges over and over); the definition itself is untouched.
 */
const memo = new Map<string, Uint8Array>();
const ids = new WeakMap<Uint8Array, number>();
let nextId = 0;
function idOf(d: Uint8Array): number {
  let id = ids.get(d);
  if (id === undefined) {
    id = nextId++;
    ids.set(d, id);
  }
  return id;
}
function mth(data: readonly Uint8Array[]): Uint8Array {
  if (data.length === 0) return sha();
  if (data.length === 1) return sha(ZERO, data[0]!);
  const key = data.map(idOf).join(",");
  const known = memo.get(key);
  if (known !== undefined) return known;
  const k = splitPoint(data.length);
  const hash = sha(ONE, mth(data.slice(0, k)), mth(data.slice(k)));
  memo.set(key, hash);
  return hash;
}

/** PATH(m, D[n]) of RFC 9162 2.1.3.1. */
function naivePath(m: number, data: readonly Uint8Array[]): Uint8Array[] {
  if (data.length <= 1) return [];
  const k = splitPoint(data.length);
  return m < k
    ? [...naivePath(m, data.slice(0, k)), mth(data.slice(k))]
    : [...naivePath(m - k, data.slice(k)), mth(data.slice(0, k))];
}

/** SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1. */
function subproof(m: number, data: readonly Uint8Array[], whole: boolean): Uint8Array[] {
  if (m === data.length) return whole ? [] : [mth(data)];
  const k = splitPoint(data.length);
  return m <= k
    ? [...subproof(m, data.slice(0, k), whole), mth(data.slice(k))]
    : [...subproof(m - k, data.slice(k), false), mth(data.slice(0, k))];
}

function naiveConsistency(m: number, data: readonly Uint8Array[]): Uint8Array[] {
  return m === 0 || m === data.length ? [] : subproof(m, data, true);
}

// --- Well-known Certificate Transparency test vectors (RFC 6962 / 9162 hashing) ---

const CT_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map((h) => fromHex(h));
const CT_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const CT_ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
/** [0-based leaf index, tree size, path]. */
const CT_INCLUSION: [number, number, string[]][] = [
  [
    0,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    5,
    8,
    [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [
    1,
    5,
    [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
];
/** [size1, size2, proof]. */
const CT_CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [
    1,
    8,
    [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  ],
  [
    6,
    8,
    [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  ],
  [
    2,
    5,
    [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  ],
];

/** Builds a tree over `data` with the given resident level; the leaf source reads `data`. */
function treeOf(data: readonly Uint8Array[], residentLevel = 0): MerkleTree {
  const leaves = data.map((d) => nodeHasher.leaf(d));
  const tree = new MerkleTree({
    hasher: nodeHasher,
    residentLevel,
    leafSource: (i) => leaves[i]!,
    chunkCacheSize: 1,
  });
  for (const leaf of leaves) tree.append(leaf);
  return tree;
}

function dataOf(n: number, salt = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new Uint8Array([i & 0xff, (i >> 8) & 0xff, salt]));
}

const hexes = (list: readonly Uint8Array[]) => list.map(toHex);

describe("RFC 9162 hashing: known answers", () => {
  it("empty root is SHA-256 of the empty string, in both hashers", () => {
    assert.equal(toHex(sha256Hasher.empty()), CT_EMPTY_ROOT);
    assert.equal(toHex(nodeHasher.empty()), CT_EMPTY_ROOT);
    assert.equal(toHex(treeOf([]).root()), CT_EMPTY_ROOT);
  });

  it("leaf = SHA-256(0x00 || d) and node = SHA-256(0x01 || l || r), noble and node:crypto alike", () => {
    const d = fromHex("0102");
    assert.equal(toHex(sha256Hasher.leaf(d)), toHex(sha(ZERO, d)));
    assert.equal(toHex(nodeHasher.leaf(d)), toHex(sha(ZERO, d)));
    const l = sha(fromHex("aa"));
    const r = sha(fromHex("bb"));
    assert.equal(toHex(sha256Hasher.node(l, r)), toHex(sha(ONE, l, r)));
    assert.equal(toHex(nodeHasher.node(l, r)), toHex(sha(ONE, l, r)));
    // The one-leaf CT root is the leaf hash of the empty string.
    assert.equal(toHex(sha256Hasher.leaf(new Uint8Array(0))), CT_ROOTS[0]);
    assert.equal(toHex(nodeHasher.leaf(new Uint8Array(0))), CT_ROOTS[0]);
  });

  it("reused input buffers (both hashers): any leaf size, earlier results untouched", () => {
    const results: Array<[Uint8Array, string]> = [];
    for (const size of [0, 1, 120, 1023, 1024, 1025, 5000, 3]) {
      const d = new Uint8Array(size).map((_, i) => (i * 7 + size) & 255);
      const leaf = nodeHasher.leaf(d);
      assert.equal(toHex(leaf), toHex(sha256Hasher.leaf(d)), `leaf of ${size} bytes`);
      const node = nodeHasher.node(leaf, sha(d));
      assert.equal(toHex(node), toHex(sha256Hasher.node(leaf, sha(d))));
      results.push([leaf, toHex(leaf)], [node, toHex(node)]);
    }
    for (const [bytes, hex] of results) assert.equal(toHex(bytes), hex);
  });

  for (const residentLevel of [0, 1, 2]) {
    it(`CT roots for sizes 1..8 (resident level ${residentLevel}), and the naive implementation agrees`, () => {
      const tree = treeOf(CT_LEAVES, residentLevel);
      for (let size = 1; size <= 8; size++) {
        assert.equal(toHex(tree.root(size)), CT_ROOTS[size - 1], `size ${size}`);
        assert.equal(toHex(mth(CT_LEAVES.slice(0, size))), CT_ROOTS[size - 1], `naive size ${size}`);
      }
    });

    it(`CT inclusion proofs are produced and verify (resident level ${residentLevel})`, () => {
      const tree = treeOf(CT_LEAVES, residentLevel);
      for (const [index, size, path] of CT_INCLUSION) {
        assert.deepEqual(hexes(tree.inclusionProof(index, size)), path, `inclusion ${index} of ${size}`);
        assert.deepEqual(hexes(naivePath(index, CT_LEAVES.slice(0, size))), path);
        const leaf = sha256Hasher.leaf(CT_LEAVES[index]!);
        assert.ok(
          verifyInclusion(
            leaf,
            index,
            size,
            path.map((h) => fromHex(h)),
            fromHex(CT_ROOTS[size - 1]!),
          ),
        );
        assert.equal(inclusionProofLength(index, size), path.length);
      }
    });

    it(`CT consistency proofs are produced and verify (resident level ${residentLevel})`, () => {
      const tree = treeOf(CT_LEAVES, residentLevel);
      for (const [size1, size2, proof] of CT_CONSISTENCY) {
        assert.deepEqual(
          hexes(tree.consistencyProof(size1, size2)),
          proof,
          `consistency ${size1} to ${size2}`,
        );
        assert.deepEqual(hexes(naiveConsistency(size1, CT_LEAVES.slice(0, size2))), proof);
        const ok = verifyConsistency(
          size1,
          size2,
          fromHex(CT_ROOTS[size1 - 1]!),
          fromHex(CT_ROOTS[size2 - 1]!),
          proof.map((h) => fromHex(h)),
        );
        assert.ok(ok, `verify ${size1} to ${size2}`);
      }
    });
  }
});

describe("MerkleTree against the naive implementation", () => {
  const data = dataOf(70);
  for (const residentLevel of [0, 2, 3]) {
    it(`every root, inclusion proof and consistency proof up to 70 leaves equals the naive one (R=${residentLevel})`, () => {
      const tree = treeOf(data, residentLevel);
      for (let size = 0; size <= data.length; size++) {
        const prefix = data.slice(0, size);
        assert.equal(toHex(tree.root(size)), toHex(mth(prefix)), `root ${size}`);
        for (let index = 0; index < size; index++) {
          assert.deepEqual(
            hexes(tree.inclusionProof(index, size)),
            hexes(naivePath(index, prefix)),
            `path ${index}/${size}`,
          );
        }
        for (let size1 = 0; size1 <= size; size1 += 3) {
          assert.deepEqual(
            hexes(tree.consistencyProof(size1, size)),
            hexes(naiveConsistency(size1, prefix)),
            `${size1}->${size}`,
          );
        }
      }
    });
  }

  it("the frontier gives the same root as the tree at every size", () => {
    const frontier = new MerkleFrontier(nodeHasher);
    assert.equal(toHex(frontier.root()), CT_EMPTY_ROOT);
    for (let i = 0; i < data.length; i++) {
      frontier.append(nodeHasher.leaf(data[i]!));
      assert.equal(frontier.size, i + 1);
      assert.equal(toHex(frontier.root()), toHex(mth(data.slice(0, i + 1))), `size ${i + 1}`);
    }
  });

  for (const residentLevel of [0, 2, 4]) {
    it(`truncate then re-append gives the naive roots and proofs (R=${residentLevel})`, () => {
      // The leaf source must always reflect the tree's current leaves, as the ledger's does.
      let current = [...data];
      const tree = new MerkleTree({
        hasher: nodeHasher,
        residentLevel,
        leafSource: (i) => nodeHasher.leaf(current[i]!),
        chunkCacheSize: 1,
      });
      for (const d of current) tree.append(nodeHasher.leaf(d));
      const other = dataOf(70, 9);
      // Cut in the tail, inside an older chunk, at a chunk boundary, and to empty.
      for (const cut of [69, 65, 40, 32, 17, 0]) {
        tree.truncate(cut);
        current = current.slice(0, cut);
        assert.equal(tree.size, cut);
        assert.equal(toHex(tree.root()), toHex(mth(current)), `after truncate to ${cut}`);
        for (const d of other.slice(cut, cut + 10)) {
          current.push(d);
          tree.append(nodeHasher.leaf(d));
        }
        assert.equal(toHex(tree.root()), toHex(mth(current)), `after re-append past ${cut}`);
        for (let index = 0; index < current.length; index += 7) {
          assert.deepEqual(hexes(tree.inclusionProof(index)), hexes(naivePath(index, current)));
        }
        tree.truncate(cut);
        current = current.slice(0, cut);
        for (const d of data.slice(cut)) {
          current.push(d);
          tree.append(nodeHasher.leaf(d));
        }
        assert.equal(toHex(tree.root()), toHex(mth(data)));
      }
    });
  }
});

describe("Merkle proofs: properties", () => {
  const fixture = dataOf(300, 1);
  const tree = treeOf(fixture, 3);
  const roots = Array.from({ length: fixture.length + 1 }, (_, size) => tree.root(size));
  const leafHashes = fixture.map((d) => sha256Hasher.leaf(d));

  const inclusionCase = fc
    .integer({ min: 1, max: fixture.length })
    .chain((size) => fc.record({ size: fc.constant(size), index: fc.integer({ min: 0, max: size - 1 }) }));

  it("every inclusion proof verifies (noble verifier, node-built tree)", () => {
    fc.assert(
      fc.property(inclusionCase, ({ size, index }) => {
        const path = tree.inclusionProof(index, size);
        return verifyInclusion(leafHashes[index]!, index, size, path, roots[size]!);
      }),
    );
  });

  it("any mutation of an inclusion proof fails", () => {
    fc.assert(
      fc.property(
        inclusionCase,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("flip", "index", "size", "leaf", "drop", "extra", "root"),
        ({ size, index }, pick, bit, mutation) => {
          const path = tree.inclusionProof(index, size);
          const leaf = leafHashes[index]!;
          const root = roots[size]!;
          switch (mutation) {
            case "flip": {
              if (path.length === 0) return true;
              const i = pick % path.length;
              const bad = path.map((p) => p.slice());
              bad[i]![bit % 32]! ^= 1 << (bit % 8);
              return !verifyInclusion(leaf, index, size, bad, root);
            }
            case "index":
              return (
                size === 1 ||
                !verifyInclusion(leaf, (index + 1 + (pick % (size - 1))) % size, size, path, root)
              );
            case "size": {
              // The same path presented as a proof for another (signed) tree size.
              const other = index + 1 + (pick % (fixture.length - index));
              return other === size || !verifyInclusion(leaf, index, other, path, roots[other]!);
            }
            case "leaf":
              return !verifyInclusion(leafHashes[(index + 1) % fixture.length]!, index, size, path, root);
            case "drop":
              return path.length === 0 || !verifyInclusion(leaf, index, size, path.slice(0, -1), root);
            case "extra":
              return !verifyInclusion(leaf, index, size, [...path, root], root);
            case "root":
              return !verifyInclusion(leaf, index, size, path, roots[size - 1]!);
          }
        },
      ),
    );
  });

  const consistencyCase = fc
    .integer({ min: 1, max: fixture.length })
    .chain((size2) => fc.record({ size2: fc.constant(size2), size1: fc.integer({ min: 1, max: size2 }) }));

  it("every consistency proof verifies", () => {
    fc.assert(
      fc.property(consistencyCase, ({ size1, size2 }) =>
        verifyConsistency(size1, size2, roots[size1]!, roots[size2]!, tree.consistencyProof(size1, size2)),
      ),
    );
  });

  it("any mutation of a consistency proof fails", () => {
    fc.assert(
      fc.property(
        consistencyCase,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("flip", "size1", "size2", "root1", "root2", "drop", "extra"),
        ({ size1, size2 }, pick, bit, mutation) => {
          const proof = tree.consistencyProof(size1, size2);
          const r1 = roots[size1]!;
          const r2 = roots[size2]!;
          switch (mutation) {
            case "flip": {
              if (proof.length === 0) return true;
              const bad = proof.map((p) => p.slice());
              bad[pick % bad.length]![bit % 32]! ^= 1 << (bit % 8);
              return !verifyConsistency(size1, size2, r1, r2, bad);
            }
            case "size1": {
              const other = 1 + (pick % size2);
              return other === size1 || !verifyConsistency(other, size2, roots[other]!, r2, proof);
            }
            case "size2": {
              const other = size1 + (pick % (fixture.length - size1 + 1));
              return other === size2 || !verifyConsistency(size1, other, r1, roots[other]!, proof);
            }
            case "root1":
              return !verifyConsistency(size1, size2, roots[size1 - 1]!, r2, proof);
            case "root2":
              return size1 === size2 ? true : !verifyConsistency(size1, size2, r1, roots[size2 - 1]!, proof);
            case "drop":
              return proof.length === 0 || !verifyConsistency(size1, size2, r1, r2, proof.slice(1));
            case "extra":
              return !verifyConsistency(size1, size2, r1, r2, [...proof, r2]);
          }
        },
      ),
    );
  });

  it("verifiers refuse hostile sizes, indexes and hashes without throwing", () => {
    const leaf = leafHashes[0]!;
    const root = roots[4]!;
    const path = tree.inclusionProof(0, 4);
    const hostile: unknown[] = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, "1", null];
    for (const bad of hostile) {
      assert.equal(verifyInclusion(leaf, bad as number, 4, path, root), false);
      assert.equal(verifyInclusion(leaf, 0, bad as number, path, root), false);
      assert.equal(verifyConsistency(bad as number, 4, root, root, []), false);
      assert.equal(verifyConsistency(2, bad as number, root, root, []), false);
    }
    assert.equal(verifyInclusion(leaf.subarray(0, 31), 0, 4, path, root), false);
    assert.equal(verifyInclusion(leaf, 0, 4, [...path.slice(0, 1), new Uint8Array(33)], root), false);
    assert.equal(verifyInclusion(leaf, 0, 4, "nope" as unknown as Uint8Array[], root), false);
    assert.equal(verifyInclusion(leaf, 4, 4, path, root), false);
    assert.equal(
      rootFromInclusionProof(
        leaf,
        0,
        4,
        Array.from({ length: 65 }, () => leaf),
      ),
      undefined,
    );
    // Sizes 0 and equal sizes: only the empty proof, and (for equal sizes) equal roots.
    assert.ok(verifyConsistency(0, 4, sha256Hasher.empty(), root, []));
    assert.equal(verifyConsistency(0, 4, sha256Hasher.empty(), root, [root]), false);
    assert.ok(verifyConsistency(4, 4, root, root, []));
    assert.equal(verifyConsistency(4, 4, root, roots[3]!, []), false);
    assert.equal(verifyConsistency(5, 4, root, root, []), false);
    assert.equal(verifyConsistency(2, 4, roots[2]!, root, []), false);
  });
});

describe("MerkleTree memory bound", () => {
  it("keeps ~64/2^R bytes per leaf, recomputing old chunks from the leaf source", () => {
    const n = 20_000;
    const leaves = Array.from({ length: n }, (_, i) => sha(new Uint8Array([i & 0xff, i >> 8, i >> 16])));
    let reads = 0;
    const bounded = new MerkleTree({
      hasher: nodeHasher,
      residentLevel: 6,
      leafSource: (i) => {
        reads++;
        return leaves[i]!;
      },
    });
    const full = new MerkleTree({ hasher: nodeHasher, residentLevel: 0 });
    for (const leaf of leaves) {
      bounded.append(leaf);
      full.append(leaf);
    }
    assert.equal(reads, 0, "appending never reads the source");
    assert.ok(full.memoryBytes() >= 64 * n, `full tree holds every node (${full.memoryBytes()} bytes)`);
    assert.ok(bounded.memoryBytes() <= 4 * n, `bounded tree: ${bounded.memoryBytes()} bytes for ${n} leaves`);
    assert.deepEqual(hexes(bounded.inclusionProof(123, 15_000)), hexes(full.inclusionProof(123, 15_000)));
    // Two old chunks are recomputed: the leaf's own, and the one holding the small perfect
    // subtrees of the ragged right edge of a 15000-leaf tree (leaves 14976..14999).
    assert.equal(reads, 128);
    assert.deepEqual(hexes(bounded.consistencyProof(777, 19_999)), hexes(full.consistencyProof(777, 19_999)));
    assert.equal(toHex(bounded.root(12_345)), toHex(full.root(12_345)));
    assert.deepEqual(hexes(bounded.inclusionProof(n - 3)), hexes(full.inclusionProof(n - 3)));
  });
});
