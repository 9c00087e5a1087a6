/**
 * A minimal in-memory KvTx for executor tests: committed data in sorted maps, this
 * transaction's writes on top, `writeSet()` sorted as runtime/kv/types.ts requires.
 * `commit` folds a write set into the data, as the node does after a successful call.
 */
import { fromHex, toHex } from "../../sdk/bytes.js";
import {
  isPublicMap,
  type KvTx,
  type MapWrites,
  type RangeOptions,
  type WriteSet,
} from "../../runtime/kv/types.js";

type Rows = Map<string, Uint8Array>;

export class MemoryKv {
  readonly maps = new Map<string, Rows>();
  version = 0;

  begin(): KvTx {
    return new MemoryTx(this);
  }

  /** Applies a write set as the next version. */
  commit(writeSet: WriteSet): void {
    for (const { map, writes } of [...writeSet.public, ...writeSet.private]) {
      let rows = this.maps.get(map);
      if (rows === undefined) this.maps.set(map, (rows = new Map()));
      for (const [key, value] of writes) {
        if (value === null) rows.delete(toHex(key));
        else rows.set(toHex(key), value);
      }
    }
    this.version++;
  }

  /** The value of `key` (UTF-8) in `map`, decoded as UTF-8, or undefined. */
  read(map: string, key: string): string | undefined {
    const value = this.maps.get(map)?.get(toHex(new TextEncoder().encode(key)));
    return value === undefined ? undefined : new TextDecoder().decode(value);
  }
}

class MemoryTx implements KvTx {
  readonly readVersion: number;
  readonly #kv: MemoryKv;
  readonly #writes = new Map<string, Map<string, Uint8Array | null>>();
  readonly #reads = new Map<string, Set<string>>();

  constructor(kv: MemoryKv) {
    this.#kv = kv;
    this.readVersion = kv.version;
  }

  get(map: string, key: Uint8Array): Uint8Array | undefined {
    const hex = toHex(key);
    this.#read(map, hex);
    const local = this.#writes.get(map)?.get(hex);
    if (local !== undefined) return local ?? undefined;
    return this.#kv.maps.get(map)?.get(hex);
  }

  has(map: string, key: Uint8Array): boolean {
    return this.get(map, key) !== undefined;
  }

  set(map: string, key: Uint8Array, value: Uint8Array): void {
    this.#local(map).set(toHex(key), value.slice());
  }

  delete(map: string, key: Uint8Array): void {
    this.#local(map).set(toHex(key), null);
  }

  *range(map: string, options: RangeOptions = {}): IterableIterator<[Uint8Array, Uint8Array]> {
    const merged = new Map(this.#kv.maps.get(map) ?? []);
    for (const [hex, value] of this.#writes.get(map) ?? []) {
      if (value === null) merged.delete(hex);
      else merged.set(hex, value);
    }
    const from = options.from === undefined ? undefined : toHex(options.from);
    const to = options.to === undefined ? undefined : toHex(options.to);
    let keys = [...merged.keys()]
      .filter((hex) => (from === undefined || hex >= from) && (to === undefined || hex < to))
      .sort();
    if (options.reverse === true) keys = keys.reverse();
    if (options.limit !== undefined) keys = keys.slice(0, options.limit);
    for (const hex of keys) yield [fromHex(hex), merged.get(hex)!];
  }

  readSet(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.#reads;
  }

  writeSet(): WriteSet {
    const pub: MapWrites[] = [];
    const priv: MapWrites[] = [];
    for (const map of [...this.#writes.keys()].sort()) {
      const rows = this.#writes.get(map)!;
      if (rows.size === 0) continue;
      const writes = [...rows.keys()].sort().map((hex) => [fromHex(hex), rows.get(hex)!] as const);
      (isPublicMap(map) ? pub : priv).push({ map, writes });
    }
    return { public: pub, private: priv };
  }

  #local(map: string): Map<string, Uint8Array | null> {
    let rows = this.#writes.get(map);
    if (rows === undefined) this.#writes.set(map, (rows = new Map()));
    return rows;
  }

  #read(map: string, hex: string): void {
    let keys = this.#reads.get(map);
    if (keys === undefined) this.#reads.set(map, (keys = new Set()));
    keys.add(hex);
  }
}
