/**
 * `npm run bench:snapshot -- [--rows 100000,1000000] [--contract-rows N] [--snapshots N]`: what
 * taking a snapshot costs a node, on a real KvStore on LMDB sealed at rest (as the node opens it)
 * behind a real execution worker.
 *
 * For each row count N the KV is filled with N signed-request nonce records (`recordNonce`: one
 * private row each, as the replay window holds them) plus `--contract-rows` contract rows
 * (half private `bench.balances`, half `public:bench.audit`), then:
 * - quiet: `--snapshots` snapshots of the committed state, one after another: wall time from the
 *   request to the body bytes, process CPU (every thread: worker and main), both per row, the
 *   main thread's CPU alone (`mainCpuMs`, Linux schedstat: what a node's commit path shares), the
 *   execution worker's (`workerCpuMs`: the threads that appeared when the service started, counted
 *   in `workerThreads`; the read itself), and the body size;
 * - busy: one snapshot while the main thread keeps the worker busy as a node does: a probe `get`
 *   always in flight (its latency is how long the worker's queue could not serve a request) and
 *   write sets applied and committed every 5 ms past the snapshot's version. Prints the longest
 *   probe wait and the longest wait of a commit (request to durable answer, counting commits
 *   still unanswered) during the snapshot and during as long a window right after it without one
 *   (the machine's noise), and the longest main-thread event-loop block during the snapshot.
 *
 * `workerRestarts` counts execution workers killed or crashed during the run (their warnings go to
 * stderr): nonzero means the figures are not valid. A failed request ends the run with its error;
 * the temp dir (~1 GB at 1M rows) is removed on every exit, Ctrl-C and kill included.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { utf8 } from "../sdk/bytes.js";
import { KvStore } from "../runtime/kv/store.js";
import { LedgerSecret } from "../runtime/ledger/secrets.js";
import { ExecutionService } from "../node/execution/service.js";
import { nonceKey, recordNonce } from "../node/execution/nonces.js";
import { createLogger } from "../node/log.js";
import { INTERNAL, SINGLETON_KEY, tableKey } from "../node/gov/tables.js";
import { partsLength } from "../node/snapshot/format.js";
import { takeSnapshotBody } from "../node/snapshot/take.js";

const HELP = `npm run bench:snapshot -- [options]
  --rows LIST           nonce records in the KV, comma-separated runs (default 100000,1000000)
  --contract-rows N     contract rows besides the nonces (default 20000)
  --snapshots N         quiet snapshots per run (default 3)
  --help                this text`;

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "100000,1000000" },
    "contract-rows": { type: "string", default: "20000" },
    snapshots: { type: "string", default: "3" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const RUNS = values.rows.split(",").map(Number);
const CONTRACT_ROWS = Number(values["contract-rows"]);
const SNAPSHOTS = Number(values.snapshots);
for (const n of [...RUNS, CONTRACT_ROWS, SNAPSHOTS]) {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bench:snapshot: bad count ${n}; see --help`);
}

const SECRET = new LedgerSecret(1, new Uint8Array(32).fill(9));
const CALLERS = Array.from({ length: 64 }, () => randomBytes(32).toString("hex"));
const T0 = 1_765_000_000_000;
const ROWS_PER_VERSION = 1_000;
/** What a body holds besides the KV (the bench's values; the node reads them from its ledger). */
const STATE = {
  view: 2,
  frontier: [new Uint8Array(32).fill(1)],
  views: [{ view: 2, startSeqno: 1 }],
  config: { seqno: 1, nodes: ["n1", "n2", "n3"] },
};

/** Nonce records `from..to-1` into one transaction of `kv` (one version). */
function nonceVersion(kv: KvStore, from: number, to: number): void {
  const tx = kv.begin();
  for (let i = from; i < to; i++) {
    const txid = `2.${i + 10}`;
    const key = nonceKey(CALLERS[i % CALLERS.length]!, randomBytes(16).toString("hex"), T0 + i);
    recordNonce(tx, key, { txid, timeMs: T0 + i });
  }
  kv.apply(kv.appliedVersion + 1, tx.writeSet());
}

async function fill(path: string, atRestKey: Uint8Array, rows: number): Promise<number> {
  const kv = KvStore.open(path, { atRestKey });
  for (let i = 0; i < CONTRACT_ROWS; i += ROWS_PER_VERSION) {
    const tx = kv.begin();
    for (let j = i; j < Math.min(CONTRACT_ROWS, i + ROWS_PER_VERSION); j++) {
      const map = j % 2 === 0 ? "bench.balances" : "public:bench.audit";
      tx.set(map, utf8.encode(`account-${j}`), utf8.encode(`{"balance":${j},"memo":"${"m".repeat(40)}"}`));
    }
    kv.apply(kv.appliedVersion + 1, tx.writeSet());
  }
  for (let i = 0; i < rows; i += ROWS_PER_VERSION) {
    nonceVersion(kv, i, Math.min(rows, i + ROWS_PER_VERSION));
    if (kv.appliedVersion % 50 === 0) await kv.commit(kv.appliedVersion);
  }
  await kv.commit(kv.appliedVersion);
  const version = kv.committedVersion;
  await kv.close();
  return version;
}

interface Taken {
  readonly wallMs: number;
  readonly cpuMs: number;
  /** CPU of the main thread alone (receiving the rows, sealing, hashing: what a node's commit path shares). */
  readonly mainCpuMs: number;
  /** CPU of the threads started with the execution service (its worker: the read itself). */
  readonly workerCpuMs: number;
  readonly bytes: number;
  readonly rows: number;
}

/** CPU time of thread `tid` of this process, ms (Linux schedstat: ns on the CPU; 0 elsewhere). */
function threadCpuMs(tid: string): number {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    return 0;
  }
}

/** CPU time of this process's main thread, ms (see threadCpuMs). */
function mainThreadCpuMs(): number {
  return threadCpuMs(String(process.pid));
}

/** This process's thread ids (Linux; none elsewhere). */
function threadIds(): string[] {
  try {
    return readdirSync("/proc/self/task");
  } catch {
    return [];
  }
}

/** CPU time of `tids` together, ms. */
function threadsCpuMs(tids: readonly string[]): number {
  let ms = 0;
  for (const tid of tids) ms += threadCpuMs(tid);
  return ms;
}

async function snapshotAt(
  service: ExecutionService,
  version: number,
  worker: readonly string[],
): Promise<Taken> {
  const cpu = process.cpuUsage();
  const main = mainThreadCpuMs();
  const workerStart = threadsCpuMs(worker);
  const start = performance.now();
  const taken = await takeSnapshotBody(service, { ...STATE, seqno: version }, () => SECRET);
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  const mainCpuMs = mainThreadCpuMs() - main;
  const workerCpuMs = threadsCpuMs(worker) - workerStart;
  if (taken === undefined) throw new Error(`bench:snapshot: the KV moved past ${version}`);
  return {
    wallMs,
    cpuMs: (used.user + used.system) / 1000,
    mainCpuMs,
    workerCpuMs,
    bytes: partsLength(taken.body),
    rows: taken.rows,
  };
}

/**
 * Longest probe and commit waits (ms) while `during` runs, with writes applied and committed
 * meanwhile, and as long a window after it with the same load.
 */
async function busy(service: ExecutionService, during: (version: number) => Promise<unknown>) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  let stop = false;
  // The first request that failed: it ends the run (after the loops stop), never an unhandled
  // rejection that would skip the cleanup.
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    stop = true;
  };
  let longestMs = 0;
  let probes = 0;
  const probe = (async () => {
    while (!stop) {
      const start = performance.now();
      await service.get(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY));
      longestMs = Math.max(longestMs, performance.now() - start);
      probes++;
    }
  })();
  let next = 10_000_000;
  let applied = service.appliedVersion;
  // Commits not answered yet (version -> request time) and the longest wait answered in the
  // current window (a wait that began before the window counts from the window's start).
  const unanswered = new Map<number, number>();
  let windowStart = 0;
  let longestCommitMs = 0;
  const waitedMs = (since: number) => performance.now() - Math.max(since, windowStart);
  const commitWaitMs = () => {
    let longest = longestCommitMs;
    for (const since of unanswered.values()) longest = Math.max(longest, waitedMs(since));
    return longest;
  };
  const writer = (async () => {
    while (!stop) {
      const items = [];
      for (let k = 0; k < 5; k++) {
        const key = utf8.encode(`k-${next}`);
        items.push({
          version: ++applied,
          writeSet: {
            public: [],
            private: [{ map: "bench.busy", writes: [[key, key]] as [Uint8Array, Uint8Array][] }],
          },
        });
        next++;
      }
      service.apply(items).catch(fail);
      const version = items.at(-1)!.version;
      unanswered.set(version, performance.now());
      // A failed commit ends the run (after the loops stop) with its error.
      service.commit(version).then(() => {
        longestCommitMs = Math.max(longestCommitMs, waitedMs(unanswered.get(version)!));
        unanswered.delete(version);
      }, fail);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 300));
  longestMs = 0;
  longestCommitMs = 0;
  windowStart = performance.now();
  loop.enable();
  const version = applied;
  service.commit(version).catch(fail);
  const start = performance.now();
  let result: unknown;
  let windowMs = 0;
  let snapshotLongest = 0;
  let snapshotCommitMs = 0;
  let quietLongest = 0;
  let quietCommitMs = 0;
  try {
    result = await during(version);
    windowMs = performance.now() - start;
    loop.disable();
    snapshotLongest = longestMs;
    snapshotCommitMs = commitWaitMs();
    // The same load for as long without a snapshot: what the machine's noise alone gives.
    longestMs = 0;
    longestCommitMs = 0;
    windowStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    quietLongest = longestMs;
    quietCommitMs = commitWaitMs();
  } finally {
    loop.disable();
    stop = true;
    for (const loopDone of await Promise.allSettled([probe, writer]))
      if (loopDone.status === "rejected") fail(loopDone.reason);
  }
  if (failure !== undefined) throw failure;
  return {
    result,
    longestProbeMs: snapshotLongest,
    quietProbeMs: quietLongest,
    longestCommitMs: snapshotCommitMs,
    quietCommitMs,
    probes,
    mainBlockMs: loop.max / 1e6,
  };
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * Temp dirs not removed yet. Each run removes its own in `finally`; these handlers cover the exits
 * that skip it (an uncaught error, Ctrl-C, a kill): a 1M-row KV is ~1 GB.
 */
const tempDirs = new Set<string>();
const removeTempDirs = () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
};
process.on("exit", removeTempDirs);
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  ["SIGHUP", 129],
] as const) {
  process.once(signal, () => {
    removeTempDirs();
    process.exit(code);
  });
}

function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "treaty-bench-snapshot-"));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

async function run(rows: number): Promise<Record<string, unknown>> {
  const dir = makeTempDir();
  try {
    const atRestKey = new Uint8Array(randomBytes(32));
    const fillStart = performance.now();
    const version = await fill(join(dir, "kv"), atRestKey, rows);
    const fillMs = performance.now() - fillStart;
    const before = new Set(threadIds());
    const service = await ExecutionService.start({
      kvPath: join(dir, "kv"),
      atRestKey,
      // Warnings (a watchdog kill, a worker crash) go to stderr: they invalidate the figures.
      logger: createLogger({ level: "warn" }),
      replaySource: () => [],
    });
    // The execution worker's thread (and any it started): the threads new since before the start.
    const worker = threadIds().filter((tid) => !before.has(tid));
    try {
      const quiet: Taken[] = [];
      for (let i = 0; i < SNAPSHOTS; i++) quiet.push(await snapshotAt(service, version, worker));
      console.log(JSON.stringify({ nonces: rows, fillS: round(fillMs / 1000, 1), quiet }));
      const stall = await busy(service, (at) => snapshotAt(service, at, worker));
      const best = quiet.reduce((a, b) => (a.wallMs <= b.wallMs ? a : b), quiet[0]!);
      const totalRows = best?.rows ?? 0;
      return {
        nonces: rows,
        kvRows: totalRows,
        fillS: round(fillMs / 1000, 1),
        wallMs: round(best.wallMs, 1),
        cpuMs: round(best.cpuMs, 1),
        mainCpuMs: round(best.mainCpuMs, 1),
        workerCpuMs: round(best.workerCpuMs, 1),
        workerThreads: worker.length,
        wallUsPerRow: round((best.wallMs * 1000) / totalRows),
        cpuUsPerRow: round((best.cpuMs * 1000) / totalRows),
        bodyBytes: best.bytes,
        busyWallMs: round((stall.result as Taken).wallMs, 1),
        longestWorkerWaitMs: round(stall.longestProbeMs, 1),
        longestWorkerWaitNoSnapshotMs: round(stall.quietProbeMs, 1),
        longestCommitWaitMs: round(stall.longestCommitMs, 1),
        longestCommitWaitNoSnapshotMs: round(stall.quietCommitMs, 1),
        longestMainBlockMs: round(stall.mainBlockMs, 1),
        probes: stall.probes,
        // Nonzero: a worker was killed or crashed (logged on stderr) and the figures are not valid.
        workerRestarts: service.stats().restarts,
      };
    } finally {
      await service.close();
    }
  } finally {
    removeTempDir(dir);
  }
}

async function main(): Promise<void> {
  const results = [];
  for (const rows of RUNS) {
    const result = await run(rows);
    results.push(result);
    console.log(JSON.stringify(result));
  }
  console.log(JSON.stringify({ bench: "snapshot", results }));
}

await main();
