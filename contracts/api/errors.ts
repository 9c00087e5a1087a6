/**
 * The two error classes of `treaty/contract`.
 *
 * - `ContractError` is what a contract throws on purpose ("insufficient funds"): its code and
 *   message reach the caller as `{error: {code, message}}`.
 * - `ApiError` is what this API throws when a contract or a caller breaks its rules (bad args,
 *   a value JSON cannot carry, a reserved error code...). Its code is one of Treaty's own.
 *
 * This module runs inside QuickJS as well as in Node, so it imports nothing.
 */

/**
 * Treaty's own error codes (sdk/errors.ts `ErrorCode`). A contract may not throw them: a caller
 * must be able to trust that `Forbidden` or `ReadonlyViolation` came from Treaty itself.
 * test/contracts/errors.test.ts checks that this list equals `ErrorCode`.
 */
export const RESERVED_ERROR_CODES: readonly string[] = [
  "MalformedEncoding",
  "MalformedRequest",
  "SealingKeyMissing",
  "SecretsUnavailable",
  "InvalidRecoveryShare",
  "UnsupportedMediaType",
  "PayloadTooLarge",
  "BadSignature",
  "UnknownCaller",
  "InvalidToken",
  "ExpiredToken",
  "TokenNotYetValid",
  "UnknownIssuer",
  "Forbidden",
  "Replay",
  "StaleRequest",
  "CompileError",
  "UnknownContract",
  "UnknownMethod",
  "InvalidArgs",
  "InvalidContract",
  "ReadonlyViolation",
  "MapAccessDenied",
  "KeyTooLarge",
  "ValueTooLarge",
  "ValueTooDeep",
  "InvalidErrorCode",
  "ResultNotEncodable",
  "ContractFault",
  "ExecutionLimit",
  "MemoryLimit",
  "StackLimit",
  "LedgerCorrupt",
  "LedgerArchived",
  "SnapshotInvalid",
  "ReceiptInvalid",
  "DecryptionFailed",
  "TxNotFound",
  "TxNotCommitted",
  "HistoryUnavailable",
  "NotLeader",
  "OutcomeUnknown",
  "ServiceNotOpen",
  "Unavailable",
  "Timeout",
  "NotFound",
  "Conflict",
  "ProposalInvalid",
  "ProposalNotOpen",
  "UnknownProposal",
  "TooManyProposals",
  "Internal",
];

/** The codes `ApiError` uses (a subset of the reserved codes). */
export type ApiErrorCode =
  | "InvalidArgs"
  | "UnknownMethod"
  | "Forbidden"
  | "ReadonlyViolation"
  | "ResultNotEncodable"
  | "ContractFault"
  | "InvalidContract";

const CONTRACT_CODE = /^[A-Z][A-Za-z0-9]{0,63}$/;
/** Longer messages are cut: an error message is for people, and it is recorded per call. */
export const MAX_ERROR_MESSAGE_CHARS = 1024;

/**
 * An error the API raises on behalf of Treaty (the code is one of Treaty's own). `invoke`
 * turns it into `{ok: false, error: {code, message}}`; a contract may also catch it.
 */
export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly code: ApiErrorCode;
  constructor(code: ApiErrorCode, message: string) {
    super(truncate(message));
    this.code = code;
  }
}

/**
 * An error a contract method throws on purpose. The caller receives `{code, message}`.
 * `code` must match /^[A-Z][A-Za-z0-9]{0,63}$/ and must not be one of Treaty's own codes
 * (`RESERVED_ERROR_CODES`); breaking either rule throws an `ApiError` (ContractFault) instead,
 * so the author sees the mistake in the first test that reaches it.
 *
 * @example throw new ContractError("InsufficientFunds", `balance ${balance} < ${amount}`);
 */
export class ContractError extends Error {
  override readonly name = "ContractError";
  readonly code: string;
  constructor(code: string, message: string) {
    if (typeof code !== "string" || !CONTRACT_CODE.test(code)) {
      throw new ApiError(
        "ContractFault",
        `ContractError code ${describeCode(code)} is invalid: it must match /^[A-Z][A-Za-z0-9]{0,63}$/`,
      );
    }
    if (RESERVED_ERROR_CODES.includes(code)) {
      throw new ApiError(
        "ContractFault",
        `ContractError code "${code}" is reserved by Treaty; choose a code of your own (e.g. "${code}Error" or a more specific name)`,
      );
    }
    super(truncate(typeof message === "string" ? message : String(message)));
    this.code = code;
  }
}

function describeCode(code: unknown): string {
  return typeof code === "string"
    ? JSON.stringify(code.length > 80 ? `${code.slice(0, 80)}…` : code)
    : typeof code;
}

function truncate(message: string): string {
  return message.length > MAX_ERROR_MESSAGE_CHARS
    ? `${message.slice(0, MAX_ERROR_MESSAGE_CHARS - 1)}…`
    : message;
}
