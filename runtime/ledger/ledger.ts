/**
 * The ledger: the log of entries that consensus replicates, with its Merkle tree. One object per
 * node, owned by the node's driver (single-threaded, synchronous: no `await` on the transaction
 * path).
 *
 * Life of an entry:
 * - the leader assembles it from a transaction's write set and metadata (`appendTransaction`) or
 *   signs the tree (`appendSignature`); a follower receives the leader's bytes and checks them
 *   (`appendReplicated`: encoding, digest, seqno/view order, and for signatures the root, the
 *   node's signature and its endorsement);
 * - either way the entry is *staged*: it has a seqno, is in the Merkle tree and readable, but not
 *   yet durable;
 * - `persist()` writes every staged entry to the store durably (the chunked store: one write and
 *   one fdatasync of its tail per batch); the driver calls it before acknowledging or sending
 *   the entries; `persistAsync()` is the group commit: it hands them to the store's
 *   `appendAsync` (when it has one) and resolves once they are durable, the entries staying
 *   readable from memory meanwhile;
 * - `truncate(seqno)` drops a suffix when consensus rolls back uncommitted entries.
 *
 * Receipts come from `receipt(txid, committedSeqno)`; the commit index is consensus's knowledge,
 * handed in by the caller.
 */
import { assert } from "../../sdk/assert.js";
import { equalBytes, setU64BE } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { PublicKey } from "../../sdk/keys.js";
import { createMerkleHasher, HASH_BYTES, type MerkleHasher } from "../../sdk/merkle.js";
import {
  type EntryKind,
  encodeLeafData,
  entryKindCode,
  LEAF_DATA_BYTES,
  LEAF_DATA_CLAIMS_BYTES,
  LEAF_FORMAT_CLAIMS,
  LEAF_FORMAT_VERSION,
  type LeafFields,
  type Receipt,
} from "../../sdk/receipt.js";
import { sha256, sha256Into } from "../crypto.js";
import type { MapWrites, WriteSet } from "../kv/types.js";
import {
  checkPublicWrites,
  corrupt,
  type DecodedEntry,
  decodeEntry,
  decodePublicWrites,
  EncodedWriteSet,
  type EntryHeader,
  encodeEntry,
  entryWriteSet,
  openPrivateWrites,
  storedLeafFields,
  type TxMetadata,
} from "./entry.js";
import { type MerkleNodeArchive, MerkleTree } from "./merkle-tree.js";
import { buildReceipt } from "./receipts.js";
import type { LedgerSecrets } from "./secrets.js";
import {
  checkSignatureEntry,
  decodeSignatureRecord,
  encodeSignatureRecord,
  type NodeSigner,
  sameKey,
  signRoot,
} from "./signature.js";
import type { LedgerRecord, LedgerStore } from "./store.js";

/** Random bytes from the node's CSPRNG (handed in: runtime code reads no ambient randomness). */
export type RandomBytes = (length: number) => Uint8Array;

export interface LedgerOptions {
  readonly store: LedgerStore;
  /** Needed to append entries with a private part (the current version seals them). */
  readonly secrets?: LedgerSecrets;
  /** Needed to append entries with a private part (4 bytes of each nonce). */
  readonly random?: RandomBytes;
  /** When set, signature entries must carry this service identity (replicated ones are rejected otherwise). */
  readonly serviceKey?: PublicKey;
  /**
   * Earlier identities of the service (before disaster recoveries): replicated signature entries
   * from their time carry one of these instead of `serviceKey`.
   */
  readonly previousServiceKeys?: readonly PublicKey[];
  /** Merkle tree memory bound (see merkle-tree.ts). */
  readonly residentLevel?: number;
  /** Where `compact` moves old Merkle nodes (merkle-archive.ts); without it they are recomputed. */
  readonly archive?: MerkleNodeArchive;
  /** Start at this base (a snapshot's) and read only the entries after it (see `Ledger.open`). */
  readonly base?: LedgerBase;
  /**
   * Which `internal` entries stay in the internal index once `compact` passes them (the node:
   * those that set the consensus configuration, which `internalSeqnosDownFrom` callers look
   * for); the others leave it. Default: every one stays (the index grows with them).
   */
  readonly retainInternal?: (record: LedgerRecord) => boolean;
}

/**
 * Where a ledger that starts at a snapshot begins: the snapshot's seqno (a signature), the
 * Merkle tree's compact range there, and what the ledger's indexes need about the prefix. Plain
 * data: it comes from a verified snapshot (node/snapshot/).
 */
export interface LedgerBase {
  readonly seqno: number;
  /** View of the entry at `seqno`. */
  readonly view: number;
  /** `MerkleTree.frontier(seqno)`: O(log n) hashes. */
  readonly frontier: readonly Uint8Array[];
  /** First seqno of each view through `seqno`, ascending. */
  readonly views: readonly { readonly view: number; readonly startSeqno: number }[];
  /** The consensus configuration in force at `seqno` (the entry that set it may be before the base). */
  readonly config?: { readonly seqno: number; readonly nodes: readonly string[] };
}

/** One executed transaction, as the node hands it to the ledger. */
export interface TransactionInput {
  readonly kind: Exclude<EntryKind, "signature">;
  readonly writeSet: WriteSet;
  readonly meta: TxMetadata;
  /** The recorded random seed the contract drew from; stored in the private part. */
  readonly seed?: Uint8Array | null;
  /** SHA-256 of the signed client request (null for internal entries). */
  readonly requestDigest?: Uint8Array | null;
  /** The application claims digest the contract bound (32 bytes), recorded in the header and leaf. */
  readonly claimsDigest?: Uint8Array | null;
}

/** Where the tree stands at the last signature. */
export interface SignatureState {
  readonly seqno: number;
  readonly view: number;
}

/**
 * Entries staged last whose decoded form the ledger keeps (`entry`, `publicWritesAt`, `get`): the
 * commit hooks, the KV apply of a follower and governance read each new entry several times
 * shortly after it was staged, and each would otherwise decode it again (and, once persisted,
 * read it back from the store first). Those reads come within the commit lag (tens of ms), so
 * the window is about half a second at 2,000 writes/s: a decoded entry (~2 KB of small objects)
 * then mostly dies young, where a 4096-entry window kept each one ~2 s, long enough for V8 to
 * copy it to the old generation, whose collections a follower's GC threads then spent on it.
 */
export const RECENT_DECODED_ENTRIES = 1024;

/** Node-side hasher: node:crypto SHA-256, byte-identical to the sdk's noble one. */
export const nodeHasher: MerkleHasher = createMerkleHasher((data) => sha256(data));

/** `0x00 || leaf data`, rewritten for every leaf `leafHash` hashes. */
const leafInput = new Uint8Array(1 + LEAF_DATA_CLAIMS_BYTES);
/** The two lengths of `leafInput` that are hashed (without, with a claims digest): views made once. */
const leafInputPlain = leafInput.subarray(0, 1 + LEAF_DATA_BYTES);
const leafInputClaims = leafInput.subarray(0, 1 + LEAF_DATA_CLAIMS_BYTES);

/**
 * The Merkle leaf hash of an entry, `nodeHasher.leaf(encodeLeafData(fields))`, with the leaf
 * data written straight into one reused buffer: the leaf of every entry written or replicated
 * without an 82-byte array, a DataView and a fields object of its own. Fields `encodeLeafData`
 * refuses (a digest that is not 32 bytes, a negative or unsafe view or seqno) go to it, so they
 * throw its TypeError.
 */
export function leafHash(fields: LeafFields): Uint8Array {
  const { view, seqno, kind, entryDigest, requestDigest } = fields;
  return leafHashInto(
    view,
    seqno,
    kind,
    entryDigest,
    requestDigest,
    fields.claimsDigest ?? null,
    new Uint8Array(32),
  );
}

/**
 * `leafHash` of an entry's leaf fields, written into `out`: the ledger's own appends hand the
 * hash to the tree, which copies it, so neither the fields nor the hash need an object of their own.
 */
function leafHashInto(
  view: number,
  seqno: number,
  kind: EntryKind,
  entryDigest: Uint8Array,
  requestDigest: Uint8Array | null,
  claims: Uint8Array | null,
  out: Uint8Array,
): Uint8Array {
  if (
    !Number.isSafeInteger(view) ||
    view < 0 ||
    !Number.isSafeInteger(seqno) ||
    seqno < 0 ||
    entryDigest.length !== HASH_BYTES ||
    (requestDigest !== null && requestDigest.length !== HASH_BYTES) ||
    (claims !== null && claims.length !== HASH_BYTES)
  ) {
    out.set(
      nodeHasher.leaf(
        encodeLeafData({ view, seqno, kind, entryDigest, requestDigest, claimsDigest: claims }),
      ),
    );
    return out;
  }
  const b = leafInput;
  b[0] = 0x00;
  b[1] = claims === null ? LEAF_FORMAT_VERSION : LEAF_FORMAT_CLAIMS;
  setU64BE(b, 2, view);
  setU64BE(b, 10, seqno);
  b[18] = entryKindCode(kind);
  b.set(entryDigest, 19);
  if (requestDigest === null) b.fill(0, 19 + HASH_BYTES, 19 + 2 * HASH_BYTES);
  else b.set(requestDigest, 19 + HASH_BYTES);
  if (claims !== null) b.set(claims, 1 + LEAF_DATA_BYTES);
  return sha256Into(claims === null ? leafInputPlain : leafInputClaims, out);
}

export class Ledger {
  readonly #store: LedgerStore;
  readonly #secrets: LedgerSecrets | undefined;
  readonly #random: RandomBytes | undefined;
  readonly #serviceKey: PublicKey | undefined;
  readonly #previousServiceKeys: readonly PublicKey[];
  readonly #archive: MerkleNodeArchive | undefined;
  readonly #retainInternal: ((record: LedgerRecord) => boolean) | undefined;
  #tree: MerkleTree;
  #base: LedgerBase | undefined;
  /** Entries after `#persistedSeqno`: the first `#submitted` are being written by `persistAsync`. */
  #staged: LedgerRecord[] = [];
  #submitted = 0;
  /** `persistAsync` batches in flight: their last seqno, lowered when a truncation cuts them. */
  readonly #inFlight: Array<{ last: number }> = [];
  #persistedSeqno: number;
  #lastView = 0;
  /**
   * Seqnos of signature entries, ascending, from the last one at or before the compaction point
   * (`compact`) on; older ones are found by reading the entries around them.
   */
  #signatures: number[];
  /** First seqno of each view, ascending (one record per view). */
  readonly #views: Array<{ readonly view: number; readonly startSeqno: number }> = [];
  /**
   * Seqnos of `internal` entries, ascending: every one after `#internalCompacted`, and at or
   * before it only those `retainInternal` keeps.
   */
  #internal: number[];
  /** The compaction point through which `#internal` was filtered by `retainInternal`. */
  #internalCompacted: number;
  /** Random bytes fetched in blocks: one CSPRNG call per 1024 nonces instead of one each. */
  #randomPool: Uint8Array = new Uint8Array(0);
  /**
   * The private part's nonce, rewritten for every entry: node:crypto's createCipheriv reads an IV
   * through its ArrayBuffer, so a fresh 12-byte array (which V8 keeps in its heap) got an
   * ArrayBuffer and backing store of its own for each entry, for the GC to track and sweep; this
   * one gets it once. Nothing keeps it: the sealed part holds a copy.
   */
  readonly #nonce = new Uint8Array(12);
  /** The leaf hash of the entry `#add` appends, rewritten for each: the tree copies it. */
  readonly #leaf = new Uint8Array(HASH_BYTES);
  /** The last `RECENT_DECODED_ENTRIES` staged entries, decoded, by seqno (insertion = seqno order). */
  readonly #recent = new Map<
    number,
    { readonly record: LedgerRecord; readonly entry: DecodedEntry; publicWrites: MapWrites[] | undefined }
  >();
  #randomOffset = 0;
  #openedFrom = 0;

  private constructor(options: LedgerOptions) {
    this.#store = options.store;
    this.#secrets = options.secrets;
    this.#random = options.random;
    this.#serviceKey = options.serviceKey;
    this.#previousServiceKeys = options.previousServiceKeys ?? [];
    this.#archive = options.archive;
    this.#retainInternal = options.retainInternal;
    this.#persistedSeqno = 0;
    // Set here, not in their declarations, so V8 does not track them as constant until the first
    // `compact` reassigns them: that store would deoptimize the append path's optimized code
    // (docs/performance.md, "Steady-state TurboFan on the write path").
    this.#signatures = [];
    this.#internal = [];
    this.#internalCompacted = 0;
    this.#tree = this.#newTree(options.residentLevel);
  }

  #newTree(residentLevel: number | undefined): MerkleTree {
    return new MerkleTree({
      hasher: nodeHasher,
      ...(residentLevel !== undefined ? { residentLevel } : {}),
      ...(this.#archive !== undefined ? { archive: this.#archive } : {}),
      leafSource: (index) => this.#leafHashAt(index + 1),
    });
  }

  /**
   * Opens the ledger over `options.store`, rebuilding the Merkle tree from every stored entry
   * (decoding each, checking digests, seqno and view order, and the root of each signature).
   * With `options.base` (a verified snapshot's) only the entries after the base are read: the
   * tree starts from the base's frontier and the indexes from the base, and the next signature's
   * root is checked as usual, which binds the frontier to the store. The store must reach the
   * base (or have been `rebase`d there); a store that starts after seqno 1 needs its base.
   * Throws TreatyError LedgerCorrupt naming the first bad seqno.
   */
  static open(options: LedgerOptions): Ledger {
    const load = Ledger.#load(options);
    let step = load.next();
    while (!step.done) step = load.next();
    return step.value;
  }

  /**
   * `open`, calling `pace(done, total)` after every verified entry and awaiting it when it
   * returns a promise: a node's start-up yields to its event loop there (to answer
   * `/node/status` with its progress) instead of blocking for the whole pass.
   */
  static async openPaced(
    options: LedgerOptions,
    pace: (done: number, total: number) => Promise<void> | undefined,
  ): Promise<Ledger> {
    const total = options.store.lastSeqno;
    const load = Ledger.#load(options);
    let step = load.next();
    while (!step.done) {
      const wait = pace(step.value, total);
      if (wait !== undefined) await wait;
      step = load.next();
    }
    return step.value;
  }

  /** Opens the ledger (see `open`), yielding the seqno verified after each entry it reads. */
  static *#load(options: LedgerOptions): Generator<number, Ledger, undefined> {
    if (options.base !== undefined) {
      const ledger = new Ledger(options);
      const { base } = options;
      const stored = options.store.get(base.seqno);
      if (
        options.store.lastSeqno < base.seqno ||
        options.store.baseSeqno > base.seqno ||
        (stored !== undefined && stored.view !== base.view)
      ) {
        throw corrupt(base.seqno, "base", "the store does not reach the snapshot's seqno in its view");
      }
      ledger.#startAt(base);
      yield* ledger.#scan(base.seqno + 1);
      return ledger;
    }
    if (options.store.baseSeqno > 0) {
      throw corrupt(
        options.store.baseSeqno + 1,
        "base",
        `the store starts after seqno ${options.store.baseSeqno}: opening it needs the snapshot taken there`,
      );
    }
    const ledger = new Ledger(options);
    yield* ledger.#scan(1);
    return ledger;
  }

  /** Reads, checks and indexes every stored entry from `fromSeqno` on, yielding each seqno. */
  *#scan(fromSeqno: number): Generator<number, void, undefined> {
    let expected = fromSeqno;
    for (const record of this.#store.range(fromSeqno)) {
      if (record.seqno !== expected)
        throw corrupt(expected, "entry", `missing from the store (next stored seqno is ${record.seqno})`);
      const entry = this.#check(record);
      if (entry.header.kind === "signature") {
        const signature = decodeSignatureRecord(entry.signatureBytes!, record.seqno);
        if (signature.treeSize !== this.#tree.size || !equalBytes(signature.root, this.#tree.root())) {
          throw corrupt(
            record.seqno,
            "signature.root",
            "does not match the Merkle root of the entries before it",
          );
        }
      }
      this.#add(record, entry, false);
      yield expected;
      expected++;
    }
    this.#openedFrom = fromSeqno - 1;
  }

  /** Starts the empty tree and indexes at `base`. */
  #startAt(base: LedgerBase): void {
    if (!this.#tree.startAt(base.seqno, base.frontier) || base.views.at(-1)?.view !== base.view)
      throw corrupt(base.seqno, "base.frontier", "does not fit the snapshot's seqno and view");
    this.#base = base;
    this.#persistedSeqno = base.seqno;
    this.#openedFrom = base.seqno;
    // The base's own records (read-only data, `#base` keeps them anyway: no second copy), pushed
    // in a loop: a push(...spread) of more than ~120k view starts overflows the stack.
    for (const v of base.views) this.#views.push(v);
    this.#signatures.push(base.seqno);
    this.#internalCompacted = base.seqno;
    this.#lastView = base.view;
  }

  /**
   * Replaces the whole ledger by one that starts at `base` (a verified snapshot's): drops every
   * entry, staged and stored (the store keeps only what follows the base), and restarts the tree
   * from the base's frontier. What a node does when it installs a snapshot.
   */
  rebase(base: LedgerBase): void {
    const residentLevel = Math.log2(this.#tree.chunkLeaves);
    // Checked on a scratch tree first: a base that does not fit changes nothing.
    if (
      !this.#newTree(residentLevel).startAt(base.seqno, base.frontier) ||
      base.views.at(-1)?.view !== base.view
    )
      throw corrupt(base.seqno, "base.frontier", "does not fit the snapshot's seqno and view");
    this.#store.rebase(base.seqno);
    this.#archive?.clear(); // nodes of entries this node no longer holds
    this.#recent.clear();
    this.#staged = [];
    this.#signatures.length = 0;
    this.#internal = [];
    this.#views.length = 0;
    this.#tree = this.#newTree(residentLevel);
    this.#startAt(base);
  }

  /** The base this ledger starts at (a snapshot's), or undefined when it starts at seqno 1. */
  get base(): LedgerBase | undefined {
    return this.#base;
  }

  /** Seqnos read when the ledger was opened start after this one (0: the whole store). */
  get openedFromSeqno(): number {
    return this.#openedFrom;
  }

  /** Last seqno, staged entries included; 0 when empty. */
  get lastSeqno(): number {
    return this.#persistedSeqno + this.#staged.length;
  }

  /** Last seqno that is durable in the store. */
  get persistedSeqno(): number {
    return this.#persistedSeqno;
  }

  /** View of the last entry (0 when empty). */
  get lastView(): number {
    return this.#lastView;
  }

  /** The last signature entry, or undefined when there is none yet. */
  get lastSignature(): SignatureState | undefined {
    const seqno = this.#signatures.at(-1);
    return seqno === undefined ? undefined : { seqno, view: this.#viewAt(seqno) };
  }

  /** Entries after the last signature (what the signature policy counts). */
  get unsignedCount(): number {
    return this.lastSeqno - (this.#signatures.at(-1) ?? 0);
  }

  /** Merkle root over every entry (staged included). */
  root(): Uint8Array {
    return this.#tree.root();
  }

  /** The Merkle tree, for proofs (read-only use: appending goes through the ledger). */
  get tree(): Pick<
    MerkleTree,
    "size" | "root" | "inclusionProof" | "consistencyProof" | "leafHash" | "memoryBytes" | "frontier"
  > {
    return this.#tree;
  }

  /** View of the entry at `seqno` (which exists, or is the base). */
  #viewAt(seqno: number): number {
    if (seqno === this.#base?.seqno) return this.#base.view;
    const record = this.get(seqno);
    assert(record !== undefined, `entry ${seqno} is in the ledger`);
    return record.view;
  }

  /** The record at `seqno` (staged or stored), or undefined. */
  get(seqno: number): LedgerRecord | undefined {
    if (!Number.isSafeInteger(seqno) || seqno < 1 || seqno > this.lastSeqno) return undefined;
    if (seqno > this.#persistedSeqno) return this.#staged[seqno - this.#persistedSeqno - 1];
    return this.#recent.get(seqno)?.record ?? this.#store.get(seqno);
  }

  /** The decoded entry at `seqno`, or undefined. Throws LedgerCorrupt when the stored bytes are bad. */
  entry(seqno: number): DecodedEntry | undefined {
    const recent = this.#recent.get(seqno);
    if (recent !== undefined) return recent.entry;
    const record = this.get(seqno);
    return record === undefined ? undefined : decodeEntry(record.bytes, seqno);
  }

  /**
   * The public writes of the entry at `seqno` (decoded once for recent entries, as views into
   * replicated entries' bytes: callers must not modify them, and keep them only for a bounded
   * time, see writeSetAt). Throws TxNotFound when there is no such entry, LedgerCorrupt for bad
   * bytes.
   */
  publicWritesAt(seqno: number): readonly MapWrites[] {
    const recent = this.#recent.get(seqno);
    if (recent !== undefined) {
      recent.publicWrites ??= decodePublicWrites(recent.entry);
      return recent.publicWrites;
    }
    const entry = this.entry(seqno);
    if (entry === undefined)
      throw new TreatyError("TxNotFound", `entry ${seqno}: not in the ledger`, { seqno });
    return decodePublicWrites(entry);
  }

  /**
   * The public writes of the entry at `seqno` when the ledger holds them decoded already (a recent
   * entry whose writes were read by `publicWritesAt`, or that this node appended from a write set
   * of objects), else undefined without reading or decoding anything: for a caller with a cheaper
   * way to skip most entries (the event feed's byte search). Replicated entries, and a leader's
   * appended from the execution worker's encoded write sets, are not decoded until read.
   */
  recentPublicWrites(seqno: number): readonly MapWrites[] | undefined {
    return this.#recent.get(seqno)?.publicWrites;
  }

  /**
   * The full write set of the entry at `seqno` (private part opened, its tag checked): what a
   * follower applies to its KV. For recent entries an `EncodedWriteSet` (the entry's public bytes
   * and its private writes' bytes, checked as decoding checks them), whose objects are made only
   * if `public` / `private` are read; its bytes are views into larger buffers (a replicated
   * message, one plaintext), never written again: a holder keeps the whole buffer alive, so keep
   * them only for a bounded time (the execution journal holds them until the KV commits). Throws
   * TxNotFound when there is no such entry; DecryptionFailed without the secret or when the
   * private part does not authenticate; LedgerCorrupt for malformed private writes.
   */
  writeSetAt(seqno: number): WriteSet {
    assert(this.#secrets !== undefined, "reading private writes needs the ledger secrets");
    // One lookup of the recent entries (a follower calls this for every replicated entry).
    const recent = this.#recent.get(seqno);
    if (recent === undefined) {
      const entry = this.entry(seqno);
      if (entry === undefined)
        throw new TreatyError("TxNotFound", `entry ${seqno}: not in the ledger`, { seqno });
      return entryWriteSet(entry, this.#secrets);
    }
    // The entry's own bytes, checked (the public part when it was staged, the private writes
    // here), not objects: a follower's apply hands them to its execution worker as they are
    // (node/execution/pack.ts); the maps, arrays and views are made there, or by whoever reads
    // `public` / `private`. Views into the replicated bytes and one plaintext.
    return new EncodedWriteSet(recent.entry.publicBytes, openPrivateWrites(recent.entry, this.#secrets));
  }

  /** The highest signature seqno ≤ `seqno`, or 0. */
  lastSignatureAtOrBefore(seqno: number): number {
    const indexed = floorValue(this.#signatures, seqno);
    if (indexed !== undefined || this.#signatures.length === 0 || seqno >= this.#signatures[0]!)
      return indexed ?? 0;
    // Before the index (compacted): walk back (a signature comes at least every signature
    // interval); a base is a signature, and a store that does not reach further knows none.
    for (let at = Math.min(seqno, this.lastSeqno); at >= 1; at--) {
      if (at === this.#base?.seqno) return at;
      const record = this.get(at);
      if (record === undefined) return 0;
      if (decodeEntry(record.bytes, at).header.kind === "signature") return at;
    }
    return 0;
  }

  /**
   * What the ledger holds in memory that grows with entries (bounded by `compact`) or with
   * elections (`views`): for tests and metrics.
   */
  get resident(): {
    readonly signatures: number;
    readonly internal: number;
    readonly views: number;
    readonly treeBytes: number;
  } {
    return {
      signatures: this.#signatures.length,
      internal: this.#internal.length,
      views: this.#views.length,
      treeBytes: this.#tree.memoryBytes(),
    };
  }

  /**
   * Frees what the ledger holds in memory for entries up to `committedSeqno`, which consensus
   * never rolls back: the Merkle tree's nodes before it (to the archive, or recomputed when a
   * proof needs them), the signature index before the last signature at or before it, and the
   * internal entries before it that `retainInternal` does not keep. What stays per entry is
   * bounded by the entries after the last call. The driver calls it as the commit point advances.
   */
  compact(committedSeqno: number): void {
    assert(Number.isSafeInteger(committedSeqno) && committedSeqno >= 0, "compact at a seqno");
    // Only durable entries (the walks that replace the index read the store); a commit point
    // from before a snapshot install may name more than the ledger now holds.
    const point = Math.min(committedSeqno, this.#persistedSeqno);
    this.#tree.compact(point);
    const drop = indexOfFloor(this.#signatures, point);
    if (drop > 0) this.#signatures = this.#signatures.slice(drop);
    this.#compactInternal(point);
  }

  /** Filters the internal entries in (`#internalCompacted`, `point`] through `retainInternal`. */
  #compactInternal(point: number): void {
    const retain = this.#retainInternal;
    if (retain === undefined || point <= this.#internalCompacted) return;
    const from = indexOfFloor(this.#internal, this.#internalCompacted) + 1;
    const to = indexOfFloor(this.#internal, point) + 1;
    if (to > from) {
      // Each entry is read once, when the commit point first passes it (internal entries are rare).
      const kept = this.#internal.slice(from, to).filter((seqno) => retain(this.get(seqno)!));
      this.#internal = [...this.#internal.slice(0, from), ...kept, ...this.#internal.slice(to)];
    }
    this.#internalCompacted = point;
  }

  /** The first seqno of each view in the ledger, ascending (a copy). */
  viewStarts(): Array<{ view: number; startSeqno: number }> {
    return this.#views.map((v) => ({ ...v }));
  }

  /**
   * Seqnos of `internal` entries ≤ `seqno`, latest first (node records, configurations, snapshot
   * evidence, rekeys): every one after the compaction point, and at or before it those
   * `retainInternal` keeps (all without it).
   */
  *internalSeqnosDownFrom(seqno: number): IterableIterator<number> {
    for (let i = this.#internal.length - 1; i >= 0; i--)
      if (this.#internal[i]! <= seqno) yield this.#internal[i]!;
  }

  /** First signature seqno > `seqno`, or undefined. */
  signatureAfter(seqno: number): number | undefined {
    // Before the index (a base, or compacted) it knows no signature: read the entries this node
    // still holds (a signature comes at least every signature interval, so the walk is short).
    const first = this.#signatures[0];
    if (first !== undefined && seqno < first - 1) {
      for (const record of this.#store.range(seqno + 1, first - 1)) {
        if (record.seqno !== seqno + 1) break; // a gap: the store does not hold what follows
        if (decodeEntry(record.bytes, record.seqno).header.kind === "signature") return record.seqno;
        seqno = record.seqno;
      }
      return first;
    }
    let low = 0;
    let high = this.#signatures.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#signatures[mid]! <= seqno) low = mid + 1;
      else high = mid;
    }
    return this.#signatures[low];
  }

  /**
   * Leader: assembles the next entry from an executed transaction and stages it. The private part
   * (private writes and the seed) is sealed with the current ledger secret and a fresh nonce:
   * the 8-byte seqno followed by 4 random bytes, so nonces never repeat across seqnos and a seqno
   * re-executed after a rollback still gets a new one.
   */
  appendTransaction(view: number, tx: TransactionInput): LedgerRecord {
    assert(tx.kind !== ("signature" as EntryKind), "signature entries come from appendSignature");
    this.#checkView(view);
    checkMeta(tx.meta);
    const seqno = this.lastSeqno + 1;
    const seed = tx.seed ?? null;
    const requestDigest = tx.requestDigest ?? null;
    assert(requestDigest === null || requestDigest.length === HASH_BYTES, "requestDigest is 32 bytes");
    // The execution worker's write sets come encoded (EncodedWriteSet): their bytes are copied
    // into the entry as they are, and nothing here reads them as objects.
    const { writeSet } = tx;
    const encoded = writeSet instanceof EncodedWriteSet ? writeSet : null;
    let privatePart = null;
    if ((encoded === null ? writeSet.private.length > 0 : encoded.hasPrivateWrites) || seed !== null) {
      const secret = this.#secrets?.current;
      assert(
        secret !== undefined && this.#random !== undefined,
        "private writes need ledger secrets and a random source",
      );
      // Reused (see #nonce): encodeEntry copies the nonce into the sealed part before returning.
      const nonce = this.#nonce;
      setU64BE(nonce, 0, seqno);
      this.#nonceSalt(nonce, 8);
      privatePart = {
        part: { seed, writes: encoded === null ? writeSet.private : encoded.privateBytes },
        secret,
        nonce,
      };
    }
    const header: EntryHeader = {
      view,
      seqno,
      kind: tx.kind,
      secretVersion: privatePart?.secret.version ?? 0,
      requestDigest,
      ...(tx.claimsDigest != null && { claimsDigest: tx.claimsDigest }),
      meta: tx.meta,
    };
    const { bytes, decoded } = encodeEntry({
      header,
      publicWrites: encoded === null ? writeSet.public : encoded.publicBytes,
      privatePart,
      signatureBytes: null,
    });
    const record = { seqno, view, bytes };
    // A write set given as objects was just encoded (checked sorted, so it decodes back to the
    // same maps, keys and values): publicWritesAt answers it, not a decode of the bytes. An
    // encoded one's objects are not made for it: publicWritesAt decodes the entry's public part
    // if something asks (a reader that skips most entries, as the governance fold does, never).
    this.#add(record, decoded, true, encoded === null ? (writeSet.public as MapWrites[]) : undefined);
    return record;
  }

  /**
   * Leader: signs the Merkle root of every entry so far and stages the signature entry. Throws
   * TreatyError Forbidden when the node's endorsement does not cover `timeMs` or names another
   * service identity than the pinned one (a node must not write signatures nobody can verify).
   */
  appendSignature(view: number, signer: NodeSigner, timeMs: number): LedgerRecord {
    this.#checkView(view);
    assert(Number.isSafeInteger(timeMs) && timeMs >= 0, "timeMs is a non-negative integer");
    const { endorsement } = signer;
    if (timeMs < endorsement.validFromMs || timeMs > endorsement.validToMs) {
      throw new TreatyError(
        "Forbidden",
        `signature: node ${signer.key.id} is endorsed for [${endorsement.validFromMs}, ${endorsement.validToMs}], not at ${timeMs}`,
      );
    }
    if (this.#serviceKey !== undefined && !sameKey(this.#serviceKey, signer.serviceKey)) {
      throw new TreatyError(
        "Forbidden",
        "signature: the signer's service key is not this ledger's service identity",
      );
    }
    const seqno = this.lastSeqno + 1;
    assert(this.#tree.size === seqno - 1, "the tree covers every entry before the signature");
    const record = signRoot(signer, { view, seqno, timeMs }, this.#tree.root());
    const header: EntryHeader = {
      view,
      seqno,
      kind: "signature",
      secretVersion: 0,
      requestDigest: null,
      meta: { timeMs, contract: null, method: null, callerId: signer.key.id },
    };
    const { bytes, decoded } = encodeEntry({
      header,
      publicWrites: [],
      privatePart: null,
      signatureBytes: encodeSignatureRecord(record),
    });
    const out = { seqno, view, bytes };
    this.#add(out, decoded);
    return out;
  }

  /**
   * Follower: checks and stages entries received from the leader, all or none. Throws TreatyError
   * LedgerCorrupt naming the first bad seqno (wrong position, bad encoding or digest, view going
   * back, a signature whose root, key or endorsement does not check out).
   */
  appendReplicated(records: readonly LedgerRecord[]): void {
    const start = this.lastSeqno;
    try {
      for (let i = 0; i < records.length; i++) {
        const record = records[i]!;
        if (record.seqno !== this.lastSeqno + 1) {
          throw corrupt(record.seqno, "seqno", `expected the next entry, seqno ${this.lastSeqno + 1}`);
        }
        const entry = this.#check(record);
        // Checked without its objects: the apply takes the bytes (writeSetAt), and only a
        // reader of the public writes decodes them (publicWritesAt).
        checkPublicWrites(entry);
        if (entry.header.kind === "signature") {
          const signature = decodeSignatureRecord(entry.signatureBytes!, record.seqno);
          checkSignatureEntry(
            entry.header,
            signature,
            this.#tree.root(),
            this.#pinnedFor(signature.serviceKey),
          );
        }
        this.#add(record, entry, true);
      }
    } catch (err) {
      this.#dropStagedFrom(start + 1);
      throw err;
    }
  }

  /** The identity a signature entry must carry: the current one, or the earlier one it names. */
  #pinnedFor(key: PublicKey): PublicKey | undefined {
    return this.#previousServiceKeys.find((k) => sameKey(k, key)) ?? this.#serviceKey;
  }

  /** Writes all staged entries to the store in one durable commit; returns them. */
  persist(): readonly LedgerRecord[] {
    assert(this.#submitted === 0, "persist() while persistAsync() writes are in flight");
    if (this.#staged.length === 0) return [];
    const batch = this.#staged;
    this.#store.append(batch);
    this.#persistedSeqno += batch.length;
    this.#staged = [];
    return batch;
  }

  /**
   * Group commit: hands the entries staged since the last call to the store's `appendAsync`
   * (or, for a store without one, `persist()`s them) and resolves once they are durable, with
   * `persistedSeqno` advanced past them (short of any a `truncate` dropped meanwhile). Entries
   * stay readable from memory until then. Rejects on a storage error (the node must stop).
   */
  persistAsync(): Promise<void> {
    if (this.#store.appendAsync === undefined) {
      this.persist();
      return Promise.resolve();
    }
    const batch = this.#staged.slice(this.#submitted);
    if (batch.length === 0) return Promise.resolve();
    this.#submitted = this.#staged.length;
    const flight = { last: batch[batch.length - 1]!.seqno };
    this.#inFlight.push(flight);
    return this.#store.appendAsync(batch).then(() => {
      assert(this.#inFlight[0] === flight, "asynchronous appends complete in order");
      this.#inFlight.shift();
      const durable = Math.min(flight.last, this.lastSeqno);
      if (durable <= this.#persistedSeqno) return;
      const count = durable - this.#persistedSeqno;
      this.#staged = this.#staged.slice(count);
      this.#submitted = Math.max(0, this.#submitted - count);
      this.#persistedSeqno = durable;
    });
  }

  /** Drops every entry with seqno ≥ `fromSeqno` (staged and stored) and rolls the tree back. */
  truncate(fromSeqno: number): void {
    assert(
      Number.isSafeInteger(fromSeqno) && fromSeqno > Math.max(this.#base?.seqno ?? 0, this.#tree.base),
      "truncate after the base and the compaction point (committed entries never roll back)",
    );
    if (fromSeqno > this.lastSeqno) return;
    // Batches in flight no longer make the cut entries durable (the store queues the removal).
    for (const flight of this.#inFlight) flight.last = Math.min(flight.last, fromSeqno - 1);
    if (fromSeqno <= this.#persistedSeqno) {
      this.#store.truncate(fromSeqno);
      this.#staged = [];
      this.#submitted = 0;
      this.#persistedSeqno = fromSeqno - 1;
      this.#afterTruncate(fromSeqno);
    } else {
      if (fromSeqno - this.#persistedSeqno - 1 < this.#submitted) {
        this.#store.truncate(fromSeqno);
        this.#submitted = fromSeqno - this.#persistedSeqno - 1;
      }
      this.#dropStagedFrom(fromSeqno);
    }
  }

  /**
   * A receipt for `txid` (`"view.seqno"`). Throws TreatyError TxNotFound (no such entry, or the
   * seqno holds another view's entry), TxNotCommitted (beyond `committedSeqno`, or no committed
   * signature covers it yet), MalformedRequest (bad txid).
   */
  receipt(txid: string, committedSeqno: number): Receipt {
    return buildReceipt(this, txid, committedSeqno);
  }

  /** Writes the next 4 random bytes of the pool into `nonce` at `offset` (copied, not a view of the pool). */
  #nonceSalt(nonce: Uint8Array, offset: number): void {
    if (this.#randomOffset + 4 > this.#randomPool.length) {
      this.#randomPool = this.#random!(4096);
      assert(this.#randomPool.length === 4096, "random source returned the wrong length");
      this.#randomOffset = 0;
    }
    const pool = this.#randomPool;
    const at = this.#randomOffset;
    for (let i = 0; i < 4; i++) nonce[offset + i] = pool[at + i]!;
    this.#randomOffset = at + 4;
  }

  #checkView(view: number): void {
    assert(Number.isSafeInteger(view) && view >= 0, "view is a non-negative integer");
    assert(view >= this.#lastView, `view ${view} is before the ledger's view ${this.#lastView}`);
  }

  /** Decodes a record and checks it against the ledger's end; LedgerCorrupt otherwise. */
  #check(record: LedgerRecord): DecodedEntry {
    const entry = decodeEntry(record.bytes, record.seqno);
    if (entry.header.view !== record.view) {
      throw corrupt(
        record.seqno,
        "view",
        `record says view ${record.view}, entry header says ${entry.header.view}`,
      );
    }
    if (entry.header.view < this.#lastView) {
      throw corrupt(
        record.seqno,
        "header.view",
        `view goes back from ${this.#lastView} to ${entry.header.view}`,
      );
    }
    return entry;
  }

  /** Adds an entry to the tree and indexes; `stage` false means it is already in the store (open). */
  #add(
    record: LedgerRecord,
    entry: DecodedEntry,
    stage = true,
    publicWrites: MapWrites[] | undefined = undefined,
  ): void {
    const { header } = entry;
    this.#tree.append(
      leafHashInto(
        header.view,
        header.seqno,
        header.kind,
        entry.digest,
        header.requestDigest,
        header.claimsDigest ?? null,
        this.#leaf,
      ),
    );
    if (stage) {
      this.#staged.push(record);
      this.#recent.set(record.seqno, { record, entry, publicWrites });
      // Staged seqnos are consecutive, so the oldest kept is known: deleting it by key is O(1),
      // where `keys().next()` walks over every slot earlier deletions left empty (thousands).
      if (this.#recent.size > RECENT_DECODED_ENTRIES) {
        const oldest = record.seqno - RECENT_DECODED_ENTRIES;
        if (!this.#recent.delete(oldest)) this.#recent.delete(this.#recent.keys().next().value as number);
      }
    } else this.#persistedSeqno = record.seqno;
    if (record.view !== this.#views.at(-1)?.view)
      this.#views.push({ view: record.view, startSeqno: record.seqno });
    this.#lastView = record.view;
    if (entry.header.kind === "signature") this.#signatures.push(record.seqno);
    if (entry.header.kind === "internal") this.#internal.push(record.seqno);
  }

  #dropStagedFrom(fromSeqno: number): void {
    assert(fromSeqno > this.#persistedSeqno, "only staged entries are dropped here");
    this.#staged.length = Math.max(0, fromSeqno - this.#persistedSeqno - 1);
    this.#afterTruncate(fromSeqno);
  }

  #afterTruncate(fromSeqno: number): void {
    for (const seqno of this.#recent.keys()) if (seqno >= fromSeqno) this.#recent.delete(seqno);
    this.#tree.truncate(fromSeqno - 1);
    while ((this.#signatures.at(-1) ?? 0) >= fromSeqno) this.#signatures.pop();
    while ((this.#internal.at(-1) ?? 0) >= fromSeqno) this.#internal.pop();
    this.#internalCompacted = Math.min(this.#internalCompacted, fromSeqno - 1);
    while ((this.#views.at(-1)?.startSeqno ?? 0) >= fromSeqno) this.#views.pop();
    this.#lastView = fromSeqno > 1 ? this.#viewAt(fromSeqno - 1) : 0;
  }

  #leafHashAt(seqno: number): Uint8Array {
    const record = this.get(seqno);
    // A proof or root that needs entries before a snapshot this node installed (it never had them).
    if (record === undefined && seqno <= this.#store.baseSeqno)
      throw new TreatyError(
        "TxNotFound",
        `this proof needs entry ${seqno}, from before the snapshot at ${this.#store.baseSeqno} this node started from: not held here (ask a node that holds the ledger from its start)`,
        { seqno },
      );
    assert(record !== undefined, `leaf source: entry ${seqno} is missing`);
    return leafHash(storedLeafFields(record.bytes, seqno));
  }
}

/** The largest value ≤ `value` in ascending `sorted`, or undefined. */
function floorValue(sorted: readonly number[], value: number): number | undefined {
  const index = indexOfFloor(sorted, value);
  return index < 0 ? undefined : sorted[index];
}

/** The index of the largest value ≤ `value` in ascending `sorted`, or -1. */
function indexOfFloor(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! <= value) low = mid + 1;
    else high = mid;
  }
  return low - 1;
}

function checkMeta(meta: TxMetadata): void {
  assert(Number.isSafeInteger(meta.timeMs) && meta.timeMs >= 0, "meta.timeMs is a non-negative integer");
  // Three calls, not a loop over an array literal of the three: an array per entry for the GC.
  checkMetaString(meta.contract);
  checkMetaString(meta.method);
  checkMetaString(meta.callerId);
}

function checkMetaString(value: string | null): void {
  assert(
    value === null || (typeof value === "string" && value.length <= 1024),
    "meta strings are short or null",
  );
}
