/**
 * The disk alone, as the nodes of a paced run use it: `--processes` processes (default 3, one per
 * node) each append records of `--min-kb`..`--max-kb` (default 2..20) to a file at `--rate` per
 * second (default 130: a node's batches per second at ~2,500 writes/s) and make each durable with
 * `fdatasync` on libuv's threadpool, as the chunked ledger store does (runtime/ledger/chunk-io.ts:
 * a positional write on the calling thread, then the sync), for `--seconds` (default 30):
 *
 *     node dist/bench/disk-sync.js [--dir DIR] [--mode append|overwrite] [--rate 130] ...
 *
 * `--mode append` (default) grows the file as a ledger chunk grows (each sync also commits the
 * new size through ext4's journal); `overwrite` writes in place into a file written full of zeros
 * beforehand (a sync flushes data only), to tell the two costs apart. Prints the sync's latency
 * (the threadpool call, submit to callback) p50 / p90 / p99 / max per process and pooled, and the
 * slowest syncs' start times (ms since the run's start), to set against a paced run's tail.
 */
import { fork } from "node:child_process";
import { closeSync, fdatasync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values: flags } = parseArgs({
  options: {
    dir: { type: "string" },
    mode: { type: "string", default: "append" },
    rate: { type: "string", default: "130" },
    processes: { type: "string", default: "3" },
    seconds: { type: "string", default: "30" },
    "min-kb": { type: "string", default: "2" },
    "max-kb": { type: "string", default: "20" },
    child: { type: "string" },
    start: { type: "string" },
  },
});

const RATE = Number(flags.rate);
const SECONDS = Number(flags.seconds);
const MIN_BYTES = Number(flags["min-kb"]) * 1024;
const MAX_BYTES = Number(flags["max-kb"]) * 1024;
const MODE = flags.mode;
if (MODE !== "append" && MODE !== "overwrite") throw new Error("--mode: append or overwrite");

interface ChildResult {
  /** [start ms since the run's start, sync ms] per record. */
  readonly syncs: Array<[number, number]>;
  /** Records sent later than their slot by more than one period (the loop fell behind). */
  readonly late: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

function summary(ms: readonly number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2);
  return `n ${sorted.length}, p50 ${f(percentile(sorted, 50))}, p90 ${f(percentile(sorted, 90))}, p99 ${f(percentile(sorted, 99))}, max ${f(sorted.at(-1) ?? Number.NaN)} ms`;
}

/** One process: appends on schedule from `startEpoch`, one sync in flight at a time (as a node). */
async function child(file: string, startEpoch: number): Promise<ChildResult> {
  const total = Math.round(RATE * SECONDS);
  const buffer = Buffer.alloc(MAX_BYTES, 0x5a);
  const fd = openSync(file, MODE === "append" ? "w" : "r+");
  const periodMs = 1000 / RATE;
  const syncs: Array<[number, number]> = [];
  let position = 0;
  let late = 0;
  const origin = performance.timeOrigin;
  for (let i = 0; i < total; i++) {
    const due = startEpoch + i * periodMs;
    const wait = due - (origin + performance.now());
    if (wait > 0) await new Promise((done) => setTimeout(done, wait));
    else if (-wait > periodMs) late++;
    const bytes = MIN_BYTES + Math.floor(Math.random() * (MAX_BYTES - MIN_BYTES + 1));
    position += writeSync(fd, buffer, 0, bytes, position);
    const started = performance.now();
    await new Promise<void>((done, fail) => fdatasync(fd, (error) => (error ? fail(error) : done())));
    syncs.push([origin + started - startEpoch, performance.now() - started]);
  }
  closeSync(fd);
  return { syncs, late };
}

async function main(): Promise<void> {
  if (flags.child !== undefined) {
    const result = await child(flags.child, Number(flags.start));
    process.send!(result);
    return;
  }
  const dir = mkdtempSync(join(flags.dir ?? tmpdir(), "treaty-disk-sync-"));
  const processes = Number(flags.processes);
  const files = Array.from({ length: processes }, (_, i) => join(dir, `p${i}`));
  if (MODE === "overwrite") {
    // Written full and synced first, so the run's writes land on allocated, written blocks.
    const size = Math.ceil(RATE * SECONDS * MAX_BYTES);
    const zeros = Buffer.alloc(1024 * 1024);
    for (const file of files) {
      const fd = openSync(file, "w");
      for (let at = 0; at < size; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
      fdatasyncSync(fd);
      closeSync(fd);
    }
  }
  const startEpoch = Date.now() + 500;
  try {
    const results = await Promise.all(
      files.map(
        (file) =>
          new Promise<ChildResult>((done, fail) => {
            const worker = fork(process.argv[1]!, [
              ...process.argv.slice(2),
              "--child",
              file,
              "--start",
              String(startEpoch),
            ]);
            worker.once("message", (message) => done(message as ChildResult));
            worker.once("error", fail);
          }),
      ),
    );
    console.log(
      `disk-sync: ${processes} processes × ${RATE}/s × ${SECONDS} s, ${MIN_BYTES / 1024}-${MAX_BYTES / 1024} KB + fdatasync, mode ${MODE}, dir ${dir}`,
    );
    results.forEach((r, i) => {
      console.log(`  process ${i}: ${summary(r.syncs.map(([, ms]) => ms))}, late ${r.late}`);
    });
    const all = results.flatMap((r) => r.syncs);
    console.log(`  pooled: ${summary(all.map(([, ms]) => ms))}`);
    const slowest = [...all].sort((a, b) => b[1] - a[1]).slice(0, 10);
    console.log(
      `  slowest (start s: ms): ${slowest.map(([at, ms]) => `${(at / 1000).toFixed(2)}: ${ms.toFixed(1)}`).join(", ")}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
