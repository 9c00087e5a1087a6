/**
 * The transactional KV's shared types. Keys and values are bytes; map names carry their
 * security domain (CCF's rule): a name starting with `public:` is a public map, written to the
 * ledger in clear; any other name is private and encrypted in the ledger.
 *
 * Full map names:
 * - contract maps: `<contract>.<map>` (private) or `public:<contract>.<map>` (public);
 * - governance:    `public:gov.<table>`;
 * - node internal: `public:treaty.<table>`.
 * Contract names `gov` and `treaty` are reserved.
 */

export const PUBLIC_PREFIX = "public:";

export function isPublicMap(map: string): boolean {
  return map.startsWith(PUBLIC_PREFIX);
}

/** Writes to one map, keys in ascending bytewise order; `null` value means delete. */
export interface MapWrites {
  readonly map: string;
  readonly writes: ReadonlyArray<readonly [key: Uint8Array, value: Uint8Array | null]>;
}

/**
 * What one committed transaction changed, public and private parts kept apart so the ledger can
 * encrypt the private part. Maps are sorted by name, keys bytewise: equal changes give equal
 * write sets, byte for byte once encoded.
 */
export interface WriteSet {
  readonly public: readonly MapWrites[];
  readonly private: readonly MapWrites[];
}

export interface RangeOptions {
  /** Inclusive lower bound (bytes of the key). */
  readonly from?: Uint8Array;
  /** Exclusive upper bound. */
  readonly to?: Uint8Array;
  readonly reverse?: boolean;
  readonly limit?: number;
}

/** A read/write view of the store at one version, plus this transaction's own writes. */
export interface KvTx {
  /** The store version (seqno) this transaction reads at. */
  readonly readVersion: number;
  get(map: string, key: Uint8Array): Uint8Array | undefined;
  has(map: string, key: Uint8Array): boolean;
  set(map: string, key: Uint8Array, value: Uint8Array): void;
  /**
   * `set` for arrays made for this write alone (freshly encoded by the caller, referenced nowhere
   * else): the transaction may keep them instead of copying them, so the caller hands them over
   * and never reads or changes them again. Same checks and errors as `set`. Optional: callers
   * fall back to `set` where a transaction does not offer it.
   */
  setOwned?(map: string, key: Uint8Array, value: Uint8Array): void;
  delete(map: string, key: Uint8Array): void;
  /** Ordered iteration (bytewise key order) over the merged view, this tx's writes included. */
  range(map: string, options?: RangeOptions): IterableIterator<[Uint8Array, Uint8Array]>;
  /** The keys read, per map (for conflict detection and audit). */
  readSet(): ReadonlyMap<string, ReadonlySet<string>>;
  /** This transaction's changes as a write set (empty maps omitted). */
  writeSet(): WriteSet;
  /**
   * `writeSet()` without copying the bytes: the arrays are the transaction's own, which a store
   * may also hold once the transaction is applied. Only for a caller that copies them before they
   * leave its hands and never changes them (the execution worker packs them into its reply).
   * Optional: callers fall back to `writeSet()`.
   */
  writeSetView?(): WriteSet;
}
