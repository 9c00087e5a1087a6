/**
 * Merkle tree hashing and proof verification of RFC 9162 (Certificate Transparency v2, section
 * 2.1), over SHA-256. Browser-safe: @noble/hashes by default, or any SHA-256 the caller hands in
 * (node processes pass node:crypto's, which is faster and gives the same bytes).
 *
 * - Empty tree: `SHA-256("")`.
 * - Leaf:       `SHA-256(0x00 || data)`.
 * - Node:       `SHA-256(0x01 || left || right)`.
 *
 * The verifiers below follow the RFC's algorithms step by step (2.1.3.2 and 2.1.4.2). They never
 * throw on hostile input: a malformed size, index or path is simply "does not verify".
 * Building trees and proofs is node-side (runtime/ledger/merkle-tree.ts); apps only verify.
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { equalBytes } from "./bytes.js";

/** Bytes of every hash in the tree. */
export const HASH_BYTES = 32;

/** Longest proof path accepted: a tree of 2^53 leaves (the largest safe size) is 53 levels deep. */
export const MAX_PROOF_HASHES = 64;

/** A SHA-256 implementation: bytes in, 32 bytes out. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/** The three hash functions of RFC 9162 over one SHA-256 implementation. */
export interface MerkleHasher {
  /** Root of the empty tree, `SHA-256("")`; a fresh copy on every call. */
  empty(): Uint8Array;
  /** `SHA-256(0x00 || data)`. */
  leaf(data: Uint8Array): Uint8Array;
  /** `SHA-256(0x01 || left || right)`; both inputs must be 32 bytes. */
  node(left: Uint8Array, right: Uint8Array): Uint8Array;
}

/** Leaf data (a ledger leaf is ~120 bytes) up to this size is hashed from a reused buffer. */
const MAX_SCRATCH_LEAF_BYTES = 1024;

/**
 * Builds a hasher over `hash`. Example: `createMerkleHasher(sha256)` with node:crypto's sha256 on
 * a node; `sha256Hasher` (noble) everywhere else. The inputs (`0x00 || data`, `0x01 || left ||
 * right`) are written into buffers the hasher reuses (a node hashes about three times per entry),
 * so `hash` must read its input before it returns and return an array of its own (both do).
 */
export function createMerkleHasher(hash: Sha256): MerkleHasher {
  const leafInput = new Uint8Array(1 + MAX_SCRATCH_LEAF_BYTES);
  const nodeInput = new Uint8Array(1 + 2 * HASH_BYTES);
  nodeInput[0] = 0x01;
  return {
    empty: () => hash(new Uint8Array(0)),
    leaf(data) {
      const input = data.length <= MAX_SCRATCH_LEAF_BYTES ? leafInput : new Uint8Array(1 + data.length);
      input[0] = 0x00;
      input.set(data, 1);
      return hash(input.subarray(0, 1 + data.length));
    },
    node(left, right) {
      if (left.length !== HASH_BYTES || right.length !== HASH_BYTES)
        throw new RangeError("Merkle node inputs are 32 bytes");
      nodeInput.set(left, 1);
      nodeInput.set(right, 1 + HASH_BYTES);
      return hash(nodeInput);
    },
  };
}

/** The portable hasher (@noble/hashes SHA-256). */
export const sha256Hasher: MerkleHasher = createMerkleHasher(nobleSha256);

/**
 * Recomputes the root from an inclusion proof (RFC 9162 2.1.3.2): the leaf hash at `leafIndex`
 * (0-based) in a tree of `treeSize` leaves, with `path` listed from the leaf upward. Returns
 * `undefined` when the index, size or path cannot form a valid proof (wrong length, a hash that is
 * not 32 bytes, index out of range). Compare the result with a trusted root yourself, or use
 * `verifyInclusion`.
 *
 * Example: `rootFromInclusionProof(sha256Hasher.leaf(data), 5, 8, path)`.
 */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  leafIndex: number,
  treeSize: number,
  path: readonly Uint8Array[],
  hasher: MerkleHasher = sha256Hasher,
): Uint8Array | undefined {
  if (!isHash(leafHash) || !isCount(leafIndex) || !isCount(treeSize) || leafIndex >= treeSize)
    return undefined;
  if (!Array.isArray(path) || path.length > MAX_PROOF_HASHES) return undefined;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    if (!isHash(p) || sn === 0) return undefined;
    if (isOdd(fn) || fn === sn) {
      r = hasher.node(p, r);
      // Skip the levels where this subtree has no right sibling (the ragged right edge).
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = hasher.node(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 ? r : undefined;
}

/**
 * True when `path` proves that `leafHash` is leaf `leafIndex` of the tree of `treeSize` leaves
 * whose root is `root` (RFC 9162 2.1.3.2). Never throws.
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  leafIndex: number,
  treeSize: number,
  path: readonly Uint8Array[],
  root: Uint8Array,
  hasher: MerkleHasher = sha256Hasher,
): boolean {
  const computed = rootFromInclusionProof(leafHash, leafIndex, treeSize, path, hasher);
  return computed !== undefined && isHash(root) && equalBytes(computed, root);
}

/**
 * True when `path` proves that the tree of `size1` leaves with root `root1` is a prefix of the
 * tree of `size2` leaves with root `root2` (RFC 9162 2.1.4.2). Sizes 0 and equal sizes need an
 * empty path (and, for equal sizes, equal roots). Never throws.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  path: readonly Uint8Array[],
  hasher: MerkleHasher = sha256Hasher,
): boolean {
  if (!isCount(size1) || !isCount(size2) || size1 > size2 || !isHash(root1) || !isHash(root2)) return false;
  if (!Array.isArray(path) || path.length > MAX_PROOF_HASHES || !path.every(isHash)) return false;
  if (size1 === 0) return path.length === 0 && equalBytes(root1, hasher.empty());
  if (size1 === size2) return path.length === 0 && equalBytes(root1, root2);
  if (path.length === 0) return false;
  // Step 2: when size1 is a power of two, the old root is itself the first node of the proof.
  const nodes = isPowerOfTwo(size1) ? [root1, ...path] : [...path];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = nodes[0]!;
  let sr = nodes[0]!;
  for (let i = 1; i < nodes.length; i++) {
    const c = nodes[i]!;
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = hasher.node(c, fr);
      sr = hasher.node(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = hasher.node(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(fr, root1) && equalBytes(sr, root2);
}

/** Number of hashes in the inclusion proof of `leafIndex` in a tree of `treeSize` leaves. */
export function inclusionProofLength(leafIndex: number, treeSize: number): number {
  let length = 0;
  let fn = leafIndex;
  let sn = treeSize - 1;
  while (sn > 0) {
    if (isOdd(fn) || fn !== sn) length++;
    fn = half(fn);
    sn = half(sn);
  }
  return length;
}

// Sizes reach past 2^32, so no 32-bit bitwise operators below: plain arithmetic is exact up to 2^53.
function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && !isOdd(n)) n = half(n);
  return n === 1;
}

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_BYTES;
}
