/**
 * Checking what a contract's `invoke` returned (InvokeOutcome JSON) before anything of it leaves
 * the runtime. The text passes the one output check (runtime/sandbox/output.ts: bytes, depth,
 * count, JSON), then:
 * - a malformed outcome is the contract's fault (`ContractFault`);
 * - a result over `maxResultBytes` is `PayloadTooLarge`;
 * - an error code is passed on only when it is the contract's own (matches CONTRACT_ERROR_CODE
 *   and is not reserved) or one of the reserved codes treaty/contract itself raises
 *   (`CONTRACT_API_CODES`). Any other code (`Unavailable`, `NotLeader`, `Replay`, a malformed
 *   one...) becomes `InvalidErrorCode` (422): a contract cannot impersonate the infrastructure,
 *   whatever route it takes (reassigning a ContractError's code, throwing ApiError with a
 *   reserved code, a hand-written `invoke`).
 */
import { CONTRACT_API_CODES, ErrorCode, TreatyError } from "../../sdk/errors.js";
import { checkJsonText, MAX_VALUE_DEPTH, utf8Length } from "../sandbox/output.js";

/** Error codes a contract may return: treaty/contract's rule (`InsufficientFunds`). */
export const CONTRACT_ERROR_CODE = /^[A-Z][A-Za-z0-9]{0,63}$/;
/** Longer error messages are cut (they are recorded per call). */
export const MAX_ERROR_MESSAGE_CHARS = 1024;
/** Room for the outcome's own wrapping (`{"ok":true,"result":...}`, an error's code and message). */
const OUTCOME_OVERHEAD_BYTES = 16 * 1024;
/** Bound on how much JSON text can grow when parsed and stringified again (with room to spare). */
const RESULT_GROWTH = 6;

/** A checked outcome. */
export type CheckedOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

const RESERVED: ReadonlySet<string> = new Set(Object.values(ErrorCode));
/** The outcome of a call whose result is null, as treaty/contract writes it, and its check. */
const OK_NULL_TEXT = '{"ok":true,"result":null}';
const OK_NULL: CheckedOutcome = Object.freeze({ ok: true, result: null });
const PASSED_ON: ReadonlySet<string> = new Set(CONTRACT_API_CODES);

/**
 * Parses and checks an InvokeOutcome. Throws TreatyError `ContractFault` when it is not one,
 * `ValueTooDeep` / `ValueTooLarge` past the output bounds and `PayloadTooLarge` when the
 * result's JSON exceeds `maxResultBytes`. A forged or malformed error code comes back as
 * `InvalidErrorCode` (see the module comment).
 */
export function checkOutcome(text: string, maxResultBytes: number): CheckedOutcome {
  // What a method that returns nothing answers (most writes): the full check's result, at once.
  if (text === OK_NULL_TEXT && maxResultBytes >= 4) return OK_NULL;
  const limit = maxResultBytes + OUTCOME_OVERHEAD_BYTES;
  const textBytes = text.length > limit ? Number.POSITIVE_INFINITY : utf8Length(text);
  if (textBytes > limit) {
    throw new TreatyError("PayloadTooLarge", `result: larger than the limit of ${maxResultBytes} bytes`);
  }
  // One level more than a value may have: the outcome object wraps the result.
  let parsed: unknown;
  try {
    parsed = checkJsonText(text, "result", limit, MAX_VALUE_DEPTH + 1);
  } catch (err) {
    if (err instanceof TreatyError && err.code === "ValueTooDeep") {
      throw new TreatyError(
        "ValueTooDeep",
        `result: nested deeper than ${MAX_VALUE_DEPTH} levels of arrays and objects`,
      );
    }
    throw err;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw malformed("expected an object");
  const outcome = parsed as Record<string, unknown>;
  if (outcome.ok === true) {
    const result = Object.hasOwn(outcome, "result") ? outcome.result : null;
    // The result's own JSON is measured only when it might be over the cap: parsed and encoded
    // again, JSON text grows by at most 21/4 (a number written with an exponent comes back in
    // full: "1e20" is "100000000000000000000"); strings and structure never grow.
    if (textBytes * RESULT_GROWTH > maxResultBytes) {
      const bytes = utf8Length(JSON.stringify(result));
      if (bytes > maxResultBytes) throw tooLarge(bytes, maxResultBytes);
    }
    return { ok: true, result };
  }
  if (outcome.ok !== false) throw malformed("ok must be true or false");
  const error = outcome.error;
  if (error === null || typeof error !== "object" || Array.isArray(error))
    throw malformed("error must be an object");
  const { code, message } = error as Record<string, unknown>;
  const shownMessage = typeof message === "string" ? message.slice(0, MAX_ERROR_MESSAGE_CHARS) : "";
  if (typeof code !== "string" || !isPassedOn(code)) {
    const shown = typeof code === "string" ? JSON.stringify(code.slice(0, 80)) : typeof code;
    return {
      ok: false,
      error: {
        code: "InvalidErrorCode",
        message: `the contract answered with error code ${shown}, which is ${
          typeof code === "string" && RESERVED.has(code) ? "reserved for Treaty" : "not a valid contract code"
        }: ${shownMessage}`.slice(0, MAX_ERROR_MESSAGE_CHARS),
      },
    };
  }
  if (typeof message !== "string") throw malformed("error.message must be a string");
  return { ok: false, error: { code, message: shownMessage } };
}

/** A code the host passes on from a contract. */
export function isPassedOn(code: string): boolean {
  return CONTRACT_ERROR_CODE.test(code) && (!RESERVED.has(code) || PASSED_ON.has(code));
}

function malformed(why: string): TreatyError {
  return new TreatyError("ContractFault", `invoke() returned a malformed outcome: ${why}`);
}

function tooLarge(bytes: number, limit: number): TreatyError {
  return new TreatyError("PayloadTooLarge", `result: ${bytes} bytes, the limit is ${limit}`);
}
