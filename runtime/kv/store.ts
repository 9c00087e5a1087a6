/**
 * The transactional KV store: committed state in a backend (LMDB, or memory for `open(null)`)
 * under an in-memory overlay of applied-but-uncommitted versions.
 *
 * Versions are ledger seqnos. `apply(v, ws)` adds a write set as version v (gaps allowed: not
 * every entry writes state); `commit(v)` makes every version <= v durable in one backend batch
 * together with the version marker; `rollback(v)` discards uncommitted versions > v. The ledger is
 * the source of truth: after a crash the node re-applies entries above `committedVersion`, so
 * commit may lag apply by a whole batch and should be called per batch, never per transaction.
 *
 * Transactions read at one version: committed state + overlay writes <= that version + their own
 * writes. A transaction stays usable while its view exists; a commit above its read
 * version, or a rollback below it, ends the view and later calls throw TreatyError Conflict (the
 * caller re-executes on a fresh transaction). Runs synchronously; only commit and close await.
 *
 * A snapshot reads the committed state without a transaction: `pinCommitted` pins it (one LMDB
 * read transaction) between two commits, and later commits go on while the pin is read.
 *
 * Checks at the boundary: map names (non-empty, <= 256 UTF-8 bytes, no U+0000, well-formed),
 * keys (bytes, may be empty, <= maxKeyBytes), values (bytes, <= maxValueBytes). Bad input throws
 * TreatyError InvalidArgs / KeyTooLarge / ValueTooLarge naming the map and field. Write sets given
 * to `apply` come from the ledger, so they are checked for shape (LedgerCorrupt) but not against
 * this node's size caps: every node must apply every committed write set.
 */
import { assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import { type CommittedBackend, type MapRef, mapRef, type PinnedState, type RowSink } from "./backend.js";
import { copyBytes, hexOf, ownedBytes } from "./bytes.js";
import {
  checkMapName,
  DEFAULT_MAX_KEY_BYTES,
  DEFAULT_MAX_VALUE_BYTES,
  KEY_BYTES_LIMIT,
  showMap,
  VALUE_BYTES_LIMIT,
} from "./limits.js";
import { LmdbBackend } from "./lmdb-backend.js";
import { MemoryBackend } from "./memory-backend.js";
import { AT_REST_KEY_BYTES, type ResealCursor, SealedBackend } from "./sealed-backend.js";
import { type LayerEntry, mergeLayers, pagedRows } from "./merge.js";
import { Overlay, type OverlayWrite, valueAt } from "./overlay.js";
import { StoreTx, type TxHost } from "./tx.js";
import type { KvTx, WriteSet } from "./types.js";
import { checkWriteSet } from "./write-set.js";

/** Per-node caps enforced on transaction writes (not on applied ledger write sets). */
export interface KvStoreOptions {
  /** Largest key in bytes (default 1024, at most KEY_BYTES_LIMIT = 1721). */
  maxKeyBytes?: number;
  /** Largest value in bytes (default 1 MiB, at most 256 MiB). */
  maxValueBytes?: number;
  /** 32-byte key sealing private maps' values on disk (see sealed-backend.ts); LMDB stores only. */
  atRestKey?: Uint8Array;
  /** Earlier at-rest keys of a re-seal that had not finished: they open values but seal nothing. */
  olderAtRestKeys?: readonly Uint8Array[];
  /**
   * Least time between the starts of two backend writes of commits, ms (default 0: a commit
   * starts as soon as the write before it is done). A durable LMDB commit has a fixed cost
   * (~100 µs of the calling thread, ~200 µs more on lmdb-js's write thread and the fsync), so a
   * node that commits at every consensus commit paces them: commits requested meanwhile join the
   * next write (group commit), which holds more versions. Only when a version becomes durable in
   * the KV changes: the ledger is the source of truth (module comment).
   */
  minCommitIntervalMs?: number;
}

/** Upper bound of `minCommitIntervalMs`: the overlay holds every version of the interval. */
export const MAX_COMMIT_INTERVAL_MS = 1_000;

/** Map names whose MapRef is cached; beyond this the cache starts over (hostile names churn it). */
const MAP_CACHE_LIMIT = 4096;

/** The committed state pinned at one version (KvStore.pinCommitted). */
export interface CommittedPin {
  readonly version: number;
  /** Names of the maps with rows, sorted as strings (the order of snapshot bodies). */
  readonly maps: readonly string[];
  /** PinnedState.scan by map name. */
  scan(map: string, after: Uint8Array | undefined, limit: number, sink: RowSink): number;
  /** Ends the pin (idempotent). */
  release(): void;
}

interface RollbackMark {
  readonly epoch: number;
  readonly target: number;
}

/** See the module comment. One store per path per process; close it when done. */
export class KvStore {
  private readonly overlay = new Overlay();
  private readonly refs = new Map<string, MapRef>();
  private applied: number;
  private committed: number;
  /** Highest version a commit was requested for: reads below it are no longer consistent. */
  private floor: number;
  private lastCommit: Promise<void> = Promise.resolve();
  /**
   * The backend write queued behind the running one and not started yet (it is `lastCommit`): a
   * commit requested meanwhile raises its target instead of queuing one more write. A pin or a
   * re-seal step queued after it closes it (null), so later commits go after them.
   */
  private openCommit: { target: number; readonly run: Promise<void> } | null = null;
  private closing: Promise<void> | null = null;
  /** Bumped by every rollback that discards versions. */
  private epoch = 0;
  /** Rollbacks still able to invalidate a current-looking tx: epochs and targets both increase. */
  private readonly rollbacks: RollbackMark[] = [];
  /** Txs begun before this epoch are stale (their rollback marks were pruned). */
  private staleBeforeEpoch = 0;
  private readonly host: TxHost;
  /** Backend writes (commits, re-seal steps) running now. */
  private writing = 0;
  /** Pins not released yet: close() ends them before the backend closes. */
  private readonly pins = new Set<PinnedState>();

  /** When the last backend write of a commit started (performance.now()), for pacing. */
  private lastWriteStartMs = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly backend: CommittedBackend,
    private readonly maxKeyBytes: number,
    private readonly maxValueBytes: number,
    private readonly minCommitIntervalMs: number,
  ) {
    this.committed = backend.committedVersion;
    this.applied = this.committed;
    this.floor = this.committed;
    this.host = {
      mapRef: (map, field) => this.mapRefFor(map, field),
      checkKey: (map, key, field) => this.checkKey(map, key, field),
      checkValue: (map, value, field) => this.checkValue(map, value, field),
      ensureCurrent: (readVersion, epoch) => this.ensureCurrent(readVersion, epoch),
      readAt: (map, key, hex, version) => this.readAt(map, key, hex, version),
      layersAt: (map, bounds, reverse, version) => this.layersAt(map, bounds, reverse, version),
    };
  }

  /**
   * Opens (or creates) the store. `path` = an LMDB directory (created if missing); `null` = purely
   * in-memory (simulator, tests). Throws TreatyError InvalidArgs for bad options, Unavailable when
   * LMDB cannot open the directory, LedgerCorrupt when its markers are unreadable.
   */
  static open(path: string | null, options: KvStoreOptions = {}): KvStore {
    const maxKeyBytes = capOption(options.maxKeyBytes, "maxKeyBytes", DEFAULT_MAX_KEY_BYTES, KEY_BYTES_LIMIT);
    const maxValueBytes = capOption(
      options.maxValueBytes,
      "maxValueBytes",
      DEFAULT_MAX_VALUE_BYTES,
      VALUE_BYTES_LIMIT,
    );
    if (path !== null && (typeof path !== "string" || path.length === 0)) {
      throw new TreatyError("InvalidArgs", "path: expected a directory path or null");
    }
    for (const key of [options.atRestKey, ...(options.olderAtRestKeys ?? [])]) {
      if (key !== undefined && key.length !== AT_REST_KEY_BYTES)
        throw new TreatyError("InvalidArgs", `atRestKey: expected ${AT_REST_KEY_BYTES} bytes`);
    }
    const backend =
      path === null
        ? new MemoryBackend()
        : options.atRestKey === undefined
          ? LmdbBackend.open(path)
          : new SealedBackend(LmdbBackend.open(path), options.atRestKey, options.olderAtRestKeys);
    const interval = options.minCommitIntervalMs ?? 0;
    if (!Number.isFinite(interval) || interval < 0 || interval > MAX_COMMIT_INTERVAL_MS) {
      throw new TreatyError(
        "InvalidArgs",
        `options.minCommitIntervalMs: expected 0..${MAX_COMMIT_INTERVAL_MS}, got ${String(interval)}`,
      );
    }
    return new KvStore(backend, maxKeyBytes, maxValueBytes, interval);
  }

  /** Highest version applied (committed or not). */
  get appliedVersion(): number {
    return this.applied;
  }

  /** Highest version durably persisted. */
  get committedVersion(): number {
    return this.committed;
  }

  /** Applied versions whose writes are still held in memory, awaiting commit (for metrics). */
  get uncommittedVersions(): number {
    return this.overlay.size;
  }

  /** A transaction reading at appliedVersion; writes stay local to it until the caller applies its write set. */
  /** Every map name the store holds rows or overlay writes for, live or not, sorted. */
  knownMaps(): string[] {
    this.assertOpen();
    return [...new Set([...this.backend.mapNames(), ...this.overlay.mapNames()])].sort();
  }

  begin(): KvTx {
    this.assertOpen();
    return new StoreTx(this.host, this.applied, this.epoch);
  }

  /**
   * A transaction reading at `version` (committedVersion <= version <= appliedVersion). Throws
   * TreatyError NotFound when that version's state is not held (already folded into committed
   * state, a commit above it is in flight, or not applied yet).
   */
  beginAt(version: number): KvTx {
    this.assertOpen();
    if (!Number.isSafeInteger(version) || version < this.floor || version > this.applied) {
      throw new TreatyError(
        "NotFound",
        `version: state is held for versions ${this.floor}..${this.applied}, got ${String(version)}`,
      );
    }
    return new StoreTx(this.host, version, this.epoch);
  }

  /**
   * Adds a write set as version `version` (> appliedVersion; gaps allowed: not every ledger entry
   * writes state). Copies the bytes, unless `owned`: the caller hands the write set's byte arrays
   * over (no one writes into them, or into the buffers under them, afterwards), and the store keeps
   * them as they are (a Buffer is still copied: it may share a pool) until the version is
   * committed or rolled back. A follower's execution worker
   * applies replicated write sets that way: they are views of one buffer transferred to it for
   * the apply alone (node/execution/pack.ts), and a copy each was two ArrayBuffers per write to
   * allocate and later sweep. Throws TreatyError LedgerCorrupt, changing nothing, when the write
   * set is malformed; a non-increasing version is a bug (assert).
   */
  apply(version: number, writeSet: WriteSet, owned = false): void {
    this.assertOpen();
    assert(Number.isSafeInteger(version) && version > this.applied, "applied versions increase");
    checkWriteSet(writeSet, { field: `writeSet@${version}`, code: "LedgerCorrupt" });
    const writes: OverlayWrite[] = [];
    this.collectWrites(writeSet.public, owned, writes);
    this.collectWrites(writeSet.private, owned, writes);
    this.overlay.add(version, writes);
    this.applied = version;
  }

  /** Adds the writes of `part` to `out` (copied unless `owned`, see `apply`). */
  private collectWrites(part: WriteSet["public"], owned: boolean, out: OverlayWrite[]): void {
    // Indexed loops: `for...of` over destructured pairs allocates per write until optimized.
    for (let m = 0; m < part.length; m++) {
      const { map, writes: pairs } = part[m]!;
      const ref = this.mapRefFor(map, "map");
      for (let w = 0; w < pairs.length; w++) {
        const pair = pairs[w]!;
        const key = pair[0];
        const value = pair[1];
        out.push({
          map: ref,
          key: owned ? ownedBytes(key) : copyBytes(key),
          hex: hexOf(key),
          value: value === null ? null : owned ? ownedBytes(value) : copyBytes(value),
        });
      }
    }
  }

  /**
   * Adds the writes of `tx`, a transaction of this store, as version `version`: the same as
   * `apply(version, tx.writeSet())`, without the copies and the shape check (the tx checked
   * every write as it was made and owns the bytes it holds; see StoreTx.overlayWrites). A tx of
   * another store takes the `apply` path.
   */
  applyTx(version: number, tx: KvTx): void {
    this.assertOpen();
    const writes = tx instanceof StoreTx ? tx.overlayWrites(this.host) : undefined;
    if (writes === undefined) {
      this.apply(version, tx.writeSet());
      return;
    }
    assert(Number.isSafeInteger(version) && version > this.applied, "applied versions increase");
    this.overlay.add(version, writes);
    this.applied = version;
  }

  /**
   * Durably persists all applied versions <= version into the backend, atomically with the
   * version marker. Backend writes run one after another, and every commit requested while one
   * runs joins the next (group commit): however often commits are requested, at most one write
   * waits, so a slow disk makes each write larger rather than the queue longer; with
   * `minCommitIntervalMs`, a write also waits until that long after the start of the one before.
   * A commit at or below one already requested shares its promise. On I/O failure the promise rejects with
   * TreatyError Unavailable and the versions stay in the overlay, so a later commit retries them.
   */
  commit(version: number): Promise<void> {
    this.assertOpen();
    assert(Number.isSafeInteger(version) && version <= this.applied, "commit only applied versions");
    if (version <= this.committed) return Promise.resolve();
    if (version <= this.floor) return this.lastCommit;
    this.floor = version;
    this.pruneRollbackMarks();
    if (this.openCommit !== null) {
      this.openCommit.target = version;
      return this.openCommit.run;
    }
    const next: { target: number; run: Promise<void> } = { target: version, run: Promise.resolve() };
    next.run = this.lastCommit
      .catch(() => undefined)
      .then(() => this.paced())
      .then(() => {
        if (this.openCommit === next) this.openCommit = null;
        this.lastWriteStartMs = performance.now();
        return this.persistUpTo(next.target);
      });
    this.openCommit = next;
    this.lastCommit = next.run;
    return next.run;
  }

  /**
   * Discards applied, uncommitted versions > version; appliedVersion becomes `version`. Going
   * below committedVersion (or below a commit in flight) is a bug (assert). Transactions reading
   * above `version` are ended (Conflict).
   */
  rollback(version: number): void {
    this.assertOpen();
    assert(Number.isSafeInteger(version), "rollback version is an integer");
    assert(version >= this.floor, "rollback never goes below committed (or committing) versions");
    if (version >= this.applied) return;
    this.overlay.discardAbove(version);
    this.applied = version;
    this.epoch++;
    while (this.rollbacks.length > 0 && this.rollbacks[this.rollbacks.length - 1]!.target >= version) {
      this.rollbacks.pop();
    }
    this.rollbacks.push({ epoch: this.epoch, target: version });
  }

  /**
   * At-rest rekey (see sealed-backend.ts): values are sealed with `key` from the next commit on.
   * Throws TreatyError InvalidArgs for a key of the wrong length or a store without sealing.
   */
  useAtRestKey(key: Uint8Array): void {
    this.assertOpen();
    if (key.length !== AT_REST_KEY_BYTES)
      throw new TreatyError("InvalidArgs", `atRestKey: expected ${AT_REST_KEY_BYTES} bytes`);
    this.sealed().useKey(key);
  }

  /**
   * Re-seals up to `limit` committed private values after `after` under the newest at-rest key,
   * between commits (never overlapping one). Returns where to continue, or null when done.
   */
  resealAtRest(after: ResealCursor | null, limit: number): Promise<ResealCursor | null> {
    this.assertOpen();
    const sealed = this.sealed();
    this.openCommit = null;
    const run = this.lastCommit
      .catch(() => undefined)
      .then(async () => {
        this.writing++;
        try {
          return await sealed.resealStep(after, limit);
        } finally {
          this.writing--;
        }
      });
    this.lastCommit = run.then(() => undefined);
    return run;
  }

  /** Drops the older at-rest keys (after a complete re-seal) and zeroes them. */
  retireOlderAtRestKeys(): void {
    this.assertOpen();
    this.sealed().retireOlderKeys();
  }

  private sealed(): SealedBackend {
    if (!(this.backend instanceof SealedBackend))
      throw new TreatyError("InvalidArgs", "atRestKey: this store does not seal private state at rest");
    return this.backend;
  }

  /**
   * Pins the committed state at `version` for a reader that runs across later commits, as a
   * snapshot does: no transaction, no overlay, no read tracking, values straight from the backend
   * (private ones opened). The pin is taken in the commit sequence: after the commits requested
   * before this call, before those requested after it; it resolves null when the committed
   * version is not `version` then. The caller releases it; close() ends what is left.
   */
  pinCommitted(version: number): Promise<CommittedPin | null> {
    this.assertOpen();
    this.openCommit = null;
    const previous = this.lastCommit;
    const run = previous
      .catch(() => undefined)
      .then(() => (this.closing === null && this.committed === version ? this.pin() : null));
    // Later commits wait for the pin; a commit sharing `lastCommit` still sees a failure before it
    // (observed here too, so a failure nobody shares is not an unhandled rejection).
    this.lastCommit = run.then(
      () => previous,
      () => previous,
    );
    this.lastCommit.catch(() => undefined);
    return run;
  }

  private pin(): CommittedPin {
    assert(this.writing === 0, "the committed state is pinned between backend writes");
    const pinned = this.backend.pin();
    assert(pinned.version === this.committed, "a pin is at the committed version");
    this.pins.add(pinned);
    const maps = pinned.mapNames().sort();
    return {
      version: pinned.version,
      maps,
      scan: (map, after, limit, sink) => pinned.scan(this.mapRefFor(map, "map"), after, limit, sink),
      release: () => {
        if (this.pins.delete(pinned)) pinned.release();
      },
    };
  }

  /** Reads committed+applied state outside any transaction (for status and tooling); a fresh copy. */
  get(map: string, key: Uint8Array): Uint8Array | undefined {
    this.assertOpen();
    const ref = this.mapRefFor(map, "map");
    this.checkKey(ref, key, "key");
    const value = this.readAt(ref, key, hexOf(key), this.applied);
    return value === undefined ? undefined : copyBytes(value);
  }

  /** The names of all maps that have at least one key at appliedVersion, sorted. */
  maps(): string[] {
    this.assertOpen();
    const names = new Set([...this.backend.mapNames(), ...this.overlay.mapNames()]);
    const out: string[] = [];
    for (const name of names) {
      if (this.hasLiveKey(this.mapRefFor(name, "map"))) out.push(name);
    }
    return out.sort();
  }

  /** Waits for commits in flight, then releases the backend. Idempotent. */
  close(): Promise<void> {
    if (this.closing === null) {
      for (const pinned of this.pins) pinned.release();
      this.pins.clear();
      this.closing = this.lastCommit.catch(() => undefined).then(() => this.backend.close());
    }
    return this.closing;
  }

  private hasLiveKey(ref: MapRef): boolean {
    for (const entry of mergeLayers(this.layersAt(ref, {}, false, this.applied), false)) {
      if (entry.value !== null) return true;
    }
    return false;
  }

  /**
   * Resolves once `minCommitIntervalMs` has passed since the last commit write started (at once
   * when it has, or when the store is closing: close waits for the commits in flight).
   */
  private paced(): Promise<void> | undefined {
    const waitMs = this.lastWriteStartMs + this.minCommitIntervalMs - performance.now();
    if (waitMs <= 0 || this.closing !== null) return undefined;
    return new Promise((resolve) => setTimeout(resolve, waitMs));
  }

  private async persistUpTo(version: number): Promise<void> {
    if (version <= this.committed) return;
    const batch = this.overlay.batch(this.committed, version);
    this.writing++;
    try {
      await this.backend.persist(version, batch);
    } catch (err) {
      throw new TreatyError(
        "Unavailable",
        `kv commit of version ${version} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      this.writing--;
    }
    this.committed = version;
    this.overlay.pruneUpTo(version);
  }

  private readAt(ref: MapRef, key: Uint8Array, hex: string, version: number): Uint8Array | undefined {
    const record = this.overlay.record(ref.name, hex);
    if (record !== undefined) {
      const value = valueAt(record, version);
      if (value !== undefined) return value ?? undefined;
    }
    return this.backend.get(ref, key);
  }

  private layersAt(
    ref: MapRef,
    bounds: { readonly lower?: Uint8Array | undefined; readonly upper?: Uint8Array | undefined },
    reverse: boolean,
    version: number,
  ): Iterator<LayerEntry>[] {
    return [this.overlayLayer(ref, bounds, reverse, version), this.committedLayer(ref, bounds, reverse)];
  }

  private *overlayLayer(
    ref: MapRef,
    bounds: { readonly lower?: Uint8Array | undefined; readonly upper?: Uint8Array | undefined },
    reverse: boolean,
    version: number,
  ): Generator<LayerEntry> {
    const records = this.overlay.recordsWithin(
      ref.name,
      {
        lower: bounds.lower === undefined ? undefined : hexOf(bounds.lower),
        upper: bounds.upper === undefined ? undefined : hexOf(bounds.upper),
      },
      reverse,
    );
    for (const record of records) {
      const value = valueAt(record, version);
      if (value !== undefined) yield { hex: record.hex, key: record.key, value };
    }
  }

  private committedLayer(
    ref: MapRef,
    bounds: { readonly lower?: Uint8Array | undefined; readonly upper?: Uint8Array | undefined },
    reverse: boolean,
  ): Generator<LayerEntry> {
    return pagedRows(
      (lower, lowerExclusive, upper, limit) =>
        this.backend.scan(ref, { lower, lowerExclusive, upper }, reverse, limit),
      bounds,
      reverse,
      hexOf,
    );
  }

  private ensureCurrent(readVersion: number, epoch: number): void {
    if (this.closing !== null) throw new TreatyError("Unavailable", "kv store is closed");
    if (readVersion < this.floor) {
      throw new TreatyError(
        "Conflict",
        `kv transaction at version ${readVersion} ended: versions up to ${this.floor} were committed`,
      );
    }
    if (epoch !== this.epoch && this.rolledBackBelow(epoch, readVersion)) {
      throw new TreatyError(
        "Conflict",
        `kv transaction at version ${readVersion} ended: the versions it read were rolled back`,
      );
    }
  }

  /** True when a rollback after `epoch` discarded a version <= `readVersion`. */
  private rolledBackBelow(epoch: number, readVersion: number): boolean {
    if (epoch < this.staleBeforeEpoch) return true;
    // The first mark after `epoch` has the lowest target of all later rollbacks.
    let lo = 0;
    let hi = this.rollbacks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.rollbacks[mid]!.epoch <= epoch) lo = mid + 1;
      else hi = mid;
    }
    const mark = this.rollbacks[lo];
    return mark !== undefined && mark.target < readVersion;
  }

  /** Marks below the floor can only ever say "stale"; fold them into staleBeforeEpoch. */
  private pruneRollbackMarks(): void {
    let drop = 0;
    while (drop < this.rollbacks.length && this.rollbacks[drop]!.target < this.floor) drop++;
    if (drop === 0) return;
    this.staleBeforeEpoch = Math.max(this.staleBeforeEpoch, this.rollbacks[drop - 1]!.epoch);
    this.rollbacks.splice(0, drop);
  }

  private mapRefFor(map: unknown, field: string): MapRef {
    if (typeof map === "string") {
      const cached = this.refs.get(map);
      if (cached !== undefined) return cached;
    }
    const checked = checkMapName(map);
    if ("error" in checked) {
      const shown = typeof map === "string" ? ` ${showMap(map)}` : "";
      throw new TreatyError("InvalidArgs", `${field}${shown}: ${checked.error}`);
    }
    if (this.refs.size >= MAP_CACHE_LIMIT) this.refs.clear();
    const ref = mapRef(map as string, checked.bytes);
    this.refs.set(ref.name, ref);
    return ref;
  }

  private checkKey(ref: MapRef, key: unknown, field: string): asserts key is Uint8Array {
    if (!(key instanceof Uint8Array)) {
      throw new TreatyError("InvalidArgs", `map ${showMap(ref.name)} ${field}: expected bytes (Uint8Array)`);
    }
    if (key.length > this.maxKeyBytes) {
      throw new TreatyError(
        "KeyTooLarge",
        `map ${showMap(ref.name)} ${field}: key is ${key.length} bytes, max ${this.maxKeyBytes}`,
        { map: ref.name, bytes: key.length, max: this.maxKeyBytes },
      );
    }
  }

  private checkValue(ref: MapRef, value: unknown, field: string): asserts value is Uint8Array {
    if (!(value instanceof Uint8Array)) {
      throw new TreatyError("InvalidArgs", `map ${showMap(ref.name)} ${field}: expected bytes (Uint8Array)`);
    }
    if (value.length > this.maxValueBytes) {
      throw new TreatyError(
        "ValueTooLarge",
        `map ${showMap(ref.name)} ${field}: value is ${value.length} bytes, max ${this.maxValueBytes}`,
        { map: ref.name, bytes: value.length, max: this.maxValueBytes },
      );
    }
  }

  private assertOpen(): void {
    assert(this.closing === null, "kv store used after close()");
  }
}

function capOption(value: unknown, field: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new TreatyError(
      "InvalidArgs",
      `options.${field}: expected an integer in 1..${max}, got ${String(value)}`,
    );
  }
  return value;
}
