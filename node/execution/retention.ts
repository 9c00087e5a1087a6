/**
 * How long the node keeps replicated bookkeeping that would otherwise grow with every
 * transaction. Both bounds act inside transactions the leader runs, so what is forgotten is
 * decided once and replicated (see nonces.ts and node/gov/engine.ts); the ledger keeps it all.
 */
import { TreatyError } from "../../sdk/errors.js";

export interface Retention {
  /**
   * Nonces created longer than this before a call's recorded time are forgotten, and requests
   * that old are refused inside the transaction (`StaleRequest`). The node passes its request
   * freshness window.
   */
  readonly nonceMs: number;
  /** Decided proposals (and their ballots) kept in the live governance tables, newest first. */
  readonly decidedProposals: number;
}

export const DEFAULT_RETENTION: Retention = { nonceMs: 5 * 60_000, decidedProposals: 1000 };

/** `partial` completed with the defaults; InvalidArgs naming the field for a bad value. */
export function resolveRetention(partial: Partial<Retention> = {}): Retention {
  const nonceMs = partial.nonceMs ?? DEFAULT_RETENTION.nonceMs;
  const decidedProposals = partial.decidedProposals ?? DEFAULT_RETENTION.decidedProposals;
  if (!Number.isSafeInteger(nonceMs) || nonceMs < 1)
    throw new TreatyError(
      "InvalidArgs",
      `retention.nonceMs: expected a positive integer, got ${String(nonceMs)}`,
    );
  if (!Number.isSafeInteger(decidedProposals) || decidedProposals < 1) {
    throw new TreatyError(
      "InvalidArgs",
      `retention.decidedProposals: expected a positive integer, got ${String(decidedProposals)}`,
    );
  }
  return { nonceMs, decidedProposals };
}
