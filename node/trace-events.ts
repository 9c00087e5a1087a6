/**
 * EXPERIMENT: timeline events for finding latency bursts. Enabled by TREATY_TRACE_DIR; each
 * thread appends `epoch_ms,thread,kind,dur_ms,n` lines to `<dir>/trace-<pid>.csv`.
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { PerformanceObserver, monitorEventLoopDelay } from "node:perf_hooks";
import { isMainThread, threadId } from "node:worker_threads";

const DIR = process.env.TREATY_TRACE_DIR;
export const TRACING = DIR !== undefined && DIR.length > 0;
let rows: string[] = [];
let label = isMainThread ? "main" : `w${threadId}`;
const file = TRACING ? join(DIR!, `trace-${process.pid}.csv`) : "";

export function traceLabel(name: string): void {
  label = name;
}

export function trace(kind: string, durMs = 0, n = 0, at = performance.now()): void {
  if (!TRACING) return;
  rows.push(`${(performance.timeOrigin + at).toFixed(2)},${label},${kind},${durMs.toFixed(3)},${n}`);
}

function flush(): void {
  if (rows.length === 0) return;
  const text = `${rows.join("\n")}\n`;
  rows = [];
  appendFileSync(file, text);
}

if (TRACING) {
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
      trace(`gc${kind}`, e.duration, 0, e.startTime);
    }
  });
  obs.observe({ entryTypes: ["gc"] });
  // Event-loop lag on main threads: a 20 ms tick; a tick late by more than 6 ms is a stall.
  if (isMainThread && process.env.TREATY_TRACE_LAG !== "0") {
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      if (now - last > 26) trace("lag", now - last - 20, 0, last);
      last = now;
    }, 20).unref();
  }
  setInterval(flush, 500).unref();
  process.on("exit", flush);
  void monitorEventLoopDelay;
}
