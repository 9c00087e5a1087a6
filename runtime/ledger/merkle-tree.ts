/**
 * The incremental RFC 9162 Merkle tree over ledger entries: append in O(log n), the root of the
 * current or any past size, inclusion proofs and consistency proofs for any past size, and
 * truncation (consensus rolls back uncommitted entries).
 *
 * Memory-bounded design. The tree stores hashes of *complete* subtrees ("nodes"): node (L, j)
 * covers leaves [j·2^L, (j+1)·2^L). Every hash the RFC needs is either such a node or is combined
 * from O(log n) of them. Nodes are kept in flat byte arrays (32 bytes each, no per-object cost)
 * but only for levels ≥ R, the *resident level*:
 *
 *   resident bytes ≈ 64·n / 2^R        (levels R, R+1, ... hold n/2^R + n/2^(R+1) + ... nodes)
 *
 * Below level R the tree keeps only the current partial chunk of 2^R leaves (the "tail"). A node
 * below level R in an older chunk is recomputed on demand from that chunk's 2^R leaf hashes, which
 * come from a `LeafHashSource` (the ledger store); the last few such chunks are cached. With the
 * default R = 5, 10 million entries cost ~20 MB, and a proof for an old entry reads 32 entries;
 * proofs for recent entries (the tail) and all roots need no reads at all. R = 0 keeps every node
 * in memory and needs no source (64 bytes per leaf).
 *
 * Bounded by compaction. `compact(size)` (the ledger calls it with its commit point) moves the
 * in-memory nodes wholly before `size` out: the tree keeps `frontier(size)` (O(log n) hashes) and
 * hands the dropped nodes (levels ≥ R) to the optional `MerkleNodeArchive` (a file: one pread per
 * node later). A node before the compaction point is then read from the frontier, a bounded
 * cache, the archive, or recomputed from its children (down to the leaf source). Memory is then
 * O(entries since the last compaction + log n), whatever the ledger's length.
 */
import { assert } from "../../sdk/assert.js";
import { HASH_BYTES, type MerkleHasher } from "../../sdk/merkle.js";

/** Returns the leaf hash of leaf `index` (0-based), for leaves older than the in-memory tail. */
export type LeafHashSource = (index: number) => Uint8Array;

/**
 * Where compacted nodes go (runtime/ledger/merkle-archive.ts keeps them in files). Node (L, j)
 * covers leaves [j·2^L, (j+1)·2^L); only complete nodes of committed leaves are put, so a node
 * once put never changes. `get` may miss (never put, or lost in a crash): the tree recomputes.
 */
export interface MerkleNodeArchive {
  /** The node's hash, or undefined when the archive does not hold it. */
  get(level: number, index: number): Uint8Array | undefined;
  /** Stores nodes `firstIndex`, `firstIndex + 1`, ... of `level` (`hashes`: 32 bytes each, a copy is taken). */
  put(level: number, firstIndex: number, hashes: Uint8Array): void;
  /** Forgets every node (it contradicts the tree: another history). */
  clear(): void;
}

export interface MerkleTreeOptions {
  readonly hasher: MerkleHasher;
  /** Levels below this are not kept for old chunks (see the module comment). Default 5; 0..20. */
  readonly residentLevel?: number;
  /** Required when `residentLevel` > 0. */
  readonly leafSource?: LeafHashSource;
  /** How many recomputed chunks to keep (each 2^R · 64 bytes). Default 32. */
  readonly chunkCacheSize?: number;
  /** Where `compact` moves nodes to (default: none, compacted nodes are recomputed from leaves). */
  readonly archive?: MerkleNodeArchive;
}

/** Default resident level: 32-leaf chunks, ~2 bytes of memory per entry. */
export const DEFAULT_RESIDENT_LEVEL = 5;

/**
 * An append-only (plus truncate) Merkle tree. Not thread-safe; one owner (the `Ledger`). Misuse
 * (an index beyond the size, a hash of the wrong length) is a bug and fails an assertion.
 */
export class MerkleTree {
  readonly #hasher: MerkleHasher;
  readonly #resident: number;
  /** 2^R, leaves per chunk. */
  readonly #chunkLeaves: number;
  readonly #source: LeafHashSource | undefined;
  readonly #cacheSize: number;
  readonly #archive: MerkleNodeArchive | undefined;
  #size = 0;
  /** Levels ≥ R: every complete node. Index L; entries below R stay empty. */
  readonly #levels: HashArray[] = [];
  /** Levels < R: the nodes of the current partial chunk, which starts at leaf `#tailStart`. */
  readonly #tail: HashArray[] = [];
  #tailStart = 0;
  /** Recomputed old chunks: chunk index → its levels 0..R-1. Insertion order = LRU order. */
  readonly #chunks = new Map<number, HashArray[]>();
  /**
   * A tree started at a base (`startAt`) or compacted (`compact`): nodes wholly before `#base`
   * are not resident; they are the frontier there (`#frontier`, "level:index" → hash, O(log n)),
   * in the archive, or recomputed from the leaf source when the source has those leaves.
   */
  #base: number;
  readonly #frontier = new Map<string, Uint8Array>();
  /** `frontier(#base)` after the last `compact` (empty before). */
  #compacted: Map<string, Uint8Array>;
  /** Recomputed nodes wholly before the base (levels ≥ R), bounded; insertion order = LRU order. */
  readonly #history = new Map<string, Uint8Array>();

  constructor(options: MerkleTreeOptions) {
    const resident = options.residentLevel ?? DEFAULT_RESIDENT_LEVEL;
    assert(
      Number.isInteger(resident) && resident >= 0 && resident <= 20,
      "residentLevel must be an integer in 0..20",
    );
    assert(
      resident === 0 || options.leafSource !== undefined,
      "a leafSource is required when residentLevel > 0",
    );
    this.#hasher = options.hasher;
    this.#resident = resident;
    this.#chunkLeaves = pow2(resident);
    this.#source = options.leafSource;
    this.#cacheSize = Math.max(1, options.chunkCacheSize ?? 32);
    this.#archive = options.archive;
    for (let level = 0; level < resident; level++) this.#tail.push(new HashArray());
    // Set here, not in their declarations, so V8 does not track them as constant until the first
    // `compact` reassigns them: that store would deoptimize `append`, `#node`, `#store`, `#range`
    // and what inlined them (docs/performance.md, "Steady-state TurboFan on the write path").
    this.#base = 0;
    this.#compacted = new Map<string, Uint8Array>();
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /** Appends one leaf hash (32 bytes, already `hasher.leaf(data)`). */
  append(leafHash: Uint8Array): void {
    assert(leafHash.length === HASH_BYTES, "a leaf hash is 32 bytes");
    let index = this.#size;
    this.#store(0, index, leafHash);
    this.#size++;
    // Each time the new node is a right child, its parent is now complete. The right child is
    // the hash in hand (the leaf, then each parent): only the left one is read from the tree.
    let level = 0;
    let right = leafHash;
    while (index % 2 === 1) {
      right = this.#hasher.node(this.#node(level, index - 1), right);
      index = (index - 1) / 2;
      level++;
      this.#store(level, index, right);
    }
    if (this.#resident > 0 && this.#size - this.#tailStart === this.#chunkLeaves) {
      // The chunk is complete: its root now lives at level R; drop its lower levels.
      this.#tailStart = this.#size;
      for (const level of this.#tail) level.reset(0);
    }
  }

  /** Drops every leaf at index ≥ `size` (keeps the first `size` leaves). */
  truncate(size: number): void {
    assert(Number.isSafeInteger(size) && size >= 0 && size <= this.#size, "truncate size out of range");
    assert(size >= this.#base, "a tree started at a base is never truncated below it");
    if (size === this.#size) return;
    for (let level = this.#resident; level < this.#levels.length; level++) {
      this.#levels[level]!.truncate(shiftDown(size, level));
    }
    const chunkLeaves = this.#chunkLeaves;
    const newTailStart = this.#chunkStart(size);
    for (const chunk of [...this.#chunks.keys()]) {
      if (chunk * chunkLeaves >= newTailStart) this.#chunks.delete(chunk);
    }
    if (this.#resident === 0) {
      this.#size = size;
      return;
    }
    if (newTailStart === this.#tailStart) {
      for (let level = 0; level < this.#resident; level++) {
        this.#tail[level]!.truncate(shiftDown(size, level) - shiftDown(this.#tailStart, level));
      }
      this.#size = size;
      return;
    }
    // The cut falls in an older chunk: rebuild that chunk's partial tail from the leaf source
    // (from the base when the chunk holds it: the leaves before the base may be absent).
    const from = Math.max(newTailStart, this.#base);
    const leaves: Uint8Array[] = [];
    for (let index = from; index < size; index++) leaves.push(this.#leafFromSource(index));
    this.#resetTail(newTailStart);
    this.#size = from;
    for (const leaf of leaves) this.append(leaf);
  }

  /** Empties the tail to start at leaf `tailStart`, leaving room for what the base frontier knows. */
  #resetTail(tailStart: number): void {
    assert(tailStart % this.#chunkLeaves === 0, "the tail starts at a whole chunk");
    this.#tailStart = tailStart;
    for (let level = 0; level < this.#resident; level++) {
      const first = Math.max(0, shiftDown(this.#base, level) - shiftDown(tailStart, level));
      this.#tail[level]!.reset(first);
    }
  }

  /** The leaf count before the first leaf this tree can prove from its own nodes (0: all). */
  get base(): number {
    return this.#base;
  }

  /**
   * RFC 9162's compact range of the first `size` leaves (default: all): the roots of the perfect
   * subtrees that decompose [0, size), left to right, largest first; one per set bit of `size`,
   * so O(log n) hashes. What `startAt` needs to continue the tree.
   */
  frontier(size: number = this.#size): Uint8Array[] {
    this.#checkSize(size);
    const out: Uint8Array[] = [];
    for (let level = MAX_LEVEL; level >= 0; level--) {
      const index = frontierIndex(size, level);
      if (index >= 0) out.push(copy(this.#node(level, index)));
    }
    return out;
  }

  /**
   * Starts an empty tree at `size` leaves from `frontier(size)` of another tree: appends, roots
   * of sizes ≥ `size` and proofs of leaves ≥ `size` need nothing else. Nodes wholly before `size`
   * that are not frontier nodes (proofs of older leaves, roots of older sizes) are recomputed
   * from the leaf source, which must then have those leaves. Returns false (tree left empty)
   * when the frontier does not have one 32-byte hash per set bit of `size`.
   */
  startAt(size: number, frontier: readonly Uint8Array[]): boolean {
    assert(this.#size === 0 && this.#base === 0, "startAt starts an empty tree");
    if (!Number.isSafeInteger(size) || size < 0) return false;
    const nodes: Array<[number, number]> = [];
    for (let level = MAX_LEVEL; level >= 0; level--) {
      const index = frontierIndex(size, level);
      if (index >= 0) nodes.push([level, index]);
    }
    if (
      frontier.length !== nodes.length ||
      !frontier.every((h) => h instanceof Uint8Array && h.length === HASH_BYTES)
    )
      return false;
    this.#base = size;
    this.#size = size;
    nodes.forEach(([level, index], i) => {
      this.#frontier.set(`${level}:${index}`, copy(frontier[i]!));
    });
    // An archive left by another history (a data dir reused) would hand out wrong nodes.
    if (
      nodes.some(([level, index], i) => {
        const held = level >= this.#resident ? this.#archive?.get(level, index) : undefined;
        return held !== undefined && !equal(held, frontier[i]!);
      })
    )
      this.#archive?.clear();
    this.#resetTail(this.#chunkStart(size));
    return true;
  }

  /**
   * Drops from memory every node wholly before `size` rounded down to a whole chunk (2^R leaves),
   * keeping `frontier` there; dropped nodes of levels ≥ R go to the archive first. Roots, proofs
   * and appends are unchanged; a node before that point costs an archive read or a recomputation
   * (see the module comment). The tree can no longer be truncated below that point: call it only
   * with leaves that are never rolled back (committed). Returns the new base (unchanged when
   * `size` is not past it).
   */
  compact(size: number): number {
    this.#checkSize(size);
    const point = this.#chunkStart(size);
    if (point <= this.#base) return this.#base;
    const frontier = new Map<string, Uint8Array>();
    for (let level = MAX_LEVEL; level >= 0; level--) {
      const index = frontierIndex(point, level);
      if (index >= 0) frontier.set(`${level}:${index}`, copy(this.#node(level, index)));
    }
    for (let level = this.#resident; level < this.#levels.length; level++) {
      const nodes = this.#levels[level]!;
      const end = Math.min(shiftDown(point, level), nodes.length);
      if (end <= nodes.first) continue;
      this.#archive?.put(level, nodes.first, nodes.span(nodes.first, end));
      nodes.dropBefore(end);
    }
    for (const chunk of [...this.#chunks.keys()])
      if ((chunk + 1) * this.chunkLeaves <= point) this.#chunks.delete(chunk);
    // The frontier `startAt` got stays (leaves before it may be absent from the source).
    this.#compacted = frontier;
    this.#base = point;
    return point;
  }

  /** Root of the tree of the first `size` leaves (default: all). */
  root(size: number = this.#size): Uint8Array {
    this.#checkSize(size);
    if (size === 0) return this.#hasher.empty();
    return copy(this.#range(0, size));
  }

  /** Leaf hash at `index`. */
  leafHash(index: number): Uint8Array {
    assert(Number.isSafeInteger(index) && index >= 0 && index < this.#size, "leaf index out of range");
    return copy(this.#node(0, index));
  }

  /** RFC 9162 PATH(index, D[0:size]): sibling hashes from the leaf upward. */
  inclusionProof(index: number, size: number = this.#size): Uint8Array[] {
    this.#checkSize(size);
    assert(
      Number.isSafeInteger(index) && index >= 0 && index < size,
      "leaf index out of range for the tree size",
    );
    const path: Uint8Array[] = [];
    let start = 0;
    let end = size;
    while (end - start > 1) {
      const k = largestPowerOfTwoBelow(end - start);
      if (index < start + k) {
        path.push(copy(this.#range(start + k, end)));
        end = start + k;
      } else {
        path.push(copy(this.#range(start, start + k)));
        start += k;
      }
    }
    return path.reverse();
  }

  /** RFC 9162 PROOF(size1, D[0:size2]); empty when size1 is 0 or equals size2. */
  consistencyProof(size1: number, size2: number = this.#size): Uint8Array[] {
    this.#checkSize(size2);
    assert(Number.isSafeInteger(size1) && size1 >= 0 && size1 <= size2, "consistency sizes out of order");
    if (size1 === 0 || size1 === size2) return [];
    const proof: Uint8Array[] = [];
    let m = size1;
    let start = 0;
    let end = size2;
    let wholeOldTree = true;
    for (;;) {
      if (m === end - start) {
        if (!wholeOldTree) proof.push(copy(this.#range(start, end)));
        break;
      }
      const k = largestPowerOfTwoBelow(end - start);
      if (m <= k) {
        proof.push(copy(this.#range(start + k, end)));
        end = start + k;
      } else {
        proof.push(copy(this.#range(start, start + k)));
        m -= k;
        start += k;
        wholeOldTree = false;
      }
    }
    return proof.reverse();
  }

  /** Leaves per chunk (2^R). */
  get chunkLeaves(): number {
    return this.#chunkLeaves;
  }

  /** `leaf` rounded down to the start of its chunk. */
  #chunkStart(leaf: number): number {
    return shiftUp(shiftDown(leaf, this.#resident), this.#resident);
  }

  /**
   * Bytes held by node arrays, cached chunks and the frontier and history caches (for metrics
   * and the memory-bound tests; the per-entry hash arrays dominate).
   */
  memoryBytes(): number {
    let bytes = (this.#frontier.size + this.#compacted.size + this.#history.size) * HASH_BYTES;
    for (const level of this.#levels) bytes += level.capacityBytes;
    for (const level of this.#tail) bytes += level.capacityBytes;
    for (const chunk of this.#chunks.values()) for (const level of chunk) bytes += level.capacityBytes;
    return bytes;
  }

  #checkSize(size: number): void {
    assert(Number.isSafeInteger(size) && size >= 0 && size <= this.#size, "tree size out of range");
  }

  /** MTH(D[start:end]) for a range of complete leaves; a view into internal storage. */
  #range(start: number, end: number): Uint8Array {
    const width = end - start;
    const k = largestPowerOfTwoAtMost(width);
    if (k === width) {
      // The RFC's recursion only ever asks for perfect subtrees at aligned positions.
      assert(start % width === 0, "perfect subtree must be aligned");
      return this.#node(log2Exact(width), start / width);
    }
    return this.#hasher.node(this.#range(start, start + k), this.#range(start + k, end));
  }

  /**
   * Node (level, index). Integer arithmetic only (`shiftDown`/`shiftUp`, below): this runs at
   * every append, and an index computed as `x / 2 ** level` is a heap number in V8 even when
   * whole, which deoptimizes the compiled code that saw small integers (at every snapshot point,
   * through `frontier`, before session 16).
   */
  #node(level: number, index: number): Uint8Array {
    // (index + 1)·2^level ≤ base  ⟺  index + 1 ≤ ⌊base / 2^level⌋ (integers).
    if (index < shiftDown(this.#base, level)) return this.#before(level, index);
    if (level >= this.#resident) return this.#levels[level]!.get(index);
    // Below R: the tail and chunk starts are multiples of 2^R, so these shifts are exact.
    const tailFirst = shiftDown(this.#tailStart, level);
    if (index >= tailFirst) return this.#tail[level]!.get(index - tailFirst);
    const below = this.#resident - level;
    const chunk = shiftDown(index, below);
    return this.#chunk(chunk)[level]!.get(index - shiftUp(chunk, below));
  }

  /**
   * A node wholly before the base: a frontier node, or recomputed from the leaf source (cached
   * from level R up, at most HISTORY_CACHE_NODES of them).
   */
  #before(level: number, index: number): Uint8Array {
    const key = `${level}:${index}`;
    const known =
      this.#frontier.get(key) ??
      this.#compacted.get(key) ??
      this.#history.get(key) ??
      (level >= this.#resident ? this.#archive?.get(level, index) : undefined);
    if (known !== undefined) return known;
    const hash =
      level === 0
        ? this.#leafFromSource(index)
        : this.#hasher.node(this.#before(level - 1, 2 * index), this.#before(level - 1, 2 * index + 1));
    if (level >= this.#resident) {
      // Recomputed (the archive missed it): keep it there too, so the next read is one lookup.
      this.#archive?.put(level, index, hash);
      if (this.#history.size >= HISTORY_CACHE_NODES) this.#history.delete(this.#history.keys().next().value!);
      this.#history.set(key, hash);
    }
    return hash;
  }

  #store(level: number, index: number, hash: Uint8Array): void {
    if (level >= this.#resident) {
      while (this.#levels.length <= level)
        this.#levels.push(new HashArray(16, shiftDown(this.#base, this.#levels.length)));
      const array = this.#levels[level]!;
      assert(array.length === index, "nodes are stored in order");
      array.push(hash);
    } else {
      const array = this.#tail[level]!;
      assert(array.length === index - shiftDown(this.#tailStart, level), "tail nodes are stored in order");
      array.push(hash);
    }
  }

  /** Levels 0..R-1 of an old, complete chunk, recomputed from the leaf source and cached. */
  #chunk(chunk: number): HashArray[] {
    const cached = this.#chunks.get(chunk);
    if (cached !== undefined) {
      this.#chunks.delete(chunk);
      this.#chunks.set(chunk, cached);
      return cached;
    }
    const leaves = this.#chunkLeaves;
    const first = shiftUp(chunk, this.#resident);
    // Levels hold the chunk's nodes relative to its start; in the chunk that holds the base, the
    // nodes wholly before it come from the frontier (their leaves may be absent).
    const levels: HashArray[] = [];
    const at = (level: number, index: number) =>
      index < shiftDown(this.#base, level)
        ? this.#before(level, index)
        : levels[level]!.get(index - shiftDown(first, level));
    for (let level = 0; level < this.#resident; level++) {
      const offset = shiftDown(first, level);
      const width = shiftDown(leaves, level);
      const skip = Math.max(0, shiftDown(this.#base, level) - offset);
      const nodes = new HashArray(width, skip);
      for (let i = offset + skip; i < offset + width; i++)
        nodes.push(
          level === 0
            ? this.#leafFromSource(i)
            : this.#hasher.node(at(level - 1, 2 * i), at(level - 1, 2 * i + 1)),
        );
      levels.push(nodes);
    }
    // The recomputed chunk must agree with the resident root of that chunk; a mismatch means the
    // source changed under us (a store edited while the node runs).
    const root = this.#hasher.node(at(this.#resident - 1, 2 * chunk), at(this.#resident - 1, 2 * chunk + 1));
    const resident = this.#levels[this.#resident]!.get(chunk);
    assert(equal(root, resident), `leaf source disagrees with the tree in chunk ${chunk}`);
    if (this.#chunks.size >= this.#cacheSize) this.#chunks.delete(this.#chunks.keys().next().value!);
    this.#chunks.set(chunk, levels);
    return levels;
  }

  #leafFromSource(index: number): Uint8Array {
    const leaf = this.#source!(index);
    assert(leaf.length === HASH_BYTES, "leaf source returned a hash of the wrong length");
    return leaf;
  }
}

/**
 * The right frontier of a tree: the roots of its perfect subtrees, O(log n) hashes. Enough to
 * append and to compute the current root, in constant memory; audits use it to re-derive the root
 * at every signature of a ledger of any length.
 */
export class MerkleFrontier {
  readonly #hasher: MerkleHasher;
  /** Perfect subtree roots, left to right, with their heights (strictly decreasing). */
  readonly #nodes: { height: number; hash: Uint8Array }[] = [];
  #size = 0;

  /**
   * Starts at `size` leaves from their compact range (`MerkleTree.frontier(size)`: one perfect
   * subtree root per set bit of `size`, largest first), e.g. a verified snapshot's frontier.
   */
  constructor(
    hasher: MerkleHasher,
    start?: { readonly size: number; readonly frontier: readonly Uint8Array[] },
  ) {
    this.#hasher = hasher;
    if (start === undefined) return;
    const { size, frontier } = start;
    assert(Number.isSafeInteger(size) && size >= 0, "a frontier's size is a safe integer ≥ 0");
    let i = 0;
    for (let height = MAX_LEVEL; height >= 0; height--) {
      if (frontierIndex(size, height) < 0) continue;
      const hash = frontier[i++];
      assert(hash?.length === HASH_BYTES, "a frontier has one 32-byte hash per set bit of its size");
      this.#nodes.push({ height, hash: new Uint8Array(hash) });
    }
    assert(i === frontier.length, "a frontier has one 32-byte hash per set bit of its size");
    this.#size = size;
  }

  get size(): number {
    return this.#size;
  }

  append(leafHash: Uint8Array): void {
    assert(leafHash.length === HASH_BYTES, "a leaf hash is 32 bytes");
    let node: { height: number; hash: Uint8Array } = { height: 0, hash: new Uint8Array(leafHash) };
    for (
      let top = this.#nodes.at(-1);
      top !== undefined && top.height === node.height;
      top = this.#nodes.at(-1)
    ) {
      this.#nodes.pop();
      node = { height: node.height + 1, hash: this.#hasher.node(top.hash, node.hash) };
    }
    this.#nodes.push(node);
    this.#size++;
  }

  /** Root of all leaves appended so far. */
  root(): Uint8Array {
    if (this.#nodes.length === 0) return this.#hasher.empty();
    let root = this.#nodes[this.#nodes.length - 1]!.hash;
    for (let i = this.#nodes.length - 2; i >= 0; i--) root = this.#hasher.node(this.#nodes[i]!.hash, root);
    return new Uint8Array(root);
  }
}

/** Most recomputed nodes before a tree's base kept in memory (32 bytes each). */
const HISTORY_CACHE_NODES = 65_536;

/**
 * A growable array of 32-byte hashes in one buffer. Indexes start at `first` (a tree started at a
 * base has no nodes before it): `length` counts from 0, so index `length` is the next push.
 */
class HashArray {
  #bytes: Uint8Array;
  #length = 0;
  #first: number;

  constructor(capacity = 16, first = 0) {
    this.#bytes = new Uint8Array(Math.max(1, capacity) * HASH_BYTES);
    this.#first = first;
  }

  get length(): number {
    return this.#first + this.#length;
  }

  /** The first index held. */
  get first(): number {
    return this.#first;
  }

  /** Hashes `from` .. `end - 1`, concatenated (a view: copy before keeping it). */
  span(from: number, end: number): Uint8Array {
    assert(from >= this.#first && from <= end && end <= this.length, "hash span out of range");
    return this.#bytes.subarray((from - this.#first) * HASH_BYTES, (end - this.#first) * HASH_BYTES);
  }

  /** Forgets every hash before index `first` (memory shrinks with it). */
  dropBefore(first: number): void {
    assert(first >= this.#first && first <= this.length, "drop point out of range");
    const kept = this.#bytes.subarray((first - this.#first) * HASH_BYTES, this.#length * HASH_BYTES);
    this.#bytes = new Uint8Array(Math.max(16 * HASH_BYTES, kept.length * 2));
    this.#bytes.set(kept);
    this.#length = kept.length / HASH_BYTES;
    this.#first = first;
  }

  /** Empties the array so that its next push is index `first`. */
  reset(first: number): void {
    this.#first = first;
    this.truncate(first);
  }

  get capacityBytes(): number {
    return this.#bytes.length;
  }

  push(hash: Uint8Array): void {
    if ((this.#length + 1) * HASH_BYTES > this.#bytes.length) {
      const grown = new Uint8Array(this.#bytes.length * 2);
      grown.set(this.#bytes.subarray(0, this.#length * HASH_BYTES));
      this.#bytes = grown;
    }
    this.#bytes.set(hash, this.#length * HASH_BYTES);
    this.#length++;
  }

  /** A view (not a copy): callers copy before handing it out. */
  get(index: number): Uint8Array {
    const i = index - this.#first;
    assert(i >= 0 && i < this.#length, "node index out of range");
    return this.#bytes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
  }

  truncate(logicalLength: number): void {
    const length = logicalLength - this.#first;
    assert(length >= 0 && length <= this.#length, "hash array truncate out of range");
    this.#length = length;
    // Give memory back after a large rollback, so truncation keeps the bound.
    if (this.#bytes.length > 64 * HASH_BYTES && length * 4 * HASH_BYTES < this.#bytes.length) {
      this.#bytes = this.#bytes.slice(0, Math.max(16, length * 2) * HASH_BYTES);
    }
  }
}

/**
 * The highest tree level: sizes and indices are safe integers (< 2^53; every public method
 * asserts it), so a node above level 52 would cover more leaves than any tree holds.
 */
const MAX_LEVEL = 52;

/** The largest V8 small integer (Smi) on 64-bit Node (no pointer compression): 2^31 − 1. */
const MAX_SMI = 0x7fff_ffff;

/*
 * Index arithmetic. Sizes, leaf and node indices are safe integers ≥ 0 (up to 2^53 − 1, a
 * seqno), so 32-bit shifts alone cannot do it; `x / 2 ** level` can, but `2 ** level` and the
 * quotient are heap numbers in V8 even when whole, and compiled code that saw small integers
 * deoptimizes when one reaches it. These use 32-bit shifts below 2^31 (the results are small
 * integers) and exact division by a power of two above it. test/ledger/merkle-index.test.ts checks
 * them and the tree against BigInt arithmetic up to 2^53 − 1, merkle-smi.test.ts the small integers.
 */

/** 2^level, for level in 0..MAX_LEVEL; a small integer for level ≤ 30. */
export function pow2(level: number): number {
  return level <= 30 ? 1 << level : 2 ** level;
}

/** ⌊value / 2^level⌋ for a safe integer value ≥ 0 and level in 0..MAX_LEVEL. */
export function shiftDown(value: number, level: number): number {
  // `>>` takes its count mod 32; a value below 2^31 shifted by 31 or more is 0.
  if (value <= MAX_SMI) return level <= 30 ? value >> level : 0;
  return Math.floor(value / 2 ** level);
}

/**
 * value · 2^level for a safe integer value ≥ 0 whose product is a safe integer; a small integer
 * when the product is below 2^31 and level ≤ 30 (the tree scales by R or R − level, R ≤ 20).
 */
export function shiftUp(value: number, level: number): number {
  return value * pow2(level);
}

/**
 * The index of the node at `level` in `size`'s compact range (RFC 9162: the perfect subtrees
 * decomposing [0, size), largest first, one per set bit of `size`), or −1 when bit `level` of
 * `size` is clear. With the bit set, the node starts after the larger ones, at
 * ⌊size / 2^(level+1)⌋·2^(level+1) leaves, so its index is ⌊size / 2^level⌋ − 1.
 */
export function frontierIndex(size: number, level: number): number {
  const above = shiftDown(size, level);
  return above % 2 === 1 ? above - 1 : -1;
}

/** log2 of a power of two ≤ 2^MAX_LEVEL. */
function log2Exact(width: number): number {
  return width <= MAX_SMI ? 31 - Math.clz32(width) : Math.log2(width);
}

function largestPowerOfTwoBelow(n: number): number {
  return largestPowerOfTwoAtMost(n - 1);
}

function largestPowerOfTwoAtMost(n: number): number {
  let k = 1;
  while (k * 2 <= n) k *= 2;
  return k;
}

/** A plain copy (never `slice()`: on a Node Buffer that would be a shared view). */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
