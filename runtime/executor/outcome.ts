/**
 * Checking what a contract's `invoke` returned (InvokeOutcome JSON) before anything of it leaves
 * the runtime: a malformed outcome is the contract's fault, an oversized result is refused, and
 * a contract's own error code must look like one.
 */
import { utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";

/** Error codes a contract may return: treaty/contract's rule (`InsufficientFunds`). */
export const CONTRACT_ERROR_CODE = /^[A-Z][A-Za-z0-9]{0,63}$/;
/** Longer error messages are cut (they are recorded per call). */
export const MAX_ERROR_MESSAGE_CHARS = 1024;

/** A checked outcome. */
export type CheckedOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/**
 * Parses and checks an InvokeOutcome. Throws TreatyError `ContractFault` when it is not one and
 * `PayloadTooLarge` when the result's JSON exceeds `maxResultBytes`.
 */
export function checkOutcome(text: string, maxResultBytes: number): CheckedOutcome {
  // The outcome wraps the result in a few dozen bytes; far larger text cannot fit the cap.
  if (text.length > maxResultBytes * 3 + 1024) {
    throw new TreatyError("PayloadTooLarge", `result: larger than the limit of ${maxResultBytes} bytes`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TreatyError("ContractFault", "invoke() returned text that is not JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw malformed("expected an object");
  const outcome = parsed as Record<string, unknown>;
  if (outcome.ok === true) {
    const result = Object.hasOwn(outcome, "result") ? outcome.result : null;
    const bytes = utf8.encode(JSON.stringify(result)).length;
    if (bytes > maxResultBytes) throw tooLarge(bytes, maxResultBytes);
    return { ok: true, result };
  }
  if (outcome.ok !== false) throw malformed("ok must be true or false");
  const error = outcome.error;
  if (error === null || typeof error !== "object" || Array.isArray(error))
    throw malformed("error must be an object");
  const { code, message } = error as Record<string, unknown>;
  if (typeof code !== "string" || !CONTRACT_ERROR_CODE.test(code)) {
    throw malformed(`error.code must match ${String(CONTRACT_ERROR_CODE)}`);
  }
  if (typeof message !== "string") throw malformed("error.message must be a string");
  return { ok: false, error: { code, message: message.slice(0, MAX_ERROR_MESSAGE_CHARS) } };
}

function malformed(why: string): TreatyError {
  return new TreatyError("ContractFault", `invoke() returned a malformed outcome: ${why}`);
}

function tooLarge(bytes: number, limit: number): TreatyError {
  return new TreatyError("PayloadTooLarge", `result: ${bytes} bytes, the limit is ${limit}`);
}
