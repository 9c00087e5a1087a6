/**
 * `npm run bench:execution`: the leader's execution path alone, driven as the sequencer drives
 * it: signed `log.writePublic` calls (caller, nonce, createdMs, seed) in batches, a signature's
 * empty write set applied after each batch, and a KV commit every few batches, on an LMDB KV
 * sealed at rest as a node's is.
 *
 * Four figures per mode, per call: wall time, CPU time of this process (all threads, from
 * `process.cpuUsage`), and the CPU of the execution worker thread and of the main thread (from
 * /proc, bench/thread-cpu.ts; the steadier figures on a shared machine). Modes:
 * - `engine`: ExecutionEngine on this thread (no worker, no messages): what the execution costs;
 * - `service`: ExecutionService with its worker, each request awaited in turn (the sequencer
 *   before pipelining: batch, then the signature's apply, then the next batch);
 * - `pipelined`: ExecutionService, the signature's apply and the commits not awaited before the
 *   next batch is sent (the sequencer now).
 * The difference between `engine` and the service modes is the worker protocol's cost.
 *
 * A snapshot's state is read as the node reads it (ExecutionEngine.snapshotRows, in slices beside
 * the batches when pipelined) each time a commit passes `--snapshot-every` versions since the last
 * one (default 10000, the node's `snapshots.everyEntries`; 0: none).
 *
 * Options: `--calls N` per mode (default 20000), `--batch B` calls per batch (default 32),
 * `--commit-every K` batches (default 4), `--snapshot-every V` versions (default 10000),
 * `--modes engine,service,pipelined`, `--rounds R`
 * (default 3; the median is printed), `--old-node` (the node records hold one of a node of the
 * version before session 21: every call also writes the legacy nonce rows, as during a rolling
 * upgrade; node/execution/nonces.ts). Prints a table on stderr and JSON on stdout.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compileContract, findPackageRoot } from "../runtime/compiler/index.js";
import type { WriteSet } from "../runtime/kv/types.js";
import { ExecutionEngine } from "../node/execution/engine.js";
import type { ExecCall, ExecResult, VersionedWriteSet } from "../node/execution/protocol.js";
import { ExecutionService } from "../node/execution/service.js";
import { silentLogger } from "../node/log.js";
import { GOV } from "../node/gov/tables.js";
import { utf8 } from "../sdk/bytes.js";
import { cpuTicksByGroup, sampleProcess } from "./thread-cpu.js";

const MESSAGE = "The quick brown fox jumps over the lazy dog; a typical short log line of about 100 bytes.";
const EMPTY: WriteSet = { public: [], private: [] };
const MODES = ["engine", "service", "pipelined"] as const;
type Mode = (typeof MODES)[number];

const { values: flags } = parseArgs({
  options: {
    calls: { type: "string", default: "20000" },
    batch: { type: "string", default: "32" },
    "commit-every": { type: "string", default: "4" },
    "snapshot-every": { type: "string", default: "10000" },
    modes: { type: "string", default: MODES.join(",") },
    rounds: { type: "string", default: "3" },
    "old-node": { type: "boolean", default: false },
  },
});
const CALLS = Number(flags.calls);
const BATCH = Number(flags.batch);
const COMMIT_EVERY = Number(flags["commit-every"]);
const SNAPSHOT_EVERY = Number(flags["snapshot-every"]);
const ROUNDS = Number(flags.rounds);
const modes = flags.modes.split(",") as Mode[];
if (![CALLS, BATCH, COMMIT_EVERY, ROUNDS].every((n) => Number.isSafeInteger(n) && n > 0))
  throw new Error("--calls, --batch, --commit-every, --rounds take positive integers");
if (!Number.isSafeInteger(SNAPSHOT_EVERY) || SNAPSHOT_EVERY < 0)
  throw new Error("--snapshot-every takes a non-negative integer");
for (const mode of modes) if (!MODES.includes(mode)) throw new Error(`--modes: unknown mode ${mode}`);

interface Figure {
  readonly wallMicrosPerCall: number;
  readonly cpuMicrosPerCall: number;
  /** CPU of the execution worker thread (service modes; from /proc, 0 where there is none). */
  readonly execMicrosPerCall: number;
  /** CPU of this (main) thread, from /proc. */
  readonly mainMicrosPerCall: number;
}

/** Microseconds per clock tick of /proc's CPU counters (USER_HZ is 100 on Linux). */
const MICROS_PER_TICK = 10_000;

/** The driver's view of an execution path (engine in-thread or the service). */
interface Path {
  executeBatch(view: number, firstSeqno: number, calls: readonly ExecCall[]): Promise<ExecResult[]>;
  apply(items: readonly VersionedWriteSet[]): Promise<void>;
  commit(version: number): Promise<void>;
  snapshotRows(version: number): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * The caller as the node names it: a user's id is the hex SHA-256 of its key (sdk/keys.ts
 * `keyId`), 64 characters. Its length is what the node hashes into every nonce key
 * (node/execution/nonces.ts `nonceKey`), and a short stand-in ("bench-user") would hash less.
 */
const CALLER = { id: randomBytes(32).toString("hex"), role: "user" } as const;

let nextCall = 0;
/**
 * A signed call as `bench:network` sends it (test/integration/load.ts `fastSignedRequest`): a
 * fresh id per write (each write adds a row, as in the node), a 128-bit hex nonce (sdk/request.ts
 * `newNonce`).
 */
function signedCall(): ExecCall {
  const id = nextCall++;
  return {
    contract: "log",
    method: "writePublic",
    args: { id, msg: MESSAGE },
    caller: CALLER,
    nonce: randomBytes(16).toString("hex"),
    createdMs: Date.now(),
    timeMs: Date.now(),
    seed: new Uint8Array(randomBytes(32)),
  };
}

/** Runs `calls` calls through `path` as the sequencer does; returns the per-call figures. */
async function drive(
  path: Path,
  pipelined: boolean,
  calls: number,
  version: { applied: number; snapshot: number },
) {
  const batches: ExecCall[][] = [];
  for (let i = 0; i < calls; i += BATCH) {
    batches.push(Array.from({ length: Math.min(BATCH, calls - i) }, signedCall));
  }
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const threadsStart = sampleProcess(process.pid);
  const outstanding: Promise<unknown>[] = [];
  for (let b = 0; b < batches.length; b++) {
    const results = await path.executeBatch(1, version.applied + 1, batches[b]!);
    for (const result of results) {
      if (!result.ok) throw new Error(`call failed: ${result.error.code}: ${result.error.message}`);
      version.applied = result.seqno;
    }
    version.applied++;
    const signature = path.apply([{ version: version.applied, writeSet: EMPTY }]);
    if (pipelined) outstanding.push(signature);
    else await signature;
    if ((b + 1) % COMMIT_EVERY === 0) {
      const commit = path.commit(version.applied);
      if (pipelined) outstanding.push(commit);
      else await commit;
      // The node reads a snapshot's state on the execution thread once a commit passes its point
      // (every 10,000 entries by default: node/snapshot/take.ts).
      if (SNAPSHOT_EVERY > 0 && version.applied - version.snapshot >= SNAPSHOT_EVERY) {
        version.snapshot = version.applied;
        const read = path.snapshotRows(version.applied);
        if (pipelined) outstanding.push(read);
        else await read;
      }
    }
  }
  await Promise.all(outstanding);
  const wallMs = performance.now() - wallStart;
  const cpu = process.cpuUsage(cpuStart);
  const threadsEnd = sampleProcess(process.pid);
  const groups =
    threadsStart !== undefined && threadsEnd !== undefined
      ? cpuTicksByGroup(process.pid, threadsStart, threadsEnd)
      : undefined;
  return {
    wallMicrosPerCall: round((wallMs * 1000) / calls),
    cpuMicrosPerCall: round((cpu.user + cpu.system) / calls),
    execMicrosPerCall: round(((groups?.execution ?? 0) * MICROS_PER_TICK) / calls),
    mainMicrosPerCall: round(((groups?.main ?? 0) * MICROS_PER_TICK) / calls),
  };
}

async function openPath(mode: Mode, kvPath: string, bundle: string): Promise<Path> {
  const atRestKey = new Uint8Array(randomBytes(32));
  if (mode === "engine") {
    // This mode awaits every commit before the next batch, which the node never does: the KV's
    // commit pacing (KV_COMMIT_INTERVAL_MS) would only add idle time, so it is off here.
    const engine = await ExecutionEngine.open({ kvPath, atRestKey, kvCommitIntervalMs: 0 });
    await engine.loadContract("log", bundle);
    return {
      executeBatch: async (view, first, calls) => engine.executeBatch(view, first, calls),
      apply: async (items) => engine.apply(items),
      commit: (version) => engine.commit(version),
      snapshotRows: (version) => engine.snapshotRows(version),
      close: () => engine.close(),
    };
  }
  const service = await ExecutionService.start({
    kvPath,
    atRestKey,
    logger: silentLogger,
    replaySource: () => [],
  });
  await service.loadContract("log", bundle);
  return service;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function median(figures: Figure[], field: keyof Figure): number {
  const sorted = figures.map((f) => f[field]).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const compiled = compileContract(join(findPackageRoot(), "contracts", "examples", "log"));
  if (!compiled.ok) throw new Error(`log does not compile: ${JSON.stringify(compiled.diagnostics)}`);
  const report: Record<string, Figure & { rounds: Figure[] }> = {};
  const loadBefore = loadavg()[0]!;
  for (const mode of modes) {
    const dir = mkdtempSync(join(tmpdir(), "treaty-bench-execution-"));
    try {
      const path = await openPath(mode, dir, compiled.bundle);
      const version = { applied: 0, snapshot: 0 };
      try {
        if (flags["old-node"]) {
          // A node of the previous version's record (no `features`), as its join wrote it.
          const record = { publicKey: "00".repeat(32), status: "trusted", measurement: "previous" };
          const writes = [[utf8.encode("old-node"), utf8.encode(JSON.stringify(record))] as const];
          await path.apply([
            { version: ++version.applied, writeSet: { public: [{ map: GOV.nodes, writes }], private: [] } },
          ]);
        }
        await drive(path, mode === "pipelined", Math.min(CALLS, 2000), version); // warm-up
        const rounds: Figure[] = [];
        for (let r = 0; r < ROUNDS; r++) rounds.push(await drive(path, mode === "pipelined", CALLS, version));
        report[mode] = {
          wallMicrosPerCall: median(rounds, "wallMicrosPerCall"),
          cpuMicrosPerCall: median(rounds, "cpuMicrosPerCall"),
          execMicrosPerCall: median(rounds, "execMicrosPerCall"),
          mainMicrosPerCall: median(rounds, "mainMicrosPerCall"),
          rounds,
        };
      } finally {
        await path.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const load = [loadBefore, loadavg()[0]!].map((n) => n.toFixed(1)).join(" → ");
  const old = flags["old-node"] ? ", an old node's record (legacy nonce rows too)" : "";
  process.stderr.write(`execution path, log.writePublic, batches of ${BATCH}${old}, load average ${load}\n`);
  const columns = ["wall µs/call", "CPU µs/call", "exec thread", "main thread"];
  process.stderr.write(`${"mode".padEnd(12)}${columns.map((c) => c.padStart(14)).join("")}\n`);
  for (const [mode, figure] of Object.entries(report)) {
    const cells = [
      figure.wallMicrosPerCall,
      figure.cpuMicrosPerCall,
      figure.execMicrosPerCall,
      figure.mainMicrosPerCall,
    ];
    process.stderr.write(`${mode.padEnd(12)}${cells.map((c) => String(c).padStart(14)).join("")}\n`);
  }
  process.stdout.write(
    `${JSON.stringify({ batch: BATCH, commitEvery: COMMIT_EVERY, oldNode: flags["old-node"], load, report }, null, 2)}\n`,
  );
}

await main();
