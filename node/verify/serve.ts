/**
 * The loop of a verify worker thread: checks each batch it receives with `checkJob`, in order,
 * and answers it in one message (results transferred, not copied).
 */
import type { MessagePort } from "node:worker_threads";
import { checkJob, type VerifyJob } from "./verifier.js";
import {
  DIGEST_BYTES,
  decodeJobs,
  PROGRESS_JOBS,
  PROGRESS_STARTED,
  type VerifyReply,
  type VerifyRequest,
} from "./protocol.js";

/** Test hooks: run before each job is checked (tests make the worker crash or hang here). */
export interface VerifyHooks {
  readonly beforeJob?: (job: VerifyJob) => void;
}

/** Serves `port` until the thread ends. `progress` is the pool's shared progress counter. */
export function serveVerifier(port: MessagePort, progress: Int32Array, hooks: VerifyHooks = {}): void {
  port.on("message", (request: VerifyRequest) => {
    const started = performance.now();
    const jobs = decodeJobs(request.jobs);
    const count = jobs.length;
    const valid = new Uint8Array(count);
    const digests = new Uint8Array(count * DIGEST_BYTES);
    for (let i = 0; i < count; i++) {
      const job = jobs[i]!;
      hooks.beforeJob?.(job);
      const digest = checkJob(job);
      if (digest !== null) {
        valid[i] = 1;
        digests.set(digest, i * DIGEST_BYTES);
      }
      Atomics.add(progress, PROGRESS_JOBS, 1);
    }
    const reply: VerifyReply = {
      id: request.id,
      valid,
      digests,
      busyMicros: (performance.now() - started) * 1000,
    };
    port.postMessage(reply, [valid.buffer, digests.buffer]);
  });
  Atomics.store(progress, PROGRESS_STARTED, 1);
}
