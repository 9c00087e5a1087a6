/**
 * When the leader emits a signature transaction: after `maxTxs` unsigned transactions or once
 * `maxIntervalMs` have passed since the last signature, whichever comes first, and never when
 * there is nothing new to sign. A pure function: the node hands in counts and clock readings (no
 * timers here), so the decision is testable and deterministic in simulation.
 */
import { TreatyError } from "../../sdk/errors.js";

export interface SignaturePolicy {
  /** Sign after this many transactions since the last signature (≥ 1). */
  readonly maxTxs: number;
  /** Sign when this many ms have passed since the last signature (≥ 1). */
  readonly maxIntervalMs: number;
}

/**
 * CCF's defaults (every 5000 transactions or every second), for a policy that leaves a field
 * out. A node always passes both from its config (`ledger.signatureInterval*`, node/config.ts).
 */
export const DEFAULT_SIGNATURE_POLICY: SignaturePolicy = { maxTxs: 5000, maxIntervalMs: 1000 };

export interface SignatureClock {
  /** Transactions appended since the last signature entry. */
  readonly unsignedTxs: number;
  /** Clock reading at the last signature (or when this node became leader). */
  readonly lastSignatureMs: number;
  readonly nowMs: number;
}

/** Validates a policy from configuration. Throws TreatyError MalformedRequest naming the field. */
export function parseSignaturePolicy(value: { maxTxs?: unknown; maxIntervalMs?: unknown }): SignaturePolicy {
  const maxTxs = value.maxTxs ?? DEFAULT_SIGNATURE_POLICY.maxTxs;
  const maxIntervalMs = value.maxIntervalMs ?? DEFAULT_SIGNATURE_POLICY.maxIntervalMs;
  for (const [field, v] of [
    ["maxTxs", maxTxs],
    ["maxIntervalMs", maxIntervalMs],
  ] as const) {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
      throw new TreatyError(
        "MalformedRequest",
        `signatures.${field}: expected a positive integer, got ${JSON.stringify(v)}`,
      );
    }
  }
  return { maxTxs: maxTxs as number, maxIntervalMs: maxIntervalMs as number };
}

/** True when a signature transaction is due now. */
export function signatureDue(policy: SignaturePolicy, clock: SignatureClock): boolean {
  if (clock.unsignedTxs <= 0) return false;
  return clock.unsignedTxs >= policy.maxTxs || clock.nowMs - clock.lastSignatureMs >= policy.maxIntervalMs;
}
