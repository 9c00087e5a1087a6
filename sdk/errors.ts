/**
 * Errors with stable codes. Every expected failure at a boundary (bad input, bad signature,
 * exhausted limit, ...) is a `TreatyError` whose `code` is one of `ErrorCode` (or, for errors a
 * contract throws on purpose, the contract's own code). Codes are part of the public API: never
 * rename one; add new ones instead. Broken invariants are not TreatyErrors: see `assert`.
 *
 * The codes of `ErrorCode` are reserved for Treaty: a node never passes one on from contract code
 * except the few its authoring API raises (`CONTRACT_API_CODES`); any other reserved (or
 * malformed) code a contract answers with becomes `InvalidErrorCode` (422) at the host boundary,
 * so a caller can trust that `Unavailable`, `NotLeader` or `Replay` came from the infrastructure.
 */

/** The stable error codes of Treaty itself. HTTP statuses live in `node/http`. */
export const ErrorCode = {
  // Encoding and request envelope
  MalformedEncoding: "MalformedEncoding",
  MalformedRequest: "MalformedRequest",
  UnsupportedMediaType: "UnsupportedMediaType",
  PayloadTooLarge: "PayloadTooLarge",
  BadSignature: "BadSignature",
  UnknownCaller: "UnknownCaller",
  /**
   * A JWT bearer token that is malformed, unsigned (`alg: none`), signed with an algorithm or key
   * its issuer does not have, tampered with, for another audience, or without `exp`/`sub`.
   */
  InvalidToken: "InvalidToken",
  /** A JWT bearer token past its `exp` (beyond the node's small clock leeway). */
  ExpiredToken: "ExpiredToken",
  /** A JWT bearer token before its `nbf` (beyond the node's small clock leeway). */
  TokenNotYetValid: "TokenNotYetValid",
  /** A JWT bearer token whose `iss` is not a trusted issuer of the service (`set_jwt_issuer`). */
  UnknownIssuer: "UnknownIssuer",
  Forbidden: "Forbidden",
  Replay: "Replay",
  StaleRequest: "StaleRequest",
  // Contracts and the sandbox
  CompileError: "CompileError",
  UnknownContract: "UnknownContract",
  UnknownMethod: "UnknownMethod",
  InvalidArgs: "InvalidArgs",
  InvalidContract: "InvalidContract",
  ReadonlyViolation: "ReadonlyViolation",
  MapAccessDenied: "MapAccessDenied",
  KeyTooLarge: "KeyTooLarge",
  ValueTooLarge: "ValueTooLarge",
  ValueTooDeep: "ValueTooDeep",
  InvalidErrorCode: "InvalidErrorCode",
  ResultNotEncodable: "ResultNotEncodable",
  ContractFault: "ContractFault",
  ExecutionLimit: "ExecutionLimit",
  MemoryLimit: "MemoryLimit",
  StackLimit: "StackLimit",
  // Ledger, receipts, audit
  /**
   * State on a node's disk fails its checks: the ledger (an entry, a chunk, the base), the hard
   * state, or the KV or LMDB ledger store's file (runtime/lmdb-check.ts: a damaged LMDB file is
   * refused at start instead of crashing the process; the message names the file and the fault).
   */
  LedgerCorrupt: "LedgerCorrupt",
  /** The entry exists in the ledger but not on this node any more (its chunk was archived). */
  LedgerArchived: "LedgerArchived",
  ReceiptInvalid: "ReceiptInvalid",
  DecryptionFailed: "DecryptionFailed",
  /** A snapshot that does not check (digest, evidence, receipt, service identity): nothing was loaded. */
  SnapshotInvalid: "SnapshotInvalid",
  // Sealed node secrets
  SealingKeyMissing: "SealingKeyMissing",
  SecretsUnavailable: "SecretsUnavailable",
  // Recovery
  InvalidRecoveryShare: "InvalidRecoveryShare",
  TxNotFound: "TxNotFound",
  TxNotCommitted: "TxNotCommitted",
  /** A historical query's state is outside the node's history window (or queries are off). */
  HistoryUnavailable: "HistoryUnavailable",
  // Service and consensus
  NotLeader: "NotLeader",
  /**
   * A write may or may not have executed (e.g. the leader changed or stopped answering while the
   * request was forwarded to it): resend the same signed bytes to learn its txid (a `Replay`
   * answer names the original) or get a definite answer. Never a definite failure.
   */
  OutcomeUnknown: "OutcomeUnknown",
  ServiceNotOpen: "ServiceNotOpen",
  Unavailable: "Unavailable",
  Timeout: "Timeout",
  NotFound: "NotFound",
  Conflict: "Conflict",
  // Governance
  ProposalInvalid: "ProposalInvalid",
  ProposalNotOpen: "ProposalNotOpen",
  UnknownProposal: "UnknownProposal",
  TooManyProposals: "TooManyProposals",
  Internal: "Internal",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The reserved codes that treaty/contract itself raises inside the sandbox (contracts/api
 * `ApiErrorCode`): the host passes these on from a contract. None is retryable.
 */
export const CONTRACT_API_CODES: readonly ErrorCode[] = [
  "InvalidArgs",
  "UnknownMethod",
  "Forbidden",
  "ReadonlyViolation",
  "ResultNotEncodable",
  "ContractFault",
  "InvalidContract",
];

/**
 * The codes a client may retry (HTTP 503): the request did not execute. Only the infrastructure
 * produces them (contracts cannot, see above).
 */
export const RETRYABLE_CODES: readonly ErrorCode[] = ["Unavailable", "NotLeader", "ServiceNotOpen"];

/** The JSON shape of every error Treaty returns: `{error: {code, message}}`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Readonly<Record<string, unknown>> };
}

/** An expected failure with a stable `code` and a message that names the offending field. */
export class TreatyError extends Error {
  override readonly name = "TreatyError";
  constructor(
    readonly code: ErrorCode | (string & {}),
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
  }

  toJSON(): ErrorBody {
    return {
      error: { code: this.code, message: this.message, ...(this.details && { details: this.details }) },
    };
  }
}

/** True when `value` is a TreatyError carrying `code` (or any TreatyError when `code` is omitted). */
export function isTreatyError(value: unknown, code?: string): value is TreatyError {
  return value instanceof TreatyError && (code === undefined || value.code === code);
}

/**
 * The error of a request to `node` that got no answer (its fetch threw `err`): `Timeout` past the
 * fetch's deadline (a TimeoutError, e.g. from `AbortSignal.timeout`), else `Unavailable` (refused,
 * reset, unreachable). The SDK's one mapping: the Client and `submitRecoveryShare` report alike.
 */
export function noAnswerError(node: string, err: unknown): TreatyError {
  const error = err as Error | undefined;
  return new TreatyError(
    error?.name === "TimeoutError" ? "Timeout" : "Unavailable",
    `${node}: ${error?.message}`,
  );
}
