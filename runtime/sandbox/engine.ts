/**
 * QuickJS wasm module instances with a hard memory cap, kept ready in a small pool.
 *
 * Why instances and a pool: `setMemoryLimit` is not enforced by the wasm build (emscripten has no
 * `malloc_usable_size`, so QuickJS counts ~8 bytes per allocation), so the only hard heap cap is
 * a fixed `WebAssembly.Memory({maximum})` per module instance. Each contract gets its own
 * instance, so one contract's allocations can never starve another's. Creating an instance is
 * asynchronous (emscripten's loader awaits), but the transaction path must not await: the engine
 * keeps `spareInstances` ready and refills in the background, so the sandbox can swap in a fresh
 * instance synchronously when one must be thrown away (a host stack overflow inside QuickJS's C
 * code leaves its heap in an unknown state). The wasm bytes are compiled once per process
 * (~1 ms per extra instance instead of ~7 ms).
 *
 * Nothing here is global except the compiled `WebAssembly.Module`, which is immutable, so a
 * runtime can live in a worker_thread (the node's watchdog can terminate it).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type QuickJSWASMModule,
  RELEASE_SYNC,
} from "quickjs-emscripten";
import { TreatyError } from "../../sdk/errors.js";
import { WASM_PAGE_BYTES } from "./limits.js";

/** Pages the QuickJS wasm module declares as its initial memory (it refuses less). */
const INITIAL_PAGES = 256;

/**
 * Watches one instance's memory growth to tell when an allocation failed for lack of memory.
 *
 * Emscripten's `emscripten_resize_heap` (0.32.0 build) makes exactly three `memory.grow` attempts
 * with shrinking over-allocation (+20%, +10%, +5%) and stops at the first success; malloc returns
 * NULL only when all three failed. So, counting consecutive failed attempts, every third one
 * completes a failed resize: an allocation hit the cap. That is reported at once, from inside
 * the allocator, through `onResizeFailed` (the sandbox uses it to make every further allocation
 * fail fast, so a contract catching out-of-memory in a loop cannot keep native builtins busy).
 */
export class GrowthMonitor {
  /** Resizes that failed (every attempt refused) since this instance was created. */
  failedResizes = 0;
  /** Called synchronously, from inside the allocator, when a resize failed. Keep it tiny. */
  onResizeFailed: (() => void) | undefined = undefined;
  #consecutiveFailures = 0;

  /** Records one `memory.grow` attempt. */
  attempt(succeeded: boolean): void {
    if (succeeded) {
      this.#consecutiveFailures = 0;
      return;
    }
    this.#consecutiveFailures++;
    if (this.#consecutiveFailures % RESIZE_ATTEMPTS === 0) {
      this.failedResizes++;
      this.onResizeFailed?.();
    }
  }
}

/** Grow attempts per `emscripten_resize_heap` call in the pinned build (`for (b = 1; b <= 4; b *= 2)`). */
const RESIZE_ATTEMPTS = 3;

/** One QuickJS module instance and the memory it is confined to. Owned by one sandbox. */
export interface ModuleInstance {
  readonly module: QuickJSWASMModule;
  readonly memory: WebAssembly.Memory;
  /** The memory cap this instance was created with (a multiple of the wasm page size). */
  readonly heapBytes: number;
  readonly growth: GrowthMonitor;
}

let compiled: Promise<WebAssembly.Module> | undefined;

/** Compiles the QuickJS wasm bytes once per process (thread). */
function compiledWasm(): Promise<WebAssembly.Module> {
  if (compiled === undefined) {
    const require = createRequire(import.meta.url);
    const fromMeta = createRequire(require.resolve("quickjs-emscripten"));
    const path = fromMeta.resolve("@jitl/quickjs-wasmfile-release-sync/wasm");
    compiled = WebAssembly.compile(readFileSync(path));
  }
  return compiled;
}

/** Creates one module instance whose memory can never exceed `heapBytes`. */
async function instantiate(wasm: WebAssembly.Module, heapBytes: number): Promise<ModuleInstance> {
  const maximum = Math.floor(heapBytes / WASM_PAGE_BYTES);
  const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum });
  const growth = new GrowthMonitor();
  const grow = memory.grow.bind(memory);
  // Emscripten grows the heap through this very object (`wasmMemory.grow`), so an own property
  // sees every attempt without touching the allocator.
  Object.defineProperty(memory, "grow", {
    value: (pages: number): number => {
      let previous: number;
      try {
        previous = grow(pages);
      } catch (err) {
        growth.attempt(false);
        throw err;
      }
      growth.attempt(true);
      return previous;
    },
  });
  const variant = newVariant(RELEASE_SYNC, { wasmModule: wasm, wasmMemory: memory });
  const module = await newQuickJSWASMModuleFromVariant(variant);
  return { module, memory, heapBytes: maximum * WASM_PAGE_BYTES, growth };
}

/**
 * Where a sandbox takes its module instances from: the engine's pool, or a wrapper around it
 * (ContractRuntime's probe keeps one instance for every probe).
 */
export interface InstanceSource {
  /** A ready instance capped at `heapBytes`, or undefined when none is ready now. */
  take(heapBytes: number): ModuleInstance | undefined;
  /** Number of instances ready now. */
  readonly spareCount: number;
  /**
   * Takes back a healthy instance from a disposed sandbox (its QuickJS runtime already freed).
   * Optional: without it, disposed sandboxes' instances are dropped.
   */
  reclaim?(instance: ModuleInstance): void;
}

export interface EngineOptions {
  /** Instances kept ready for synchronous use (default 2). */
  readonly spareInstances?: number;
}

/**
 * A pool of ready QuickJS module instances. Create it once per runtime with `await
 * QuickJsEngine.create()`; `take` is synchronous.
 */
export class QuickJsEngine implements InstanceSource {
  readonly #wasm: WebAssembly.Module;
  readonly #spareInstances: number;
  #spares: ModuleInstance[] = [];
  #heapBytes = 0;
  #refilling: Promise<void> | undefined;
  #lastError: unknown;
  #disposed = false;

  private constructor(wasm: WebAssembly.Module, spareInstances: number) {
    this.#wasm = wasm;
    this.#spareInstances = spareInstances;
  }

  /** Compiles (once per process) and returns an engine; call `ready(heapBytes)` to fill it. */
  static async create(options: EngineOptions = {}): Promise<QuickJsEngine> {
    const spares = options.spareInstances ?? 2;
    if (!Number.isInteger(spares) || spares < 1 || spares > 64) {
      throw new TreatyError(
        "InvalidArgs",
        `spareInstances: expected an integer from 1 to 64, got ${String(spares)}`,
      );
    }
    return new QuickJsEngine(await compiledWasm(), spares);
  }

  /**
   * A ready instance capped at `heapBytes`, or undefined when none is ready yet (the refill is
   * already running; `await ready(heapBytes)` waits for it). Spares with another cap are dropped:
   * the cap only ever follows the current limits.
   */
  take(heapBytes: number): ModuleInstance | undefined {
    if (this.#disposed) return undefined;
    this.#retarget(heapBytes);
    const instance = this.#spares.pop();
    this.#refill();
    return instance;
  }

  /**
   * Resolves once `spareInstances` instances capped at `heapBytes` are ready. Rejects with
   * TreatyError `Unavailable` if instances cannot be created (e.g. address space exhausted).
   */
  async ready(heapBytes: number): Promise<void> {
    this.#retarget(heapBytes);
    while (!this.#disposed && this.#spares.length < this.#spareInstances) {
      this.#refill();
      await this.#refilling;
      const err = this.#lastError;
      if (err !== undefined) {
        this.#lastError = undefined;
        // Some instances are ready: good enough; none: say why.
        if (this.#spares.length > 0) return;
        throw new TreatyError(
          "Unavailable",
          `sandbox: cannot create a QuickJS instance (${err instanceof Error ? err.message : String(err)})`,
        );
      }
      this.#retarget(heapBytes);
    }
  }

  /**
   * Makes `heapBytes` the cap of future instances: drops spares with another cap and starts
   * the refill (governance changed the heap limit).
   */
  target(heapBytes: number): void {
    if (this.#disposed) return;
    this.#retarget(heapBytes);
    this.#refill();
  }

  /** Number of instances ready now (all with the current target cap). */
  get spareCount(): number {
    return this.#spares.length;
  }

  /** Drops the spares; instances already taken stay with their owners. */
  dispose(): void {
    this.#disposed = true;
    this.#spares = [];
  }

  #retarget(requestedBytes: number): void {
    const heapBytes = Math.ceil(requestedBytes / WASM_PAGE_BYTES) * WASM_PAGE_BYTES;
    if (heapBytes === this.#heapBytes) return;
    this.#heapBytes = heapBytes;
    this.#spares = this.#spares.filter((s) => s.heapBytes === heapBytes);
  }

  #refill(): void {
    // With the pool full, the async body below would finish synchronously: its `finally` would
    // clear `#refilling` before the assignment stores the settled promise, and no refill would
    // ever start again (ready() then spins on it).
    if (this.#refilling !== undefined || this.#disposed || this.#spares.length >= this.#spareInstances)
      return;
    this.#refilling = (async () => {
      try {
        while (!this.#disposed && this.#spares.length < this.#spareInstances) {
          const heapBytes = this.#heapBytes;
          const instance = await instantiate(this.#wasm, heapBytes);
          if (instance.heapBytes === this.#heapBytes && !this.#disposed) this.#spares.push(instance);
        }
        this.#lastError = undefined;
      } catch (err) {
        this.#lastError = err;
      } finally {
        this.#refilling = undefined;
      }
    })();
  }
}
