/**
 * The committed-state backend under the store's in-memory overlay: LMDB on disk or a plain
 * in-memory table. Both implement this interface and pass the same conformance suite through
 * KvStore. A backend only ever sees whole, durable batches (one per `KvStore.commit`); versions,
 * overlays and transactions are the store's business.
 */

/** A validated map name with its encodings, made once per name by the store. */
export interface MapRef {
  readonly name: string;
  /** UTF-8 of the name. */
  readonly bytes: Uint8Array;
  /** `bytes 0x00`: every composite key of the map starts with it. */
  readonly prefix: Uint8Array;
}

/** Key bounds of a scan: `lower` inclusive unless `lowerExclusive`; `upper` exclusive. */
export interface ScanBounds {
  readonly lower?: Uint8Array | undefined;
  readonly lowerExclusive?: boolean;
  readonly upper?: Uint8Array | undefined;
}

/** One stored entry; both arrays are fresh copies owned by the caller. */
export interface Row {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** One key's final state in a commit batch (`null` deletes it). */
export interface BatchWrite {
  readonly map: MapRef;
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/**
 * Where a pinned scan puts its rows (PinnedState.scan). The key is `keys[keyStart, keyEnd)` and
 * the value `values[valueStart, valueEnd)`, both valid only during the call: the LMDB backend
 * hands its own reused buffers, so a snapshot read makes no view, copy or object per row. `row`
 * returns false to end the scan after this row (a snapshot read's slice is over). A
 * method on an object rather than a callback: a closure made per scan and hot within it loses its
 * optimized code at every major GC (docs/performance.md, "Hot closures recompiled after every
 * major GC").
 */
export interface RowSink {
  row(
    keys: Uint8Array,
    keyStart: number,
    keyEnd: number,
    values: Uint8Array,
    valueStart: number,
    valueEnd: number,
  ): boolean;
}

/**
 * The committed state as it was when pinned (one LMDB read transaction), readable while later
 * batches persist: what a snapshot scans without stopping commits. Release it when done (an LMDB
 * reader keeps the pages it sees from being reused).
 */
export interface PinnedState {
  /** The version marker of the pinned state. */
  readonly version: number;
  /** Names of maps holding at least one key, in any order. */
  mapNames(): string[];
  /**
   * Hands `sink` up to `limit` rows of `map` after key `after` (from its first key when
   * undefined), bytewise ascending, until it returns false; returns how many it was handed.
   * Private values come opened. The bytes are
   * given as places in arrays the next row may overwrite (see RowSink): the sink copies what it
   * keeps.
   */
  scan(map: MapRef, after: Uint8Array | undefined, limit: number, sink: RowSink): number;
  /** Ends the pin (idempotent); later calls are a bug. */
  release(): void;
}

/** Committed state plus its version marker; see the module comment for the division of labour. */
export interface CommittedBackend {
  /** The version marker persisted with the last batch (0 for a new store). */
  readonly committedVersion: number;
  /** The committed value; a fresh copy. */
  get(map: MapRef, key: Uint8Array): Uint8Array | undefined;
  /** Up to `limit` rows within `bounds`, bytewise ascending (descending with `reverse`). */
  scan(map: MapRef, bounds: ScanBounds, reverse: boolean, limit: number): Row[];
  /** Names of maps holding at least one key, in any order. */
  mapNames(): string[];
  /**
   * Writes `writes` and the marker `version` atomically and durably. Resolves once durable;
   * rejects (nothing or everything applied) on I/O failure. Calls never overlap: the store
   * waits for one to settle before starting the next.
   */
  persist(version: number, writes: readonly BatchWrite[]): Promise<void>;
  /** Pins the committed state as of now (see PinnedState); never while a persist is in flight. */
  pin(): PinnedState;
  /** Releases resources; called once, after the last persist settled. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/** Builds a MapRef for an already validated name. */
export function mapRef(name: string, bytes: Uint8Array = encoder.encode(name)): MapRef {
  const prefix = new Uint8Array(bytes.length + 1);
  prefix.set(bytes);
  return { name, bytes, prefix };
}
