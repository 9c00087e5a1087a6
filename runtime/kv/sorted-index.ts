/**
 * A map from key (as lowercase hex) to T that can also list its keys in bytewise order.
 * Lowercase hex strings compare (by JS `<`) exactly as their bytes do, so one string serves as
 * both identity and sort key. The sorted key list is rebuilt lazily after out-of-order inserts
 * and deletes other than of the last key, so bulk loads and bulk removals cost one sort, and
 * appends in key order keep it without re-sorting.
 */

/** Key bounds in hex: `lower` inclusive unless `lowerExclusive`, `upper` exclusive. */
export interface HexBounds {
  readonly lower?: string | undefined;
  readonly lowerExclusive?: boolean;
  readonly upper?: string | undefined;
}

/** Index of the first element of sorted `keys` that is >= `x` (keys.length when none). */
export function lowerBound(keys: readonly string[], x: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Owns its entries; callers own the T values they put in and get back (no copies made). */
export class SortedIndex<T> {
  private readonly items = new Map<string, T>();
  private sorted: string[] | null = [];

  get size(): number {
    return this.items.size;
  }

  get(hex: string): T | undefined {
    return this.items.get(hex);
  }

  set(hex: string, item: T): void {
    const isNew = !this.items.has(hex);
    this.items.set(hex, item);
    if (!isNew || this.sorted === null) return;
    const last = this.sorted[this.sorted.length - 1];
    if (last === undefined || last < hex) this.sorted.push(hex);
    else this.sorted = null;
  }

  /**
   * Removing the last key keeps the sorted list; any other drops it, to be rebuilt by the next
   * listing: a commit forgets many keys at once, oldest first (a splice each cost a shift of the
   * whole list), and one sort serves the next range, if any.
   */
  delete(hex: string): void {
    if (!this.items.delete(hex) || this.sorted === null) return;
    if (this.sorted[this.sorted.length - 1] === hex) this.sorted.pop();
    else this.sorted = null;
  }

  /** Items in ascending key order. */
  values(): T[] {
    return this.keys().map((hex) => this.items.get(hex)!);
  }

  /** `f` of each item in ascending key order (`values().map(f)` without the array between). */
  mapValues<U>(f: (item: T) => U): U[] {
    return this.keys().map((hex) => f(this.items.get(hex)!));
  }

  /** All keys, ascending. The array is shared: callers must not modify it. */
  keys(): readonly string[] {
    if (this.sorted === null) this.sorted = [...this.items.keys()].sort();
    return this.sorted;
  }

  /** Keys within `bounds`, ascending (or descending with `reverse`), at most `limit` of them. */
  keysWithin(bounds: HexBounds, reverse = false, limit = Number.POSITIVE_INFINITY): string[] {
    const keys = this.keys();
    let start = bounds.lower === undefined ? 0 : lowerBound(keys, bounds.lower);
    if (bounds.lowerExclusive && bounds.lower !== undefined && keys[start] === bounds.lower) start++;
    const end = bounds.upper === undefined ? keys.length : lowerBound(keys, bounds.upper);
    if (start >= end || limit <= 0) return [];
    if (!reverse) return keys.slice(start, Math.min(end, start + limit));
    const out: string[] = [];
    for (let i = end - 1; i >= start && out.length < limit; i--) out.push(keys[i]!);
    return out;
  }
}
