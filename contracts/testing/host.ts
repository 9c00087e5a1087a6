/**
 * The stand-in's GuestHost: what `__treatyHost` does for one call, over a `MemoryStore`, with the
 * semantics of the sandbox's host (runtime/executor/host.ts):
 *
 * - map names are contract-local (`accounts`, `public:messages`) and namespaced
 *   (`<contract>.accounts`, `public:<contract>.messages`); other names are MapAccessDenied;
 * - writes stay in the call's overlay until the harness commits them (a failed call writes
 *   nothing); reads and scans see the overlay;
 * - a readonly call cannot write (ReadonlyViolation); keys over `maxKeyBytes` are KeyTooLarge,
 *   values over `maxValueBytes` ValueTooLarge; more than `maxEvents` events PayloadTooLarge;
 * - randomness is SHA-256(seed || 32-bit big-endian counter), blocks concatenated, so a seed
 *   gives the same bytes here as in the sandbox;
 * - every refusal is a TreatyError, and the first one is kept in `refusal`: the call fails with
 *   it even when the contract catches the exception, as in the sandbox.
 */
import { TreatyError } from "../../sdk/errors.js";
import { concatBytes, fromHex, toHex, utf8 } from "../../sdk/bytes.js";
import { isCurve } from "../../sdk/keys.js";
import { sha256, verifySignature } from "../../runtime/crypto.js";
import type { GuestHost } from "../../runtime/sandbox/abi.js";
import { type ContractEvent, storeMapName } from "../../runtime/executor/host.js";
import { checkJsonText } from "../../runtime/sandbox/output.js";
import {
  MAX_RANDOM_BYTES,
  parseRangeRequest,
  type RangeRequest,
} from "../../runtime/sandbox/guest-checks.js";
import { compareKeys, loneSurrogate } from "../api/keys.js";
import { invalidEventName } from "../api/manifest-rules.js";
import type { MemoryStore, StoreWrite } from "./store.js";

/** Caps the stand-in enforces; defaults equal the sandbox's defaults. */
export interface StandInLimits {
  readonly maxKeyBytes: number;
  readonly maxValueBytes: number;
  readonly maxEvents: number;
  readonly maxArgsBytes: number;
  readonly maxResultBytes: number;
}

/** The sandbox's default limits (runtime/sandbox/limits.ts), which the stand-in applies unless told otherwise. */
export const DEFAULT_STAND_IN_LIMITS: StandInLimits = {
  maxKeyBytes: 4 * 1024,
  maxValueBytes: 512 * 1024,
  maxEvents: 100,
  maxArgsBytes: 576 * 1024,
  maxResultBytes: 1024 * 1024,
};

export { type ContractEvent, storeMapName } from "../../runtime/executor/host.js";

/** Options of one call's host. */
export interface CallHostOptions {
  readonly store: MemoryStore;
  readonly contract: string;
  readonly readonly: boolean;
  readonly seed: Uint8Array;
  readonly limits: StandInLimits;
}

/** The host of one call. Single use. */
export class CallHost implements GuestHost {
  /** The first refusal of this call (the call fails with it). */
  refusal: TreatyError | undefined;
  readonly events: ContractEvent[] = [];
  /** This call's writes per store map; null = deleted. */
  private readonly overlay = new Map<string, Map<string, string | null>>();
  private randomCounter = 0;
  private randomPool: Uint8Array = new Uint8Array(0);

  constructor(private readonly options: CallHostOptions) {}

  kvGet(map: string, key: string): string | undefined {
    return this.guard(() => this.read(this.map(map), this.key(key)));
  }

  kvHas(map: string, key: string): boolean {
    return this.guard(() => this.read(this.map(map), this.key(key)) !== undefined);
  }

  kvSet(map: string, key: string, value: string): void {
    this.guard(() => {
      const name = this.map(map);
      const checkedKey = this.key(key);
      this.writable(`kvSet(${JSON.stringify(map)})`);
      if (typeof value !== "string") {
        throw new TreatyError("ContractFault", `kvSet(${JSON.stringify(map)}): value is not a string`);
      }
      checkJsonText(value, `kvSet(${JSON.stringify(map)}) value`, this.options.limits.maxValueBytes);
      this.write(name, checkedKey, value);
    });
  }

  kvDelete(map: string, key: string): void {
    this.guard(() => {
      const name = this.map(map);
      const checkedKey = this.key(key);
      this.writable(`kvDelete(${JSON.stringify(map)})`);
      this.write(name, checkedKey, null);
    });
  }

  kvRange(map: string, optionsJson: string): string {
    return this.guard(() => {
      const name = this.map(map);
      const { from, to, reverse, limit } = this.rangeOptions(optionsJson);
      const stored = this.options.store.keysBetween(name, from, to);
      const own = this.overlay.get(name);
      let keys: readonly string[] = stored;
      if (own !== undefined && own.size > 0) {
        const merged = new Set(stored);
        for (const key of own.keys()) {
          if (
            (from === undefined || compareKeys(key, from) >= 0) &&
            (to === undefined || compareKeys(key, to) < 0)
          )
            merged.add(key);
        }
        keys = [...merged].sort(compareKeys);
      }
      const page: Array<[string, string]> = [];
      for (let i = 0; i < keys.length && page.length < limit; i++) {
        const key = keys[reverse ? keys.length - 1 - i : i]!;
        const value = this.read(name, key);
        if (value !== undefined) page.push([key, value]);
      }
      return JSON.stringify(page);
    });
  }

  sha256(data: string, isHex: boolean): string {
    return this.guard(() => toHex(sha256(isHex ? this.hex(data, "sha256(data)") : utf8.encode(data))));
  }

  verifySignature(curve: string, publicKeyHex: string, messageHex: string, signatureHex: string): boolean {
    if (!isCurve(curve)) return false;
    try {
      return verifySignature(
        { curve, publicKey: fromHex(publicKeyHex) },
        fromHex(messageHex),
        fromHex(signatureHex),
      );
    } catch {
      return false;
    }
  }

  randomBytes(length: number): string {
    return this.guard(() => {
      if (!Number.isInteger(length) || length < 0 || length > MAX_RANDOM_BYTES) {
        throw new TreatyError(
          "ContractFault",
          `randomBytes(length): expected an integer from 0 to ${MAX_RANDOM_BYTES}, got ${length}`,
        );
      }
      while (this.randomPool.length < length) {
        const counter = new Uint8Array(4);
        new DataView(counter.buffer).setUint32(0, this.randomCounter++);
        this.randomPool = concatBytes(this.randomPool, sha256(concatBytes(this.options.seed, counter)));
      }
      const out = this.randomPool.subarray(0, length);
      this.randomPool = this.randomPool.subarray(length);
      return toHex(out);
    });
  }

  emit(name: string, dataJson: string): void {
    this.guard(() => {
      const invalid = invalidEventName(name);
      if (invalid !== undefined) throw new TreatyError("ContractFault", `emit(name): ${invalid}`);
      if (this.events.length >= this.options.limits.maxEvents) {
        throw new TreatyError(
          "PayloadTooLarge",
          `events: a call may emit at most ${this.options.limits.maxEvents} events`,
        );
      }
      const data = checkJsonText(String(dataJson), `emit("${name}") data`, this.options.limits.maxValueBytes);
      this.events.push(Object.freeze({ name, data }));
    });
  }

  /** This call's writes, sorted by map then key (the shape of a write set), last write wins. */
  writes(): StoreWrite[] {
    const out: StoreWrite[] = [];
    for (const map of [...this.overlay.keys()].sort()) {
      const writes = this.overlay.get(map)!;
      for (const key of [...writes.keys()].sort(compareKeys)) out.push({ map, key, value: writes.get(key)! });
    }
    return out;
  }

  /** Runs a host operation; a refusal is remembered (the call fails with it) and rethrown. */
  private guard<T>(operation: () => T): T {
    try {
      return operation();
    } catch (err) {
      if (err instanceof TreatyError) this.refusal ??= err;
      throw err;
    }
  }

  private read(map: string, key: string): string | undefined {
    const own = this.overlay.get(map);
    if (own?.has(key)) return own.get(key) ?? undefined;
    return this.options.store.get(map, key);
  }

  private write(map: string, key: string, value: string | null): void {
    let own = this.overlay.get(map);
    if (own === undefined) {
      own = new Map();
      this.overlay.set(map, own);
    }
    own.set(key, value);
  }

  private map(local: string): string {
    if (typeof local !== "string") throw new TreatyError("MapAccessDenied", "map: expected a string name");
    return storeMapName(this.options.contract, local);
  }

  private key(key: string): string {
    if (typeof key !== "string" || loneSurrogate(key) >= 0)
      throw new TreatyError("ContractFault", "kv key: not valid Unicode (lone surrogate)");
    const bytes = utf8.encode(key).length;
    if (bytes > this.options.limits.maxKeyBytes) {
      throw new TreatyError(
        "KeyTooLarge",
        `kv key: ${bytes} bytes, the limit is ${this.options.limits.maxKeyBytes}`,
      );
    }
    return key;
  }

  private writable(what: string): void {
    if (this.options.readonly)
      throw new TreatyError("ReadonlyViolation", `${what}: a readonly method cannot write`);
  }

  private hex(text: string, what: string): Uint8Array {
    try {
      return fromHex(text, what);
    } catch {
      throw new TreatyError("ContractFault", `${what}: expected an even-length hex string`);
    }
  }

  private rangeOptions(optionsJson: string): RangeRequest {
    const { from, to, ...rest } = parseRangeRequest(optionsJson);
    return {
      ...rest,
      ...(from !== undefined && { from: this.key(from) }),
      ...(to !== undefined && { to: this.key(to) }),
    };
  }
}
