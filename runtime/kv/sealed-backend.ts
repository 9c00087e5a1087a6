/**
 * Private state at rest: a backend decorator that seals the values of private maps (names not
 * starting with `public:`) with AES-256-GCM before they reach the disk, and opens them on the way
 * back. The host and its disk are untrusted (DESIGN.md's trust model); the ledger already
 * encrypts private writes, and this keeps the node's materialized state equally unreadable.
 *
 * Sealed value = nonce (12 random bytes) || ciphertext || tag (16), with the map name and key as
 * associated data, so a value moved to another key or map fails to open (LedgerCorrupt). Keys
 * stay in clear because range scans need their order: contracts should not put secrets in keys
 * (docs/contracts.md says so). The key is node-local (never replicated), from the node's sealed
 * secrets; losing it means rebuilding the KV from the ledger.
 *
 * Three internal maps are stored in clear at rest (CLEAR_AT_REST): the replay-protection nonce
 * tables, whose values (a txid and a time, or empty) say nothing the ledger does not show in clear
 * for the same request (docs/ARCHITECTURE.md, "Nonce tables in clear at rest"), and which hold
 * most of the rows a snapshot reads. Stores written before (LMDB format 1) hold them sealed: such
 * values still open, and the first write rewrites them in clear in the same LMDB transaction that
 * marks format 2, so a store is never half migrated.
 *
 * Rekey (`useKey`, `resealStep`, `retireOlderKeys`): new writes are sealed with the newest key,
 * values open with any key held (AES-GCM's tag tells which), and a re-seal walks the private
 * maps in bounded steps rewriting every value under the newest key; then the older keys are
 * dropped and their bytes zeroed.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
import { concatBytes, setU32BE } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { assert } from "../../sdk/assert.js";
import {
  type BatchWrite,
  type CommittedBackend,
  type MapRef,
  mapRef,
  type PinnedState,
  type Row,
  type RowSink,
  type ScanBounds,
} from "./backend.js";
import { isPublicMap } from "./types.js";
import { LMDB_FORMAT, LmdbBackend } from "./lmdb-backend.js";

const NONCE_BYTES = 12;
/** Nonces are cut from blocks of this many random bytes: one CSPRNG call per 341 sealed values. */
const NONCE_POOL_BYTES = 4092;
const TAG_BYTES = 16;
export const AT_REST_KEY_BYTES = 32;

/**
 * Private maps stored unsealed (see the module comment): node/execution/nonces.ts's tables
 * (`INTERNAL.nonceLog`, and the legacy `INTERNAL.nonces`, `INTERNAL.nonceExpiry` in
 * node/gov/tables.ts; a test ties the names).
 */
export const CLEAR_AT_REST: ReadonlySet<string> = new Set([
  "treaty.nonceLog",
  "treaty.nonces",
  "treaty.nonceExpiry",
]);

/** Whether values of `name` are sealed at rest (in a store of the current format). */
function sealedAtRest(name: string): boolean {
  return !isPublicMap(name) && !CLEAR_AT_REST.has(name);
}

function aad(map: MapRef, key: Uint8Array): Uint8Array {
  const length = new Uint8Array(4);
  setU32BE(length, 0, map.bytes.length);
  return concatBytes(length, map.bytes, key);
}

/** Where a re-seal continues: after `key` in `map` (maps in name order). */
export interface ResealCursor {
  readonly map: string;
  readonly key: Uint8Array;
}

export class SealedBackend implements CommittedBackend {
  /** Newest first: `keys[0]` seals, every one opens. */
  #keys: Uint8Array[];
  /** Random bytes not handed out yet: nonces are consumed from here, never reused. */
  #noncePool = new Uint8Array(0);
  #nonceOffset = 0;
  /** The store still holds CLEAR_AT_REST maps sealed (format 1): its next write migrates them. */
  #legacy: boolean;

  /**
   * `key` seals and opens; `older` keys (a re-seal that had not finished) only open. All must be
   * AT_REST_KEY_BYTES long (KvStore.open checks them before opening the disk).
   */
  constructor(
    private readonly inner: CommittedBackend,
    key: Uint8Array,
    older: readonly Uint8Array[] = [],
  ) {
    this.#keys = [key, ...older];
    this.#legacy =
      inner instanceof LmdbBackend && inner.openedFormat !== 0 && inner.openedFormat < LMDB_FORMAT;
  }

  /** Seals from now on with `key`; the keys held so far still open. */
  useKey(key: Uint8Array): void {
    assert(key.length === AT_REST_KEY_BYTES, "at-rest keys are AT_REST_KEY_BYTES long");
    this.#keys = [key, ...this.#keys.filter((k) => !sameBytes(k, key))];
  }

  /** How many older keys are still held (0 once a re-seal finished). */
  get olderKeys(): number {
    return this.#keys.length - 1;
  }

  /** Forgets every key but the newest and zeroes their bytes: call after a complete re-seal. */
  retireOlderKeys(): void {
    for (const key of this.#keys.slice(1)) key.fill(0);
    this.#keys = this.#keys.slice(0, 1);
  }

  /**
   * Rewrites up to `limit` private values after `after` under the newest key, durably, keeping
   * the committed version. Returns where to continue, or null when every private map was walked.
   * The caller serializes it with `persist` (KvStore does).
   */
  async resealStep(after: ResealCursor | null, limit: number): Promise<ResealCursor | null> {
    assert(Number.isSafeInteger(limit) && limit > 0, "resealStep: a positive limit");
    const maps = this.inner
      .mapNames()
      .filter((name) => sealedAtRest(name) && (after === null || name >= after.map))
      .sort();
    const writes: BatchWrite[] = [];
    let scanned = 0;
    let cursor: ResealCursor | null = null;
    for (const name of maps) {
      const map = mapRef(name);
      const bounds = after !== null && name === after.map ? { lower: after.key, lowerExclusive: true } : {};
      const rows = this.inner.scan(map, bounds, false, limit - scanned);
      for (const row of rows) {
        const opened = this.#openWith(map, row.key, row.value);
        if (opened.index !== 0)
          writes.push({ map, key: row.key, value: this.#seal(map, row.key, opened.plain) });
      }
      scanned += rows.length;
      if (scanned >= limit) {
        cursor = { map: name, key: rows[rows.length - 1]!.key };
        break;
      }
    }
    if (writes.length > 0 || this.#legacy) await this.#persist(this.inner.committedVersion, writes);
    return cursor;
  }

  get committedVersion(): number {
    return this.inner.committedVersion;
  }

  get(map: MapRef, key: Uint8Array): Uint8Array | undefined {
    const value = this.inner.get(map, key);
    return value === undefined || !this.#sealed(map.name) ? value : this.#open(map, key, value);
  }

  scan(map: MapRef, bounds: ScanBounds, reverse: boolean, limit: number): Row[] {
    const rows = this.inner.scan(map, bounds, reverse, limit);
    return !this.#sealed(map.name)
      ? rows
      : rows.map((row) => ({ key: row.key, value: this.#open(map, row.key, row.value) }));
  }

  /** Whether values of `name` are sealed in the store as it is now. */
  #sealed(name: string): boolean {
    return this.#legacy ? !isPublicMap(name) : sealedAtRest(name);
  }

  mapNames(): string[] {
    return this.inner.mapNames();
  }

  persist(version: number, writes: readonly BatchWrite[]): Promise<void> {
    // A loop, not `map` with an arrow: an arrow made per call and hot within it loses its
    // optimized code at every major GC, and TurboFan compiled it again
    // (docs/performance.md, "Hot closures recompiled after every major GC").
    const stored: BatchWrite[] = new Array(writes.length);
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      stored[i] =
        w.value === null || !sealedAtRest(w.map.name)
          ? w
          : { ...w, value: this.#seal(w.map, w.key, w.value) };
    }
    return this.#persist(version, stored);
  }

  /** Writes `writes` (sealed as needed), first migrating a format-1 store (module comment). */
  async #persist(version: number, writes: readonly BatchWrite[]): Promise<void> {
    if (!this.#legacy) return this.inner.persist(version, writes);
    const migrated: BatchWrite[] = [];
    for (const name of this.inner.mapNames()) {
      if (!CLEAR_AT_REST.has(name)) continue;
      const map = mapRef(name);
      for (const row of this.inner.scan(map, {}, false, Number.POSITIVE_INFINITY))
        migrated.push({ map, key: row.key, value: this.#open(map, row.key, row.value) });
    }
    // The batch's own writes come after the migrated rows, so they win.
    await this.inner.persist(version, [...migrated, ...writes]);
    this.#legacy = false;
  }

  /** The inner pin with private values opened by the keys held now (copied: a retire zeroes them). */
  pin(): PinnedState {
    const inner = this.inner.pin();
    // Copies (Uint8Array.from: a Buffer's slice would share the bytes the release zeroes).
    const keys = this.#keys.map((key) => Uint8Array.from(key));
    const legacy = this.#legacy;
    return {
      version: inner.version,
      mapNames: () => inner.mapNames(),
      scan: (map, after, limit, sink) =>
        (legacy ? isPublicMap(map.name) : !sealedAtRest(map.name))
          ? inner.scan(map, after, limit, sink)
          : inner.scan(map, after, limit, new OpeningSink(keys, map, sink)),
      release: () => {
        inner.release();
        for (const key of keys) key.fill(0);
      },
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  #seal(map: MapRef, key: Uint8Array, value: Uint8Array): Uint8Array {
    if (this.#nonceOffset + NONCE_BYTES > this.#noncePool.length) {
      this.#noncePool = randomFillSync(new Uint8Array(NONCE_POOL_BYTES));
      this.#nonceOffset = 0;
    }
    const nonce = this.#noncePool.subarray(this.#nonceOffset, this.#nonceOffset + NONCE_BYTES);
    this.#nonceOffset += NONCE_BYTES;
    const cipher = createCipheriv("aes-256-gcm", this.#keys[0]!, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(map, key));
    return concatBytes(nonce, cipher.update(value), cipher.final(), cipher.getAuthTag());
  }

  #open(map: MapRef, key: Uint8Array, sealed: Uint8Array): Uint8Array {
    return this.#openWith(map, key, sealed).plain;
  }

  /** Opens with the first key that authenticates; `index` says which (0 = the newest). */
  #openWith(map: MapRef, key: Uint8Array, sealed: Uint8Array): { plain: Uint8Array; index: number } {
    return openWith(this.#keys, map, key, sealed);
  }
}

/** A pinned scan's sink for a sealed map: each value opened (a fresh array), then handed on. */
class OpeningSink implements RowSink {
  constructor(
    private readonly keys: readonly Uint8Array[],
    private readonly map: MapRef,
    private readonly next: RowSink,
  ) {}

  row(
    keys: Uint8Array,
    keyStart: number,
    keyEnd: number,
    values: Uint8Array,
    valueStart: number,
    valueEnd: number,
  ): boolean {
    const key = keys.subarray(keyStart, keyEnd);
    const plain = openWith(this.keys, this.map, key, values.subarray(valueStart, valueEnd)).plain;
    return this.next.row(keys, keyStart, keyEnd, plain, 0, plain.length);
  }
}

/** Opens `sealed` with the first of `keys` that authenticates; `index` says which. */
function openWith(
  keys: readonly Uint8Array[],
  map: MapRef,
  key: Uint8Array,
  sealed: Uint8Array,
): { plain: Uint8Array; index: number } {
  if (sealed.length >= NONCE_BYTES + TAG_BYTES) {
    for (let index = 0; index < keys.length; index++) {
      try {
        const decipher = createDecipheriv("aes-256-gcm", keys[index]!, sealed.subarray(0, NONCE_BYTES), {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(aad(map, key));
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
        const plain = concatBytes(
          decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)),
          decipher.final(),
        );
        return { plain, index };
      } catch {
        // Not this key: try the next.
      }
    }
  }
  throw new TreatyError(
    "LedgerCorrupt",
    `kv map ${map.name}: a stored private value does not open with this node's at-rest key`,
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
