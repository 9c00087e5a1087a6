/**
 * The stand-in harness: run a contract's methods in plain Node, through the same `invoke` path
 * as the sandbox (args checked against the shape, auth policy against the caller's role, mode
 * enforced by the host), over an in-memory store, and look at the state afterwards.
 *
 *   import bank from "../../contracts/examples/bank/index.js";
 *   const c = testContract(bank, { name: "bank" });
 *   c.call("openAccount", {}, { caller: user("alice") });
 *   const r = c.call("transfer", { to: "bob", amount: 5 }, { caller: user("alice") });
 *   if (!r.ok) console.log(r.error.code);
 *
 * Calls are transactions: a failed call (any error) writes nothing and its events are dropped.
 * Differences from the sandbox: a contract imported from source keeps its module state between
 * calls (use `loadBundle` on the compiled bundle to get fresh modules per call), and no
 * execution, memory or stack limits apply to source contracts.
 */
import { isNativeError, isProxy } from "node:util/types";
import type { CallerInfo, ContractManifest, InvokeOutcome, MethodMode } from "../../runtime/sandbox/abi.js";
import { jwtCallerId } from "../../sdk/bearer.js";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { sha256 } from "../../runtime/crypto.js";
import { parseManifest } from "../../runtime/compiler/manifest.js";
import type { MethodsOf } from "../api/contract.js";
import { decodeKey, encodeKey, type KeyKind } from "../api/keys.js";
import type { KvMap, MapKey, RangeOptions } from "../api/map.js";
import { jsonProblem } from "../api/json.js";
import {
  CallHost,
  type ContractEvent,
  DEFAULT_STAND_IN_LIMITS,
  type StandInLimits,
  storeMapName,
} from "./host.js";
import { authProblem, CONTRACT_NAME, RESERVED_CONTRACT_NAMES } from "../api/manifest-rules.js";
import { MemoryStore } from "./store.js";

/** Anything with the bundle ABI: a `contract({...})` value, or `loadBundle(bundle)`. */
export interface Invokable {
  describe(): string;
  invoke(method: string, argsJson: string, ctxJson: string): string;
}

/**
 * A caller as the node authenticates it. On a network `id` is the `keyId` of the caller's
 * public key (64 hex digits); pass `{ id, role }` to use such an id in a test, or `jwtCaller`
 * for a JWT bearer caller.
 */
export type TestCaller = CallerInfo;

/**
 * A user caller named `name`. A named identity's id is its name, here as in
 * `treaty contract call --caller NAME` (and `seedGovernance`): `caller().id` is `"alice"`.
 */
export function user(name: string): TestCaller {
  return { id: name, role: "user" };
}

/** A member caller named `name` (its id is its name, as for `user`). */
export function member(name: string): TestCaller {
  return { id: name, role: "member" };
}

/**
 * A JWT bearer caller with these verified claims (`iss` and `sub` are required, as the node
 * requires them); its id is the one a node gives it (`jwtCallerId`, docs/identities.md).
 */
export function jwtCaller(
  claims: { readonly iss: string; readonly sub: string } & Record<string, unknown>,
): TestCaller {
  return {
    id: jwtCallerId(claims.iss, claims.sub),
    role: "jwt",
    issuer: claims.iss,
    subject: claims.sub,
    claims,
  };
}

/** Per-call options. */
export interface CallOptions {
  /** The authenticated caller; omitted or null means an anonymous call. */
  readonly caller?: TestCaller | null;
  /** The transaction time (default: the harness clock, see `setTime`). */
  readonly timeMs?: number;
  /** The call's random seed (default: derived from the harness seed and a call counter). */
  readonly seed?: Uint8Array;
}

/** One write of a successful call: a store entry set (with its decoded JSON value) or deleted. */
export interface Write {
  /** The contract-local map name (`accounts`, `public:messages`). */
  readonly map: string;
  /** The encoded key (see treaty/contract `encodeKey`). */
  readonly key: string;
  readonly deleted: boolean;
  /** The new value (undefined when deleted). */
  readonly value: unknown;
}

/** The outcome of one call. */
export type CallResult<R = unknown> =
  | {
      readonly ok: true;
      readonly result: R;
      readonly events: readonly ContractEvent[];
      readonly writes: readonly Write[];
      readonly txid: string | null;
    }
  | {
      readonly ok: false;
      readonly error: { readonly code: string; readonly message: string };
      readonly events: readonly [];
      readonly writes: readonly [];
      readonly txid: string | null;
      /**
       * The Error the contract threw, for debugging (only a genuine Error whose message is a
       * plain data property, so inspecting it runs no contract code).
       */
      readonly cause?: Error;
    };

/** Options of `testContract`. */
export interface TestContractOptions {
  /** The contract's name: its map namespace (default "contract"). */
  readonly name?: string;
  /** Share a store between harnesses (default: a new one). */
  readonly store?: MemoryStore;
  /** Seed of the per-call random seeds (default: all zeros). */
  readonly seed?: Uint8Array;
  /** The clock's start (default 2025-01-01T00:00:00Z); it advances 1 ms per call. */
  readonly startTimeMs?: number;
  readonly limits?: Partial<StandInLimits>;
}

type MethodTable = Record<string, { readonly args: unknown; readonly result: unknown }>;

/** The methods of `C`, or an untyped table for a contract whose type is not known. */
type MethodsFor<C> = [MethodsOf<C>] extends [never] ? MethodTable : MethodsOf<C>;

/** `call`'s arguments: the args may be omitted when the method takes none. */
type CallArgs<A> =
  Record<never, never> extends A ? [args?: A, options?: CallOptions] : [args: A, options?: CallOptions];

/** The name the node runs the constitution under (its maps are the governance tables `public:gov.*`). */
export const CONSTITUTION_NAME = "gov";
const DEFAULT_START_TIME_MS = Date.UTC(2025, 0, 1);

/** A contract under test. Not re-entrant: calls are synchronous and run one at a time. */
export class TestContract<M extends MethodTable = MethodTable> {
  readonly name: string;
  readonly store: MemoryStore;
  readonly manifest: ContractManifest;
  /** Read and seed the contract's state. */
  readonly state: StateView;
  private readonly target: Invokable;
  private readonly limits: StandInLimits;
  private readonly seed: Uint8Array;
  private timeMs: number;
  private calls = 0;
  private seqno = 0;

  /** Use `testContract` (or `testConstitution`, which alone may use the name `gov`). */
  constructor(target: Invokable, options: TestContractOptions = {}, isConstitution = false) {
    this.name = isConstitution ? CONSTITUTION_NAME : (options.name ?? "contract");
    if (!isConstitution && (!CONTRACT_NAME.test(this.name) || RESERVED_CONTRACT_NAMES.includes(this.name))) {
      throw new TreatyError(
        "InvalidArgs",
        `name: expected a contract name matching ${String(CONTRACT_NAME)}, not gov or treaty (test a constitution with testConstitution)`,
      );
    }
    this.target = target;
    this.store = options.store ?? new MemoryStore();
    this.limits = { ...DEFAULT_STAND_IN_LIMITS, ...options.limits };
    this.seed = options.seed ?? new Uint8Array(32);
    this.timeMs = options.startTimeMs ?? DEFAULT_START_TIME_MS;
    let manifestJson: string;
    try {
      manifestJson = target.describe();
    } catch (err) {
      throw new TreatyError(
        "InvalidContract",
        `describe() failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    this.manifest = parseManifest(JSON.parse(manifestJson));
    this.state = new StateView(this.store, this.name);
  }

  /**
   * Typed access to one of the contract's maps, through its own declaration: keys are encoded
   * as the map encodes them and public maps are found without a `public:` prefix.
   * @example import bank, { accounts } from "../index.js";
   *          testContract(bank, { name: "bank" }).map(accounts).get("alice"); // Account | undefined
   */
  map<K extends MapKey, V>(declared: KvMap<K, V>): MapState<K, V> {
    return new MapState(this.store, storeMapName(this.name, declared.hostName), declared);
  }

  /** Sets the harness clock (the time of the next call). */
  setTime(timeMs: number): void {
    this.timeMs = timeMs;
  }

  /** Advances the harness clock. */
  advanceTime(ms: number): void {
    this.timeMs += ms;
  }

  /**
   * Calls `method` with `args` (typed from the contract when it was passed as a value).
   * Never throws for contract failures: they come back as `{ok: false, error}`.
   */
  call<K extends keyof M & string>(
    method: K,
    ...[args, options]: CallArgs<M[K]["args"]>
  ): CallResult<M[K]["result"]> {
    const value = args === undefined ? {} : args;
    const problem = jsonProblem(value, "args");
    if (problem !== undefined) throw new TreatyError("InvalidArgs", `call("${method}"): ${problem}`);
    return this.callJson(method, JSON.stringify(value), options) as CallResult<M[K]["result"]>;
  }

  /** Calls `method` with raw JSON text as args (to test malformed input). */
  callJson(method: string, argsJson: string, options: CallOptions = {}): CallResult {
    const entry = Object.hasOwn(this.manifest.methods, method) ? this.manifest.methods[method] : undefined;
    const mode: MethodMode = entry?.mode ?? "readonly";
    const txid = mode === "readwrite" ? `1.${++this.seqno}` : null;
    const fail = (code: string, message: string, thrown?: unknown): CallResult => {
      const failure = {
        ok: false as const,
        error: { code, message },
        events: [] as const,
        writes: [] as const,
        txid,
      };
      return isSafeError(thrown) ? { ...failure, cause: thrown } : failure;
    };
    // The executor's own checks, in its order and words: the guest never sees these calls.
    if (entry === undefined)
      return fail("UnknownMethod", `contract "${this.name}" has no method ${JSON.stringify(method)}`);
    const denied = authProblem(entry.auth, options.caller?.role ?? null);
    if (denied !== undefined) return fail("Forbidden", `${this.name}.${method} ${denied}`);
    const argsBytes = utf8.encode(argsJson).length;
    if (argsBytes > this.limits.maxArgsBytes) {
      return fail("PayloadTooLarge", `args: ${argsBytes} bytes, the limit is ${this.limits.maxArgsBytes}`);
    }
    this.calls++;
    const timeMs = options.timeMs ?? this.timeMs++;
    const seed = options.seed ?? sha256(`${toHex(this.seed)}:${this.calls}`);
    const host = new CallHost({
      store: this.store,
      contract: this.name,
      readonly: mode === "readonly",
      seed,
      limits: this.limits,
    });
    const context = JSON.stringify({ caller: options.caller ?? null, txid, timeMs });
    const globals = globalThis as { __treatyHost?: unknown };
    const previous = globals.__treatyHost;
    let outcomeJson: string;
    try {
      globals.__treatyHost = host;
      outcomeJson = this.target.invoke(method, argsJson, context);
    } catch (err) {
      if (host.refusal !== undefined) return fail(host.refusal.code, host.refusal.message);
      const limit = limitError(err);
      if (limit !== undefined) return fail(limit.code, limit.message, err);
      return fail("ContractFault", faultMessage(err), err);
    } finally {
      globals.__treatyHost = previous;
    }
    if (host.refusal !== undefined) return fail(host.refusal.code, host.refusal.message);
    let outcome: InvokeOutcome;
    try {
      outcome = JSON.parse(outcomeJson) as InvokeOutcome;
    } catch {
      return fail("ContractFault", "invoke() did not return JSON");
    }
    if (!outcome.ok) return fail(outcome.error.code, outcome.error.message);
    const resultBytes = utf8.encode(JSON.stringify(outcome.result)).length;
    if (resultBytes > this.limits.maxResultBytes) {
      return fail(
        "PayloadTooLarge",
        `result: ${resultBytes} bytes, the limit is ${this.limits.maxResultBytes}`,
      );
    }
    const writes = host.writes();
    this.store.apply(writes);
    return {
      ok: true,
      result: outcome.result,
      events: [...host.events],
      writes: writes.map((w) => ({
        map: this.state.localName(w.map),
        key: w.key,
        deleted: w.value === null,
        value: w.value === null ? undefined : JSON.parse(w.value),
      })),
      txid,
    };
  }
}

/**
 * Node's errors that stand for the sandbox's limits: vm's timeout, V8's stack overflow. They may
 * come from another realm (a bundle's vm context), so they are recognized by shape.
 */
function limitError(err: unknown): { code: string; message: string } | undefined {
  if (!isNativeError(err) || isProxy(err)) return undefined;
  if (dataString(err, "code") === "ERR_SCRIPT_EXECUTION_TIMEOUT")
    return { code: "ExecutionLimit", message: "the call ran out of time" };
  if (dataString(err, "name") === "RangeError" && /call stack/i.test(dataString(err, "message") ?? "")) {
    return { code: "StackLimit", message: "the call overflowed the stack" };
  }
  return undefined;
}

/** A safe message for what a contract threw: reads data properties only, never runs its code. */
function faultMessage(err: unknown): string {
  if (typeof err === "string") return `the contract threw a string: ${err.slice(0, 1024)}`;
  if (isNativeError(err) && !isProxy(err)) {
    return `${dataString(err, "name") ?? "Error"}: ${(dataString(err, "message") ?? "").slice(0, 1024)}`;
  }
  return `the contract threw a non-Error value (${err === null ? "null" : typeof err})`;
}

/** A native Error, not a Proxy, whose message (if any) is a data property: safe to inspect. */
function isSafeError(value: unknown): value is Error {
  if (!isNativeError(value) || isProxy(value)) return false;
  let current: object | null = value;
  for (let depth = 0; depth < 8 && current !== null; depth++) {
    if (isProxy(current)) return false;
    const descriptor = Object.getOwnPropertyDescriptor(current, "message");
    if (descriptor !== undefined) return "value" in descriptor;
    current = Object.getPrototypeOf(current) as object | null;
  }
  return true;
}

/** A string data property found on `object` or its prototypes (no getters, no Proxy traps). */
function dataString(object: object, key: string): string | undefined {
  let current: object | null = object;
  for (let depth = 0; depth < 8 && current !== null && !isProxy(current); depth++) {
    const descriptor = Object.getOwnPropertyDescriptor(current, key);
    if (descriptor !== undefined)
      return "value" in descriptor && typeof descriptor.value === "string" ? descriptor.value : undefined;
    current = Object.getPrototypeOf(current) as object | null;
  }
  return undefined;
}

/**
 * The contract's state in the stand-in store, by map name. A name without prefix (`products`)
 * is the private map of that name, or the public one when only the public map holds data;
 * `public:products` is always the public one. For typed access through the contract's own
 * declarations (and composite keys), prefer `TestContract.map(declared)`.
 */
export class StateView {
  constructor(
    private readonly store: MemoryStore,
    private readonly contract: string,
  ) {}

  /** The value under `key` in map `map` (`accounts`, `products`, `public:messages`); number keys encode as numbers. */
  get(map: string, key: string | number): unknown {
    const json = this.store.get(this.storeName(map), encodeKey(kindOf(key), key));
    return json === undefined ? undefined : JSON.parse(json);
  }

  /** Entries of `map` in key order, keys decoded as `keyKind`. */
  entries(map: string, keyKind: KeyKind = "string"): Array<[string | number, unknown]> {
    return this.store
      .entries(this.storeName(map))
      .map(([key, json]) => [decodeKey(keyKind, key) as string | number, JSON.parse(json)]);
  }

  /** Seeds state before a test (written directly, outside any call). */
  set(map: string, key: string | number, value: unknown): void {
    const problem = jsonProblem(value, "value");
    if (problem !== undefined) throw new TreatyError("InvalidArgs", problem);
    this.store.apply([
      { map: this.storeName(map), key: encodeKey(kindOf(key), key), value: JSON.stringify(value) },
    ]);
  }

  /** Removes a key (outside any call). */
  delete(map: string, key: string | number): void {
    this.store.apply([{ map: this.storeName(map), key: encodeKey(kindOf(key), key), value: null }]);
  }

  /** The store name of `map`, resolving a name without prefix as the class comment says. */
  private storeName(map: string): string {
    const name = storeMapName(this.contract, map);
    if (map.startsWith("public:") || this.store.entries(name).length > 0) return name;
    const publicName = storeMapName(this.contract, `public:${map}`);
    return this.store.entries(publicName).length > 0 ? publicName : name;
  }

  /** Local names of this contract's non-empty maps, sorted. */
  maps(): string[] {
    return this.store
      .maps()
      .filter((name) => name.startsWith(`${this.contract}.`) || name.startsWith(`public:${this.contract}.`))
      .map((name) => this.localName(name))
      .sort();
  }

  /** Every map of the contract as `{map: {encodedKey: value}}`, for snapshots. */
  dump(): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const map of this.maps()) {
      const entries: Record<string, unknown> = {};
      for (const [key, json] of this.store.entries(storeMapName(this.contract, map)))
        entries[key] = JSON.parse(json);
      out[map] = entries;
    }
    return out;
  }

  /** `bank.accounts` → `accounts`, `public:bank.log` → `public:log`. */
  localName(storeName: string): string {
    if (storeName.startsWith(`public:${this.contract}.`))
      return `public:${storeName.slice(`public:${this.contract}.`.length)}`;
    return storeName.slice(this.contract.length + 1);
  }
}

/**
 * One declared map of a contract under test, typed by its declaration (`TestContract.map`).
 * Reads see committed state; writes seed state directly, outside any call.
 */
export class MapState<K extends MapKey, V> {
  /** Use `TestContract.map(declared)`. */
  constructor(
    private readonly store: MemoryStore,
    private readonly storeName: string,
    private readonly declared: KvMap<K, V>,
  ) {}

  get(key: K): V | undefined {
    const json = this.store.get(this.storeName, this.declared.encodeKey(key));
    return json === undefined ? undefined : (JSON.parse(json) as V);
  }

  has(key: K): boolean {
    return this.store.get(this.storeName, this.declared.encodeKey(key)) !== undefined;
  }

  /** Seeds `value` under `key`; TreatyError(InvalidArgs) when the value is not JSON. */
  set(key: K, value: V): void {
    const problem = jsonProblem(value, "value");
    if (problem !== undefined) throw new TreatyError("InvalidArgs", `${this.declared.name}.set: ${problem}`);
    this.store.apply([
      { map: this.storeName, key: this.declared.encodeKey(key), value: JSON.stringify(value) },
    ]);
  }

  delete(key: K): void {
    this.store.apply([{ map: this.storeName, key: this.declared.encodeKey(key), value: null }]);
  }

  /** `[key, value]` pairs in key order, with the bounds and options of the map's own `range`. */
  entries(options: RangeOptions<K> = {}): Array<[K, V]> {
    const { from, to } = this.declared.encodeRange(options);
    let keys = [...this.store.keysBetween(this.storeName, from, to)];
    if (options.reverse === true) keys.reverse();
    if (options.limit !== undefined) keys = keys.slice(0, options.limit);
    return keys.map((key) => [
      this.declared.decodeKey(key),
      JSON.parse(this.store.get(this.storeName, key)!) as V,
    ]);
  }

  keys(options: RangeOptions<K> = {}): K[] {
    return this.entries(options).map(([key]) => key);
  }

  values(options: RangeOptions<K> = {}): V[] {
    return this.entries(options).map(([, value]) => value);
  }
}

function kindOf(key: string | number): KeyKind {
  return typeof key === "number" ? "number" : "string";
}

/**
 * A harness for `target`: a `contract({...})` value (its methods' types carry over to `call`)
 * or a bundle from `loadBundle`. Throws TreatyError(InvalidContract) when the contract cannot
 * describe itself or its manifest is malformed.
 */
export function testContract<C extends Invokable>(
  target: C,
  options: TestContractOptions = {},
): TestContract<MethodsFor<C>> {
  return new TestContract<MethodsFor<C>>(target, options);
}

/**
 * A harness for a constitution: like `testContract`, under the reserved name `gov` the node
 * runs it under, so its maps are the governance tables (`public:members` is the store's
 * `public:gov.members`). Seed those tables with `seedGovernance(c.store, {...})`.
 */
export function testConstitution<C extends Invokable>(
  target: C,
  options: Omit<TestContractOptions, "name"> = {},
): TestContract<MethodsFor<C>> {
  return new TestContract<MethodsFor<C>>(target, options, true);
}
