/**
 * `npm run bench:store`: the node's ledger store (chunk files) on this machine's disk, the
 * synchronous `append` (write + fdatasync on the calling thread) against the group commit
 * `appendAsync` (write + fdatasync on libuv's threadpool, batches arriving during a sync sharing
 * the next one). For each, CPU time of the whole process (all threads, `process.cpuUsage`) and
 * wall time per batch:
 *
 * - paced: one batch of one ~400-byte entry every `--interval-ms` (default 5), the low-rate case
 *   where every batch gets its own sync whichever path;
 * - closed loop: one batch at a time, and (group commit only) `--in-flight` batches (default 32)
 *   outstanding, the next sent as one completes.
 *
 * Prints a table on stderr and JSON on stdout. Options: `--batches N` per run (default 400).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ChunkedLedgerStore } from "../runtime/ledger/chunk-store.js";
import type { LedgerRecord } from "../runtime/ledger/store.js";

const { values } = parseArgs({
  options: {
    batches: { type: "string", default: "400" },
    "interval-ms": { type: "string", default: "5" },
    "in-flight": { type: "string", default: "32" },
  },
});
const BATCHES = Number(values.batches);
const INTERVAL_MS = Number(values["interval-ms"]);
const IN_FLIGHT = Number(values["in-flight"]);
if (![BATCHES, INTERVAL_MS, IN_FLIGHT].every((n) => Number.isSafeInteger(n) && n > 0))
  throw new Error("--batches, --interval-ms and --in-flight are positive integers");

const ENTRY_BYTES = 400;

interface Run {
  readonly mode: "sync" | "async";
  readonly load: string;
  readonly batches: number;
  readonly cpuMicrosPerBatch: number;
  readonly systemMicrosPerBatch: number;
  readonly wallMsPerBatch: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function measure(
  mode: "sync" | "async",
  load: string,
  body: (store: ChunkedLedgerStore, next: () => LedgerRecord[]) => Promise<void>,
): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "treaty-bench-store-"));
  try {
    // No record is a signature: the whole run stays in one chunk (rotation is rare in a node).
    const store = ChunkedLedgerStore.open(dir, { isSignature: () => false });
    let seqno = 0;
    const bytes = new Uint8Array(ENTRY_BYTES).fill(7);
    const next = () => [{ seqno: ++seqno, view: 1, bytes }];
    const cpu = process.cpuUsage();
    const started = performance.now();
    await body(store, next);
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    await store.close();
    return {
      mode,
      load,
      batches: BATCHES,
      cpuMicrosPerBatch: Math.round((used.user + used.system) / BATCHES),
      systemMicrosPerBatch: Math.round(used.system / BATCHES),
      wallMsPerBatch: Number((wallMs / BATCHES).toFixed(3)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const paced = `paced, 1 per ${INTERVAL_MS} ms`;
const runs: Run[] = [];
for (let round = 0; round < 2; round++) {
  // Both paths back to back, twice: the second round is the one reported (warm caches).
  const results = [
    await measure("sync", paced, async (store, next) => {
      for (let i = 0; i < BATCHES; i++) {
        store.append(next());
        await sleep(INTERVAL_MS);
      }
    }),
    await measure("async", paced, async (store, next) => {
      for (let i = 0; i < BATCHES; i++) {
        await store.appendAsync(next());
        await sleep(INTERVAL_MS);
      }
    }),
    await measure("sync", "closed loop, 1 in flight", async (store, next) => {
      for (let i = 0; i < BATCHES; i++) store.append(next());
    }),
    await measure("async", "closed loop, 1 in flight", async (store, next) => {
      for (let i = 0; i < BATCHES; i++) await store.appendAsync(next());
    }),
    await measure("async", `closed loop, ${IN_FLIGHT} in flight`, async (store, next) => {
      let sent = 0;
      const worker = async () => {
        while (sent < BATCHES) {
          sent++;
          await store.appendAsync(next());
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    }),
  ];
  if (round === 1) runs.push(...results);
}

process.stdout.write(`${JSON.stringify({ entryBytes: ENTRY_BYTES, runs }, null, 2)}\n`);
process.stderr.write(
  `${"mode".padEnd(6)} ${"load".padEnd(28)} ${"CPU µs/batch".padStart(13)} ${"of it system".padStart(13)} ${"wall ms/batch".padStart(14)}\n`,
);
for (const r of runs)
  process.stderr.write(
    `${r.mode.padEnd(6)} ${r.load.padEnd(28)} ${String(r.cpuMicrosPerBatch).padStart(13)} ${String(r.systemMicrosPerBatch).padStart(13)} ${String(r.wallMsPerBatch).padStart(14)}\n`,
  );
