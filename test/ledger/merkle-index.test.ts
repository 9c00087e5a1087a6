/**
 * MerkleTree's index arithmetic (shiftDown/shiftUp/frontierIndex, exact up to 2^53 − 1) and the
 * tree itself against a plain RFC 9162 reference written with BigInt, for random sizes, bases
 * (trees started from a frontier) up to 2^53, compactions and truncations. That indices below
 * 2^31 stay small integers is merkle-smi.test.ts (its own process: this file's large values
 * would teach V8 doubles).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { nodeHasher } from "../../runtime/ledger/ledger.js";
import { frontierIndex, MerkleTree, pow2, shiftDown, shiftUp } from "../../runtime/ledger/merkle-tree.js";
import { AssertionFailure } from "../../sdk/assert.js";

const MAX_SMI = 2 ** 31 - 1;
const b = BigInt;

/** Safe integers with weight at the edges that matter: small, around 2^31 and 2^32, near 2^53. */
const size = fc.oneof(
  fc.integer({ min: 0, max: 5_000 }),
  fc.integer({ min: MAX_SMI - 300, max: MAX_SMI + 300 }),
  fc.integer({ min: 2 ** 32 - 300, max: 2 ** 32 + 300 }),
  fc.integer({ min: Number.MAX_SAFE_INTEGER - 300, max: Number.MAX_SAFE_INTEGER }),
  fc.maxSafeNat(),
);
const level = fc.integer({ min: 0, max: 52 });

describe("MerkleTree index arithmetic", () => {
  it("shiftDown is ⌊value / 2^level⌋", () => {
    fc.assert(
      fc.property(size, level, (value, l) => {
        const got = shiftDown(value, l);
        assert.equal(got, Number(b(value) >> b(l)));
      }),
      { numRuns: 2_000 },
    );
  });

  it("shiftUp is value · 2^level for safe products, pow2 is 2^level", () => {
    fc.assert(
      fc.property(size, level, (value, l) => {
        const operand = Number(b(value) >> b(l)); // so that the product is a safe integer
        const got = shiftUp(operand, l);
        assert.equal(got, Number(b(operand) << b(l)));
      }),
      { numRuns: 2_000 },
    );
    for (let l = 0; l <= 52; l++) {
      assert.equal(pow2(l), Number(1n << b(l)));
    }
  });

  it("frontierIndex is the compact range's node at each set bit, −1 elsewhere", () => {
    fc.assert(
      fc.property(size, (n) => {
        const expected = referenceFrontier(b(n));
        const got: Array<[number, number]> = [];
        for (let l = 52; l >= 0; l--) {
          const index = frontierIndex(n, l);
          if (index >= 0) got.push([l, index]);
        }
        assert.deepEqual(
          got,
          expected.map(([start, width]) => [log2(width), Number(start / width)]),
        );
      }),
      { numRuns: 2_000 },
    );
  });
});

/** One operation on a tree: append leaves, compact at a committed size, truncate. */
type Op =
  | { readonly kind: "append"; readonly count: number }
  | { readonly kind: "compact"; readonly at: number }
  | { readonly kind: "truncate"; readonly to: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.integer({ min: 1, max: 90 }).map((count) => ({ kind: "append", count }) as const),
  },
  {
    weight: 1,
    arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((at) => ({ kind: "compact", at }) as const),
  },
  {
    weight: 1,
    arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((to) => ({ kind: "truncate", to }) as const),
  },
);

describe("MerkleTree against a BigInt RFC 9162 reference", () => {
  it("frontier, roots, inclusion and consistency proofs agree for random sizes and bases up to 2^53", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(0), size),
        fc.constantFrom(0, 1, 2, 5),
        fc.array(op, { minLength: 1, maxLength: 8 }),
        fc.array(
          fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
          {
            minLength: 4,
            maxLength: 10,
          },
        ),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (rawBase, residentLevel, ops, queries, seed) => {
          const base = Math.min(rawBase, Number.MAX_SAFE_INTEGER - 800);
          const ref = new Reference(b(base), seed);
          const tree = new MerkleTree({
            hasher: nodeHasher,
            residentLevel,
            leafSource: (i) => {
              if (i < base) throw new AssertionFailure(`leaf ${i} is before the base ${base}`);
              return ref.leaf(b(i));
            },
          });
          assert.equal(tree.startAt(base, ref.frontierHashes(b(base))), true);
          assert.equal(tree.size, base);
          for (const step of ops) {
            if (step.kind === "append") {
              for (let i = 0; i < step.count; i++) tree.append(ref.append());
            } else if (step.kind === "compact") {
              tree.compact(tree.base + Math.floor(step.at * (tree.size - tree.base)));
            } else {
              const to = tree.base + Math.floor(step.to * (tree.size - tree.base));
              tree.truncate(to);
              ref.truncate(b(to));
            }
            assert.equal(b(tree.size), ref.size);
          }
          const n = tree.size;
          const pick = (f: number, low: number, high: number) =>
            low + Math.floor(f * (high - low + 1 - 1e-9));
          for (const [f1, f2] of queries) {
            const s = pick(f1, base, n);
            assert.deepEqual(tree.frontier(s), ref.frontierHashes(b(s)), `frontier(${s})`);
            assert.deepEqual(tree.root(s), ref.root(b(s)), `root(${s})`);
            if (s > base) {
              const i = pick(f2, base, s - 1);
              assert.deepEqual(tree.inclusionProof(i, s), ref.inclusionProof(b(i), b(s)), `path(${i}, ${s})`);
            }
            const s1 = pick(f2, base, s);
            assert.deepEqual(
              tree.consistencyProof(s1, s),
              ref.consistencyProof(b(s1), b(s)),
              `proof(${s1}, ${s})`,
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a tree of 0..300 leaves from the start agrees at every size", () => {
    for (const residentLevel of [0, 3, 5]) {
      const ref = new Reference(0n, residentLevel);
      const tree = new MerkleTree({ hasher: nodeHasher, residentLevel, leafSource: (i) => ref.leaf(b(i)) });
      for (let n = 0; n <= 300; n++) {
        assert.deepEqual(tree.frontier(), ref.frontierHashes(b(n)));
        assert.deepEqual(tree.root(), ref.root(b(n)));
        if (n > 0) assert.deepEqual(tree.inclusionProof(n - 1), ref.inclusionProof(b(n - 1), b(n)));
        if (n % 64 === 63) tree.compact(n - 10);
        tree.append(ref.append());
      }
    }
  });
});

/**
 * The reference: RFC 9162 §2.1 MTH, PATH and PROOF by their recursive definitions, with BigInt
 * indices. Leaves before `base` are unknown: the perfect subtrees of base's compact range are
 * made-up hashes (as a tree started from a snapshot's frontier sees them), any other node that
 * needs a leaf before the base throws.
 */
class Reference {
  readonly #base: bigint;
  readonly #frontier = new Map<string, Uint8Array>();
  readonly #leaves: Uint8Array[] = [];
  readonly #seed: number;

  constructor(base: bigint, seed: number) {
    this.#base = base;
    this.#seed = seed;
    for (const [start, width] of referenceFrontier(base))
      this.#frontier.set(
        `${start}+${width}`,
        nodeHasher.leaf(new TextEncoder().encode(`frontier ${seed} ${start}`)),
      );
  }

  get size(): bigint {
    return this.#base + b(this.#leaves.length);
  }

  leaf(index: bigint): Uint8Array {
    assert.ok(index >= this.#base && index < this.size, `leaf ${index} unknown`);
    return this.#leaves[Number(index - this.#base)]!;
  }

  append(): Uint8Array {
    const hash = nodeHasher.leaf(new TextEncoder().encode(`leaf ${this.#seed} ${this.size}`));
    this.#leaves.push(hash);
    return hash;
  }

  truncate(size: bigint): void {
    this.#leaves.length = Number(size - this.#base);
  }

  /** MTH(D[start:end]). */
  mth(start: bigint, end: bigint): Uint8Array {
    const n = end - start;
    if (n === 0n) return nodeHasher.empty();
    const known = this.#frontier.get(`${start}+${n}`);
    if (known !== undefined) return known;
    if (n === 1n) return this.leaf(start);
    const k = largestPowerBelow(n);
    return nodeHasher.node(this.mth(start, start + k), this.mth(start + k, end));
  }

  root(size: bigint): Uint8Array {
    return this.mth(0n, size);
  }

  frontierHashes(size: bigint): Uint8Array[] {
    return referenceFrontier(size).map(([start, width]) => this.mth(start, start + width));
  }

  /** PATH(m, D[start:end]), leaf first. */
  inclusionProof(m: bigint, size: bigint, start = 0n): Uint8Array[] {
    const n = size - start;
    if (n === 1n) return [];
    const k = largestPowerBelow(n);
    return m - start < k
      ? [...this.inclusionProof(m, start + k, start), this.mth(start + k, size)]
      : [...this.inclusionProof(m, size, start + k), this.mth(start, start + k)];
  }

  /** PROOF(m, D[0:size]). */
  consistencyProof(m: bigint, size: bigint): Uint8Array[] {
    if (m === 0n || m === size) return [];
    const sub = (m: bigint, start: bigint, end: bigint, whole: boolean): Uint8Array[] => {
      const n = end - start;
      if (m === n) return whole ? [] : [this.mth(start, end)];
      const k = largestPowerBelow(n);
      return m <= k
        ? [...sub(m, start, start + k, whole), this.mth(start + k, end)]
        : [...sub(m - k, start + k, end, false), this.mth(start, start + k)];
    };
    return sub(m, 0n, size, true);
  }
}

/** The compact range of [0, size): [start, width] of each perfect subtree, largest first. */
function referenceFrontier(size: bigint): Array<[bigint, bigint]> {
  const out: Array<[bigint, bigint]> = [];
  let start = 0n;
  for (let width = 1n << 52n; width > 0n; width >>= 1n) {
    if (size - start >= width) {
      out.push([start, width]);
      start += width;
    }
  }
  return out;
}

/** The largest power of two < n (n ≥ 2). */
function largestPowerBelow(n: bigint): bigint {
  let k = 1n;
  while (k * 2n < n) k *= 2n;
  return k;
}

function log2(width: bigint): number {
  return width.toString(2).length - 1;
}
