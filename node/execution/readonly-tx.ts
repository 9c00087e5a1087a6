/**
 * `ReadonlyTx`: a KvTx view that refuses writes. Reads (`ExecutionService.read`) run on any node
 * against its applied state and never produce a transaction, so even a readwrite method called
 * that way must not write: the refusal is a TreatyError `ReadonlyViolation`, which the sandbox
 * makes fatal for the call (the contract cannot catch it and carry on).
 */
import { TreatyError } from "../../sdk/errors.js";
import type { KvTx, RangeOptions, WriteSet } from "../../runtime/kv/types.js";

/** Wraps `inner`; owns nothing (the caller abandons `inner` after the call). */
export class ReadonlyTx implements KvTx {
  readonly #inner: KvTx;
  readonly #what: string;

  /** `what` names the call in refusal messages (`log.readPrivate`). */
  constructor(inner: KvTx, what: string) {
    this.#inner = inner;
    this.#what = what;
  }

  get readVersion(): number {
    return this.#inner.readVersion;
  }

  get(map: string, key: Uint8Array): Uint8Array | undefined {
    return this.#inner.get(map, key);
  }

  has(map: string, key: Uint8Array): boolean {
    return this.#inner.has(map, key);
  }

  set(map: string, _key: Uint8Array, _value: Uint8Array): void {
    this.#refuse("write to", map);
  }

  delete(map: string, _key: Uint8Array): void {
    this.#refuse("delete from", map);
  }

  range(map: string, options?: RangeOptions): IterableIterator<[Uint8Array, Uint8Array]> {
    return this.#inner.range(map, options);
  }

  readSet(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.#inner.readSet();
  }

  writeSet(): WriteSet {
    return this.#inner.writeSet();
  }

  #refuse(action: string, map: string): never {
    throw new TreatyError(
      "ReadonlyViolation",
      `${this.#what}: a read cannot ${action} map ${JSON.stringify(map)}; submit it as a transaction`,
    );
  }
}
