/**
 * An in-memory, ordered key-value store for the stand-in: maps of string keys (ordered as their
 * UTF-8 bytes, like the real store) to JSON text. Map names are full store names
 * (`bank.accounts`, `public:log.messages`), so several contracts can share one store without
 * seeing each other's maps.
 */
import { compareKeys } from "../api/keys.js";

/** One map: sorted keys plus a lookup table. */
class SortedMap {
  readonly keys: string[] = [];
  readonly values = new Map<string, string>();

  set(key: string, value: string): void {
    if (!this.values.has(key)) this.keys.splice(lowerBound(this.keys, key), 0, key);
    this.values.set(key, value);
  }

  delete(key: string): void {
    if (!this.values.delete(key)) return;
    this.keys.splice(lowerBound(this.keys, key), 1);
  }
}

/** Index of the first key ≥ `key` in sorted `keys`. */
export function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One change: a key set to JSON text, or deleted (`value` null). */
export interface StoreWrite {
  readonly map: string;
  readonly key: string;
  readonly value: string | null;
}

/** The committed state of the stand-in. Owned by one test; not thread-safe (nothing here is). */
export class MemoryStore {
  private readonly data = new Map<string, SortedMap>();

  /** The JSON text under `key`, or undefined. */
  get(map: string, key: string): string | undefined {
    return this.data.get(map)?.values.get(key);
  }

  /** Keys of `map` in `[from, to)` (either bound optional), in key order. */
  keysBetween(map: string, from: string | undefined, to: string | undefined): readonly string[] {
    const keys = this.data.get(map)?.keys;
    if (keys === undefined) return [];
    const lo = from === undefined ? 0 : lowerBound(keys, from);
    const hi = to === undefined ? keys.length : lowerBound(keys, to);
    return lo < hi ? keys.slice(lo, hi) : [];
  }

  /** All entries of `map` in key order. */
  entries(map: string): Array<[string, string]> {
    const sorted = this.data.get(map);
    return sorted === undefined ? [] : sorted.keys.map((key) => [key, sorted.values.get(key)!]);
  }

  /** Names of the maps holding at least one key, sorted. */
  maps(): string[] {
    return [...this.data.keys()].filter((name) => this.data.get(name)!.keys.length > 0).sort();
  }

  /** Applies writes in order (a transaction's write set, once it succeeded). */
  apply(writes: readonly StoreWrite[]): void {
    for (const write of writes) {
      let sorted = this.data.get(write.map);
      if (write.value === null) {
        sorted?.delete(write.key);
        continue;
      }
      if (sorted === undefined) {
        sorted = new SortedMap();
        this.data.set(write.map, sorted);
      }
      sorted.set(write.key, write.value);
    }
  }
}
