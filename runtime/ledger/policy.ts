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

/**
 * The leader's bound on how long an entry waits for a signature below saturation (the
 * sequencer's, node/sequencer.ts): consensus commits only at signatures, so under moderate load,
 * where the policy's interval would be most of a write's commit latency, a signature follows once
 * the oldest unsigned entry has waited `maxWaitMs`. Entries appended after the last signature are
 * at most that old, so these signatures come at most every `maxWaitMs`. At saturation, judged by
 * the batches (one that carried `busyBatchCalls` calls or more: calls pile up while a batch
 * executes), the policy alone decides, so signing costs no more CPU per write there than it does.
 */
export interface UnsignedWaitBound {
  /** Sign once the oldest unsigned entry has waited this long (ms, ≥ 1). */
  readonly maxWaitMs: number;
  /** A batch of at least this many calls means saturation: no early signature (≥ 1). */
  readonly busyBatchCalls: number;
}

export interface UnsignedWait {
  /** Transactions appended since the last signature entry. */
  readonly unsignedTxs: number;
  /** Clock reading when the oldest of them was appended (null: none, or not timed). */
  readonly oldestUnsignedMs: number | null;
  /** Calls in the sequencer's latest batch. */
  readonly lastBatchCalls: number;
  readonly nowMs: number;
}

/** True when `bound` asks for a signature now (the policy's `signatureDue` is checked apart). */
export function unsignedWaitDue(bound: UnsignedWaitBound, wait: UnsignedWait): boolean {
  if (wait.unsignedTxs <= 0 || wait.oldestUnsignedMs === null) return false;
  if (wait.lastBatchCalls >= bound.busyBatchCalls) return false;
  return wait.nowMs - wait.oldestUnsignedMs >= bound.maxWaitMs;
}
