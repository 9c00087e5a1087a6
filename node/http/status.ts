/**
 * The HTTP status for each error code. One table, so every endpoint answers the same failure
 * with the same status. Codes a contract throws on purpose (its own business rules) are 422.
 */
import type { ErrorCode } from "../../sdk/errors.js";

const STATUS: Readonly<Record<ErrorCode, number>> = {
  MalformedEncoding: 400,
  MalformedRequest: 400,
  InvalidArgs: 400,
  StaleRequest: 400,
  CompileError: 400,
  ProposalInvalid: 400,
  InvalidContract: 400,
  BadSignature: 401,
  UnknownCaller: 401,
  InvalidToken: 401,
  ExpiredToken: 401,
  TokenNotYetValid: 401,
  UnknownIssuer: 401,
  Forbidden: 403,
  UnknownContract: 404,
  UnknownMethod: 404,
  NotFound: 404,
  TxNotFound: 404,
  UnknownProposal: 404,
  TxNotCommitted: 404,
  HistoryUnavailable: 410,
  Replay: 409,
  Conflict: 409,
  ProposalNotOpen: 409,
  PayloadTooLarge: 413,
  TooManyProposals: 429,
  UnsupportedMediaType: 415,
  KeyTooLarge: 422,
  ValueTooLarge: 422,
  ValueTooDeep: 422,
  InvalidErrorCode: 422,
  ExecutionLimit: 422,
  MemoryLimit: 422,
  StackLimit: 422,
  MapAccessDenied: 500,
  ReadonlyViolation: 500,
  ResultNotEncodable: 500,
  ContractFault: 500,
  LedgerCorrupt: 500,
  LedgerArchived: 410,
  ReceiptInvalid: 500,
  DecryptionFailed: 500,
  SnapshotInvalid: 422,
  SealingKeyMissing: 500,
  SecretsUnavailable: 503,
  InvalidRecoveryShare: 400,
  Internal: 500,
  ServiceNotOpen: 503,
  NotLeader: 503,
  OutcomeUnknown: 503,
  Unavailable: 503,
  Timeout: 504,
};

/** The HTTP status for an error code; contract-defined codes get 422. */
export function httpStatus(code: string): number {
  return Object.hasOwn(STATUS, code) ? STATUS[code as ErrorCode] : 422;
}
