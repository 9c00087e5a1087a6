/**
 * One KV transaction: reads at a fixed store version through the store's layers, buffers its own
 * writes locally, and reports what it read and wrote. Nothing reaches the store until the caller
 * applies `writeSet()` as a new version. Synchronous throughout (no `await` on the tx path).
 */
import { TreatyError } from "../../sdk/errors.js";
import type { MapRef } from "./backend.js";
import { copyBytes, hexOf, ownedBytes } from "./bytes.js";
import { compareBytes } from "./limits.js";
import { type LayerEntry, mergeLayers } from "./merge.js";
import type { OverlayWrite } from "./overlay.js";
import { SortedIndex } from "./sorted-index.js";
import { isPublicMap, type KvTx, type MapWrites, type RangeOptions, type WriteSet } from "./types.js";

/** What a transaction needs from its store; implemented privately by KvStore. */
export interface TxHost {
  /** Validates a map name; throws TreatyError InvalidArgs naming `field`. */
  mapRef(map: unknown, field: string): MapRef;
  /** Checks a key's type and size; throws TreatyError InvalidArgs or KeyTooLarge. */
  checkKey(map: MapRef, key: unknown, field: string): asserts key is Uint8Array;
  /** Checks a value's type and size; throws TreatyError InvalidArgs or ValueTooLarge. */
  checkValue(map: MapRef, value: unknown, field: string): asserts value is Uint8Array;
  /** Throws TreatyError Conflict (or Unavailable once closed) when the tx's view is gone. */
  ensureCurrent(readVersion: number, epoch: number): void;
  /** The value at `version` below the tx layer; borrowed bytes (copy before handing out). */
  readAt(map: MapRef, key: Uint8Array, hex: string, version: number): Uint8Array | undefined;
  /** The store's layers for a range at `version`, newest first; borrowed bytes. */
  layersAt(
    map: MapRef,
    bounds: { readonly lower?: Uint8Array | undefined; readonly upper?: Uint8Array | undefined },
    reverse: boolean,
    version: number,
  ): Iterator<LayerEntry>[];
}

/** A write of the tx; also the overlay's `OverlayWrite` of it once applied (`overlayWrites`). */
interface LocalWrite {
  readonly map: MapRef;
  readonly hex: string;
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/**
 * A KvTx over a KvStore. Bytes passed in are copied and bytes read out are fresh copies (so are
 * `writeSet()`'s), so no caller can change stored data. The exceptions are explicit: `setOwned`
 * keeps arrays their caller made for it and hands over, and `writeSetView()` (and, for the
 * store, `overlayWrites`) hand out the tx's own arrays to callers that only read them.
 * Map and key checks: see KvStore.
 */
export class StoreTx implements KvTx {
  private readonly local = new Map<
    string,
    { readonly map: MapRef; readonly writes: SortedIndex<LocalWrite> }
  >();
  private readonly reads = new Map<string, Set<string>>();
  /**
   * The layers of `local` in map-name order (string order), kept as maps are first written: a tx
   * writes few maps, and `writeSetView` and `overlayWrites` both list them for every applied call
   * (each sorted the names anew).
   */
  private readonly sortedLayers: Array<{ readonly map: MapRef; readonly writes: SortedIndex<LocalWrite> }> =
    [];

  constructor(
    private readonly host: TxHost,
    readonly readVersion: number,
    private readonly epoch: number,
  ) {}

  get(map: string, key: Uint8Array): Uint8Array | undefined {
    const value = this.lookup(map, key);
    return value === undefined ? undefined : copyBytes(value);
  }

  has(map: string, key: Uint8Array): boolean {
    return this.lookup(map, key) !== undefined;
  }

  set(map: string, key: Uint8Array, value: Uint8Array): void {
    this.#set(map, key, value, copyBytes);
  }

  /**
   * `set` keeping `key` and `value` themselves (KvTx.setOwned: the caller made them for this
   * write and hands them over). A Buffer is copied all the same: it may be a view of a pool that
   * other Buffers share.
   */
  setOwned(map: string, key: Uint8Array, value: Uint8Array): void {
    this.#set(map, key, value, ownedBytes);
  }

  #set(map: string, key: Uint8Array, value: Uint8Array, take: (bytes: Uint8Array) => Uint8Array): void {
    const ref = this.host.mapRef(map, "map");
    this.host.checkKey(ref, key, "key");
    this.host.checkValue(ref, value, "value");
    this.host.ensureCurrent(this.readVersion, this.epoch);
    this.write(ref, take(key), take(value));
  }

  delete(map: string, key: Uint8Array): void {
    const ref = this.host.mapRef(map, "map");
    this.host.checkKey(ref, key, "key");
    this.host.ensureCurrent(this.readVersion, this.epoch);
    this.write(ref, copyBytes(key), null);
  }

  /**
   * Merged, ordered iteration. Options are checked at the call (TreatyError InvalidArgs or
   * KeyTooLarge); each step re-checks that the tx is still current. The tx's own writes are
   * taken as of this call: writes made while iterating show up in later ranges, not this one.
   */
  range(map: string, options: RangeOptions = {}): IterableIterator<[Uint8Array, Uint8Array]> {
    const ref = this.host.mapRef(map, "map");
    if (options === null || typeof options !== "object") {
      throw new TreatyError("InvalidArgs", "range options: expected an object");
    }
    const { from, to, reverse, limit } = options;
    if (from !== undefined) this.host.checkKey(ref, from, "range.from");
    if (to !== undefined) this.host.checkKey(ref, to, "range.to");
    if (reverse !== undefined && typeof reverse !== "boolean") {
      throw new TreatyError("InvalidArgs", "range.reverse: expected a boolean");
    }
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
      throw new TreatyError(
        "InvalidArgs",
        `range.limit: expected a non-negative integer, got ${String(limit)}`,
      );
    }
    this.host.ensureCurrent(this.readVersion, this.epoch);
    const empty = limit === 0 || (from !== undefined && to !== undefined && compareBytes(from, to) >= 0);
    return this.iterate(
      ref,
      empty ? null : { from, to },
      reverse === true,
      limit ?? Number.POSITIVE_INFINITY,
    );
  }

  /** Keys read (get, has, and keys yielded by range), hex, maps and keys sorted; a fresh copy. */
  readSet(): ReadonlyMap<string, ReadonlySet<string>> {
    const out = new Map<string, ReadonlySet<string>>();
    for (const name of [...this.reads.keys()].sort())
      out.set(name, new Set([...this.reads.get(name)!].sort()));
    return out;
  }

  /** Every write, in canonical order (maps by name, keys bytewise), keys and values copied. */
  writeSet(): WriteSet {
    return this.#writes(copyBytes);
  }

  /**
   * `writeSet()` with the tx's own arrays, not copied: read-only for the caller, who copies them
   * before they go anywhere (the overlay may hold the same arrays once the tx is applied).
   */
  writeSetView(): WriteSet {
    return this.#writes((bytes) => bytes);
  }

  #writes(take: (bytes: Uint8Array) => Uint8Array): WriteSet {
    const pub: MapWrites[] = [];
    const priv: MapWrites[] = [];
    for (const { map, writes } of this.layers()) {
      const name = map.name;
      const entry: MapWrites = {
        map: name,
        writes: writes.mapValues((w) => [take(w.key), w.value === null ? null : take(w.value)] as const),
      };
      (isPublicMap(name) ? pub : priv).push(entry);
    }
    return { public: pub, private: priv };
  }

  /**
   * The writes for the store's overlay, in write-set order (public maps, then private; maps by
   * name, keys bytewise), with the tx's own byte arrays: no copies. For KvStore.applyTx only,
   * and only for `host`, the store that checked every write as it was made (undefined for
   * another store). The tx copied every key and value it took and never hands those arrays out
   * uncopied, so once the overlay holds them no one else can reach them.
   */
  overlayWrites(host: TxHost): OverlayWrite[] | undefined {
    if (host !== this.host) return undefined;
    // The tx's own write records serve as the overlay's (Overlay.add keeps them, unchanged, as
    // its list of the version's writes; they are never modified).
    const out: OverlayWrite[] = [];
    for (const publicMaps of [true, false]) {
      for (const { map, writes } of this.layers()) {
        if (isPublicMap(map.name) === publicMaps) for (const hex of writes.keys()) out.push(writes.get(hex)!);
      }
    }
    return out;
  }

  /** The layers of `local`, maps by name (string order). */
  private layers(): ReadonlyArray<{ readonly map: MapRef; readonly writes: SortedIndex<LocalWrite> }> {
    return this.sortedLayers;
  }

  private lookup(map: string, key: Uint8Array): Uint8Array | undefined {
    const ref = this.host.mapRef(map, "map");
    this.host.checkKey(ref, key, "key");
    this.host.ensureCurrent(this.readVersion, this.epoch);
    const hex = hexOf(key);
    this.noteRead(ref.name, hex);
    const own = this.local.get(ref.name)?.writes.get(hex);
    if (own !== undefined) return own.value ?? undefined;
    return this.host.readAt(ref, key, hex, this.readVersion);
  }

  /** Records a write of arrays the tx owns (copied or handed over by the caller). */
  private write(ref: MapRef, key: Uint8Array, value: Uint8Array | null): void {
    let layer = this.local.get(ref.name);
    if (layer === undefined) {
      layer = { map: ref, writes: new SortedIndex<LocalWrite>() };
      this.local.set(ref.name, layer);
      // Insertion in name order: one step per map already written.
      const layers = this.sortedLayers;
      let at = layers.length;
      while (at > 0 && layers[at - 1]!.map.name > ref.name) at--;
      layers.splice(at, 0, layer);
    }
    const hex = hexOf(key);
    layer.writes.set(hex, { map: ref, hex, key, value });
  }

  private noteRead(map: string, hex: string): void {
    let keys = this.reads.get(map);
    if (keys === undefined) {
      keys = new Set();
      this.reads.set(map, keys);
    }
    keys.add(hex);
  }

  private *iterate(
    ref: MapRef,
    bounds: { readonly from?: Uint8Array | undefined; readonly to?: Uint8Array | undefined } | null,
    reverse: boolean,
    limit: number,
  ): Generator<[Uint8Array, Uint8Array]> {
    if (bounds === null) return;
    const own =
      this.local
        .get(ref.name)
        ?.writes.keysWithin(
          {
            lower: bounds.from === undefined ? undefined : hexOf(bounds.from),
            upper: bounds.to === undefined ? undefined : hexOf(bounds.to),
          },
          reverse,
        )
        .map((hex) => this.local.get(ref.name)!.writes.get(hex)!) ?? [];
    const layers: Iterator<LayerEntry>[] = [
      own[Symbol.iterator](),
      ...this.host.layersAt(ref, { lower: bounds.from, upper: bounds.to }, reverse, this.readVersion),
    ];
    const merged = mergeLayers(layers, reverse);
    let count = 0;
    try {
      while (count < limit) {
        this.host.ensureCurrent(this.readVersion, this.epoch);
        const step = merged.next();
        if (step.done) return;
        const { hex, key, value } = step.value;
        if (value === null) continue;
        this.noteRead(ref.name, hex);
        count++;
        yield [copyBytes(key), copyBytes(value)];
      }
    } finally {
      merged.return(undefined);
    }
  }
}
