/**
 * An opt-in timeline of a node's events, to find what a burst of slow writes coincides with
 * (`bench:network --latency-dump` gives each write's send time since the epoch). Off unless the
 * node's environment sets `TREATY_TIMELINE_DIR`; then the node's main thread and its execution
 * worker each append lines to `<dir>/timeline-<pid>.csv`:
 *
 *     epoch_ms,thread,event,ms,count
 *
 * - `epoch_ms`: when the event started, ms since the Unix epoch (`performance.timeOrigin` +
 *   `performance.now()`, to 0.01 ms; threads of one machine share the clock);
 * - `thread`: `main`, `exec` (the execution worker), or `worker` (a worker thread before it names
 *   itself: the execution worker while its modules load);
 * - `event`, `ms`, `count`:
 *   - `gc-minor`, `gc-major`, `gc-incremental`, `gc-weak`: a V8 pause of this thread (from
 *     perf_hooks' `gc` entries), `ms` long;
 *   - `stall` (main thread): a 20 ms timer ran `ms` late (more than 6 ms): the thread did not run
 *     for that long (a GC, a long task, or no core for it);
 *   - `batch` (leader's main thread): a sequencer batch's execution round trip, `count` calls;
 *   - `sign` (leader's main thread): a signature entry appended at seqno `count`;
 *   - `commit` (main thread): this node's commit point reached seqno `count`;
 *   - `persist` (main thread, node/replica.ts): a Ready's entries, up to seqno `count`, from
 *     their hand-over to the ledger's group commit (on a follower: when the Ready holding them
 *     is handled) until durable (`ms`: queued behind earlier writes, the write, the `fdatasync`,
 *     and the main thread's turn to see it);
 *   - `snapshot-body` (main thread): the snapshot at seqno `count` sealed, copied and hashed
 *     into its body (node/snapshot/take.ts; `ms` includes the pauses between slices);
 *   - `snapshot-write-pending`, `snapshot-write-committed` (main thread): the snapshot file at
 *     seqno `count` written and fsynced (node/snapshot/files.ts; `ms`: start to durable, the
 *     work on libuv's thread pool); `snapshot-complete-pending`: its pending file completed in
 *     place with the evidence and renamed (the usual way to the committed file);
 *   - `exec-<op>` (execution worker): a request served (`ms`: start to reply; for a `commit`,
 *     until durable), `count` calls for a batch;
 *   - `kv-write` (execution worker): one LMDB commit, `ms` until durable, `count` versions.
 *
 * Lines are buffered and appended every 500 ms and when the thread exits. Without the variable
 * nothing is observed or kept: callers test `TIMELINE` first (one boolean per call site). With
 * it, each thread also runs a 20 ms timer (main thread only) and a GC observer.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { isMainThread } from "node:worker_threads";

const DIR = process.env.TREATY_TIMELINE_DIR;

/** True when this process records a timeline (`TREATY_TIMELINE_DIR` set and not empty). */
export const TIMELINE = DIR !== undefined && DIR.length > 0;

let threadLabel = isMainThread ? "main" : "worker";
let lines: string[] = [];

/** Names this thread in its timeline lines (default `main` or `worker`). */
export function timelineThread(name: string): void {
  threadLabel = name;
}

/**
 * Records an event that started at `startMs` (performance.now() of this thread) and lasted
 * `ms`. A no-op unless `TIMELINE`.
 */
export function timeline(event: string, startMs: number, ms = 0, count = 0): void {
  if (!TIMELINE) return;
  lines.push(
    `${(performance.timeOrigin + startMs).toFixed(2)},${threadLabel},${event},${ms.toFixed(3)},${count}`,
  );
}

function flush(): void {
  if (lines.length === 0) return;
  const text = `${lines.join("\n")}\n`;
  lines = [];
  try {
    appendFileSync(join(DIR!, `timeline-${process.pid}.csv`), text);
  } catch {
    // A diagnostic only: a missing or full folder loses lines, never the node.
  }
}

/** Event names of perf_hooks' `gc` entry kinds (`detail.kind`). */
const GC_KINDS: Readonly<Record<number, string>> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "gc-minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "gc-major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "gc-incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "gc-weak",
};

if (TIMELINE) {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
      timeline(GC_KINDS[kind] ?? "gc", entry.startTime, entry.duration);
    }
  }).observe({ entryTypes: ["gc"] });
  if (isMainThread) {
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      if (now - last > 26) timeline("stall", last, now - last - 20);
      last = now;
    }, 20).unref();
  }
  setInterval(flush, 500).unref();
  process.on("exit", flush);
}
