/**
 * One contract's QuickJS sandbox: its own wasm module instance (hard heap cap), one runtime and
 * one context, locked down, with the bundle evaluated once and its factory kept.
 *
 * Every call runs `factory()` (a fresh instance, or the one frozen instance of a declarative
 * contract: runtime/compiler/bundle.ts), then one method of the instance, under a `CallMeter` (fuel + wall clock), a QuickJS stack cap and the instance's
 * memory cap. After an abnormal exit (any limit, a host failure) the context and runtime are
 * disposed and rebuilt at the next call; after a V8 stack overflow while QuickJS's C code was
 * running, the whole module instance is dropped undisposed, since its heap may be half-updated,
 * and a spare from the engine takes its place. Normal exits (a result, or an ordinary exception
 * the contract threw) keep the context: the lockdown leaves contracts nothing mutable that
 * outlives a call.
 *
 * Known limit of the wall-clock safety net: interrupts are polled between bytecode ticks only, so
 * one long native builtin (a huge `Array.prototype.fill`, a deep stack trace being built) runs to
 * its end first. Allocation failures fail fast after the first (see GrowthMonitor), which removes
 * the worst case measured (out-of-memory in a catch-and-retry loop), but a watchdog outside the
 * runtime (the node runs it in a worker and terminates it) remains the hard backstop.
 */
import {
  DefaultIntrinsics,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
} from "quickjs-emscripten";
import { TreatyError } from "../../sdk/errors.js";
import { MAX_MANIFEST_BYTES } from "../compiler/manifest.js";
import type { GuestHost } from "./abi.js";
import { installHost } from "./bridge.js";
import { callDirect, installDirectCalls, isGuestString, newString } from "./direct-calls.js";
import type { InstanceSource, ModuleInstance } from "./engine.js";
import type { SandboxLimits } from "./limits.js";
import { LOCKDOWN_SOURCE } from "./lockdown.js";
import { CallMeter, type Clock } from "./meter.js";

export interface SandboxOptions {
  readonly engine: InstanceSource;
  /** The limits in force, read at the start of every call (governance may change them). */
  readonly limits: () => SandboxLimits;
  /** The contract's name, used as the script name in guest stack traces. */
  readonly name: string;
  readonly clock?: Clock;
}

/** Counters for metrics and tests. */
export interface SandboxStats {
  /** Contexts created (1 + rebuilds after abnormal exits). */
  readonly boots: number;
  /** Module instances used (1 + replacements after host stack overflows or heap cap changes). */
  readonly instances: number;
  readonly calls: number;
  /** Fuel burnt by the last call. */
  readonly lastCallFuel: number;
  /** Current size of the instance's wasm memory. */
  readonly wasmBytes: number;
}

/** The live QuickJS objects of one boot. */
interface Live {
  readonly instance: ModuleInstance;
  readonly runtime: QuickJSRuntime;
  readonly context: QuickJSContext;
  /** The lockdown's helper object: `harden`, `describeError`, `run`. */
  readonly helpers: QuickJSHandle;
  /** `helpers.run`, kept: every call goes through it. */
  readonly run: QuickJSHandle;
  /**
   * Method names and callers' roles as guest strings, kept across calls (strings are
   * immutable). The runtime calls declared methods only, and there are five roles; past
   * MAX_KEPT_STRINGS strings, one is made per call.
   */
  readonly keptStrings: Map<string, QuickJSHandle>;
  /** The bundle's factory function. */
  readonly factory: QuickJSHandle;
  /** The stack cap the runtime has now. */
  stackBytes: number;
}

/** How one stretch of guest code ended. */
type Ending =
  | { readonly kind: "returned"; readonly handle: QuickJSHandle }
  | { readonly kind: "threw"; readonly handle: QuickJSHandle }
  | { readonly kind: "host"; readonly error: unknown };

/** Codes after which the context is rebuilt before the next call. */
const ABNORMAL: ReadonlySet<string> = new Set(["ExecutionLimit", "MemoryLimit", "StackLimit", "Internal"]);
/** Fuel for building a context: the lockdown alone burns ~40k (it walks every intrinsic). */
const BOOT_FUEL = 5_000_000;
/** Wall clock for each stage of building a context (lockdown, bundle, harden, describe). */
export const BOOT_WALL_CLOCK_MS = 5_000;
/** Most strings a context keeps (a manifest declares at most 256 methods; five roles). */
const MAX_KEPT_STRINGS = 512;
/** Fuel for describing a thrown value: plenty for the helper, little for a hostile Proxy. */
const DESCRIBE_BUDGET = 50_000;

export class ContractSandbox {
  readonly #options: SandboxOptions;
  readonly #bundle: string;
  readonly #meter: CallMeter;
  #instance: ModuleInstance | undefined;
  #live: Live | undefined;
  #host: GuestHost | undefined;
  #crash: { readonly error: unknown } | undefined;
  #poisoned = false;
  #disposed = false;
  #boots = 0;
  #instances = 0;
  #calls = 0;
  #lastCallFuel = 0;
  #manifestJson = "";

  private constructor(bundle: string, options: SandboxOptions) {
    this.#bundle = bundle;
    this.#options = options;
    this.#meter = new CallMeter(options.clock);
  }

  /**
   * Evaluates `bundle` in a fresh locked-down sandbox and reads its manifest. Throws TreatyError
   * `InvalidContract` when the bundle does not evaluate to a factory whose instance's
   * `describe()` returns a string of at most MAX_MANIFEST_BYTES characters (limits hit while
   * loading are reported the same way, with their code in the message), and `Unavailable` when the engine has no module instance ready
   * (await `engine.ready(heapBytes)` first).
   */
  static create(bundle: string, options: SandboxOptions): ContractSandbox {
    const sandbox = new ContractSandbox(bundle, options);
    try {
      sandbox.#boot();
      sandbox.#manifestJson = sandbox.#runMethod(
        "describe",
        [],
        undefined,
        sandbox.#bootLimits(),
        MAX_MANIFEST_BYTES,
      );
      return sandbox;
    } catch (err) {
      sandbox.dispose();
      if (err instanceof TreatyError && err.code !== "InvalidContract" && err.code !== "Unavailable") {
        throw new TreatyError("InvalidContract", `bundle: ${err.code}: ${err.message}`);
      }
      throw err;
    }
  }

  /** The contract's manifest as its `describe()` returned it (JSON text, not yet checked). */
  get manifestJson(): string {
    return this.#manifestJson;
  }

  /**
   * Runs `factory().invoke(method, argsJson, contextJson, callerRole)` with `host` behind
   * `__treatyHost` and returns the string it returned (the InvokeOutcome JSON, not yet checked).
   * `callerRole` is the context's caller's role ("" for none); when it is omitted, `invoke` gets
   * three arguments and parses the context to learn it (runtime/sandbox/abi.ts). Throws TreatyError:
   * `ExecutionLimit`, `MemoryLimit`, `StackLimit`; the code of a host refusal (e.g.
   * `ReadonlyViolation`, `KeyTooLarge`); `ContractFault` when the contract threw, returned a
   * non-string or left promise jobs behind; `Unavailable` when no module instance is ready to
   * replace a dropped one. Host bugs and storage failures thrown by `host` are re-thrown as is.
   */
  invoke(
    method: string,
    argsJson: string,
    contextJson: string,
    host: GuestHost,
    callerRole?: string,
  ): string {
    if (this.#disposed) throw new TreatyError("Unavailable", "sandbox: disposed");
    this.#calls++;
    const limits = this.#options.limits();
    const live = this.#live;
    if (
      live !== undefined &&
      live.instance.heapBytes !== limits.heapBytes &&
      this.#options.engine.spareCount > 0
    ) {
      this.#shutdown(); // the heap cap changed: move to an instance with the new cap
    }
    if (this.#live === undefined) this.#boot();
    const current = this.#live!;
    if (current.stackBytes !== limits.stackBytes) {
      // Between calls the C stack is at its base, so the new cap counts from there.
      current.runtime.setMaxStackSize(limits.stackBytes);
      current.stackBytes = limits.stackBytes;
    }
    // Method names and roles repeat: kept as guest strings. The runtime calls declared methods only.
    const args = [this.#kept(current, method), argsJson, contextJson];
    if (callerRole !== undefined) args.push(this.#kept(current, callerRole));
    return this.#runMethod("invoke", args, host, limits);
  }

  /**
   * Limits for building a context (lockdown, bundle evaluation, hardening, describe): trusted
   * work and the contract's one-off module setup, so at least BOOT_FUEL and BOOT_WALL_CLOCK_MS.
   */
  #bootLimits(): SandboxLimits {
    const limits = this.#options.limits();
    return {
      ...limits,
      executionBudget: Math.max(limits.executionBudget, BOOT_FUEL),
      wallClockMs: Math.max(limits.wallClockMs, BOOT_WALL_CLOCK_MS),
    };
  }

  /** Counters for metrics and tests. */
  stats(): SandboxStats {
    return {
      boots: this.#boots,
      instances: this.#instances,
      calls: this.#calls,
      lastCallFuel: this.#lastCallFuel,
      wasmBytes: this.#instance?.memory.buffer.byteLength ?? 0,
    };
  }

  /**
   * QuickJS's own accounting for the live context (objects alive, bytes in use), or undefined
   * when no context is live. For metrics and leak tests; costs a walk of the heap.
   */
  memoryUsage(): { readonly objects: number; readonly usedBytes: number } | undefined {
    const live = this.#live;
    if (live === undefined) return undefined;
    const dump = live.runtime.dumpMemoryUsage();
    const objects = /^objects\s+(\d+)/m.exec(dump);
    const used = /^memory used\s+\d+\s+(\d+)/m.exec(dump);
    if (objects === null || used === null) return undefined;
    return { objects: Number(objects[1]), usedBytes: Number(used[1]) };
  }

  /**
   * Frees the QuickJS objects; the sandbox refuses calls afterwards. Idempotent. A healthy module
   * instance goes back to the source when it takes instances back (`InstanceSource.reclaim`):
   * the runtime that ran here is freed first, so the next sandbox starts from an empty heap, as
   * after any rebuild of the context.
   */
  dispose(): void {
    this.#shutdown();
    const instance = this.#instance;
    this.#disposed = true;
    this.#instance = undefined;
    if (instance !== undefined && !this.#poisoned) this.#options.engine.reclaim?.(instance);
  }

  /** Creates runtime and context, installs the host, locks down and evaluates the bundle. */
  #boot(): void {
    const limits = this.#options.limits();
    if (this.#instance === undefined || this.#poisoned || this.#instance.heapBytes !== limits.heapBytes) {
      const fresh = this.#options.engine.take(limits.heapBytes);
      if (fresh !== undefined) {
        this.#instance = fresh;
        this.#poisoned = false;
        this.#instances++;
      } else if (this.#instance === undefined || this.#poisoned) {
        throw new TreatyError("Unavailable", "sandbox: no QuickJS instance is ready; retry shortly");
      }
    }
    const instance = this.#instance!;
    const runtime = instance.module.newRuntime();
    let context: QuickJSContext | undefined;
    const handles: QuickJSHandle[] = [];
    try {
      runtime.setMaxStackSize(limits.stackBytes);
      runtime.setInterruptHandler(() => this.#meter.poll());
      instance.growth.onResizeFailed = () => {
        this.#meter.fail(new TreatyError("MemoryLimit", `heap limit of ${instance.heapBytes} bytes reached`));
        // Every further allocation now fails at once, so native builtins stop early.
        runtime.setMemoryLimit(1);
      };
      context = runtime.newContext({ intrinsics: { ...DefaultIntrinsics, Date: false } });
      installDirectCalls(context);
      installHost(context, {
        host: () => this.#host,
        meter: this.#meter,
        crash: (error) => this.#recordCrash(error),
      });
      const helpers = this.#evaluate(instance, runtime, context, undefined, LOCKDOWN_SOURCE, "lockdown.js");
      handles.push(helpers);
      const run = context.getProp(helpers, "run");
      handles.push(run);
      const factory = this.#evaluate(
        instance,
        runtime,
        context,
        helpers,
        this.#bundle,
        `${this.#options.name}.js`,
      );
      handles.push(factory);
      if (context.typeof(factory) !== "function") {
        throw new TreatyError("InvalidContract", "bundle: the script must evaluate to a factory function");
      }
      this.#live = {
        instance,
        runtime,
        context,
        helpers,
        run,
        keptStrings: new Map(),
        factory,
        stackBytes: limits.stackBytes,
      };
      this.#boots++;
      // The factory object outlives calls: freeze it (and its prototype) so no call can stash
      // state on it.
      this.#runHelper("harden", [factory], undefined, this.#bootLimits()).dispose();
    } catch (err) {
      this.#live = undefined;
      if (!this.#poisoned) for (const handle of handles) if (handle.alive) handle.dispose();
      this.#disposeQuickJs(runtime, context);
      throw err;
    }
  }

  /** Evaluates a script under the meter; returns its completion value or throws InvalidContract. */
  #evaluate(
    instance: ModuleInstance,
    runtime: QuickJSRuntime,
    context: QuickJSContext,
    helpers: QuickJSHandle | undefined,
    source: string,
    filename: string,
  ): QuickJSHandle {
    const failedBefore = instance.growth.failedResizes;
    this.#meter.start(this.#bootLimits());
    let ending: Ending;
    try {
      const result = context.evalCode(source, filename, { type: "global", strict: true });
      ending =
        result.error === undefined
          ? { kind: "returned", handle: result.value }
          : { kind: "threw", handle: result.error };
    } catch (error) {
      ending = { kind: "host", error };
    } finally {
      this.#meter.stop();
    }
    return this.#settle({ instance, runtime, context, helpers }, ending, failedBefore, true);
  }

  /** `text` as a kept guest string (see `Live.keptStrings`), or itself past the cap (made per call). */
  #kept(live: Live, text: string): string | QuickJSHandle {
    let kept = live.keptStrings.get(text);
    if (kept === undefined && live.keptStrings.size < MAX_KEPT_STRINGS) {
      kept = live.context.newString(text);
      live.keptStrings.set(text, kept);
    }
    return kept ?? text;
  }

  /** `helpers.run(factory, method, ...args)`: one call of a fresh contract instance; its string result. */
  #runMethod(
    method: string,
    args: (string | QuickJSHandle)[],
    host: GuestHost | undefined,
    limits: SandboxLimits,
    maxChars = Number.POSITIVE_INFINITY,
  ): string {
    const live = this.#live!;
    const handle = this.#runHelper("run", [live.factory, this.#kept(live, method), ...args], host, limits);
    try {
      if (!isGuestString(live.context, handle)) {
        throw new TreatyError("ContractFault", `${method}() must return a JSON string`);
      }
      if (maxChars !== Number.POSITIVE_INFINITY) {
        // Measured inside QuickJS: an oversized answer is refused before it is copied out.
        const lengthHandle = live.context.getProp(handle, "length");
        const length = live.context.getNumber(lengthHandle);
        lengthHandle.dispose();
        if (length > maxChars) {
          throw new TreatyError(
            "InvalidContract",
            `${method}() returned ${length} characters, more than the ${maxChars} allowed`,
          );
        }
      }
      return live.context.getString(handle);
    } finally {
      handle.dispose();
    }
  }

  /** Calls one of the lockdown helpers under the meter with `host` installed. */
  #runHelper(
    name: "run" | "harden",
    args: (string | QuickJSHandle)[],
    host: GuestHost | undefined,
    limits: SandboxLimits,
  ): QuickJSHandle {
    const live = this.#live!;
    const { context } = live;
    const failedBefore = live.instance.growth.failedResizes;
    const owned: QuickJSHandle[] = [];
    this.#meter.start(limits);
    this.#host = host;
    this.#crash = undefined;
    let ending: Ending;
    try {
      let fn = live.run;
      if (name !== "run") {
        fn = context.getProp(live.helpers, name);
        owned.push(fn);
      }
      const argHandles = args.map((arg) => {
        if (typeof arg !== "string") return arg;
        const handle = newString(context, arg);
        owned.push(handle);
        return handle;
      });
      const result = callDirect(context, fn, argHandles);
      ending =
        result.error === undefined
          ? { kind: "returned", handle: result.value }
          : { kind: "threw", handle: result.error };
    } catch (error) {
      ending = { kind: "host", error };
    } finally {
      this.#meter.stop();
      this.#host = undefined;
      this.#lastCallFuel = this.#meter.fuelUsed;
    }
    // After a V8 stack overflow inside QuickJS the heap is not touched again, not even to free.
    if (!(ending.kind === "host" && isHostStackOverflow(ending.error))) {
      for (const handle of owned) if (handle.alive) handle.dispose();
    }
    return this.#settle(live, ending, failedBefore, false);
  }

  /**
   * Decides how a stretch of guest code ended: returns the completion value, or throws the call's
   * TreatyError (rebuilding the context first when the exit was abnormal).
   */
  #settle(
    live: Pick<Live, "instance" | "runtime" | "context"> & { readonly helpers: QuickJSHandle | undefined },
    ending: Ending,
    failedBefore: number,
    evaluating: boolean,
  ): QuickJSHandle {
    const { instance, runtime, context } = live;
    const crash = this.#crash;
    this.#crash = undefined;
    if (ending.kind === "host") {
      // Thrown through QuickJS's C frames: a V8 stack overflow may have cut it anywhere.
      if (isHostStackOverflow(ending.error)) this.#poisoned = true;
      this.#abnormal(evaluating);
      if (isHostStackOverflow(ending.error))
        throw new TreatyError("StackLimit", "stack limit reached (the host stack overflowed)");
      throw ending.error; // a host bug: not the contract's doing
    }
    if (crash !== undefined) {
      // A host function failed and returned cleanly to QuickJS: the heap is sound, the call is not.
      this.#discard(ending, undefined);
      this.#abnormal(evaluating);
      if (isHostStackOverflow(crash.error))
        throw new TreatyError("StackLimit", "stack limit reached (the host stack overflowed)");
      throw crash.error; // a host bug or storage failure: not the contract's doing
    }
    const limit = this.#meter.failure ?? memoryLimit(instance, failedBefore);
    if (limit !== undefined) {
      this.#discard(ending, undefined);
      this.#abnormal(evaluating);
      throw limit;
    }
    if (ending.kind === "threw") {
      const error = this.#describeThrown(instance, context, live.helpers, ending.handle, failedBefore);
      if (ABNORMAL.has(error.code)) this.#abnormal(evaluating);
      throw error;
    }
    if (runtime.hasPendingJob()) {
      // Jobs would run contract code after the outcome is fixed; they go with the context.
      ending.handle.dispose();
      this.#abnormal(evaluating);
      throw new TreatyError(
        "ContractFault",
        "the call left promise jobs behind: contract methods must be synchronous",
      );
    }
    return ending.handle;
  }

  /** Turns a thrown guest value into the call's TreatyError and disposes it. */
  #describeThrown(
    instance: ModuleInstance,
    context: QuickJSContext,
    helpers: QuickJSHandle | undefined,
    thrown: QuickJSHandle,
    failedBefore: number,
  ): TreatyError {
    let description: [string, string, string];
    try {
      description = this.#describe(context, helpers, thrown);
    } finally {
      thrown.dispose();
    }
    const [kind, name, message] = description;
    const limit = this.#meter.failure ?? memoryLimit(instance, failedBefore);
    if (limit !== undefined) return limit;
    if (kind === "error" && name === "InternalError" && message === "out of memory") {
      return new TreatyError("MemoryLimit", `heap limit of ${instance.heapBytes} bytes reached`);
    }
    if (
      kind === "error" &&
      (name === "InternalError" || name === "RangeError") &&
      message === "stack overflow"
    ) {
      return new TreatyError("StackLimit", "stack limit reached");
    }
    if (kind === "error" && name === "InternalError" && message === "interrupted") {
      return new TreatyError("ExecutionLimit", "execution interrupted");
    }
    switch (kind) {
      case "error":
        return new TreatyError(
          "ContractFault",
          message === "" ? `the contract threw ${name}` : `the contract threw ${name}: ${message}`,
        );
      case "string":
        return new TreatyError("ContractFault", `the contract threw a string: ${message}`);
      case "unknown":
        return new TreatyError("ContractFault", "the contract threw a value that could not be described");
      default:
        return new TreatyError("ContractFault", `the contract threw a non-Error value (${kind})`);
    }
  }

  /** `[kind, name, message]` of a thrown value, through the lockdown helper (metered). */
  #describe(
    context: QuickJSContext,
    helpers: QuickJSHandle | undefined,
    thrown: QuickJSHandle,
  ): [string, string, string] {
    if (helpers === undefined || this.#meter.failure !== undefined) return ["unknown", "", ""];
    const fn = context.getProp(helpers, "describeError");
    this.#meter.start({ ...this.#options.limits(), executionBudget: DESCRIBE_BUDGET });
    try {
      const result = context.callFunction(fn, context.undefined, thrown);
      if (result.error !== undefined) {
        result.error.dispose();
        return ["unknown", "", ""];
      }
      const text = context.typeof(result.value) === "string" ? context.getString(result.value) : "null";
      result.value.dispose();
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed) && parsed.length === 3 && parsed.every((part) => typeof part === "string")) {
        return parsed as [string, string, string];
      }
      return ["unknown", "", ""];
    } finally {
      this.#meter.stop();
      fn.dispose();
    }
  }

  /** Disposes what an ending holds and returns `replacement`. */
  #discard<T>(ending: Ending, replacement: T): T {
    if (ending.kind !== "host" && ending.handle.alive) ending.handle.dispose();
    return replacement;
  }

  /** After an abnormal exit: rebuild before the next call (during a boot, the boot cleans up). */
  #abnormal(evaluating: boolean): void {
    if (!evaluating) this.#shutdown();
  }

  #recordCrash(error: unknown): void {
    if (this.#crash === undefined) this.#crash = { error };
  }

  /** Disposes the live QuickJS objects (all but the module instance). */
  #shutdown(): void {
    const live = this.#live;
    this.#live = undefined;
    if (live === undefined) return;
    live.instance.growth.onResizeFailed = undefined;
    if (this.#poisoned) {
      this.#instance = undefined;
      return;
    }
    try {
      for (const kept of live.keptStrings.values()) kept.dispose();
      live.run.dispose();
      live.factory.dispose();
      live.helpers.dispose();
    } catch {
      this.#poisoned = true;
    }
    this.#disposeQuickJs(live.runtime, live.context);
  }

  #disposeQuickJs(runtime: QuickJSRuntime, context: QuickJSContext | undefined): void {
    if (this.#poisoned) {
      this.#instance = undefined;
      return;
    }
    try {
      if (context?.alive) context.dispose();
      if (runtime.alive) runtime.dispose();
    } catch {
      // QuickJS aborted while freeing: the instance's heap is not trustworthy any more.
      this.#poisoned = true;
      this.#instance = undefined;
    }
  }
}

function memoryLimit(instance: ModuleInstance, failedBefore: number): TreatyError | undefined {
  if (instance.growth.failedResizes === failedBefore) return undefined;
  return new TreatyError("MemoryLimit", `heap limit of ${instance.heapBytes} bytes reached`);
}

/** V8's own stack overflow (the host stack, which also carries the wasm frames). */
function isHostStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
}
