/**
 * `ChildTx`: a sub-transaction over a parent KvTx. Reads see the parent (its own writes
 * included) overlaid with the child's writes; writes stay in the child until `commitTo()` copies
 * them into the parent, in key order. Abandoning the child discards them.
 *
 * Why: the constitution's `apply` runs in the transaction of the deciding ballot. If it throws
 * or exhausts a limit, its writes must vanish while the ballot and the proposal's Failed state
 * are still recorded in that same transaction. A sub-transaction does that in one pass (the
 * alternative, re-running the whole call without apply, would run validate/resolve twice).
 */
import { assert } from "../../sdk/assert.js";
import { hexOf } from "../../runtime/kv/bytes.js";
import { type LayerEntry, mergeLayers } from "../../runtime/kv/merge.js";
import { SortedIndex } from "../../runtime/kv/sorted-index.js";
import type { KvTx, MapWrites, RangeOptions, WriteSet } from "../../runtime/kv/types.js";
import { isPublicMap } from "../../runtime/kv/types.js";

interface ChildWrite {
  readonly hex: string;
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/** See the module comment. Owns copies of what it is given; the parent stays the caller's. */
export class ChildTx implements KvTx {
  readonly #parent: KvTx;
  readonly #writes = new Map<string, SortedIndex<ChildWrite>>();
  #done = false;

  constructor(parent: KvTx) {
    this.#parent = parent;
  }

  get readVersion(): number {
    return this.#parent.readVersion;
  }

  get(map: string, key: Uint8Array): Uint8Array | undefined {
    this.#open();
    const own = this.#writes.get(map)?.get(hexOf(key));
    if (own !== undefined) return own.value === null ? undefined : own.value.slice();
    return this.#parent.get(map, key);
  }

  has(map: string, key: Uint8Array): boolean {
    this.#open();
    const own = this.#writes.get(map)?.get(hexOf(key));
    if (own !== undefined) return own.value !== null;
    return this.#parent.has(map, key);
  }

  set(map: string, key: Uint8Array, value: Uint8Array): void {
    this.#open();
    // The parent checks names, sizes and types; a refusal must come now, not at commit.
    this.#parent.has(map, key);
    this.#write(map, key, value.slice());
  }

  delete(map: string, key: Uint8Array): void {
    this.#open();
    this.#parent.has(map, key);
    this.#write(map, key, null);
  }

  *range(map: string, options: RangeOptions = {}): IterableIterator<[Uint8Array, Uint8Array]> {
    this.#open();
    const { from, to, reverse = false, limit = Number.POSITIVE_INFINITY } = options;
    const lower = from === undefined ? undefined : hexOf(from);
    const upper = to === undefined ? undefined : hexOf(to);
    const own = this.#writes.get(map);
    const mine = (own?.keysWithin({ lower, upper }, reverse) ?? []).map((hex) => own!.get(hex)!);
    // The parent yields live entries only; the child's deletes hide them in the merge.
    const parent = this.#parent.range(map, { ...(from && { from }), ...(to && { to }), reverse });
    const theirs = (function* (): Generator<LayerEntry> {
      for (const [key, value] of parent) yield { hex: hexOf(key), key, value };
    })();
    let count = 0;
    for (const entry of mergeLayers([mine[Symbol.iterator](), theirs], reverse)) {
      if (count >= limit) return;
      if (entry.value === null) continue;
      count++;
      yield [entry.key.slice(), entry.value.slice()];
    }
  }

  readSet(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.#parent.readSet();
  }

  /** The child's own writes (not the parent's), in canonical order. */
  writeSet(): WriteSet {
    const pub: MapWrites[] = [];
    const priv: MapWrites[] = [];
    for (const map of [...this.#writes.keys()].sort()) {
      const writes = this.#writes
        .get(map)!
        .values()
        .map((w) => [w.key.slice(), w.value === null ? null : w.value.slice()] as const);
      (isPublicMap(map) ? pub : priv).push({ map, writes });
    }
    return { public: pub, private: priv };
  }

  /** Names of the maps the child wrote, sorted. */
  maps(): string[] {
    return [...this.#writes.keys()].sort();
  }

  /** Copies every write into the parent; the child is finished afterwards. */
  commitTo(): void {
    this.#open();
    this.#done = true;
    for (const map of [...this.#writes.keys()].sort()) {
      for (const w of this.#writes.get(map)!.values()) {
        if (w.value === null) this.#parent.delete(map, w.key);
        else this.#parent.set(map, w.key, w.value);
      }
    }
  }

  #write(map: string, key: Uint8Array, value: Uint8Array | null): void {
    let index = this.#writes.get(map);
    if (index === undefined) {
      index = new SortedIndex<ChildWrite>();
      this.#writes.set(map, index);
    }
    const hex = hexOf(key);
    index.set(hex, { hex, key: key.slice(), value });
  }

  #open(): void {
    assert(!this.#done, "ChildTx: used after commitTo()");
  }
}
