/**
 * `TxHost`: the GuestHost of one call, bound to the call's KvTx, the contract's namespace, its
 * mode and the limits in force. Everything a contract can touch goes through here, so this is
 * where the policy lives:
 *
 * - namespacing: the local map `x` is `<contract>.x` in the store, `public:x` is
 *   `public:<contract>.x`; local names must match MAP_NAME (no `.`, no second `:`), so a contract
 *   can never name another contract's maps, `public:gov.*` or `public:treaty.*`
 *   (`MapAccessDenied`);
 * - readonly calls cannot write (`ReadonlyViolation`);
 * - the constitution (loaded privileged as `gov`, see constitution.ts) may use public maps only
 *   (`publicOnly`), and its `validate` may not touch state at all (`noState`): both are
 *   `MapAccessDenied`, decided here at the host boundary, not by the guest's good manners;
 * - keys are size-capped (`KeyTooLarge`), range pages too; values and event data pass the one
 *   output check (runtime/sandbox/output.ts: JSON text, bytes, depth and count; `ValueTooLarge`,
 *   `ValueTooDeep`), as the ABI says (the ledger's readers rely on it);
 * - randomness is a deterministic stream from the call's seed (SHA-256(seed || counter));
 * - events are collected (at most `maxEvents`, `PayloadTooLarge` beyond).
 *
 * Refusals are TreatyErrors; the sandbox's bridge makes them fatal for the call. ABI misuse the
 * treaty/contract API never commits (malformed range options, bad hex) is `ContractFault`.
 * Storage failures of the KvTx propagate untouched.
 */
import { concatBytes, fromHex, toHex, utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { isCurve } from "../../sdk/keys.js";
import { sha256, verifySignature } from "../crypto.js";
import type { KvTx, RangeOptions } from "../kv/types.js";
import type { GuestHost } from "../sandbox/abi.js";
import { invalidEventName, MAP_NAME } from "../../contracts/api/manifest-rules.js";
import { MAX_RANDOM_BYTES, parseRangeRequest } from "../sandbox/guest-checks.js";
import type { SandboxLimits } from "../sandbox/limits.js";
import { checkJsonText, checkJsonValueText } from "../sandbox/output.js";

/** Cap on one kvRange page's JSON, so a scan cannot make the host build huge strings. */
export const MAX_RANGE_PAGE_BYTES = 16 * 1024 * 1024;

const PUBLIC = "public:";

/** One event recorded by a call. */
export interface ContractEvent {
  readonly name: string;
  /** The JSON value the contract emitted. */
  readonly data: unknown;
}

/**
 * The store name of a contract's map, or TreatyError `MapAccessDenied` naming the map.
 * @example storeMapName("bank", "public:accounts") === "public:bank.accounts"
 */
export function storeMapName(contract: string, local: string): string {
  const isPublic = local.startsWith(PUBLIC);
  const name = isPublic ? local.slice(PUBLIC.length) : local;
  if (!MAP_NAME.test(name)) {
    throw new TreatyError(
      "MapAccessDenied",
      `map ${JSON.stringify(local.slice(0, 80))}: a contract map name must be ${String(MAP_NAME)}, optionally prefixed with "public:"`,
    );
  }
  return isPublic ? `${PUBLIC}${contract}.${name}` : `${contract}.${name}`;
}

export interface TxHostOptions {
  readonly tx: KvTx;
  /** The contract's (validated) name: its namespace. */
  readonly contract: string;
  readonly readonly: boolean;
  readonly limits: SandboxLimits;
  /** The call's recorded random seed. */
  readonly seed: Uint8Array;
  /** Only `public:` maps may be named (the constitution: governance must stay auditable). */
  readonly publicOnly?: boolean;
  /** When set, every KV access is refused (`MapAccessDenied`) with this reason. */
  readonly noState?: string;
}

/** The GuestHost of one call. Single use: create one per call. */
export class TxHost implements GuestHost {
  readonly #tx: KvTx;
  readonly #contract: string;
  readonly #readonly: boolean;
  readonly #limits: SandboxLimits;
  readonly #seed: Uint8Array;
  readonly #publicOnly: boolean;
  readonly #noState: string | undefined;
  readonly #events: ContractEvent[] = [];
  /**
   * The last local map name resolved and its store name: a call mostly names one or two maps,
   * and a Map made for every call cost more than resolving the odd name again.
   */
  #lastLocal: string | undefined;
  #lastName = "";
  #randomCounter = 0;
  /** Random bytes not handed out yet (undefined until the first randomBytes call). */
  #randomPool: Uint8Array | undefined;

  constructor(options: TxHostOptions) {
    this.#tx = options.tx;
    this.#contract = options.contract;
    this.#readonly = options.readonly;
    this.#limits = options.limits;
    this.#seed = options.seed;
    this.#publicOnly = options.publicOnly === true;
    this.#noState = options.noState;
  }

  /** The events recorded so far, in order. */
  get events(): readonly ContractEvent[] {
    return this.#events;
  }

  kvGet(map: string, key: string): string | undefined {
    const value = this.#tx.get(this.#map(map), this.#key(key));
    return value === undefined ? undefined : decodeStored(value, map);
  }

  kvHas(map: string, key: string): boolean {
    return this.#tx.has(this.#map(map), this.#key(key));
  }

  kvSet(map: string, key: string, value: string): void {
    const name = this.#map(map);
    const keyBytes = this.#key(key);
    if (this.#readonly) this.#writable(`kvSet(${JSON.stringify(map)})`);
    const valueBytes = this.#value(value, map);
    // Both arrays were just encoded for this write: a tx that can keep them need not copy them.
    if (this.#tx.setOwned !== undefined) this.#tx.setOwned(name, keyBytes, valueBytes);
    else this.#tx.set(name, keyBytes, valueBytes);
  }

  kvDelete(map: string, key: string): void {
    const name = this.#map(map);
    const keyBytes = this.#key(key);
    this.#writable(`kvDelete(${JSON.stringify(map)})`);
    this.#tx.delete(name, keyBytes);
  }

  kvRange(map: string, optionsJson: string): string {
    const name = this.#map(map);
    const options = this.#rangeOptions(optionsJson);
    const parts: string[] = [];
    let bytes = 2;
    for (const [key, value] of this.#tx.range(name, options)) {
      const entry = `[${JSON.stringify(decodeStored(key, map))},${JSON.stringify(decodeStored(value, map))}]`;
      bytes += entry.length + 1;
      if (bytes > MAX_RANGE_PAGE_BYTES) {
        throw new TreatyError(
          "PayloadTooLarge",
          `kvRange(${JSON.stringify(map)}): a page is larger than ${MAX_RANGE_PAGE_BYTES} bytes; scan with a smaller limit`,
        );
      }
      parts.push(entry);
    }
    return `[${parts.join(",")}]`;
  }

  sha256(data: string, isHex: boolean): string {
    return toHex(sha256(isHex ? this.#hex(data, "sha256(data)") : utf8.encode(data)));
  }

  verifySignature(curve: string, publicKeyHex: string, messageHex: string, signatureHex: string): boolean {
    if (!isCurve(curve)) return false;
    let publicKey: Uint8Array;
    let message: Uint8Array;
    let signature: Uint8Array;
    try {
      publicKey = fromHex(publicKeyHex);
      message = fromHex(messageHex);
      signature = fromHex(signatureHex);
    } catch {
      return false;
    }
    return verifySignature({ curve, publicKey }, message, signature);
  }

  randomBytes(length: number): string {
    if (!Number.isInteger(length) || length < 0 || length > MAX_RANDOM_BYTES) {
      throw new TreatyError(
        "ContractFault",
        `randomBytes(length): expected an integer from 0 to ${MAX_RANDOM_BYTES}, got ${length}`,
      );
    }
    let pool = this.#randomPool ?? new Uint8Array(0);
    while (pool.length < length) {
      const counter = new Uint8Array(4);
      new DataView(counter.buffer).setUint32(0, this.#randomCounter++);
      const block = sha256(concatBytes(this.#seed, counter));
      pool = concatBytes(pool, block);
    }
    const out = pool.subarray(0, length);
    this.#randomPool = pool.subarray(length);
    return toHex(out);
  }

  emit(name: string, dataJson: string): void {
    const invalid = invalidEventName(name);
    if (invalid !== undefined) throw new TreatyError("ContractFault", `emit(name): ${invalid}`);
    if (this.#events.length >= this.#limits.maxEvents) {
      throw new TreatyError(
        "PayloadTooLarge",
        `events: a call may emit at most ${this.#limits.maxEvents} events`,
      );
    }
    const data = checkJsonText(dataJson, `emit("${name}") data`, this.#limits.maxValueBytes);
    this.#events.push(Object.freeze({ name, data }));
  }

  #map(local: string): string {
    if (this.#noState !== undefined) throw new TreatyError("MapAccessDenied", this.#noState);
    if (this.#lastLocal !== undefined && local === this.#lastLocal) return this.#lastName;
    if (this.#publicOnly && (typeof local !== "string" || !local.startsWith(PUBLIC))) {
      throw new TreatyError(
        "MapAccessDenied",
        `map ${JSON.stringify(String(local).slice(0, 80))}: ${this.#contract} may use public maps only ("public:name")`,
      );
    }
    const name = storeMapName(this.#contract, local);
    this.#lastLocal = local;
    this.#lastName = name;
    return name;
  }

  #key(key: string): Uint8Array {
    if (!isWellFormed(key))
      throw new TreatyError("ContractFault", "kv key: not valid Unicode (lone surrogate)");
    const bytes = utf8.encode(key);
    if (bytes.length > this.#limits.maxKeyBytes) {
      throw new TreatyError(
        "KeyTooLarge",
        `kv key: ${bytes.length} bytes, the limit is ${this.#limits.maxKeyBytes}`,
      );
    }
    return bytes;
  }

  #value(value: string, map: string): Uint8Array {
    // Values reach the ledger, where auditors and the HTTP API read them as JSON: store only
    // JSON text within the output bounds (runtime/sandbox/output.ts), as the ABI promises. The
    // text is stored as it is, so it is checked without being parsed.
    checkJsonValueText(value, () => `kvSet(${JSON.stringify(map)}) value`, this.#limits.maxValueBytes);
    return utf8.encode(value);
  }

  #writable(what: string): void {
    if (this.#readonly) throw new TreatyError("ReadonlyViolation", `${what}: a readonly method cannot write`);
  }

  #hex(text: string, what: string): Uint8Array {
    try {
      return fromHex(text, what);
    } catch {
      throw new TreatyError("ContractFault", `${what}: expected an even-length hex string`);
    }
  }

  #rangeOptions(optionsJson: string): RangeOptions {
    const { from, to, reverse, limit } = parseRangeRequest(optionsJson);
    return {
      limit,
      ...(from !== undefined && { from: this.#key(from) }),
      ...(to !== undefined && { to: this.#key(to) }),
      ...(reverse && { reverse }),
    };
  }
}

/** Stored keys and values are the UTF-8 of strings the host wrote; anything else is corruption. */
function decodeStored(bytes: Uint8Array, map: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new TreatyError("ContractFault", `map ${JSON.stringify(map)}: stored bytes are not UTF-8`);
  }
}

/** Matches a lone surrogate (with the `u` flag, a valid pair is one code point, not two). */
const LONE_SURROGATE = /\p{Cs}/u;

function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
