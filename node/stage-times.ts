/**
 * Where a node's main thread spends its time, by stage of the write path: cumulative microseconds
 * of wall time inside each stage's synchronous code (on one thread, the thread's time there),
 * plus the execution worker's round trips. `/node/metrics` renders them as
 * `treaty_stage_seconds_total{stage}`; `npm run bench:network` divides the difference over a run
 * by the writes committed to print the leader's time per write by stage.
 *
 * Process-wide counters, like the metrics: the stages are timed where they run (admission,
 * sequencer, replica), and nothing reads them but the metrics endpoint.
 */

/**
 * - `admission`: decoding and checking a request (body parse, caller lookup, signature, freshness);
 *   `signature` is the part of it spent on the signature check: verifying it on the main thread,
 *   or handing it to the verify workers and taking their answers (node/verify/pool.ts);
 * - `signatureWorker`: the verify workers' time checking signatures (off the main thread);
 * - `execution`: worker round trips of executed batches (wall time while the main thread is free;
 *   `executionCalls` counts the calls they carried): queueing behind the worker's other requests,
 *   the crossings both ways and the main thread's delay in taking the reply included;
 * - `executionWorker`: the execution worker's service time of those batches, measured inside the
 *   worker (wall time from starting a batch to handing its reply to postMessage: no queueing, no
 *   crossing; node/execution/protocol.ts `serviceMs`), added by the execution service;
 * - `ledger`: assembling, encoding, sealing and hashing entries into the ledger and Merkle tree;
 * - `persistence`: handing entries to the store and writing the hard state;
 * - `replication`: encoding and sending consensus messages, decoding and stepping received ones.
 */
export type Stage =
  | "admission"
  | "signature"
  | "signatureWorker"
  | "execution"
  | "executionWorker"
  | "ledger"
  | "persistence"
  | "replication";

const micros: Record<Stage | "executionCalls", number> = {
  admission: 0,
  signature: 0,
  signatureWorker: 0,
  execution: 0,
  executionWorker: 0,
  ledger: 0,
  persistence: 0,
  replication: 0,
  executionCalls: 0,
};

/** Runs `work`, adding its wall time to `stage`. */
export function timeStage<T>(stage: Stage, work: () => T): T {
  const started = performance.now();
  try {
    return work();
  } finally {
    micros[stage] += (performance.now() - started) * 1000;
  }
}

/** Adds `elapsedMs` to `stage` (for spans that are not one synchronous call). */
export function addStageTime(stage: Stage, elapsedMs: number, calls = 0): void {
  micros[stage] += elapsedMs * 1000;
  if (stage === "execution") micros.executionCalls += calls;
}

/** Seconds per stage so far, and the executed calls as `executionCalls` (a count). */
export function stageTotals(): Readonly<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [stage, value] of Object.entries(micros))
    out[stage] = stage === "executionCalls" ? value : value / 1e6;
  return out;
}
