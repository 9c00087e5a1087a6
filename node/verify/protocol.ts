/**
 * Messages between a VerifierPool (pool.ts) and its worker threads (serve.ts). One request
 * carries a batch of jobs; its reply answers every job of that batch by index, so answers
 * cannot cross between batches or between the requests whose jobs they carry.
 */
import type { VerifyJob } from "./verifier.js";

/** `workerData` of a verify worker. */
export interface VerifyWorkerInit {
  /**
   * PROGRESS_SLOTS Int32 slots the pool's stall check reads: the worker sets PROGRESS_STARTED
   * once it serves, and increments PROGRESS_JOBS after each job, so a slow start or a slow batch
   * on a loaded machine is told from a hung worker.
   */
  readonly progress: SharedArrayBuffer;
}

/** Pool → worker: check `jobs`. */
export interface VerifyRequest {
  readonly id: number;
  readonly jobs: readonly VerifyJob[];
}

/** Worker → pool: the answers of request `id`. */
export interface VerifyReply {
  readonly id: number;
  /** valid[i] is 1 when jobs[i]'s signature is valid, 0 when not. */
  readonly valid: Uint8Array;
  /** 32 bytes per job: the SHA-256 of jobs[i]'s signed bytes at i * 32 when valid, zeros when not. */
  readonly digests: Uint8Array;
  /** Microseconds the worker spent checking the batch. */
  readonly busyMicros: number;
}

/** Slot of `progress` counting finished jobs. */
export const PROGRESS_JOBS = 0;
/** Slot of `progress` the worker sets to 1 once it serves. */
export const PROGRESS_STARTED = 1;
export const PROGRESS_SLOTS = 2;
export const DIGEST_BYTES = 32;
