/**
 * Committed state held in memory: the backend of `KvStore.open(null)` for the simulator and
 * tests. Same contract as LMDB (copies in and out, atomic batches, a version marker), and like
 * LMDB it resolves `persist` asynchronously so both modes expose the same commit timing.
 */
import { assert } from "../../sdk/assert.js";
import type { BatchWrite, CommittedBackend, MapRef, PinnedState, Row, ScanBounds } from "./backend.js";
import { copyBytes, hexOf } from "./bytes.js";
import { SortedIndex } from "./sorted-index.js";

interface Stored {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

/** In-memory committed state; owns copies of everything it stores. */
export class MemoryBackend implements CommittedBackend {
  private readonly maps = new Map<string, SortedIndex<Stored>>();
  private version = 0;

  get committedVersion(): number {
    return this.version;
  }

  get(map: MapRef, key: Uint8Array): Uint8Array | undefined {
    const stored = this.maps.get(map.name)?.get(hexOf(key));
    return stored === undefined ? undefined : copyBytes(stored.value);
  }

  scan(map: MapRef, bounds: ScanBounds, reverse: boolean, limit: number): Row[] {
    const index = this.maps.get(map.name);
    if (index === undefined) return [];
    const hexes = index.keysWithin(
      {
        lower: bounds.lower === undefined ? undefined : hexOf(bounds.lower),
        lowerExclusive: bounds.lowerExclusive === true,
        upper: bounds.upper === undefined ? undefined : hexOf(bounds.upper),
      },
      reverse,
      limit,
    );
    return hexes.map((hex) => {
      const stored = index.get(hex)!;
      return { key: copyBytes(stored.key), value: copyBytes(stored.value) };
    });
  }

  mapNames(): string[] {
    return [...this.maps.keys()];
  }

  persist(version: number, writes: readonly BatchWrite[]): Promise<void> {
    assert(version > this.version, "persisted versions increase");
    for (const { map, key, value } of writes) {
      const hex = hexOf(key);
      let index = this.maps.get(map.name);
      if (value === null) {
        if (index === undefined) continue;
        index.delete(hex);
        if (index.size === 0) this.maps.delete(map.name);
        continue;
      }
      if (index === undefined) {
        index = new SortedIndex<Stored>();
        this.maps.set(map.name, index);
      }
      index.set(hex, { key: copyBytes(key), value: copyBytes(value) });
    }
    this.version = version;
    return Promise.resolve();
  }

  /** Copies the row references of every map (stored rows are never changed in place). */
  pin(): PinnedState {
    const frozen = new Map<string, { readonly hexes: string[]; readonly rows: Stored[] }>();
    for (const [name, index] of this.maps) {
      const hexes = index.keysWithin({}, false, Number.POSITIVE_INFINITY);
      frozen.set(name, { hexes, rows: hexes.map((hex) => index.get(hex)!) });
    }
    let released = false;
    return {
      version: this.version,
      mapNames: () => {
        assert(!released, "a pinned state is used after release");
        return [...frozen.keys()];
      },
      scan: (map, after, limit, sink) => {
        assert(!released, "a pinned state is used after release");
        const table = frozen.get(map.name);
        if (table === undefined) return 0;
        let i = 0;
        if (after !== undefined) {
          const hex = hexOf(after);
          let hi = table.hexes.length;
          while (i < hi) {
            const mid = (i + hi) >>> 1;
            if (table.hexes[mid]! <= hex) i = mid + 1;
            else hi = mid;
          }
        }
        const end = Math.min(table.rows.length, i + limit);
        for (let j = i; j < end; j++) {
          const { key, value } = table.rows[j]!;
          if (!sink.row(key, 0, key.length, value, 0, value.length)) return j + 1 - i;
        }
        return end - i;
      },
      release: () => {
        released = true;
      },
    };
  }

  close(): Promise<void> {
    this.maps.clear();
    return Promise.resolve();
  }
}
