/**
 * Typed maps over the host KV: `map<string, Account>("accounts")` is private (encrypted in the
 * ledger), `map<number, string>("messages", { key: "number", public: true })` is public
 * (readable by anyone who holds the ledger), `map<[string, number], Transfer>("transfers",
 * { key: ["string", "number"] })` has tuple keys. Keys are encoded by `keys.ts` so that `range`
 * walks them in natural order (tuples component by component, with prefix ranges); values are
 * JSON, checked before they are written.
 *
 * Runs inside QuickJS and in Node.
 */
import { ApiError } from "./errors.js";
import { assertWritable, host } from "./host.js";
import { jsonProblem } from "./json.js";
import { MAP_NAME } from "./manifest-rules.js";
import {
  compareKeys,
  decodeKey,
  encodeKey,
  encodeKeyPrefix,
  isKeyKind,
  type KeyKind,
  prefixRange,
  tryEncodeKey,
} from "./keys.js";

/** The host's cap on one kvRange page. */
const MAX_PAGE = 1000;
/** First page size: most scans stop early, so start small and double up to MAX_PAGE. */
const FIRST_PAGE = 16;

/** Options of a map whose keys are strings (the default). */
export interface StringMapOptions {
  /** Public maps are written to the ledger in clear; private ones (the default) are encrypted. */
  readonly public?: boolean;
  readonly key?: "string";
}

/** Options of a map whose keys are numbers: `key: "number"` is required. */
export interface NumberMapOptions {
  readonly public?: boolean;
  readonly key: "number";
}

/** Options of a map whose keys are tuples: `key` lists the components' kinds. */
export interface TupleMapOptions<K extends readonly (string | number)[]> {
  readonly public?: boolean;
  readonly key: KindsOf<K>;
}

/** `[string, number]` → `readonly ["string", "number"]`. */
export type KindsOf<K extends readonly (string | number)[]> = {
  readonly [I in keyof K]: K[I] extends number ? "number" : "string";
};

/** Keys a map may have: strings, numbers, or tuples of them. */
export type MapKey = string | number | readonly (string | number)[];

/** The leading components of a tuple key type (`[]`, `[a]`, `[a, b]`...); a scalar key itself. */
export type KeyPrefix<K> = K extends readonly [...infer Init, infer _Last]
  ? K | KeyPrefix<Init>
  : K extends readonly []
    ? K
    : K;

/**
 * Bounds and direction of a scan, in key order. `from` is inclusive and `to` exclusive; for a
 * tuple map they may be leading components (`from: ["p1"]` is before every `["p1", ...]` key)
 * and `prefix` keeps the keys that start with the given components.
 */
export interface RangeOptions<K> {
  readonly from?: KeyPrefix<K>;
  readonly to?: KeyPrefix<K>;
  /** Tuple maps only: keys whose leading components are these (`prefix: ["p1"]`). */
  readonly prefix?: K extends readonly unknown[] ? KeyPrefix<K> : never;
  /** Walk from the largest key down. `from`/`to` keep their meaning (from ≤ key < to). */
  readonly reverse?: boolean;
  /** At most this many entries. */
  readonly limit?: number;
}

/**
 * A typed view of one KV map of the contract. Create maps at module level with `map(...)`;
 * the handle holds no data, every operation goes to the host.
 */
export class KvMap<K extends MapKey, V> {
  /** The contract-local name (`accounts`). */
  readonly name: string;
  readonly isPublic: boolean;
  readonly keyKind: KeyKind;
  /** The name the host knows: `accounts` or `public:accounts`. */
  readonly hostName: string;

  constructor(name: string, options: { readonly public?: boolean; readonly key?: KeyKind } = {}) {
    if (typeof name !== "string" || !MAP_NAME.test(name)) {
      throw new ApiError(
        "InvalidContract",
        `map(name): expected a name matching ${String(MAP_NAME)}, got ${JSON.stringify(String(name))}`,
      );
    }
    const keyKind = options.key ?? "string";
    if (!isKeyKind(keyKind)) {
      throw new ApiError(
        "InvalidContract",
        `map("${name}"): key must be "string", "number" or a tuple of 1 to 8 of them`,
      );
    }
    this.name = name;
    this.isPublic = options.public === true;
    this.keyKind = typeof keyKind === "string" ? keyKind : Object.freeze([...keyKind]);
    this.hostName = this.isPublic ? `public:${name}` : name;
  }

  /** The value stored under `key`, or undefined. */
  get(key: K): V | undefined {
    const json = host().kvGet(this.hostName, this.encode(key, "get"));
    return json === undefined ? undefined : (JSON.parse(json) as V);
  }

  /** True when `key` holds a value. */
  has(key: K): boolean {
    return host().kvHas(this.hostName, this.encode(key, "has")) === true;
  }

  /**
   * Stores `value` under `key`. Throws ApiError: ReadonlyViolation in a readonly method,
   * ContractFault when the key does not fit the map or the value is not JSON-compatible (the
   * message names the path: `accounts.set("bob"): value.balance: NaN is not JSON`). The host
   * enforces key and value size caps.
   */
  set(key: K, value: V): void {
    const encoded = this.encode(key, "set");
    assertWritable(this.name, "set");
    const problem = jsonProblem(value, "value");
    if (problem !== undefined) {
      throw new ApiError("ContractFault", `${this.name}.set(${JSON.stringify(key)}): ${problem}`);
    }
    host().kvSet(this.hostName, encoded, JSON.stringify(value));
  }

  /** Removes `key` (nothing happens when it is absent). ReadonlyViolation in a readonly method. */
  delete(key: K): void {
    const encoded = this.encode(key, "delete");
    assertWritable(this.name, "delete");
    host().kvDelete(this.hostName, encoded);
  }

  /**
   * Entries `[key, value]` in key order (or reverse), fetched from the host page by page as
   * the iteration advances. Writes made during the scan may or may not be seen.
   * @example for (const [id, msg] of messages.range({ from: 10, limit: 5 })) { ... }
   */
  range(options: RangeOptions<K> = {}): IterableIterator<[K, V]> {
    const limit = options.limit;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) {
      throw new ApiError(
        "ContractFault",
        `${this.name}.range: limit must be a non-negative integer, got ${String(limit)}`,
      );
    }
    const { from, to } = this.encodeRange(options);
    return new RangeIterator<K, V>(
      this,
      from,
      to,
      options.reverse === true,
      limit ?? Number.POSITIVE_INFINITY,
    );
  }

  /** Keys in order (see `range`). */
  keys(options: RangeOptions<K> = {}): K[] {
    const out: K[] = [];
    for (const [key] of this.range(options)) out.push(key);
    return out;
  }

  /** Values in key order (see `range`). */
  values(options: RangeOptions<K> = {}): V[] {
    const out: V[] = [];
    for (const [, value] of this.range(options)) out.push(value);
    return out;
  }

  /**
   * The encoded `[from, to)` of a scan (`from`/`to`/`prefix` combined; undefined = unbounded).
   * Throws ApiError(ContractFault) for a bound that does not fit the map. For `range` and tooling.
   */
  encodeRange(options: RangeOptions<K>): { from: string | undefined; to: string | undefined } {
    let from = options.from === undefined ? undefined : this.encodeBound(options.from, "range from");
    let to = options.to === undefined ? undefined : this.encodeBound(options.to, "range to");
    if (options.prefix !== undefined) {
      if (typeof this.keyKind === "string")
        throw new ApiError("ContractFault", `${this.name}.range: prefix is for maps with tuple keys`);
      const bounds = prefixRange(this.encodeBound(options.prefix, "range prefix"));
      if (from === undefined || compareKeys(bounds.from, from) > 0) from = bounds.from;
      if (bounds.to !== undefined && (to === undefined || compareKeys(bounds.to, to) < 0)) to = bounds.to;
    }
    return { from, to };
  }

  /** A full key, or for a tuple map its leading components. */
  private encodeBound(bound: unknown, operation: string): string {
    if (typeof this.keyKind === "string") return this.encode(bound as K, operation);
    try {
      return encodeKeyPrefix(this.keyKind, bound, `${this.name}.${operation}`);
    } catch (err) {
      throw new ApiError("ContractFault", (err as Error).message);
    }
  }

  /**
   * The store's form of `key` (what `range` orders bytewise); throws ApiError(ContractFault)
   * when the key does not fit the map. For tooling such as `treaty/testing`.
   */
  encodeKey(key: K): string {
    return this.encode(key, "encodeKey");
  }

  /** The key a store key stands for (the inverse of `encodeKey`); throws TypeError for a foreign one. */
  decodeKey(encoded: string): K {
    return decodeKey(this.keyKind, encoded) as K;
  }

  private encode(key: K, operation: string): string {
    const encoded = tryEncodeKey(this.keyKind, key);
    if (encoded !== undefined) return encoded;
    // Slow path, only to build the message.
    try {
      return encodeKey(this.keyKind, key, `${this.name}.${operation}(key)`);
    } catch (err) {
      throw new ApiError("ContractFault", (err as Error).message);
    }
  }
}

class RangeIterator<K extends MapKey, V> implements IterableIterator<[K, V]> {
  private page: Array<[string, string]> = [];
  private index = 0;
  private exhausted = false;
  private pageSize = FIRST_PAGE;

  constructor(
    private readonly kvMap: KvMap<K, V>,
    private from: string | undefined,
    private to: string | undefined,
    private readonly reverse: boolean,
    private remaining: number,
  ) {}

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this;
  }

  next(): IteratorResult<[K, V]> {
    if (this.index >= this.page.length) this.fetch();
    if (this.index >= this.page.length) return { done: true, value: undefined };
    const [key, json] = this.page[this.index++]!;
    this.remaining--;
    return { done: false, value: [decodeKey(this.kvMap.keyKind, key) as K, JSON.parse(json) as V] };
  }

  return(): IteratorResult<[K, V]> {
    this.exhausted = true;
    this.page = [];
    this.index = 0;
    return { done: true, value: undefined };
  }

  private fetch(): void {
    this.page = [];
    this.index = 0;
    if (this.exhausted || this.remaining <= 0) return;
    const limit = Math.min(this.pageSize, this.remaining);
    this.pageSize = Math.min(this.pageSize * 2, MAX_PAGE);
    const options: { from?: string; to?: string; reverse?: boolean; limit: number } = { limit };
    if (this.from !== undefined) options.from = this.from;
    if (this.to !== undefined) options.to = this.to;
    if (this.reverse) options.reverse = true;
    const page = JSON.parse(host().kvRange(this.kvMap.hostName, JSON.stringify(options))) as Array<
      [string, string]
    >;
    if (!Array.isArray(page) || page.length > limit)
      throw new Error("host kvRange returned a malformed page");
    if (page.length < limit) this.exhausted = true;
    if (page.length > 0) {
      const last = page[page.length - 1]![0];
      // The next key after `last` in bytewise order is last + "\0"; `to` is exclusive.
      if (this.reverse) this.to = last;
      else this.from = `${last}\u0000`;
    }
    this.page = page;
  }
}

/**
 * Declares a map of the contract. Keys are strings unless `key: "number"` or a tuple of kinds
 * (`key: ["string", "number"]`) is given (the type system requires it for number and tuple
 * keys). Throws ApiError(InvalidContract) for a bad name (/^[A-Za-z][A-Za-z0-9_-]{0,63}$/) or
 * key kind, which makes the whole contract fail to load.
 * @example const accounts = map<string, Account>("accounts");
 * @example const log = map<number, string>("messages", { key: "number", public: true });
 * @example const transfers = map<[string, number], Transfer>("transfers", { key: ["string", "number"] });
 *          for (const [[, seq], t] of transfers.range({ prefix: [productId] })) { ... }
 */
export function map<K extends MapKey = string, V = unknown>(
  name: string,
  ...options: MapOptionsFor<K>
): KvMap<K, V> {
  return new KvMap<K, V>(name, (options[0] ?? {}) as { readonly public?: boolean; readonly key?: KeyKind });
}

/**
 * `map`'s options by key type: number keys require `{ key: "number" }`, tuple keys
 * `{ key: ["string", "number", ...] }`; mixed key types are refused.
 */
export type MapOptionsFor<K> = [K] extends [number]
  ? [options: NumberMapOptions]
  : [K] extends [string]
    ? [options?: StringMapOptions]
    : [K] extends [readonly (string | number)[]]
      ? number extends K["length"]
        ? [options: never]
        : [options: TupleMapOptions<K>]
      : [options: never];
