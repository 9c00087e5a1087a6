/**
 * The host side of `globalThis.__treatyHost`: one raw QuickJS function per `GuestHost` method
 * (the lockdown wraps them into the ABI's functions), each forwarding to the GuestHost of the
 * call in progress.
 *
 * Every crossing is checked and metered here, so `GuestHost` implementations see well-typed
 * arguments only:
 * - arguments must have the ABI's primitive types, else the guest gets a TypeError (its own bug,
 *   catchable, not fatal);
 * - each call is charged fuel for the bytes it moves; a refused charge stops the call;
 * - a `TreatyError` from the GuestHost (ReadonlyViolation, KeyTooLarge, ...) is fatal for the call:
 *   it is recorded on the meter (so the guest cannot swallow it) and thrown into the guest to unwind;
 * - anything else the GuestHost throws is a host bug or a storage failure: it is handed to
 *   `crash` and re-thrown to the node after the call, never shown to the contract;
 * - a V8 RangeError (the host stack overflowed while wasm frames were on it) goes to `crash` too;
 *   the sandbox then throws the whole module instance away.
 */
import type { QuickJSContext, QuickJSHandle } from "quickjs-emscripten";
import { isTreatyError, TreatyError } from "../../sdk/errors.js";
import type { GuestHost } from "./abi.js";
import { isGuestString, newString } from "./direct-calls.js";
import type { CallMeter } from "./meter.js";

/** What the bridge needs from its sandbox. */
export interface BridgePort {
  /** The GuestHost of the call in progress, or undefined outside calls (bundle evaluation). */
  host(): GuestHost | undefined;
  readonly meter: CallMeter;
  /** Receives host-side failures that are not the contract's doing. */
  crash(error: unknown): void;
}

type ArgType = "string" | "number" | "boolean";
type ArgValue = string | number | boolean;

interface HostFunction {
  readonly params: readonly (readonly [name: string, type: ArgType])[];
  /** Every parameter is a string, and there are at least two (the length-prefixed form applies). */
  readonly allStrings?: boolean;
  /** Returns a string, a boolean or nothing (anything else is dropped). */
  call(host: GuestHost, args: ArgValue[]): unknown;
}

/** The ABI table: parameter names and types, and how to forward each call. */
const FUNCTIONS: Readonly<Record<keyof GuestHost, HostFunction>> = {
  kvGet: {
    allStrings: true,
    params: [
      ["map", "string"],
      ["key", "string"],
    ],
    call: (h, a) => h.kvGet(a[0] as string, a[1] as string),
  },
  kvHas: {
    allStrings: true,
    params: [
      ["map", "string"],
      ["key", "string"],
    ],
    call: (h, a) => h.kvHas(a[0] as string, a[1] as string),
  },
  kvSet: {
    allStrings: true,
    params: [
      ["map", "string"],
      ["key", "string"],
      ["value", "string"],
    ],
    call: (h, a) => h.kvSet(a[0] as string, a[1] as string, a[2] as string),
  },
  kvDelete: {
    allStrings: true,
    params: [
      ["map", "string"],
      ["key", "string"],
    ],
    call: (h, a) => h.kvDelete(a[0] as string, a[1] as string),
  },
  kvRange: {
    allStrings: true,
    params: [
      ["map", "string"],
      ["optionsJson", "string"],
    ],
    call: (h, a) => h.kvRange(a[0] as string, a[1] as string),
  },
  sha256: {
    params: [
      ["data", "string"],
      ["isHex", "boolean"],
    ],
    call: (h, a) => h.sha256(a[0] as string, a[1] as boolean),
  },
  verifySignature: {
    allStrings: true,
    params: [
      ["curve", "string"],
      ["publicKeyHex", "string"],
      ["messageHex", "string"],
      ["signatureHex", "string"],
    ],
    call: (h, a) => h.verifySignature(a[0] as string, a[1] as string, a[2] as string, a[3] as string),
  },
  randomBytes: { params: [["length", "number"]], call: (h, a) => h.randomBytes(a[0] as number) },
  emit: {
    allStrings: true,
    params: [
      ["name", "string"],
      ["dataJson", "string"],
    ],
    call: (h, a) => h.emit(a[0] as string, a[1] as string),
  },
};

/** The names of the host functions, in ABI order. */
export const HOST_FUNCTION_NAMES = Object.keys(FUNCTIONS) as (keyof GuestHost)[];

/**
 * Creates the raw host functions in `context` as `globalThis.__treatyRawHost` (configurable, so
 * the lockdown script can take it off the global object and wrap it into `__treatyHost`). Each raw
 * function takes one string argument: the JSON array of the ABI function's arguments or, for a
 * function whose parameters are all strings, `"<length>:"` for each argument but the last (UTF-16
 * units) followed by the arguments concatenated (lockdown.ts says when the wrapper uses which).
 * All handles created here are disposed before returning.
 */
export function installHost(context: QuickJSContext, port: BridgePort): void {
  const object = context.newObject();
  try {
    for (const name of HOST_FUNCTION_NAMES) {
      const spec = FUNCTIONS[name];
      const fn = context.newFunction(name, (argsHandle?: QuickJSHandle) =>
        hostCall(context, port, name, spec, argsHandle),
      );
      try {
        context.defineProp(object, name, { value: fn, configurable: false, enumerable: true });
      } finally {
        fn.dispose();
      }
    }
    context.defineProp(context.global, "__treatyRawHost", {
      value: object,
      configurable: true,
      enumerable: false,
    });
  } finally {
    object.dispose();
  }
  // The lockdown's metered builtins charge their native work here before they run.
  const charge = context.newFunction("charge", (unitsHandle?: QuickJSHandle) => {
    const units =
      unitsHandle !== undefined && context.typeof(unitsHandle) === "number"
        ? context.getNumber(unitsHandle)
        : Number.NaN;
    const ok =
      Number.isFinite(units) && units >= 0
        ? port.meter.chargeNative(units)
        : port.meter.chargeNative(Number.MAX_SAFE_INTEGER);
    return ok ? context.true : context.false;
  });
  try {
    context.defineProp(context.global, "__treatyRawCharge", {
      value: charge,
      configurable: true,
      enumerable: false,
    });
  } finally {
    charge.dispose();
  }
}

/** A guest-visible error; the guest sees `name` and `message`, nothing of the host. */
class GuestError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** The checked arguments of one call, or a TypeError for the guest. */
function parseArgs(
  context: QuickJSContext,
  name: string,
  spec: HostFunction,
  handle: QuickJSHandle | undefined,
): ArgValue[] {
  // The wrapper always passes one string (lockdown.ts): the arguments length-prefixed and
  // concatenated, or their JSON array; no U+0000 or lone surrogate is lost in the C string.
  const text = handle !== undefined && isGuestString(context, handle) ? context.getString(handle) : undefined;
  const values =
    text === undefined ? undefined : text.startsWith("[") ? parseJsonArgs(text) : splitArgs(text, spec);
  if (values === undefined) throw new GuestError("TypeError", `__treatyHost.${name}: malformed arguments`);
  const args: ArgValue[] = new Array(spec.params.length);
  for (let i = 0; i < spec.params.length; i++) {
    const [param, type] = spec.params[i]!;
    const value: unknown = values[i];
    if (typeof value !== type) {
      throw new GuestError(
        "TypeError",
        `__treatyHost.${name}: ${param} must be a ${type}, got ${value === null ? "null" : typeof value}`,
      );
    }
    args[i] = value as ArgValue;
  }
  return args;
}

function parseJsonArgs(text: string): unknown[] | undefined {
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch {
    return undefined;
  }
  return Array.isArray(values) ? values : undefined;
}

/** Most decimal digits of one length prefix (UTF-16 lengths of strings in a 4 GiB heap fit). */
const MAX_LENGTH_DIGITS = 10;

/**
 * The arguments of a function whose parameters are all strings, from `"<length>:"` for each but
 * the last (UTF-16 units, decimal) followed by the arguments concatenated; undefined when `text`
 * is not of that form (or the function takes other types).
 */
function splitArgs(text: string, spec: HostFunction): string[] | undefined {
  if (!spec.allStrings) return undefined;
  const count = spec.params.length;
  const lengths: number[] = new Array(count - 1);
  let at = 0;
  for (let i = 0; i < count - 1; i++) {
    let length = 0;
    const start = at;
    for (;;) {
      const c = text.charCodeAt(at);
      if (c === 0x3a /* : */) break;
      if (!(c >= 0x30 && c <= 0x39) || at - start >= MAX_LENGTH_DIGITS) return undefined;
      length = length * 10 + (c - 0x30);
      at++;
    }
    if (at === start) return undefined;
    lengths[i] = length;
    at++;
  }
  const args: string[] = new Array(count);
  for (let i = 0; i < count - 1; i++) {
    const end = at + lengths[i]!;
    if (end > text.length) return undefined;
    args[i] = text.slice(at, end);
    at = end;
  }
  args[count - 1] = text.slice(at);
  return args;
}

function hostCall(
  context: QuickJSContext,
  port: BridgePort,
  name: keyof GuestHost,
  spec: HostFunction,
  argsHandle: QuickJSHandle | undefined,
): QuickJSHandle | undefined {
  const { meter } = port;
  try {
    const host = port.host();
    if (host === undefined) {
      throw new GuestError(
        "Error",
        `__treatyHost.${name}: the host API is only available while a contract method runs`,
      );
    }
    // A call already failed: do not allocate or do work; the next poll ends the guest.
    if (meter.failure !== undefined) return undefined;
    const args = parseArgs(context, name, spec, argsHandle);
    let bytes = 0;
    for (const arg of args) if (typeof arg === "string") bytes += arg.length;
    if (!meter.chargeHostCall(bytes)) return undefined;
    let result: unknown;
    try {
      result = spec.call(host, args);
    } catch (err) {
      if (isTreatyError(err)) {
        meter.fail(err);
        throw new GuestError(err.code, err.message);
      }
      throw err;
    }
    if (typeof result === "string") {
      if (result.includes("\u0000")) {
        // QuickJS takes strings as C strings: this one would arrive cut short.
        const err = new TreatyError(
          "ContractFault",
          `__treatyHost.${name}: the result contains U+0000 and cannot cross into the sandbox`,
        );
        meter.fail(err);
        throw new GuestError(err.code, err.message);
      }
      if (!meter.chargeHostCall(result.length)) return undefined;
      // The native encoder straight into the wasm heap (direct-calls.ts), not emscripten's loop.
      return newString(context, result);
    }
    if (typeof result === "boolean") return result ? context.true : context.false;
    return undefined;
  } catch (err) {
    if (err instanceof GuestError) throw err;
    port.crash(err);
    if (meter.failure === undefined)
      meter.fail(new TreatyError("Internal", "the host failed during the call"));
    return undefined;
  }
}
