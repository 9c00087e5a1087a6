/**
 * Applied but not yet committed versions, kept in memory so they can be rolled back. Indexed two
 * ways: by version (to commit or discard whole versions in order) and by map and key (so a read
 * at version v finds the key's newest write <= v without scanning versions). Each key keeps its
 * writes in version order; reads almost always want the last one.
 *
 * Records are shared with range iterators that may be suspended across a commit, so a record
 * never loses a write that a still-valid reader could need: pruning committed writes replaces
 * the record with a trimmed copy instead of trimming it in place. Rollback and apply only touch
 * writes above the rollback point, which valid readers never look at.
 */
import { assert } from "../../sdk/assert.js";
import type { BatchWrite, MapRef } from "./backend.js";
import { type HexBounds, SortedIndex } from "./sorted-index.js";

/** One write of one key at one version (`null` = delete). */
interface VersionedValue {
  readonly version: number;
  readonly value: Uint8Array | null;
}

/** A key's uncommitted writes, oldest first. */
export interface OverlayRecord {
  readonly map: MapRef;
  readonly key: Uint8Array;
  readonly hex: string;
  readonly writes: VersionedValue[];
}

/** A write to add: the store has validated and copied everything. */
export interface OverlayWrite {
  readonly map: MapRef;
  readonly key: Uint8Array;
  readonly hex: string;
  readonly value: Uint8Array | null;
}

interface AppliedVersion {
  readonly version: number;
  /**
   * The writes of this version as they were added (their map and hex name the key): kept as
   * given, not copied into `[map, hex]` pairs (one array less per write of every version).
   */
  readonly writes: readonly OverlayWrite[];
}

/**
 * The record's value as of `version`: bytes, `null` (deleted), or `undefined` when the overlay
 * holds no write of it at or below `version` (the committed state decides). Reads at the head
 * find the newest write first; reads further back (at the commit point, below a hot key's
 * pending writes) take a binary search, so their cost does not grow with the pending versions.
 */
export function valueAt(record: OverlayRecord, version: number): Uint8Array | null | undefined {
  const { writes } = record;
  const last = writes[writes.length - 1];
  if (last === undefined) return undefined;
  if (last.version <= version) return last.value;
  // Versions ascend: find the last write at or below `version`.
  let lo = 0;
  let hi = writes.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (writes[mid]!.version <= version) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : writes[lo - 1]!.value;
}

/** The overlay owns the bytes it is given; readers must copy before handing them out. */
export class Overlay {
  private readonly maps = new Map<string, SortedIndex<OverlayRecord>>();
  private readonly versions: AppliedVersion[] = [];

  /** Number of versions held (versions that wrote nothing are not held). */
  get size(): number {
    return this.versions.length;
  }

  /**
   * Adds the writes of `version`, which must be above every version held. The overlay keeps
   * `writes` itself (the array and its objects): the caller hands it over and never changes it.
   */
  add(version: number, writes: readonly OverlayWrite[]): void {
    const last = this.versions[this.versions.length - 1];
    assert(last === undefined || version > last.version, "overlay versions increase");
    if (writes.length === 0) return;
    for (const { map, key, hex, value } of writes) {
      let index = this.maps.get(map.name);
      if (index === undefined) {
        index = new SortedIndex<OverlayRecord>();
        this.maps.set(map.name, index);
      }
      let record = index.get(hex);
      if (record === undefined) {
        record = { map, key, hex, writes: [] };
        index.set(hex, record);
      }
      record.writes.push({ version, value });
    }
    this.versions.push({ version, writes });
  }

  /** The record of a key, if the overlay holds any write of it. */
  record(map: string, hex: string): OverlayRecord | undefined {
    return this.maps.get(map)?.get(hex);
  }

  /**
   * The records of `map` within `bounds`, in iteration order: a snapshot that stays valid for
   * reads at any version a reader may still use (see the module comment).
   */
  recordsWithin(map: string, bounds: HexBounds, reverse: boolean): OverlayRecord[] {
    const index = this.maps.get(map);
    if (index === undefined) return [];
    return index.keysWithin(bounds, reverse).map((hex) => index.get(hex)!);
  }

  /** Names of maps with at least one uncommitted write (possibly only deletes). */
  mapNames(): string[] {
    return [...this.maps.keys()];
  }

  /**
   * The final state, as of `to`, of every key written by versions in (`from`, `to`]: one write
   * per key, to persist as one batch. The byte arrays stay owned by the overlay.
   */
  batch(from: number, to: number): BatchWrite[] {
    const seen = new Set<OverlayRecord>();
    const out: BatchWrite[] = [];
    for (const applied of this.versions) {
      if (applied.version <= from) continue;
      if (applied.version > to) break;
      for (const { map, hex } of applied.writes) {
        const record = this.record(map.name, hex);
        assert(record !== undefined, "every held version's keys are indexed");
        if (seen.has(record)) continue;
        seen.add(record);
        const value = valueAt(record, to);
        assert(value !== undefined, "a written key has a value at its own version");
        out.push({ map: record.map, key: record.key, value });
      }
    }
    return out;
  }

  /** Forgets versions <= `version` (they are now in the committed state). */
  pruneUpTo(version: number): void {
    let count = 0;
    while (count < this.versions.length && this.versions[count]!.version <= version) count++;
    for (const applied of this.versions.splice(0, count)) {
      for (const { map, hex } of applied.writes) {
        const index = this.maps.get(map.name);
        const record = index?.get(hex);
        if (index === undefined || record === undefined) continue;
        // Versions ascend, so what is kept is a suffix: most keys have no write above `version`
        // (forgotten at once) or none at or below it (an earlier key of this loop); only a key
        // written on both sides of the commit point needs the trimmed copy.
        const { writes } = record;
        if (writes[writes.length - 1]!.version <= version) {
          this.forget(index, map.name, hex);
          continue;
        }
        if (writes[0]!.version > version) continue;
        const kept = writes.filter((w) => w.version > version);
        index.set(hex, { map: record.map, key: record.key, hex: record.hex, writes: kept });
      }
    }
  }

  /** Discards versions > `version` (rollback). */
  discardAbove(version: number): void {
    while (this.versions.length > 0 && this.versions[this.versions.length - 1]!.version > version) {
      const applied = this.versions.pop()!;
      for (const { map, hex } of applied.writes) {
        const index = this.maps.get(map.name);
        const record = index?.get(hex);
        if (index === undefined || record === undefined) continue;
        while (record.writes.length > 0 && record.writes[record.writes.length - 1]!.version > version) {
          record.writes.pop();
        }
        if (record.writes.length === 0) this.forget(index, map.name, hex);
      }
    }
  }

  private forget(index: SortedIndex<OverlayRecord>, map: string, hex: string): void {
    index.delete(hex);
    if (index.size === 0) this.maps.delete(map);
  }
}
