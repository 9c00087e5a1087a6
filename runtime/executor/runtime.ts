/**
 * `ContractRuntime`: the loaded contracts of a node and the synchronous path that runs one call.
 *
 * `execute(call, tx)` checks, in order: the contract exists (UnknownContract), the method exists
 * (UnknownMethod), the method's auth policy admits the caller (Forbidden; `anyone` admits
 * unsigned callers and is allowed on readonly methods only), the arguments fit the size cap
 * (PayloadTooLarge); then it invokes the method in the contract's sandbox with a `TxHost` bound
 * to `tx`, and checks the outcome. The guest's treaty/contract API checks the argument shapes
 * (InvalidArgs) itself, against the same manifest.
 *
 * Whatever fails, the outcome carries an empty write set and no events: the caller must then
 * abandon `tx` (never commit it). Only failures that are not the contract's doing (a host bug, a
 * storage failure, a broken invariant) are thrown, so the node can stop or retry.
 *
 * The path is synchronous from end to end: module instances are created ahead of time by the
 * engine; `create`, `ready` and `setLimits`' heap change are the only asynchronous parts, and
 * they are off the transaction path.
 */
import { assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import { authProblem, CONTRACT_NAME, RESERVED_CONTRACT_NAMES } from "../../contracts/api/manifest-rules.js";
import { parseManifestJson } from "../compiler/manifest.js";
import type { KvTx, WriteSet } from "../kv/types.js";
import type { CallerInfo, ContractManifest, MethodManifest } from "../sandbox/abi.js";
import { type InstanceSource, type ModuleInstance, QuickJsEngine } from "../sandbox/engine.js";
import {
  DEFAULT_LIMITS,
  MAX_TX_WRITE_BYTES,
  type SandboxLimits,
  WRITE_OVERHEAD_BYTES,
} from "../sandbox/limits.js";
import type { Clock } from "../sandbox/meter.js";
import { utf8Length } from "../sandbox/output.js";
import { ContractSandbox, type SandboxStats } from "../sandbox/sandbox.js";
import {
  CONSTITUTION_METHODS,
  CONSTITUTION_NAME,
  type ConstitutionMethod,
  checkConstitutionManifest,
  governanceLimits,
} from "./constitution.js";
import { type ContractEvent, TxHost } from "./host.js";
import { checkOutcome } from "./outcome.js";

/** The write set of every failed call. */
export const EMPTY_WRITE_SET: WriteSet = Object.freeze({
  public: Object.freeze([]),
  private: Object.freeze([]),
});

/** An authenticated caller. */
export type Caller = CallerInfo;

/** One call, as the node decided it (all of it recorded with the transaction). */
export interface ContractCall {
  readonly contract: string;
  readonly method: string;
  /** The decoded JSON arguments. */
  readonly args: unknown;
  /** Null for an unsigned call (allowed on `anyone` methods only). */
  readonly caller: Caller | null;
  /** `view.seqno`; null for readonly calls. */
  readonly txid: string | null;
  /** The executing node's clock, in ms since the epoch. */
  readonly timeMs: number;
  /** Seed of the call's deterministic randomness (at least 16 bytes). */
  readonly seed: Uint8Array;
}

/** One call of a constitution method, on behalf of the member whose request is processed. */
export interface ConstitutionCall {
  readonly method: ConstitutionMethod;
  readonly args: unknown;
  readonly caller: Caller;
  readonly txid: string | null;
  readonly timeMs: number;
  readonly seed: Uint8Array;
}

/** The `{code, message}` of a failed call. */
export interface CallError {
  readonly code: string;
  readonly message: string;
}

/** What a call produced. A failed call has an empty write set and no events. */
export type CallOutcome =
  | {
      readonly ok: true;
      readonly result: unknown;
      readonly writeSet: WriteSet;
      readonly events: readonly ContractEvent[];
    }
  | {
      readonly ok: false;
      readonly error: CallError;
      readonly writeSet: WriteSet;
      readonly events: readonly ContractEvent[];
    };

export interface RuntimeOptions {
  /** Initial limits (default DEFAULT_LIMITS); governance changes them with `setLimits`. */
  readonly limits?: SandboxLimits;
  /** QuickJS instances kept ready (default 2). */
  readonly spareInstances?: number;
  /** Monotonic clock for the wall-clock safety net (default performance.now). */
  readonly clock?: Clock;
  /**
   * Outcome write sets hold the transaction's own byte arrays (`KvTx.writeSetView`) instead of
   * copies: only for a caller that copies them before they leave it and never changes them (the
   * execution worker packs them into its reply). Default false: fresh copies.
   */
  readonly shareWriteSets?: boolean;
}

interface Loaded {
  readonly sandbox: ContractSandbox;
  readonly manifest: ContractManifest;
}

/**
 * Throws TreatyError `InvalidContract` unless `name` is a valid, unreserved contract name.
 */
export function checkContractName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !CONTRACT_NAME.test(name)) {
    throw new TreatyError(
      "InvalidContract",
      `contract name: expected ${String(CONTRACT_NAME)}, got ${JSON.stringify(name)}`,
    );
  }
  if (RESERVED_CONTRACT_NAMES.includes(name)) {
    throw new TreatyError("InvalidContract", `contract name: "${name}" is reserved`);
  }
}

/** The contracts of one node and the synchronous transaction path. Owned by the node. */
export class ContractRuntime {
  readonly #engine: QuickJsEngine;
  readonly #clock: Clock | undefined;
  readonly #contracts = new Map<string, Loaded>();
  /** The constitution, loaded privileged as `gov` (see constitution.ts); not in `#contracts`. */
  #constitution: Loaded | undefined;
  /** Where `inspect` takes its QuickJS instance from (see there). */
  readonly #inspector: InspectorInstances;
  #limits: SandboxLimits;
  #disposed = false;

  readonly #shareWriteSets: boolean;

  private constructor(
    engine: QuickJsEngine,
    limits: SandboxLimits,
    clock: Clock | undefined,
    shareWriteSets: boolean,
  ) {
    this.#shareWriteSets = shareWriteSets;
    this.#engine = engine;
    this.#inspector = new InspectorInstances(engine);
    this.#limits = limits;
    this.#clock = clock;
  }

  /** Creates a runtime with its QuickJS instances ready. */
  static async create(options: RuntimeOptions = {}): Promise<ContractRuntime> {
    const limits = options.limits ?? DEFAULT_LIMITS;
    const engine = await QuickJsEngine.create(
      options.spareInstances === undefined ? {} : { spareInstances: options.spareInstances },
    );
    await engine.ready(limits.heapBytes);
    return new ContractRuntime(engine, limits, options.clock, options.shareWriteSets === true);
  }

  /** The limits in force. */
  get limits(): SandboxLimits {
    return this.#limits;
  }

  /**
   * Applies new limits (check them with `resolveLimits` first) from the next call on. A new heap
   * cap needs new QuickJS instances: contracts move to them as they become ready (`await
   * ready()` to wait), and keep their current cap until then.
   */
  setLimits(limits: SandboxLimits): void {
    this.#limits = limits;
    this.#engine.target(limits.heapBytes);
  }

  /** Resolves when spare QuickJS instances with the current heap cap are ready. */
  ready(): Promise<void> {
    return this.#engine.ready(this.#limits.heapBytes);
  }

  /**
   * Loads (or replaces, for an upgrade) contract `name` from its compiled bundle and returns its
   * manifest. The old version keeps serving if the new one fails. Throws TreatyError
   * `InvalidContract` (bad name, bundle does not evaluate, malformed manifest) or `Unavailable`
   * (no QuickJS instance ready: `await ready()` and retry).
   */
  load(name: string, bundle: string): ContractManifest {
    this.#alive();
    checkContractName(name);
    const loaded = this.#open(bundle, name, false, this.#engine);
    this.#contracts.get(name)?.sandbox.dispose();
    this.#contracts.set(name, loaded);
    return loaded.manifest;
  }

  /**
   * Reads and checks the manifest of `bundle` exactly as `load` (or, for `kind: "constitution"`,
   * `loadConstitution`) would, in a throwaway sandbox under the same limits, without loading
   * anything: governance asks it before recording code, so no version that cannot load is ever
   * recorded. One QuickJS instance serves every inspection in turn (it is taken back after each,
   * unless the contract left it unusable), so a proposal with many contracts does not drain the
   * spares. Throws what `load` throws: TreatyError `InvalidContract` or `Unavailable`.
   */
  inspect(bundle: string, kind: "contract" | "constitution"): ContractManifest {
    this.#alive();
    const { sandbox, manifest } = this.#open(
      bundle,
      kind === "constitution" ? CONSTITUTION_NAME : "inspect",
      kind === "constitution",
      this.#inspector,
    );
    sandbox.dispose();
    return manifest;
  }

  /** Unloads a contract; false when it was not loaded. */
  unload(name: string): boolean {
    const loaded = this.#contracts.get(name);
    if (loaded === undefined) return false;
    loaded.sandbox.dispose();
    this.#contracts.delete(name);
    return true;
  }

  /**
   * Loads (or replaces) the constitution from its compiled bundle, privileged: under the reserved
   * name `gov`, with public maps only and at least the governance floor of limits. Returns its
   * manifest. Throws TreatyError `InvalidContract` (the bundle does not evaluate, or it is not a
   * constitution: validate/resolve/apply missing or with the wrong mode) or `Unavailable` (no
   * QuickJS instance ready); the previous constitution keeps serving then.
   */
  loadConstitution(bundle: string): ContractManifest {
    this.#alive();
    const loaded = this.#open(bundle, CONSTITUTION_NAME, true, this.#engine);
    this.#constitution?.sandbox.dispose();
    this.#constitution = loaded;
    return loaded.manifest;
  }

  /** The manifest of loaded contract `name`, or undefined. */
  manifestOf(name: string): ContractManifest | undefined {
    return this.#contracts.get(name)?.manifest;
  }

  /** True once a constitution is loaded. */
  get hasConstitution(): boolean {
    return this.#constitution !== undefined;
  }

  /**
   * Runs one constitution method against `tx` with the authority that method has (see
   * constitution.ts): validate sees no state, resolve reads, apply reads and writes public maps.
   * Failures come back as `{ok: false}` with an empty write set (abandon `tx` then); with no
   * constitution loaded the failure is `Unavailable`. Host bugs and storage failures are thrown.
   */
  executeConstitution(call: ConstitutionCall, tx: KvTx): CallOutcome {
    this.#alive();
    assert(Object.hasOwn(CONSTITUTION_METHODS, call.method), "executeConstitution: a constitution method");
    assert(
      call.seed instanceof Uint8Array && call.seed.length >= 16,
      "executeConstitution: seed must be at least 16 bytes",
    );
    const loaded = this.#constitution;
    if (loaded === undefined) return failed("Unavailable", "no constitution is loaded");
    const { access } = CONSTITUTION_METHODS[call.method];
    try {
      return this.#invoke(
        loaded,
        { ...call, contract: CONSTITUTION_NAME },
        tx,
        governanceLimits(this.#limits),
        {
          readonly: access !== "write",
          publicOnly: true,
          ...(access === "none" && {
            noState: "constitution validate(): no state access (validate judges the proposal alone)",
          }),
        },
      );
    } catch (err) {
      if (err instanceof TreatyError && err.code !== "LedgerCorrupt") return failed(err.code, err.message);
      throw err;
    }
  }

  /** The manifest of a loaded contract. */
  manifest(name: string): ContractManifest | undefined {
    return this.#contracts.get(name)?.manifest;
  }

  /** Names of the loaded contracts, sorted. */
  contracts(): string[] {
    return [...this.#contracts.keys()].sort();
  }

  /** Sandbox counters of a loaded contract (for metrics). */
  stats(name: string): SandboxStats | undefined {
    return this.#contracts.get(name)?.sandbox.stats();
  }

  /**
   * Runs one call against `tx`. Failures the contract or the caller caused come back as
   * `{ok: false, error}` with an empty write set (abandon `tx` then); host bugs and storage
   * failures are thrown.
   */
  execute(call: ContractCall, tx: KvTx): CallOutcome {
    this.#alive();
    assert(
      call.seed instanceof Uint8Array && call.seed.length >= 16,
      "execute: seed must be at least 16 bytes",
    );
    assert(Number.isFinite(call.timeMs), "execute: timeMs must be a finite number");
    try {
      return this.#execute(call, tx);
    } catch (err) {
      // Stored state found damaged (LedgerCorrupt) is a storage failure, not the call's: thrown.
      if (err instanceof TreatyError && err.code !== "LedgerCorrupt") return failed(err.code, err.message);
      throw err;
    }
  }

  /** Disposes every sandbox and the engine's spares. */
  dispose(): void {
    for (const { sandbox } of this.#contracts.values()) sandbox.dispose();
    this.#contracts.clear();
    this.#constitution?.sandbox.dispose();
    this.#constitution = undefined;
    this.#engine.dispose();
    this.#disposed = true;
  }

  #execute(call: ContractCall, tx: KvTx): CallOutcome {
    const loaded = this.#contracts.get(call.contract);
    if (loaded === undefined)
      throw new TreatyError("UnknownContract", `contract ${JSON.stringify(call.contract)} is not deployed`);
    const method = methodOf(loaded.manifest, call.method);
    if (method === undefined) {
      throw new TreatyError(
        "UnknownMethod",
        `contract "${call.contract}" has no method ${JSON.stringify(call.method)}`,
      );
    }
    return this.#invoke(loaded, call, tx, this.#limits, { readonly: method.mode === "readonly" });
  }

  /**
   * A sandbox for `bundle` with its checked manifest (a constitution's: under the governance
   * limits, and it must be one). Throws InvalidContract or Unavailable; nothing is left open then.
   */
  #open(bundle: string, name: string, constitution: boolean, instances: InstanceSource): Loaded {
    if (typeof bundle !== "string") throw new TreatyError("InvalidContract", "bundle: expected a string");
    const sandbox = ContractSandbox.create(bundle, {
      engine: instances,
      limits: constitution ? () => governanceLimits(this.#limits) : () => this.#limits,
      name,
      ...(this.#clock === undefined ? {} : { clock: this.#clock }),
    });
    try {
      const manifest = deepFreeze(parseManifestJson(sandbox.manifestJson));
      if (constitution) checkConstitutionManifest(manifest);
      return { sandbox, manifest };
    } catch (err) {
      sandbox.dispose();
      throw err;
    }
  }

  /** Auth, size checks, then the sandbox call under `limits` with a TxHost granting `access`. */
  #invoke(
    loaded: Loaded,
    call: ContractCall,
    tx: KvTx,
    limits: SandboxLimits,
    access: { readonly readonly: boolean; readonly publicOnly?: boolean; readonly noState?: string },
  ): CallOutcome {
    const method = methodOf(loaded.manifest, call.method);
    assert(method !== undefined, "invoke: the method is in the manifest");
    const denied = authProblem(method.auth, call.caller?.role ?? null);
    if (denied !== undefined) throw new TreatyError("Forbidden", `${call.contract}.${call.method} ${denied}`);
    const argsJson = encodeArgs(call.args);
    const argsBytes = utf8Length(argsJson);
    if (argsBytes > limits.maxArgsBytes) {
      throw new TreatyError(
        "PayloadTooLarge",
        `args: ${argsBytes} bytes, the limit is ${limits.maxArgsBytes}`,
      );
    }
    const host = new TxHost({ tx, contract: call.contract, limits, seed: call.seed, ...access });
    const contextJson = JSON.stringify({ caller: call.caller, txid: call.txid, timeMs: call.timeMs });
    // The role beside the context: the guest checks auth with it and parses the context only
    // if the method asks for it (contracts/api/host.ts).
    const text = loaded.sandbox.invoke(call.method, argsJson, contextJson, host, call.caller?.role ?? "");
    const outcome = checkOutcome(text, limits.maxResultBytes);
    if (!outcome.ok) return failed(outcome.error.code, outcome.error.message);
    const writeSet =
      this.#shareWriteSets && tx.writeSetView !== undefined ? tx.writeSetView() : tx.writeSet();
    const writeBytes = writeSetBytes(writeSet);
    if (writeBytes > MAX_TX_WRITE_BYTES) {
      throw new TreatyError(
        "PayloadTooLarge",
        `transaction: writes ${writeBytes} bytes, the limit is ${MAX_TX_WRITE_BYTES} (one ledger entry)`,
      );
    }
    return {
      ok: true,
      result: outcome.result,
      writeSet,
      events: host.events.length === 0 ? NO_EVENTS : Object.freeze([...host.events]),
    };
  }

  #alive(): void {
    if (this.#disposed) throw new TreatyError("Unavailable", "contract runtime: disposed");
  }
}

/** The engine's instances, plus one kept back from the last inspection for the next. */
class InspectorInstances implements InstanceSource {
  readonly #engine: QuickJsEngine;
  #kept: ModuleInstance | undefined;

  constructor(engine: QuickJsEngine) {
    this.#engine = engine;
  }

  take(heapBytes: number): ModuleInstance | undefined {
    const kept = this.#kept;
    this.#kept = undefined;
    return kept !== undefined && kept.heapBytes === heapBytes ? kept : this.#engine.take(heapBytes);
  }

  get spareCount(): number {
    return this.#engine.spareCount + (this.#kept === undefined ? 0 : 1);
  }

  reclaim(instance: ModuleInstance): void {
    this.#kept = instance;
  }
}

/** What a write set adds to a ledger entry (see MAX_TX_WRITE_BYTES; node/execution/engine.ts bounds a prune pass by it). */
export function writeSetBytes(writeSet: WriteSet): number {
  let bytes = 0;
  for (const maps of [writeSet.public, writeSet.private]) {
    for (const { map, writes } of maps) {
      bytes += utf8Length(map);
      for (const [key, value] of writes) bytes += key.length + (value?.length ?? 0) + WRITE_OVERHEAD_BYTES;
    }
  }
  return bytes;
}

/** The events of a call that emitted none: one frozen array for all of them. */
const NO_EVENTS: readonly ContractEvent[] = Object.freeze([]);

function failed(code: string, message: string): CallOutcome {
  return { ok: false, error: { code, message }, writeSet: EMPTY_WRITE_SET, events: Object.freeze([]) };
}

function methodOf(manifest: ContractManifest, method: string): MethodManifest | undefined {
  return typeof method === "string" && Object.hasOwn(manifest.methods, method)
    ? manifest.methods[method]
    : undefined;
}

/** JSON text of the arguments; InvalidArgs when they are not JSON data. */
function encodeArgs(args: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(args);
  } catch {
    json = undefined;
  }
  if (json === undefined) throw new TreatyError("InvalidArgs", "args: not JSON data");
  return json;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
