/**
 * Per-call limits of the contract sandbox. Governance sets them (an action of the constitution);
 * until then the defaults apply. All sizes are in bytes, UTF-8 for strings.
 *
 * The execution budget is counted in deterministic **fuel**, not time: one interrupt poll of
 * QuickJS (it polls about every 10,000 bytecode ticks: loop back-edges and calls) costs
 * `FUEL_PER_POLL`, and every host call costs `FUEL_PER_HOST_CALL` plus one unit per byte it moves.
 * The same code on the same input burns the same fuel on every node, up to one poll period: QuickJS
 * keeps its tick countdown per context across calls, so where the first poll of a call falls
 * depends on earlier calls. The wall-clock deadline is only a safety net on top (it is not
 * deterministic, and a native builtin that runs to out-of-memory can overshoot it; see sandbox.ts).
 */
import { TreatyError } from "../../sdk/errors.js";

/** Fuel charged for one QuickJS interrupt poll (≈ 10,000 bytecode ticks). */
export const FUEL_PER_POLL = 10_000;
/** Fuel charged for every host call, on top of one unit per byte crossing the boundary. */
export const FUEL_PER_HOST_CALL = 100;

/**
 * Native work (elements or UTF-16 units a builtin touches, see the lockdown's metered builtins)
 * per unit of fuel. QuickJS runs a native builtin without polling the interrupt handler, so the
 * lockdown charges such builtins up front from the sizes they are given; a native step is about
 * this many times cheaper than a bytecode tick.
 */
export const NATIVE_UNITS_PER_FUEL = 16;

/**
 * Most bytes one transaction may write (map names, keys and values, plus WRITE_OVERHEAD_BYTES per
 * write): its write set becomes one ledger entry, and an entry travels as one consensus payload
 * (the node's consensus `maxBatchBytes`, 992 KiB, node/replica.ts `APPEND_PAYLOAD_BYTES`, so that
 * an append fits NATS's default max_payload of 1 MiB). A call over
 * it fails alone with `PayloadTooLarge` before anything is applied; `maxValueBytes` stays below it.
 */
export const MAX_TX_WRITE_BYTES = 960 * 1024;
/** What one write adds to an entry besides its map name, key and value (framing, AEAD tag). */
export const WRITE_OVERHEAD_BYTES = 64;

/** One WebAssembly page. The heap cap is rounded up to whole pages. */
export const WASM_PAGE_BYTES = 65_536;
/** The QuickJS wasm module asks for 256 pages (16 MiB) at start: a heap cap must leave room above. */
export const MIN_HEAP_BYTES = 20 * 1024 * 1024;
/** wasm32 tops out at 4 GiB; we stay well below so the host keeps memory for itself. */
export const MAX_HEAP_BYTES = 1024 * 1024 * 1024;
/**
 * Above 256 KiB the V8 stack (which also carries the wasm frames) overflows before QuickJS's own
 * check fires, and a host RangeError flies out of QuickJS's C code.
 */
export const MAX_STACK_BYTES = 256 * 1024;
export const MIN_STACK_BYTES = 16 * 1024;

export interface SandboxLimits {
  /** Cap on the whole wasm memory of one contract's QuickJS instance (heap + QuickJS's own data). */
  readonly heapBytes: number;
  /** QuickJS stack cap (`setMaxStackSize`), ≤ 256 KiB. */
  readonly stackBytes: number;
  /** Fuel per call (see the module comment); exhausting it is `ExecutionLimit`. */
  readonly executionBudget: number;
  /** Wall-clock safety net per call; exceeding it is also `ExecutionLimit`. */
  readonly wallClockMs: number;
  /** Largest KV key (UTF-8 bytes of the encoded key); larger is `KeyTooLarge`. */
  readonly maxKeyBytes: number;
  /** Largest KV value or event payload (UTF-8 bytes of its JSON); larger is `ValueTooLarge`. */
  readonly maxValueBytes: number;
  /** Largest result (UTF-8 bytes of its JSON); larger is `PayloadTooLarge`. */
  readonly maxResultBytes: number;
  /** Largest arguments (UTF-8 bytes of their JSON); larger is `PayloadTooLarge`. */
  readonly maxArgsBytes: number;
  /** Most events one call may emit; more is `PayloadTooLarge`. */
  readonly maxEvents: number;
}

/** The limits until governance sets others. */
export const DEFAULT_LIMITS: SandboxLimits = Object.freeze({
  heapBytes: 64 * 1024 * 1024,
  // ~740 frames of recursion. A contract that overflows the stack and catches it over and over
  // builds a backtrace this deep on every tick, so a smaller stack also shortens the worst-case
  // overshoot of the wall-clock net (one poll period: ~2 s here, ~7 s at 256 KiB).
  stackBytes: 128 * 1024,
  executionBudget: 2_000_000,
  wallClockMs: 1_000,
  maxKeyBytes: 1024,
  // A value at the cap fits one transaction's write set (MAX_TX_WRITE_BYTES) with room to spare.
  maxValueBytes: 512 * 1024,
  maxResultBytes: 1024 * 1024,
  // A value at maxValueBytes must fit in the arguments, with room for the others beside it.
  maxArgsBytes: 512 * 1024 + 64 * 1024,
  maxEvents: 100,
});

const RANGES: Readonly<Record<keyof SandboxLimits, readonly [min: number, max: number]>> = {
  heapBytes: [MIN_HEAP_BYTES, MAX_HEAP_BYTES],
  stackBytes: [MIN_STACK_BYTES, MAX_STACK_BYTES],
  executionBudget: [FUEL_PER_POLL, 1e12],
  wallClockMs: [1, 600_000],
  // The KV store's own ceiling (LMDB's key size minus the map name; runtime/kv/limits.ts).
  maxKeyBytes: [1, 1721],
  maxValueBytes: [1, MAX_TX_WRITE_BYTES - 2 * 1024],
  maxResultBytes: [1, 64 * 1024 * 1024],
  maxArgsBytes: [1, 64 * 1024 * 1024],
  maxEvents: [0, 100_000],
};

/**
 * Checks `value` (typically decoded from a governance proposal) and fills missing fields from
 * `base`. Throws TreatyError `InvalidArgs` naming the field (`limits.heapBytes: ...`) for unknown
 * fields, non-integers and values out of range. The heap cap is rounded up to whole wasm pages.
 */
export function resolveLimits(value: unknown, base: SandboxLimits = DEFAULT_LIMITS): SandboxLimits {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TreatyError("InvalidArgs", "limits: expected an object");
  }
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(RANGES, key)) throw new TreatyError("InvalidArgs", `limits.${key}: unknown limit`);
  }
  const out: Record<string, number> = {};
  for (const key of Object.keys(RANGES) as (keyof SandboxLimits)[]) {
    const given = input[key];
    const chosen = given === undefined ? base[key] : given;
    const [min, max] = RANGES[key];
    if (typeof chosen !== "number" || !Number.isSafeInteger(chosen) || chosen < min || chosen > max) {
      throw new TreatyError(
        "InvalidArgs",
        `limits.${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(chosen)}`,
      );
    }
    out[key] = chosen;
  }
  out.heapBytes = Math.ceil(out.heapBytes! / WASM_PAGE_BYTES) * WASM_PAGE_BYTES;
  return Object.freeze(out as unknown as SandboxLimits);
}
