/**
 * The guest's view of the host: `globalThis.__treatyHost` (the ABI's `GuestHost`), looked up at
 * call time so the same module works in the QuickJS sandbox and in plain Node under the
 * stand-in, and the context of the call in progress (caller, txid, time) that `invoke` sets.
 *
 * Runs inside QuickJS and in Node: type-only imports.
 */
import type { CallerInfo, GuestHost, InvokeContext, MethodMode } from "../../runtime/sandbox/abi.js";
import { ApiError } from "./errors.js";

/** The host, or a clear error when contract code runs outside Treaty and its stand-in. */
export function host(): GuestHost {
  const found = (globalThis as { __treatyHost?: GuestHost }).__treatyHost;
  if (found === undefined || found === null) {
    throw new Error(
      "treaty/contract: no Treaty host is installed; run contracts through Treaty or treaty/testing (testContract)",
    );
  }
  return found;
}

/**
 * The authenticated caller of the current method: `{id, role}` for a member or user (`role:
 * "member" | "user"`), or for a JWT bearer caller (`role: "jwt"`) also the token's `issuer`,
 * `subject` and verified `claims`. Narrow on `role`:
 *
 *   const who = caller();
 *   if (who?.role === "jwt") emailOf = who.claims.email;
 */
export type Caller = CallerInfo;

/** A caller authenticated by a JWT bearer token (`caller()` when `role` is `"jwt"`). */
export type JwtCaller = Extract<CallerInfo, { readonly role: "jwt" }>;

interface CallState {
  /**
   * The host's context of the call (never handed to contract code): parsed by `invoke`, or, when
   * the host passed the caller's role beside it, parsed from `contextJson` on first use
   * (`caller()`, `txid()`, `now()`); most methods never ask, and QuickJS's parse and checks of
   * the context cost ~2 µs per call.
   */
  context: InvokeContext | undefined;
  /** The context's JSON text as the host passed it. */
  readonly contextJson: string;
  readonly mode: MethodMode;
  readonly method: string;
  /**
   * The frozen copy of the caller `caller()` returns, made on its first use (undefined until
   * then): freezing costs QuickJS ~0.5 µs, and most methods never ask who called.
   */
  caller: Caller | null | undefined;
}

/**
 * The call in progress. This module is shared by all calls of a sandbox (instantiated once and
 * hardened, runtime/compiler/bundle.ts), so its state must not outlive a call: `beginCall` sets
 * it and `endCall` clears it, and in Node calls are synchronous and never nested. (The same
 * holds for the pattern cache in shapes.ts, which `invoke` clears around every call.)
 */
let current: CallState | undefined;

/**
 * Starts a call (used by `invoke` only): `context` is the parsed context, or undefined to parse
 * `contextJson` on first use. Throws ApiError(ContractFault) when a call is in progress.
 */
export function beginCall(
  context: InvokeContext | undefined,
  contextJson: string,
  method: string,
  mode: MethodMode,
): void {
  if (current !== undefined) {
    throw new ApiError(
      "ContractFault",
      `method "${method}" was invoked while "${current.method}" is running`,
    );
  }
  current = { context, contextJson, mode, method, caller: undefined };
}

/** A frozen copy of the host's caller: contract code can read it but not change it for later code. */
function callerOf(caller: InvokeContext["caller"]): Caller | null {
  if (caller === null) return null;
  if (caller.role !== "jwt") return Object.freeze({ id: caller.id, role: caller.role });
  return Object.freeze({
    id: caller.id,
    role: caller.role,
    issuer: caller.issuer,
    subject: caller.subject,
    claims: deepFreeze(caller.claims),
  });
}

/** Freezes a JSON value (parsed from the host's context, so acyclic) and everything in it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/** Ends the call started by `beginCall`. */
export function endCall(): void {
  current = undefined;
}

function state(what: string): CallState {
  if (current === undefined) {
    throw new ApiError("ContractFault", `${what} is only available while a contract method runs`);
  }
  return current;
}

/** The call's context, parsed (and checked) on first use when `invoke` did not parse it. */
function contextOf(call: CallState): InvokeContext {
  call.context ??= parseContext(call.contextJson);
  return call.context;
}

/** The host's context; a malformed one is a host bug, so it throws (the sandbox reports a fault). */
export function parseContext(ctxJson: string): InvokeContext {
  const context = JSON.parse(ctxJson) as InvokeContext;
  const caller = context?.caller;
  const callerOk =
    caller === null ||
    (typeof caller === "object" &&
      typeof caller.id === "string" &&
      (caller.role === "user" ||
        caller.role === "member" ||
        caller.role === "node" ||
        (caller.role === "jwt" &&
          typeof caller.issuer === "string" &&
          typeof caller.subject === "string" &&
          typeof caller.claims === "object" &&
          caller.claims !== null)));
  if (
    !callerOk ||
    (context.txid !== null && typeof context.txid !== "string") ||
    !Number.isFinite(context.timeMs)
  ) {
    throw new Error("treaty/contract: malformed invoke context from the host");
  }
  return context;
}

/**
 * Throws unless a contract method is running. A readonly method's write is refused by the HOST,
 * not here: a host refusal is fatal for the call (the sandbox interrupts everything after it),
 * so a contract cannot catch a ReadonlyViolation and return as if it had succeeded.
 */
export function assertWritable(map: string, operation: string): void {
  if (current === undefined) state(`${map}.${operation}`);
}

/**
 * The authenticated caller (`{id, role}`, plus `issuer`, `subject` and `claims` for a JWT
 * bearer caller), or null for an anonymous call to an `anyone` method.
 */
export function caller(): Caller | null {
  const call = state("caller()");
  if (call.caller === undefined) call.caller = callerOf(contextOf(call).caller);
  return call.caller;
}

/** The transaction id (`view.seqno`), or null in a readonly call (readonly calls get none). */
export function txid(): string | null {
  return contextOf(state("txid()")).txid;
}

/**
 * The transaction's time: milliseconds since the epoch on the executing node's clock, recorded
 * with the transaction so every replica sees the same value. Contracts have no `Date`.
 */
export function now(): number {
  return contextOf(state("now()")).timeMs;
}

/** The name of the method being run. */
export function currentMethod(): string {
  return state("currentMethod()").method;
}
