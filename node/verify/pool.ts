/**
 * VerifierPool: checks request signatures on a few worker threads, so the node's main thread
 * (HTTP, consensus, ledger hashing, persistence) only parses requests and hands their checks
 * over, and the checks of one write run while the main thread executes, hashes and replicates
 * others.
 *
 * - Batching: checks queue on the main thread; a worker with no batch in flight is sent one (at
 *   most maxBatchJobs). At low load a check leaves in the next turn of the event loop; under
 *   load the checks arriving while a worker works go together in its next batch, so batches
 *   grow by themselves (one message and one reply per batch, not per check).
 * - Below saturation, on the main thread: when a new check's flush finds no worker holding a
 *   batch and at most inlineMaxJobs checks queued, the main thread makes them itself. A crossing
 *   to a worker that sleeps between checks costs both threads a wake-up each way, several times
 *   the check (bench/verify.ts `--gap-ms`); a worker that is busy, or a queue longer than
 *   inlineMaxJobs, means load, and then the checks go to the workers as before. The rule is
 *   structural (no rates or timers): a main thread that falls behind finds a longer queue and
 *   hands it over by itself.
 * - Bounded: at most maxPendingJobs checks queued or in flight; beyond that `verify` rejects with
 *   `Unavailable` (503, retryable) instead of queueing without bound.
 * - A worker that exits (crash, out of memory) or, once serving, finishes no check for stallMs
 *   (hung) is replaced: the checks it held fail with `Unavailable`, the queued ones go to its
 *   successor. Progress is counted per job in shared memory, so a slow batch on a loaded machine
 *   is not mistaken for a hung worker, and a worker's start is not counted against stallMs.
 */
import { Worker } from "node:worker_threads";
import { assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import type { Logger } from "../log.js";
import { deferred } from "../deferred.js";
import { addStageTime } from "../stage-times.js";
import {
  DIGEST_BYTES,
  encodeJobs,
  PROGRESS_JOBS,
  PROGRESS_SLOTS,
  PROGRESS_STARTED,
  type VerifyReply,
  type VerifyRequest,
  type VerifyWorkerInit,
} from "./protocol.js";
import { checkJob, type SignatureVerifier, type VerifierStats, type VerifyJob } from "./verifier.js";

export const DEFAULT_MAX_PENDING_JOBS = 4096;
export const DEFAULT_MAX_BATCH_JOBS = 64;
export const DEFAULT_STALL_MS = 5000;
/**
 * At most this many checks are made on the main thread at a flush when no worker holds a batch
 * (see `inlineMaxJobs`).
 */
export const DEFAULT_INLINE_MAX_JOBS = 16;
/**
 * One: checks arriving while a worker works wait for its reply and leave together, which costs
 * fewer messages and thread wake-ups than sending each at once (measured: bench/verify.ts).
 */
const MAX_BATCHES_PER_WORKER = 1;
const MAX_WORKERS = 64;
/** A worker not serving this long after it was spawned is replaced (loading it is not a check). */
const START_LIMIT_MS = 60_000;

export interface VerifierPoolOptions {
  /** Worker threads (1..64), started at the first check (or by `warm`) and after each loss. */
  readonly workers: number;
  /** Checks queued or in flight at once (default DEFAULT_MAX_PENDING_JOBS). */
  readonly maxPendingJobs?: number;
  /** Checks per batch sent to a worker (default DEFAULT_MAX_BATCH_JOBS). */
  readonly maxBatchJobs?: number;
  /** A worker holding checks that finishes none for this long is replaced (default DEFAULT_STALL_MS). */
  readonly stallMs?: number;
  readonly logger: Logger;
  /**
   * When a new check's flush finds no worker holding a batch and at most this many checks
   * queued, the main thread makes them itself instead of waking a worker (default
   * DEFAULT_INLINE_MAX_JOBS; 0: never, as the tests of the workers' failures need).
   */
  readonly inlineMaxJobs?: number;
  /** The worker script (default: the compiled worker.js next to this module); tests pass a hooked one. */
  readonly workerUrl?: URL;
}

interface Pending {
  readonly job: VerifyJob;
  readonly resolve: (digest: Uint8Array | null) => void;
  readonly reject: (error: TreatyError) => void;
}

/** One worker position: its current thread (null until started, or after a loss). */
interface Slot {
  worker: Worker | null;
  progress: Int32Array;
  /** Batches sent to `worker` and not answered, by request id. */
  readonly inFlight: Map<number, Pending[]>;
  spawnedAtMs: number;
  /** Whether the stall check has seen the worker serving. */
  seenStarted: boolean;
  /** PROGRESS_JOBS at the last stall check, and when it last moved (or the worker last went busy). */
  seenJobs: number;
  progressAtMs: number;
}

/** See the module comment. */
export class VerifierPool implements SignatureVerifier {
  readonly #log: Logger;
  readonly #workerUrl: URL;
  readonly #maxPendingJobs: number;
  readonly #maxBatchJobs: number;
  readonly #stallMs: number;
  readonly #inlineMaxJobs: number;
  readonly #slots: Slot[] = [];
  /** Checks not yet sent, oldest first. */
  #queue: Pending[] = [];
  #pendingJobs = 0;
  #flushScheduled = false;
  /**
   * The flush callbacks, made once: closures made per flush lose their optimized code at every
   * major GC (docs/performance.md, "Hot closures recompiled after every major GC").
   */
  readonly #flushNow = (): void => this.#flush();
  readonly #checkHereNow = (): void => this.#checkHere();
  readonly #flushSoon = (): void => {
    this.#flushScheduled = false;
    this.#timed(
      this.#queue.length <= this.#inlineMaxJobs && this.#idle() ? this.#checkHereNow : this.#flushNow,
    );
  };
  #stallTimer: NodeJS.Timeout | undefined;
  #nextId = 1;
  #restarts = 0;
  #batches = 0;
  #inlineChecks = 0;
  #closed = false;

  /** Throws TreatyError `InvalidArgs` for an option out of range. */
  constructor(options: VerifierPoolOptions) {
    checkRange(options.workers, "workers", 1, MAX_WORKERS);
    this.#maxPendingJobs = checkRange(
      options.maxPendingJobs ?? DEFAULT_MAX_PENDING_JOBS,
      "maxPendingJobs",
      1,
      1 << 20,
    );
    this.#maxBatchJobs = checkRange(options.maxBatchJobs ?? DEFAULT_MAX_BATCH_JOBS, "maxBatchJobs", 1, 4096);
    this.#stallMs = checkRange(options.stallMs ?? DEFAULT_STALL_MS, "stallMs", 10, 3_600_000);
    this.#inlineMaxJobs = checkRange(
      options.inlineMaxJobs ?? DEFAULT_INLINE_MAX_JOBS,
      "inlineMaxJobs",
      0,
      4096,
    );
    this.#log = options.logger.child({ component: "verify" });
    this.#workerUrl = options.workerUrl ?? new URL("./worker.js", import.meta.url);
    for (let i = 0; i < options.workers; i++)
      this.#slots.push({
        worker: null,
        progress: new Int32Array(PROGRESS_SLOTS),
        inFlight: new Map(),
        spawnedAtMs: 0,
        seenStarted: false,
        seenJobs: 0,
        progressAtMs: 0,
      });
  }

  verify(job: VerifyJob): Promise<Uint8Array | null> {
    if (this.#closed)
      return Promise.reject(new TreatyError("Unavailable", "signature check: the node is stopping"));
    if (this.#pendingJobs >= this.#maxPendingJobs) {
      return Promise.reject(
        new TreatyError(
          "Unavailable",
          `signature check: ${this.#pendingJobs} requests are already waiting for theirs; try again`,
        ),
      );
    }
    this.#pendingJobs++;
    // No executor closure per job (node/deferred.ts).
    const { promise, resolve, reject } = deferred<Uint8Array | null>();
    this.#queue.push({ job, resolve, reject });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushSoon);
    }
    return promise;
  }

  stats(): VerifierStats {
    return {
      restarts: this.#restarts,
      pendingJobs: this.#pendingJobs,
      batches: this.#batches,
      inlineChecks: this.#inlineChecks,
      threads: this.#slots.filter((slot) => slot.worker !== null).length,
    };
  }

  /**
   * Starts every worker not running yet. The node does this at once (index.ts createVerifier):
   * a follower checks nothing, so before this a follower that became leader loaded its worker
   * thread with its first write, which then waited ~100 ms longer than the rest after a failover.
   */
  warm(): void {
    if (this.#closed) return;
    for (const slot of this.#slots) if (slot.worker === null) this.#spawn(slot);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#stallTimer);
    const stopping = () => new TreatyError("Unavailable", "signature check: the node is stopping");
    const queued = this.#queue;
    this.#queue = [];
    for (const pending of queued) this.#settle(pending, stopping());
    const exits: Promise<number>[] = [];
    for (const slot of this.#slots) {
      for (const batch of slot.inFlight.values())
        for (const pending of batch) this.#settle(pending, stopping());
      slot.inFlight.clear();
      if (slot.worker !== null) exits.push(slot.worker.terminate());
      slot.worker = null;
    }
    await Promise.all(exits);
  }

  /** Whether no worker holds a batch. */
  #idle(): boolean {
    for (const slot of this.#slots) if (slot.inFlight.size > 0) return false;
    return true;
  }

  /** Checks every queued job on this thread, oldest first. */
  #checkHere(): void {
    const queued = this.#queue;
    this.#queue = [];
    this.#inlineChecks += queued.length;
    for (const pending of queued) this.#settle(pending, checkJob(pending.job));
  }

  /** Sends queued checks to workers with room, spreading them over the free workers. */
  #flush(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      let target: Slot | undefined;
      let free = 0;
      for (const slot of this.#slots) {
        if (slot.inFlight.size >= MAX_BATCHES_PER_WORKER) continue;
        free++;
        if (target === undefined || slot.inFlight.size < target.inFlight.size) target = slot;
      }
      if (target === undefined) return; // every worker is full: a reply flushes again
      const size = Math.min(this.#maxBatchJobs, Math.ceil(this.#queue.length / free));
      this.#send(target, this.#queue.splice(0, size));
    }
  }

  #send(slot: Slot, batch: Pending[]): void {
    const worker = slot.worker ?? this.#spawn(slot);
    const id = this.#nextId++;
    if (slot.inFlight.size === 0) slot.progressAtMs = performance.now();
    slot.inFlight.set(id, batch);
    this.#batches++;
    const jobs: VerifyJob[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) jobs[i] = batch[i]!.job;
    const request: VerifyRequest = { id, jobs: encodeJobs(jobs) };
    worker.postMessage(request, [request.jobs.buffer as ArrayBuffer]);
  }

  #spawn(slot: Slot): Worker {
    const progress = new Int32Array(new SharedArrayBuffer(PROGRESS_SLOTS * 4));
    const init: VerifyWorkerInit = { progress: progress.buffer as SharedArrayBuffer };
    const worker = new Worker(this.#workerUrl, { workerData: init });
    slot.worker = worker;
    slot.progress = progress;
    slot.spawnedAtMs = performance.now();
    slot.seenStarted = false;
    slot.seenJobs = 0;
    let errorDetail = "";
    worker.on("message", (reply: VerifyReply) => this.#timed(() => this.#onReply(slot, worker, reply)));
    worker.on("error", (error) => {
      errorDetail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    });
    worker.on("exit", (code) => {
      if (slot.worker === worker) this.#lose(slot, `crashed (${errorDetail || `exit code ${code}`})`);
    });
    if (this.#stallTimer === undefined) {
      this.#stallTimer = setInterval(() => this.#checkStalls(), Math.max(5, Math.floor(this.#stallMs / 4)));
      this.#stallTimer.unref();
    }
    return worker;
  }

  #onReply(slot: Slot, worker: Worker, reply: VerifyReply): void {
    if (slot.worker !== worker) return; // a replaced worker: its checks were failed already
    const batch = slot.inFlight.get(reply.id);
    assert(batch !== undefined, "verify: a reply answers a batch in flight");
    assert(
      reply.valid.length === batch.length && reply.digests.length === batch.length * DIGEST_BYTES,
      "verify: a reply answers every job of its batch",
    );
    slot.inFlight.delete(reply.id);
    slot.progressAtMs = performance.now();
    addStageTime("signatureWorker", reply.busyMicros / 1000);
    // Each digest is a view into the reply's buffer (it was transferred, nothing else holds it):
    // no ArrayBuffer per check. A batch's digests live as long as the longest-lived of them.
    for (let i = 0; i < batch.length; i++) {
      const at = i * DIGEST_BYTES;
      this.#settle(batch[i]!, reply.valid[i] === 1 ? reply.digests.subarray(at, at + DIGEST_BYTES) : null);
    }
    this.#flush();
  }

  /** Replaces the worker of `slot`: fails its checks in flight, terminates it, restarts on demand. */
  #lose(slot: Slot, reason: string): void {
    const worker = slot.worker;
    if (worker === null || this.#closed) return;
    slot.worker = null;
    this.#restarts++;
    let failed = 0;
    for (const batch of slot.inFlight.values()) {
      for (const pending of batch) {
        failed++;
        this.#settle(
          pending,
          new TreatyError("Unavailable", `signature check: the verify worker ${reason}; try again`),
        );
      }
    }
    slot.inFlight.clear();
    this.#log.error("verify worker lost: replacing it", { reason, failedChecks: failed });
    void worker.terminate();
    if (this.#queue.length > 0) this.#timed(this.#flushNow);
  }

  #checkStalls(): void {
    const nowMs = performance.now();
    for (const slot of this.#slots) {
      if (slot.worker === null || slot.inFlight.size === 0) continue;
      if (!slot.seenStarted) {
        if (Atomics.load(slot.progress, PROGRESS_STARTED) === 1) {
          slot.seenStarted = true;
          slot.progressAtMs = nowMs;
        } else if (nowMs - slot.spawnedAtMs >= START_LIMIT_MS) {
          this.#lose(slot, `did not start within ${START_LIMIT_MS} ms`);
        }
        continue;
      }
      const done = Atomics.load(slot.progress, PROGRESS_JOBS);
      if (done !== slot.seenJobs) {
        slot.seenJobs = done;
        slot.progressAtMs = nowMs;
      } else if (nowMs - slot.progressAtMs >= this.#stallMs) {
        this.#lose(slot, `finished no check for ${this.#stallMs} ms (hung)`);
      }
    }
  }

  #settle(pending: Pending, outcome: Uint8Array | null | TreatyError): void {
    this.#pendingJobs--;
    if (outcome instanceof TreatyError) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  /** Runs main-thread pool work, counted as signature-check time of admission. */
  #timed(work: () => void): void {
    const started = performance.now();
    try {
      work();
    } finally {
      const elapsedMs = performance.now() - started;
      addStageTime("admission", elapsedMs);
      addStageTime("signature", elapsedMs);
    }
  }
}

function checkRange(value: number, field: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new TreatyError("InvalidArgs", `${field}: expected an integer from ${min} to ${max}, got ${value}`);
  return value;
}
