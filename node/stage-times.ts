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
 * - `executionToWorker` and `executionFromWorker`: the waits on either side of that service time
 *   (node/execution/protocol.ts `startedAtMs`): from posting a batch to the worker starting it, and
 *   from the worker handing its reply to postMessage to the execution service taking it on the
 *   main thread. The round trip less these three is the main thread's own work around the batch
 *   (packing, unpacking, the journal, promise hops);
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
  | "executionToWorker"
  | "executionFromWorker"
  | "ledger"
  | "persistence"
  | "replication";

const micros: Record<Stage | "executionCalls", number> = {
  admission: 0,
  signature: 0,
  signatureWorker: 0,
  execution: 0,
  executionWorker: 0,
  executionToWorker: 0,
  executionFromWorker: 0,
  ledger: 0,
  persistence: 0,
  replication: 0,
  executionCalls: 0,
};

/**
 * How long a write waits in each phase on the leader, wall time (not CPU): the latency of a
 * paced write, phase by phase, as histograms (`/node/metrics` renders them as
 * `treaty_write_phase_seconds{phase}`; `npm run bench:network` prints p50 and p99 of each).
 *
 * - `admission`: from the contract call's handler starting (the body read) to the request being
 *   admitted (signature checked on a verify worker, caller and freshness checked);
 * - `queue`: from the sequencer taking the call to its batch starting (the batch linger, and
 *   batches ahead of it);
 * - `execution`: the batch's execution round trip (node/execution/);
 * - `proposal`: from the results to the call being answered: ledger append, proposal to
 *   consensus, the signature proposed after the batch when one is due;
 * - `commit`: from the call being answered (its entry proposed) to this node's commit point
 *   passing it (the signature after it durable on a majority);
 * - `handler`: the whole handler, from its start to the answer (the first four together).
 */
export type WritePhase = "admission" | "queue" | "execution" | "proposal" | "commit" | "handler";

/** Upper bounds of the phase histograms' buckets, seconds. */
export const WRITE_PHASE_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.012, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
  0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5,
];

const WRITE_PHASES: readonly WritePhase[] = [
  "admission",
  "queue",
  "execution",
  "proposal",
  "commit",
  "handler",
];

/** Per phase: counts per bucket (not cumulative; the last one counts values above every bound), sum. */
const phases = Object.fromEntries(
  WRITE_PHASES.map((p) => [p, { counts: new Array<number>(WRITE_PHASE_BUCKETS.length + 1).fill(0), sum: 0 }]),
) as Record<WritePhase, { counts: number[]; sum: number }>;

/** Records `count` writes that spent `elapsedMs` in `phase`. */
export function addWritePhase(phase: WritePhase, elapsedMs: number, count = 1): void {
  const h = phases[phase];
  const seconds = elapsedMs / 1000;
  let i = 0;
  while (i < WRITE_PHASE_BUCKETS.length && seconds > WRITE_PHASE_BUCKETS[i]!) i++;
  h.counts[i]! += count;
  h.sum += seconds * count;
}

/**
 * The phase histograms in the Prometheus text format, one `phase` label each (cumulative
 * `_bucket{phase,le}`, `_sum`, `_count`).
 */
export function renderWritePhases(name: string, help: string): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  for (const phase of WRITE_PHASES) {
    const { counts, sum } = phases[phase];
    let cumulative = 0;
    WRITE_PHASE_BUCKETS.forEach((le, i) => {
      cumulative += counts[i]!;
      lines.push(`${name}_bucket{phase="${phase}",le="${le}"} ${cumulative}`);
    });
    cumulative += counts[WRITE_PHASE_BUCKETS.length]!;
    lines.push(
      `${name}_bucket{phase="${phase}",le="+Inf"} ${cumulative}`,
      `${name}_sum{phase="${phase}"} ${sum}`,
      `${name}_count{phase="${phase}"} ${cumulative}`,
    );
  }
  return lines.join("\n");
}

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
