/**
 * Signature checks of signed requests (node/admission.ts): where they run.
 * - verifier.ts: the `SignatureVerifier` interface, `checkJob` and the on-thread verifier;
 * - pool.ts: worker threads checking batches beside the main thread (the node's default; below
 *   saturation, when no worker is busy and few checks wait, the main thread checks them itself);
 * - serve.ts, worker.ts, protocol.ts: the worker side.
 */
import { availableParallelism } from "node:os";
import type { Logger } from "../log.js";
import { VerifierPool } from "./pool.js";
import { inlineVerifier, type SignatureVerifier } from "./verifier.js";

export {
  checkJob,
  inlineVerifier,
  type SignatureVerifier,
  type VerifierStats,
  type VerifyJob,
} from "./verifier.js";
export { VerifierPool } from "./pool.js";

/**
 * Verify workers for a machine with `cores` cores: one per two cores (the main thread, the
 * execution worker and the store's threads need the others), at least 1, at most 4.
 */
export function defaultVerifyWorkers(cores = availableParallelism()): number {
  return Math.max(1, Math.min(4, Math.floor(cores / 2)));
}

/**
 * The node's verifier: `workers` threads, started now (every node is ready to lead: a follower
 * checks no signatures until it becomes leader), or the calling thread for 0.
 */
export function createVerifier(workers: number, logger: Logger): SignatureVerifier {
  if (workers === 0) return inlineVerifier();
  const pool = new VerifierPool({ workers, logger });
  pool.warm();
  return pool;
}
