/**
 * `npm run bench:network`: a replicated Treaty network on this machine, over a real nats-server
 * with one process per node (test/support/cluster.ts), driven over HTTP.
 *
 * For 1 and 3 nodes:
 * - committed signed `log.writePublic` writes per second at each in-flight level (default 64 and
 *   256), sent to the leader, with the acknowledgement latency (answer with a txid) and the
 *   commit latency (send until the leader's commit point covers the txid) p50/p99;
 * - 3 nodes also: the same writes sent to a follower (forwarded to the leader over NATS), and a
 *   paced run at half the peak committed rate, or `--paced-rate N` (open loop: requests leave
 *   on a schedule, not when earlier ones return), where the commit latency target applies; it
 *   lasts 3 s, or `--paced-seconds S` (a sustained run, where the state and each snapshot grow),
 *   and holds at most `--requests` writes (5,000 by default: ~1.7 s at 3,000 writes/s);
 * - 3 nodes also: kill -9 of the leader, repeated, with the time from the kill until each stage
 *   (survivors' status polled every 5 ms): a survivor starts an election, a survivor leads a newer
 *   view, the new leader's first commit, a write sent after the kill (a fresh one every 25 ms,
 *   round robin over the survivors) is committed; an SDK `Client` that had the killed leader first
 *   (its retries and backoff) gets its write answered and committed, each of its requests listed;
 *   and the elections each round took (1 when clean);
 * - signed `log.readPublic` reads per second and latency p50/p99 at each read consistency
 *   (`x-treaty-consistency`: committed, linearizable, latest) at the lowest in-flight level, sent
 *   to the leader and (3 nodes) to a follower, whose linearizable reads ask the leader for a read
 *   index over NATS.
 * - the same write (`profile.setName`) signed and with JWT bearer tokens (bench/jwt.ts), at the
 *   lowest in-flight level to the leader: one token for all (cached) and a new token each.
 *
 * Every request is built and signed before the clock starts (node:crypto `signFast`, the bytes
 * the SDK's `signRequest` makes) and sent as raw bytes over keep-alive connections, as many as
 * the run's in-flight bound, opened before the clock starts (bench/http.ts `openConnections`;
 * etcd's runs likewise): signing and connecting are client work, and client, nats-server and
 * nodes share the machine's cores. In the paced run (the
 * commit latency target) each write's commit is seen by `/node/tx` long polls on the leader,
 * answered as its commit point passes the write (bench/commit-watch.ts: one poll per run of
 * consecutive writes, not one per write); in closed-loop runs the commit point is read by polling
 * the leader's `/node/status` every ~2 ms over its own connection: a commit latency there
 * includes up to one poll round trip.
 *
 * Each run also records the CPU time every node process (all its threads) and the client spent
 * per write, read from /proc: on a shared machine the rates move with the neighbours' load, the
 * CPU cost per write much less, and it says where a faster network must save.
 * Each node's figure is also split by thread group (bench/thread-cpu.ts: main thread, execution
 * worker, verify workers, V8's platform threads where its GC helpers and optimizing compiler run,
 * libuv's threadpool with fdatasync and lmdb-js's writes, other, exited), one line per run, with
 * the nats-server's CPU per write beside it, and a line of context switches per write (voluntary +
 * involuntary, from /proc/<pid>/task/<tid>/status, of live threads) by the same groups, the client and
 * nats-server: each is a sleep→wake or a preemption, whose cost is the per-batch CPU of moderate load;
 * and a line of run-queue wait per write by the same groups (the time the threads were runnable but
 * waiting for a CPU, /proc/<pid>/task/<tid>/schedstat), printed for etcd's members per put too: on
 * shared cores each thread-to-thread hand-off of a write may wait there, and it is latency, not CPU.
 * A line names the runs whose writes spanned a snapshot point (a multiple of the snapshot stride
 * the leader's `treaty_snapshot_stride_entries` showed as the run began: `snapshots.everyEntries`,
 * 10,000 by default, doubled per doubling of the newest snapshot past `snapshots.strideBytes`;
 * bench/snapshot-points.ts), with the snapshots each node took in the run: every node snapshots
 * there at once, which shows in that run's latency tail.
 * Each write run also prints where the leader's main thread spent each write's time by stage
 * (node/stage-times.ts, read from `/node/metrics`: HTTP body decode and checks, signature check
 * on the main thread and in the verify workers, ledger append and hashing, persistence,
 * replication), the leader's wall time per write by phase as p50/p99/mean ms (admission, queue,
 * execution, proposal, commit, handler: node/stage-times.ts WritePhase; p50 and p99 are bucket
 * bounds), the worker round trip per executed call split into the wait until the worker starts
 * a batch, the worker's own service time (measured inside the worker) and the wait until the
 * main thread takes the reply, the execution thread's CPU per write,
 * `bench:runtime`'s in-process figure (the sandboxed call and a KV apply; run as a child at the
 * end) and `bench:execution`'s (the node's own path in process, also a child: signed calls with
 * their nonce check and record, a KV sealed at rest, signature applies and commits; the engine's
 * thread CPU per call, and the execution thread's with the engine in a worker), the elections started during the run (spurious: the
 * leader is never stopped in a write run; their total is printed at the end) (a write answered
 * NotLeader or OutcomeUnknown because leadership moved, or Unavailable, is sent again, the same
 * signed bytes, and counted as resent by code, table column "NL/OU/UA", as is one that got no
 * answer at all, a transport error such as a reset connection, "+N reset"; a resend answered Replay
 * gets the txid of the attempt that ran, bench/write-answer.ts), the
 * follower/leader and 5/3-node rate ratios (`--nodes 1,3,5`), and the 3-node committed rate over
 * etcd's puts at each level when etcd ran; last, issue 13's targets judged on this run, each met,
 * missed, or not run by this run's options (bench/targets.ts; `targets` in the JSON).
 *
 * Where `etcd` is installed (Debian `etcd-server`), a 3-member etcd cluster on loopback runs the
 * same in-flight levels with 100-byte puts through its JSON gateway (`/v3/kv/put`, answered once
 * committed and applied; puts round robin over the members, as a client of etcd spreads them;
 * CPU µs and run-queue wait per put of each member and the client from /proc), and range reads of those keys at
 * the lowest level, linearizable
 * (etcd's default: a read index) and serializable (the member's local state), spread over the
 * members, then (when a paced run ran) puts on the paced run's schedule, same rate and count
 * (`etcd.paced`: a put's latency, send to answer, is its commit latency as Treaty's is send to
 * the leader's commit); for a figure from the same run on the same machine; otherwise the report
 * says it is not installed. `--paced-etcd` adds etcd's warm-up and paced run to `--paced-only`.
 *
 * Prints a table on stderr and JSON on stdout (`--help` lists the options). Options: `--requests N` per level (default 5000),
 * `--warmup N` writes before the measured runs (default 40000: V8 compiles the hot path over the
 * first few thousand writes, the consensus log's first compaction and the first snapshot point
 * (10,000) each deoptimize hot code once per process, and after 12,000 writes the nodes still
 * spent ~22% more CPU per write at 64 in flight than after 40,000, about half of it in V8's
 * compiler threads (docs/performance.md, "The bench's warm-up, session 23"); a service runs
 * warm, past all of it; etcd gets the same
 * warm-up; as many again through a follower before its run, whose forwarding path the
 * leader-directed writes leave cold, then as many as it takes for the follower's run to start as
 * far past a snapshot point as the leader's run at the same level did, so the two hold the same
 * snapshot work; and every write run first waits until no node has a snapshot read or file write
 * in progress, `treaty_snapshot_in_flight`, so a snapshot taken before a run does not run into it),
 * `--reads N` per read run (default 3000),
 * `--in-flight 64,256`, `--nodes 1,3`, `--signature-interval-ms 20`, `--failovers 3`,
 * `--events` (instead of all the above: the cost per write with the event stream and JetStream
 * export on vs off, bench/events.ts), `--cpu-prof <dir>` (each node process writes a V8 CPU profile there when it stops),
 * `--latency-dump <dir>` (one CSV per write run: each write's send time, seqno, ack and commit latency,
 * and its send time since the epoch, to join with a node's TREATY_TIMELINE_DIR timeline),
 * `--node-flags=<flags>` (extra `node` flags for every node process, space-separated, e.g.
 * `--node-flags=--trace-gc`; files a flag writes in a node's data folder, such as `--perf-prof`'s
 * jitdumps, go with the cluster unless TREATY_KEEP_CLUSTER=1), `--verify-workers N` (every node's `requests.verifyWorkers`: signature
 * check threads, 0 for checks on the main thread; default: the node's own default), `--consensus
 * JSON` (every node's `consensus` section, node/consensus-timing.ts; default: the node's own),
 * `--freshness-ms N` (every node's request freshness window, which is also its nonce retention,
 * with a warm-up that lasts past it: the steady state where nonces are pruned as fast as they are
 * added, which the default 5 minutes never reaches), `--random-nonces` (nonces of 128 random bits,
 * as a third-party client may make them, instead of the SDK's time-first ones).
 * `--writes-only` runs only the closed-loop writes to the leader; `--with-follower` adds to it the
 * run sent to a follower (its warm-up, top-up and lowest level, as a full run makes it). Each
 * write run also prints the requests every node posted to its execution worker per write, by op
 * (`treaty_execution_requests_total`: batches, applies, KV commits, reads, snapshot rows).
 *
 * `--prefill N` measures failover on a long ledger instead: 3 nodes only, N writes first (at the
 * highest in-flight level, not measured), then the failover rounds, with the ledger length in
 * the report. Compare `--prefill 10000` with `--prefill 200000`: failover must not grow with the
 * ledger. `--failover-mode restart` stops the leader cleanly (SIGTERM) and starts it again at
 * once, as an operator restarting it would (default `kill`: kill -9, restarted after the
 * measurement).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  HEADER_CONSISTENCY,
  READ_CONSISTENCIES,
  type ReadConsistency,
  type SignedRequest,
} from "../sdk/request.js";
import { DEFAULTS } from "../node/config.js";
import { parseTxId } from "../sdk/receipt.js";
import { toHex } from "../sdk/bytes.js";
import { type Cluster, type ClusterNode, startCluster } from "../test/support/cluster.js";
import { fastSignedRequest } from "../test/integration/load.js";
import { benchEvents } from "./events.js";
import { commitWatch } from "./commit-watch.js";
import { WRITE_PHASE_BUCKETS } from "../node/stage-times.js";
import { openConnections, postSigned, send } from "./http.js";
import { type SeqnoSpan, seqnoSpan, snapshotPointsAmong, writesToSamePhase } from "./snapshot-points.js";
import { classifyWriteAnswer, type ResentCode, resentCode } from "./write-answer.js";
import { benchJwt, type JwtBenchResult } from "./jwt.js";
import { judgeTargets } from "./targets.js";
import {
  clockTicks,
  cpuTicksByGroup,
  findChildProcess,
  formatGroups,
  microsPerWrite,
  nanosPerWrite,
  type ProcessSample,
  runqueueWaitByGroup,
  sampleProcess,
  switchesByGroup,
  type ThreadGroup,
  v8PoolSizeOf,
} from "./thread-cpu.js";

const MESSAGE = "The quick brown fox jumps over the lazy dog; a typical short log line of about 100 bytes.";
const COMMIT_POLL_MS = 2;
/** Calls per round of the in-process `bench:execution` child (3 rounds per mode, after a warm-up). */
const IN_PROCESS_EXECUTION_CALLS = 10_000;
const FAILOVER_POLL_MS = 5;
const FAILOVER_TIMEOUT_MS = 30_000;
const FAILOVER_ATTEMPT_EVERY_MS = 25;
/**
 * Attempts outstanding at once. High on purpose: right after the kill, the survivors still forward
 * writes to the dead leader and hold them until their forward times out (10 s), and a client
 * that waited for those would measure that timeout, not the service.
 */
const FAILOVER_MAX_ATTEMPTS = 1000;
const ETCD_VALUE_BYTES = 100;
/**
 * A write answered NotLeader, OutcomeUnknown or Unavailable (bench/write-answer.ts) is sent again
 * this far apart, for up to this long after its first send (the SDK's outcome timeout is 60 s).
 */
const RESEND_PAUSE_MS = 50;
const RESEND_WINDOW_MS = 30_000;
const CLOCK_TICKS_PER_SECOND = clockTicks();

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string", default: "5000" },
    warmup: { type: "string", default: "40000" },
    reads: { type: "string", default: "3000" },
    "in-flight": { type: "string", default: "64,256" },
    nodes: { type: "string", default: "1,3" },
    "signature-interval-ms": { type: "string", default: "20" },
    failovers: { type: "string", default: "3" },
    prefill: { type: "string", default: "0" },
    "failover-mode": { type: "string", default: "kill" },
    "cpu-prof": { type: "string" },
    "latency-dump": { type: "string" },
    "node-flags": { type: "string", default: "" },
    "verify-workers": { type: "string" },
    consensus: { type: "string" },
    events: { type: "boolean", default: false },
    "writes-only": { type: "boolean", default: false },
    "with-follower": { type: "boolean", default: false },
    "paced-rate": { type: "string" },
    "paced-only": { type: "boolean", default: false },
    "paced-seconds": { type: "string", default: "3" },
    "paced-etcd": { type: "boolean", default: false },
    curve: { type: "string", default: "ed25519" },
    "freshness-ms": { type: "string" },
    "random-nonces": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  process.stdout.write(`node dist/bench/network.js [options]  (npm run bench:network)
  Treaty networks (one process per node, real nats-server) beside a 3-member etcd when installed.
  --requests N               writes per in-flight level (default 5000)
  --warmup N                 writes before the measured runs, 64 in flight (default 40000: past the
                             first snapshots, log compactions and V8's compiling; etcd too; as many
                             through a follower before its run, then up to the leader's run's
                             distance past a snapshot point)
  --reads N                  reads per read run (default 3000)
  --in-flight 64,256         in-flight levels
  --nodes 1,3                network sizes (3 adds follower, paced and failover runs)
  --signature-interval-ms N  node signature interval (default 20)
  --failovers N              kill -9 rounds of the leader (default 3)
  --paced-rate N             the paced run's writes/s (default: half the peak committed rate)
  --paced-only               3 nodes: after the warm-up, only the paced run (needs --paced-rate)
  --paced-seconds S          the paced run's length at its rate (default 3), at most --requests
                             writes: a sustained run raises both (e.g. --paced-seconds 120
                             --requests 400000, where the state and the snapshots grow)
  --paced-etcd               with --paced-only: etcd too, its warm-up and then the same paced run
                             (a full run paces etcd after its closed-loop levels, at the rate and
                             count of Treaty's paced run)
  --prefill N                3 nodes: N writes first, then only the failover rounds
  --failover-mode kill|restart
  --cpu-prof DIR             every node process writes a V8 CPU profile there
  --latency-dump DIR         one CSV per write run there (warm-ups included, numbered in run order):
                             each write's send time from the run's start, seqno, ack and commit
                             latency, ms, and its send time since the epoch (sent_epoch_ms): where
                             a tail's writes fall (a snapshot, a GC, an election); run with
                             TREATY_TIMELINE_DIR=DIR set to get each node's event timeline there
                             too (node/timeline.ts; bench/latency-timeline.ts joins the two)
  --node-flags=FLAGS         extra node flags for every node process (each node runs in its own
                             data folder: files a flag writes there, e.g. --perf-prof's jit-PID.dump,
                             are deleted with the cluster unless TREATY_KEEP_CLUSTER=1 is set)
  --verify-workers N         every node's requests.verifyWorkers (0: signature checks on the main thread)
  --consensus JSON           every node's consensus section, e.g. '{"tickMs":50,"heartbeatMs":100,
                             "electionTimeoutMs":{"min":1000,"max":2000}}' (default: the node's defaults)
  --events                   only the event stream / JetStream export cost (bench/events.ts)
  --curve ed25519|p256       curve of the user key that signs the bench's requests (default
                             ed25519): p256 shows the nodes' cost of P-256 (ECDSA) signatures
  --freshness-ms N           every node's requests.freshnessWindowMs (the nonce retention; default
                             the node's, 5 minutes, which no run reaches): the warm-up then goes on
                             until N ms + 5 s after its first write, so the measured runs are in the
                             steady state where every write's nonce is later pruned on every node
                             (each run's writes are signed before it starts: a run must last less
                             than N, else its last writes arrive stale)
  --random-nonces            the writes' nonces are 128 random bits (32 hex digits), as a
                             third-party client may make them, not the SDK's time-first nonces
  --writes-only              only the closed-loop writes to the leader (no reads, JWT, follower,
                             paced or failover runs, no etcd): the quick A/B of the write path
  --with-follower            with --writes-only: then the 3-node run sent to a follower as a full
                             run makes it (its warm-up, the top-up, the lowest level), for the
                             follower/leader ratio without the reads, JWT, paced and failover runs
Table on stderr, JSON on stdout.
`);
  process.exit(0);
}
const REQUESTS = Number(flags.requests);
/**
 * Writes sent before the first measured run (64 in flight), not measured. V8 keeps compiling
 * hot code for a few thousand writes, which the first runs' CPU per write includes.
 */
const WARMUP_REQUESTS = Number(flags.warmup);
const READS = Number(flags.reads);
const LEVELS = flags["in-flight"].split(",").map(Number);
const NODE_COUNTS = flags.nodes.split(",").map(Number);
const SIGNATURE_INTERVAL_MS = Number(flags["signature-interval-ms"]);
const FAILOVERS = Number(flags.failovers);
const WRITES_ONLY = flags["writes-only"];
const WITH_FOLLOWER = flags["with-follower"];
if (WITH_FOLLOWER && !WRITES_ONLY)
  throw new Error("--with-follower: only with --writes-only (a full run has it)");
/** Offered rate of the paced run (writes/s); default half the peak committed rate of the run. */
const PACED_RATE = flags["paced-rate"] === undefined ? undefined : Number(flags["paced-rate"]);
if (PACED_RATE !== undefined && !(Number.isSafeInteger(PACED_RATE) && PACED_RATE > 0))
  throw new Error("--paced-rate: expected a positive integer");
const PACED_ONLY = flags["paced-only"];
const PACED_ETCD = flags["paced-etcd"];
if (PACED_ETCD && !PACED_ONLY)
  throw new Error("--paced-etcd: only with --paced-only (a full run paces etcd anyway)");
/** Where each write run's per-write latencies go (`--latency-dump`), and how many went so far. */
const LATENCY_DUMP = flags["latency-dump"] === undefined ? undefined : resolve(flags["latency-dump"]);
if (LATENCY_DUMP !== undefined) mkdirSync(LATENCY_DUMP, { recursive: true });
let latencyDumps = 0;
if (PACED_ONLY && PACED_RATE === undefined) throw new Error("--paced-only: needs --paced-rate");
const PACED_SECONDS = Number(flags["paced-seconds"]);
if (!(PACED_SECONDS > 0)) throw new Error("--paced-seconds: expected a positive number");
/** Writes in a paced run at `rate` per second. */
const pacedCount = (rate: number) => Math.max(1000, Math.min(REQUESTS, Math.round(rate * PACED_SECONDS)));
const PREFILL = Number(flags.prefill);
/** Extra `node` flags for every node process (e.g. `--trace-gc`; their output goes to the node logs). */
const NODE_FLAGS = flags["node-flags"].split(" ").filter((f) => f.length > 0);
/** The node processes' V8 platform threads, for grouping their CPU (bench/thread-cpu.ts). */
const V8_POOL_SIZE = v8PoolSizeOf(NODE_FLAGS);
const FAILOVER_MODE = flags["failover-mode"];
/** Curve of the user key that signs every request (the cluster's user0). */
const USER_CURVE: "ed25519" | "p256" =
  flags.curve === "ed25519" || flags.curve === "p256"
    ? flags.curve
    : (() => {
        throw new Error("--curve: expected ed25519 or p256");
      })();
/** Every node's `requests.verifyWorkers` (node/verify/); absent: the node's default. */
const VERIFY_WORKERS = flags["verify-workers"] === undefined ? undefined : Number(flags["verify-workers"]);
if (VERIFY_WORKERS !== undefined && !(Number.isSafeInteger(VERIFY_WORKERS) && VERIFY_WORKERS >= 0))
  throw new Error("--verify-workers: expected a count, 0 for checks on the main thread");
/** Every node's `consensus` config section (node/consensus-timing.ts); absent: the node's defaults. */
/**
 * Every node's `requests.freshnessWindowMs` (`--freshness-ms`), which is also the nonce retention
 * (node/execution/retention.ts); absent: the node's default.
 */
const FRESHNESS_MS = flags["freshness-ms"] === undefined ? undefined : Number(flags["freshness-ms"]);
if (FRESHNESS_MS !== undefined && !(Number.isSafeInteger(FRESHNESS_MS) && FRESHNESS_MS >= 1000))
  throw new Error("--freshness-ms: expected an integer of at least 1000 (the node's minimum)");
/**
 * With `--freshness-ms`, the warm-up lasts at least this much longer than the window: the oldest
 * nonces have then expired and prune passes run at the rate nonces are added.
 */
const STEADY_STATE_MARGIN_MS = 5_000;
/** Writes per extra warm-up batch while waiting for the steady state. */
const STEADY_STATE_BATCH = 3_000;
/** `--random-nonces`: nonces of 128 random bits, not the SDK's time-first ones (sdk/request.ts). */
const RANDOM_NONCES = flags["random-nonces"];
const CONSENSUS: Record<string, unknown> | undefined =
  flags.consensus === undefined ? undefined : (JSON.parse(flags.consensus) as Record<string, unknown>);
if (FAILOVER_MODE !== "kill" && FAILOVER_MODE !== "restart")
  throw new Error("--failover-mode: expected kill or restart");
/** Prefill writes are signed and sent in chunks of this many (bounded client memory). */
const PREFILL_CHUNK = 10_000;
if (
  ![REQUESTS, WARMUP_REQUESTS, READS, SIGNATURE_INTERVAL_MS, ...LEVELS, ...NODE_COUNTS].every(
    (n) => Number.isSafeInteger(n) && n > 0,
  ) ||
  !Number.isSafeInteger(FAILOVERS) ||
  FAILOVERS < 0 ||
  !Number.isSafeInteger(PREFILL) ||
  PREFILL < 0 ||
  NODE_COUNTS.some((n) => n > 7)
) {
  throw new Error("--requests, --in-flight, --nodes (1..7), --signature-interval-ms take positive integers");
}

interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

interface WriteResult {
  readonly nodes: number;
  readonly target: "leader" | "follower";
  /** "closed": `inFlight` requests outstanding at all times; "paced": sent on a fixed schedule. */
  readonly mode: "closed" | "paced";
  readonly inFlight: number;
  /** For paced runs: the offered rate, requests per second. */
  readonly offeredPerSecond: number | null;
  readonly requests: number;
  readonly acknowledgedPerSecond: number;
  readonly committedPerSecond: number;
  readonly ack: LatencySummary;
  readonly commit: LatencySummary;
  /**
   * The snapshot points (multiples of `snapshotStride`) among the seqnos this run's writes got:
   * every node takes a snapshot at the first signature past each one, all at once
   * (docs/snapshots.md), which shows in the run's latency tail.
   */
  readonly snapshotPoints: readonly number[];
  /** The leader's snapshot stride as the run began (`treaty_snapshot_stride_entries`). */
  readonly snapshotStride: number;
  /** Snapshots each node (leader first) started during the run (`treaty_snapshot_points_total`). */
  readonly snapshotsTaken: readonly number[];
  /** The lowest and highest seqno this run's writes got. */
  readonly seqnos: SeqnoSpan;
  /**
   * CPU time (user + system, every thread) per write, µs, of each node process (the leader first)
   * and of this client process, from /proc: what a write costs whatever else runs on the machine.
   * Null where /proc is not available.
   */
  readonly cpuMicrosPerWrite: {
    readonly nodes: readonly number[];
    readonly client: number;
    /**
     * Each node process's (same order as `nodes`) by thread group (bench/thread-cpu.ts): main JS
     * thread, execution worker, verify workers, V8 platform threads (GC helpers), libuv's
     * threadpool (fdatasync, lmdb-js writes), other, exited.
     */
    readonly threads: readonly Readonly<Record<ThreadGroup, number>>[];
    /** The nats-server process (shares the machine), null when it was not found among our children. */
    readonly natsServer: number | null;
    /**
     * Context switches (voluntary + involuntary, /proc/<pid>/task/<tid>/status) per write: each
     * node process (same order as `nodes`) by thread group and in all, this client, nats-server.
     * Each is a sleep→wake or a preemption, which costs CPU of its own on this VM
     * (docs/performance.md, "Per-batch costs at moderate load").
     */
    readonly switches: {
      readonly nodes: readonly number[];
      readonly threads: readonly Readonly<Record<ThreadGroup, number>>[];
      readonly client: number | null;
      readonly natsServer: number | null;
    };
    /**
     * Run-queue wait per write, µs (/proc/<pid>/task/<tid>/schedstat): the time the threads were
     * runnable but waiting for a CPU, each node process (same order as `nodes`) by thread group
     * and in all, this client, nats-server. On shared cores every thread-to-thread hand-off of a
     * write (HTTP, worker, fdatasync, NATS) may wait here; null where the kernel keeps no schedstat.
     */
    readonly runqueueWait: {
      readonly nodes: readonly number[];
      readonly threads: readonly Readonly<Record<ThreadGroup, number>>[];
      readonly client: number | null;
      readonly natsServer: number | null;
    } | null;
  } | null;
  /**
   * The leader's main-thread time per write by stage, µs (node/stage-times.ts, from
   * `/node/metrics`): admission (HTTP body decode and checks, signature included), signature
   * (checking it on the main thread, or handing it to the verify workers), signatureWorker (the
   * verify workers' own time, off the main thread), ledger (append and hashing), persistence,
   * replication; and execution: the worker round trip
   * per executed call (`executionMicrosPerCall`, wall time, batches share one round trip).
   */
  readonly leaderStages: Readonly<Record<string, number>> | null;
  /** The leader's wall time per write by phase, ms: p50 and p99 (bucket bounds) and mean. */
  readonly leaderPhases: Readonly<Record<string, { p50: number; p99: number; mean: number } | null>>;
  readonly executionMicrosPerCall: number | null;
  /**
   * The execution worker's own service time per executed call, µs: wall time inside the worker
   * from starting a batch to handing its reply to postMessage (stage `executionWorker`), without
   * the queueing, crossings and main-thread delay the round trip above includes.
   */
  readonly executionServiceMicrosPerCall: number | null;
  /**
   * The round trip's waits on either side of the service time, µs per executed call (stages
   * `executionToWorker`, `executionFromWorker`): from posting a batch to the worker starting it,
   * and from the worker posting its reply to the main thread taking it. The round trip less the
   * three is the main thread's own work around each batch.
   */
  readonly executionToWorkerMicrosPerCall: number | null;
  readonly executionFromWorkerMicrosPerCall: number | null;
  /**
   * Node-to-node frames each node sent and accepted per write, leader first (from
   * `treaty_transport_frames_total`): how well appends, acks and forwarded batches amortise their
   * fixed cost over writes (a frame's sealing, opening and NATS message), which is why CPU per write
   * is higher at low load than at saturation.
   */
  readonly framesPerWrite: { readonly sent: readonly number[]; readonly received: readonly number[] };
  /**
   * Requests each node's main thread posted to its execution worker per write, by op (`batch`,
   * `apply`, `commit`, `read`, `snapshotRows`..., from `treaty_execution_requests_total`), leader
   * first: what the execution thread's CPU per write is spent on.
   */
  readonly executionRequestsPerWrite: readonly Readonly<Record<string, number>>[];
  /**
   * Ms the run waited before it started for the nodes' snapshot work in progress to end
   * (`treaty_snapshot_in_flight` 0 on every node; at most SNAPSHOT_SETTLE_TIMEOUT_MS).
   */
  readonly snapshotWaitMs: number;
  /** Elections started by any node during the run (a healthy leader under load sees none). */
  readonly elections: number;
  /** Writes refused with NotLeader and sent again (leadership moved during the run). */
  readonly resentNotLeader: number;
  /**
   * Writes answered OutcomeUnknown (the leader changed while a follower had forwarded them) and
   * sent again: the resend is answered with the txid, or with Replay naming it when it had run.
   */
  readonly resentOutcomeUnknown: number;
  /** Writes refused with Unavailable (transient) and sent again. */
  readonly resentUnavailable: number;
  /** Writes sent again after a transport error (no answer: a connection reset), as the SDK does. */
  readonly resentTransport: number;
  /** Writes whose txid came from a Replay answer to a resend (an earlier attempt had run). */
  readonly replayed: number;
  /**
   * Commit-watch requests per write, which the leader serves: `/node/status` polls in closed-loop
   * runs (at low rates much of its CPU per write, and more of them when it answers faster), `/node/tx`
   * long polls in paced runs (at most one per write).
   */
  readonly commitPollsPerWrite: number;
}

interface FailoverResult {
  /** The ledger's length (leader's last seqno) when the leader was killed. */
  readonly ledgerSeqno: number;
  /**
   * Kill signal sent until a poll saw a survivor no longer following the killed leader: its
   * election timeout fired (it asks for pre-votes) or it was asked for a vote.
   */
  readonly electionStartedMs: number;
  /** Kill signal sent until a surviving node reports itself leader of a newer view. */
  readonly electedMs: number;
  /**
   * Kill signal sent until the new leader's commit point passes every entry the survivors held
   * at the kill (its first signature of the new view committed).
   */
  readonly leaderCommitMs: number;
  /** Kill signal sent until a write sent after it is committed. */
  readonly writesCommitAgainMs: number;
  /**
   * An SDK `Client` (sdk/client.ts, its retries and backoff) whose first node is the killed leader,
   * calling at the kill: until its write is answered with a txid, and until that txid is
   * committed (`waitForCommit`).
   */
  readonly sdkAnsweredMs: number;
  readonly sdkCommittedMs: number;
  /** Elections the survivors started during the round (1 when one election settled it). */
  readonly elections: number;
}

interface EtcdResult {
  readonly inFlight: number;
  readonly requests: number;
  readonly putsPerSecond: number;
  readonly latency: LatencySummary;
  /**
   * CPU µs per put from /proc, as for Treaty's writes: each member process (in member order)
   * and the bench's client; null without /proc.
   */
  readonly cpuMicrosPerPut: PerMemberAndClient | null;
  /** Run-queue wait µs per put (/proc schedstat), as for Treaty's writes; null without schedstat. */
  readonly runqueueWaitMicrosPerPut: PerMemberAndClient | null;
}

/** A figure per put of each etcd member (in member order) and of the bench's client. */
interface PerMemberAndClient {
  readonly members: readonly number[];
  readonly client: number;
}

/**
 * etcd's puts sent on the schedule of Treaty's paced run (same rate and count, at most as many
 * outstanding): a put's latency is send to answer, and etcd answers a put once it is committed,
 * as Treaty's commit latency is send to the leader's commit of the write.
 */
interface EtcdPacedResult {
  readonly offeredPerSecond: number;
  readonly requests: number;
  readonly putsPerSecond: number;
  readonly latency: LatencySummary;
  readonly cpuMicrosPerPut: PerMemberAndClient | null;
  readonly runqueueWaitMicrosPerPut: PerMemberAndClient | null;
}

interface ReadResult {
  readonly nodes: number;
  readonly target: "leader" | "follower";
  readonly consistency: ReadConsistency;
  readonly inFlight: number;
  readonly requests: number;
  readonly readsPerSecond: number;
  readonly latency: LatencySummary;
  /** Reads refused with a 503 NotLeader or Unavailable and sent again. */
  readonly resent: number;
}

interface EtcdReadResult {
  readonly consistency: "linearizable" | "serializable";
  readonly inFlight: number;
  readonly requests: number;
  readonly readsPerSecond: number;
  readonly latency: LatencySummary;
}

/**
 * Runs `count` requests made by `make(i)` with `inFlight` outstanding; every answer must be 200,
 * after resending (within RESEND_WINDOW_MS) those refused with a 503 NotLeader, OutcomeUnknown or
 * Unavailable (bench/write-answer.ts `resentCode`). Returns the rate, the latency summary (from
 * the first send) and the resends.
 */
async function closedLoop(
  count: number,
  inFlight: number,
  make: (i: number, agent: Agent) => Promise<{ status: number; text: string }>,
): Promise<{ perSecond: number; latency: LatencySummary; resent: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const latency = new Float64Array(count);
  let next = 0;
  let resent = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const sent = performance.now();
      for (;;) {
        const { status, text } = await make(i, agent);
        if (resentCode(status, text) !== undefined && performance.now() - sent < RESEND_WINDOW_MS) {
          resent++;
          await sleep(RESEND_PAUSE_MS);
          continue;
        }
        if (status !== 200) throw new Error(`request ${i}: HTTP ${status}: ${text}`);
        break;
      }
      latency[i] = performance.now() - sent;
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, worker));
  } finally {
    agent.destroy();
  }
  return {
    perSecond: Math.round(count / ((performance.now() - started) / 1000)),
    latency: summarize(latency),
    resent,
  };
}

/** Signed reads of ids 1..`ids` sent to `target` at `consistency`. */
async function readRun(
  cluster: Cluster,
  target: ClusterNode,
  role: "leader" | "follower",
  consistency: ReadConsistency,
  ids: number,
): Promise<ReadResult> {
  const inFlight = Math.min(...LEVELS);
  const requests = Array.from({ length: READS }, (_, i) => {
    const request = fastSignedRequest(cluster.user, cluster.serviceId, "/app/log/readPublic", {
      id: 1 + (i % ids),
    });
    return { ...request, headers: { ...request.headers, [HEADER_CONSISTENCY]: consistency } };
  });
  const run = await closedLoop(READS, inFlight, (i, agent) => postSigned(agent, target.url, requests[i]!));
  return {
    nodes: cluster.nodes.length,
    target: role,
    consistency,
    inFlight,
    requests: READS,
    readsPerSecond: run.perSecond,
    latency: run.latency,
    resent: run.resent,
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function summarize(values: Float64Array): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
  return { p50Ms: round2(at(0.5)), p99Ms: round2(at(0.99)), maxMs: round2(sorted[sorted.length - 1]!) };
}

/** CPU so far (every thread, bench/thread-cpu.ts) of process `pid`; undefined without /proc. */
function cpuSample(pid: number | undefined): ProcessSample | undefined {
  return pid === undefined ? undefined : sampleProcess(pid);
}

/**
 * µs per write (or put) that process `pid`'s live threads spent runnable but waiting for a CPU
 * between two samples; null without both samples or without schedstat.
 */
function runqueueWaitPerWrite(
  pid: number | undefined,
  before: ProcessSample | undefined,
  after: ProcessSample | undefined,
  writes: number,
): number | null {
  if (pid === undefined || before === undefined || after === undefined) return null;
  const byGroup = runqueueWaitByGroup(pid, before, after, V8_POOL_SIZE);
  return byGroup === null ? null : totalMicrosPerWrite(byGroup, writes);
}

/** A process's nanoseconds over all its thread groups as µs per write. */
function totalMicrosPerWrite(ns: Readonly<Record<ThreadGroup, number>>, writes: number): number {
  return Math.round(Object.values(ns).reduce((a, b) => a + b, 0) / 1000 / writes);
}

/**
 * Polls `url`'s commit point every ~2 ms until stopped; `committedAt(seqno)` is the first time
 * (performance.now) a poll saw the commit point at or above `seqno`.
 */
function commitMonitor(url: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  const seqnos: number[] = [];
  let stopped = false;
  let polls = 0;
  const running = (async () => {
    while (!stopped) {
      polls++;
      // A refused connection (the node is down) is a failed poll like a non-200: the writes to it
      // fail the run, and a rejection here would be unhandled until `stop`.
      const { status, text } = await send(agent, `${url}/node/status`, "GET", undefined).catch(() => ({
        status: 0,
        text: "",
      }));
      if (status === 200) {
        const { commitSeqno } = JSON.parse(text) as { commitSeqno: number };
        if (seqnos.length === 0 || commitSeqno > seqnos.at(-1)!) {
          times.push(performance.now());
          seqnos.push(commitSeqno);
        }
      }
      await sleep(COMMIT_POLL_MS);
    }
  })();
  return {
    /** Status requests sent so far (the leader serves them: part of its CPU per write). */
    get polls(): number {
      return polls;
    },
    committedAt(seqno: number): number | undefined {
      let lo = 0;
      let hi = seqnos.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (seqnos[mid]! >= seqno) hi = mid;
        else lo = mid + 1;
      }
      return lo < seqnos.length ? times[lo] : undefined;
    },
    async until(seqno: number): Promise<void> {
      while (this.committedAt(seqno) === undefined) await sleep(COMMIT_POLL_MS);
    },
    async stop(): Promise<void> {
      stopped = true;
      await running;
      agent.destroy();
    },
  };
}

/** Pre-signed writes with ids from `firstId`. */
function writes(cluster: Cluster, firstId: number, count: number): SignedRequest[] {
  return Array.from({ length: count }, (_, i) =>
    fastSignedRequest(
      cluster.user,
      cluster.serviceId,
      "/app/log/writePublic",
      { id: firstId + i, msg: MESSAGE },
      RANDOM_NONCES ? randomNonce() : undefined,
    ),
  );
}

/** 128 random bits as 32 hex digits: a nonce with no time in it (`--random-nonces`). */
function randomNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * Sends `requests` to `target`, either with `inFlight` outstanding (closed loop) or one every
 * 1/`ratePerSecond` s (paced, at most `inFlight` outstanding), and measures against the leader's
 * commit point. Every answer must be 200.
 */
async function writeRun(
  cluster: Cluster,
  leader: ClusterNode,
  target: ClusterNode,
  requests: readonly SignedRequest[],
  inFlight: number,
  ratePerSecond: number | null,
): Promise<WriteResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  // Paced runs (the latency target) watch each write's commit by long polls (exact); closed-loop
  // runs poll the commit point (one request per poll, not per write, at saturation).
  const watch = ratePerSecond === null ? null : commitWatch(leader.url);
  const monitor = watch === null ? commitMonitor(leader.url) : null;
  const committedAt = (seqno: number) => (watch ?? monitor!).committedAt(seqno);
  const polls = () => (watch ?? monitor!).polls;
  const sentAt = new Float64Array(requests.length);
  const ackedAt = new Float64Array(requests.length);
  const seqnos = new Float64Array(requests.length);
  let next = 0;
  const measured = [leader, ...cluster.nodes.filter((n) => n !== leader)];
  // A snapshot taken before the run (every node at once, at a point the previous run crossed)
  // must not run into it: at a large state its work lasts up to a second after the point, and a
  // follower run sent after a top-up carried its tail where the leader's run did not.
  const snapshotWaitMs = await snapshotsSettled(measured);
  await openConnections(agent, [`${target.url}/node/status`], inFlight);
  const pids = measured.map((n) => n.pid());
  const natsPid = findChildProcess(process.pid, "nats-server");
  const natsBefore = cpuSample(natsPid);
  const cpuBefore = pids.map(cpuSample);
  const metricsBefore = await Promise.all(measured.map((n) => nodeMetrics(n.url)));
  const snapshotStride = metricsBefore[0]!.snapshotStride ?? DEFAULTS.snapshots.everyEntries;
  const clientBefore = process.cpuUsage();
  const clientSampleBefore = cpuSample(process.pid);
  const pollsBefore = polls();
  const started = performance.now();
  const resent: Record<ResentCode, number> = { NotLeader: 0, OutcomeUnknown: 0, Unavailable: 0 };
  let replayed = 0;
  let resentTransport = 0;
  const one = async (i: number) => {
    sentAt[i] = performance.now();
    for (let attempt = 1; ; attempt++) {
      let reply: { status: number; text: string };
      try {
        reply = await postSigned(agent, target.url, requests[i]!);
      } catch (err) {
        // No answer (a keep-alive connection the node closed as it was reused: ECONNRESET): the
        // write may or may not have run, and the SDK sends the same bytes again, as here.
        if (performance.now() - sentAt[i]! >= RESEND_WINDOW_MS) throw err;
        resentTransport++;
        await sleep(RESEND_PAUSE_MS);
        continue;
      }
      const { status, text } = reply;
      const answer = classifyWriteAnswer(status, text, attempt);
      // Leadership moved (an election under load) or a transient refusal: the same signed bytes
      // go again, as the SDK sends them (bench/write-answer.ts); the latency counts from the
      // first send.
      if (answer.kind === "resend" && performance.now() - sentAt[i]! < RESEND_WINDOW_MS) {
        resent[answer.code]++;
        await sleep(RESEND_PAUSE_MS);
        continue;
      }
      ackedAt[i] = performance.now();
      if (answer.kind !== "txid") throw new Error(`write ${i}: HTTP ${status}: ${text}`);
      if (answer.replayed) replayed++;
      const txid = parseTxId(answer.txid);
      seqnos[i] = txid.seqno;
      watch?.acknowledged(txid.view, txid.seqno);
      return;
    }
  };
  try {
    if (ratePerSecond === null) {
      const worker = async () => {
        for (let i = next++; i < requests.length; i = next++) await one(i);
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
    } else {
      const pending = new Set<Promise<void>>();
      for (let i = 0; i < requests.length; i++) {
        const due = started + (i * 1000) / ratePerSecond;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        while (pending.size >= inFlight) await Promise.race(pending);
        const p = one(i).finally(() => pending.delete(p));
        pending.add(p);
      }
      await Promise.all(pending);
    }
    const acknowledged = performance.now();
    const { last } = seqnoSpan(seqnos);
    if (watch !== null) await watch.settled();
    else await monitor!.until(last);
    const cpuAfter = pids.map(cpuSample);
    const natsAfter = cpuSample(natsPid);
    const client = process.cpuUsage(clientBefore);
    const clientSampleAfter = cpuSample(process.pid);
    const switchesPerWrite = (n: number) => Number((n / requests.length).toFixed(2));
    const processSwitches = (
      before: ProcessSample | undefined,
      after: ProcessSample | undefined,
      pid: number | undefined,
    ) =>
      before === undefined || after === undefined || pid === undefined
        ? null
        : switchesPerWrite(Object.values(switchesByGroup(pid, before, after)).reduce((a, b) => a + b, 0));
    const metricsAfter = await Promise.all(measured.map((n) => nodeMetrics(n.url)));
    const perWrite = (ticks: number) => Math.round((ticks * 1e6) / CLOCK_TICKS_PER_SECOND / requests.length);
    const delta = (i: number, name: string) => (metricsAfter[i]![name] ?? 0) - (metricsBefore[i]![name] ?? 0);
    const stages: Record<string, number> = {};
    for (const stage of STAGES)
      stages[stage] = Math.round((delta(0, `stage:${stage}`) * 1e6) / requests.length);
    const calls = delta(0, "stage:executionCalls");
    const committedMs = committedAt(last)! - started;
    const commitLatency = new Float64Array(requests.length);
    for (let i = 0; i < requests.length; i++) commitLatency[i] = committedAt(seqnos[i]!)! - sentAt[i]!;
    const ackLatency = ackedAt.map((t, i) => t - sentAt[i]!);
    if (LATENCY_DUMP !== undefined) {
      // sent_epoch_ms joins the rows to a node's timeline (TREATY_TIMELINE_DIR, node/timeline.ts).
      const rows = ["sent_ms,seqno,ack_ms,commit_ms,sent_epoch_ms"];
      for (let i = 0; i < requests.length; i++)
        rows.push(
          `${(sentAt[i]! - started).toFixed(2)},${seqnos[i]},${ackLatency[i]!.toFixed(2)},${commitLatency[i]!.toFixed(2)},${(performance.timeOrigin + sentAt[i]!).toFixed(2)}`,
        );
      const mode = ratePerSecond === null ? "closed" : `paced${ratePerSecond}`;
      const name = `${String(++latencyDumps).padStart(2, "0")}-${cluster.nodes.length}n-${mode}-${target === leader ? "leader" : "follower"}-${inFlight}.csv`;
      writeFileSync(join(LATENCY_DUMP, name), `${rows.join("\n")}\n`);
    }
    return {
      nodes: cluster.nodes.length,
      target: target === leader ? "leader" : "follower",
      mode: ratePerSecond === null ? "closed" : "paced",
      inFlight,
      offeredPerSecond: ratePerSecond,
      requests: requests.length,
      acknowledgedPerSecond: Math.round(requests.length / ((acknowledged - started) / 1000)),
      committedPerSecond: Math.round(requests.length / (committedMs / 1000)),
      ack: summarize(ackLatency),
      commit: summarize(commitLatency),
      snapshotPoints: snapshotPointsAmong(seqnos, snapshotStride),
      snapshotStride,
      snapshotsTaken: metricsAfter.map(
        (m, i) => (m.snapshotsTaken ?? 0) - (metricsBefore[i]!.snapshotsTaken ?? 0),
      ),
      seqnos: seqnoSpan(seqnos),
      cpuMicrosPerWrite: cpuAfter.every((sample, i) => sample !== undefined && cpuBefore[i] !== undefined)
        ? {
            nodes: cpuAfter.map((sample, i) => perWrite(sample!.totalTicks - cpuBefore[i]!.totalTicks)),
            client: Math.round((client.user + client.system) / requests.length),
            threads: cpuAfter.map((sample, i) =>
              microsPerWrite(
                cpuTicksByGroup(pids[i]!, cpuBefore[i]!, sample!, V8_POOL_SIZE),
                CLOCK_TICKS_PER_SECOND,
                requests.length,
              ),
            ),
            natsServer:
              natsBefore === undefined || natsAfter === undefined
                ? null
                : perWrite(natsAfter.totalTicks - natsBefore.totalTicks),
            switches: {
              nodes: cpuAfter.map((sample, i) => processSwitches(cpuBefore[i], sample, pids[i])!),
              threads: cpuAfter.map((sample, i) => {
                const by = switchesByGroup(pids[i]!, cpuBefore[i]!, sample!, V8_POOL_SIZE);
                return Object.fromEntries(
                  Object.entries(by).map(([g, n]) => [g, switchesPerWrite(n)]),
                ) as Record<ThreadGroup, number>;
              }),
              client: processSwitches(clientSampleBefore, clientSampleAfter, process.pid),
              natsServer: processSwitches(natsBefore, natsAfter, natsPid),
            },
            runqueueWait: (() => {
              const byNode = cpuAfter.map((sample, i) =>
                runqueueWaitByGroup(pids[i]!, cpuBefore[i]!, sample!, V8_POOL_SIZE),
              );
              if (!byNode.every((groups): groups is Record<ThreadGroup, number> => groups !== null))
                return null;
              return {
                nodes: byNode.map((groups) => totalMicrosPerWrite(groups, requests.length)),
                threads: byNode.map((groups) => nanosPerWrite(groups, requests.length)),
                client: runqueueWaitPerWrite(
                  process.pid,
                  clientSampleBefore,
                  clientSampleAfter,
                  requests.length,
                ),
                natsServer: runqueueWaitPerWrite(natsPid, natsBefore, natsAfter, requests.length),
              };
            })(),
          }
        : null,
      leaderStages: stages,
      leaderPhases: Object.fromEntries(
        WRITE_PHASES.map((phase) => [phase, phaseSummary((name) => delta(0, `phase:${phase}:${name}`))]),
      ),
      executionMicrosPerCall: calls > 0 ? Math.round((delta(0, "stage:execution") * 1e6) / calls) : null,
      executionServiceMicrosPerCall:
        calls > 0 ? Math.round((delta(0, "stage:executionWorker") * 1e6) / calls) : null,
      executionToWorkerMicrosPerCall:
        calls > 0 ? Math.round((delta(0, "stage:executionToWorker") * 1e6) / calls) : null,
      executionFromWorkerMicrosPerCall:
        calls > 0 ? Math.round((delta(0, "stage:executionFromWorker") * 1e6) / calls) : null,
      framesPerWrite: {
        sent: measured.map((_, i) => Number((delta(i, "framesSent") / requests.length).toFixed(2))),
        received: measured.map((_, i) => Number((delta(i, "framesReceived") / requests.length).toFixed(2))),
      },
      snapshotWaitMs,
      executionRequestsPerWrite: measured.map((_, i) => {
        const ops: Record<string, number> = {};
        for (const name of Object.keys(metricsAfter[i]!)) {
          if (!name.startsWith("exec:")) continue;
          const n = delta(i, name);
          if (n > 0) ops[name.slice(5)] = Number((n / requests.length).toFixed(3));
        }
        return ops;
      }),
      elections: measured.reduce((sum, _, i) => sum + delta(i, "elections"), 0),
      resentNotLeader: resent.NotLeader,
      resentOutcomeUnknown: resent.OutcomeUnknown,
      resentUnavailable: resent.Unavailable,
      resentTransport,
      replayed,
      commitPollsPerWrite: Number(((polls() - pollsBefore) / requests.length).toFixed(1)),
    };
  } finally {
    watch?.stop();
    await monitor?.stop();
    agent.destroy();
  }
}

/** The leader's write phases (node/stage-times.ts WritePhase), in path order. */
const WRITE_PHASES = ["admission", "queue", "execution", "proposal", "commit", "handler"] as const;

/**
 * p50, p99 (upper bound of the bucket that holds it) and mean of one phase, ms, from the deltas
 * of its cumulative buckets (`at("0.005")`, ..., `at("+Inf")`, `at("sum")`); null with no writes.
 */
function phaseSummary(at: (name: string) => number): { p50: number; p99: number; mean: number } | null {
  const bounds = [...WRITE_PHASE_BUCKETS.map(String), "+Inf"];
  const total = at("+Inf");
  if (total <= 0) return null;
  const quantile = (q: number) => {
    for (const b of bounds)
      if (at(b) >= q * total) return b === "+Inf" ? Number.POSITIVE_INFINITY : Number(b) * 1000;
    return Number.POSITIVE_INFINITY;
  };
  return { p50: quantile(0.5), p99: quantile(0.99), mean: Number(((at("sum") / total) * 1000).toFixed(1)) };
}

/** Stages of node/stage-times.ts printed per write (execution separately, per call). */
const STAGES = ["admission", "signature", "signatureWorker", "ledger", "persistence", "replication"] as const;

/**
 * The counters this bench reads from a node's `/node/metrics`: `stage:<stage>` (seconds; calls
 * for executionCalls), `elections` (elections started), `framesSent` and `framesReceived`
 * (node-to-node frames), `exec:<op>` (requests posted to the execution worker), `snapshotsInFlight`
 * (snapshot reads and file writes in progress), `snapshotStride` (the snapshot stride, entries) and
 * `snapshotsTaken` (snapshot points taken so far).
 */
async function nodeMetrics(url: string): Promise<Record<string, number>> {
  // Once more on a network failure: on a loaded machine the node may close an idle keep-alive
  // connection just as fetch reuses it ("other side closed"); a metrics read is idempotent.
  const read = async () => (await fetch(`${url}/node/metrics`)).text();
  const text = await read().catch(read);
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const stage = /^treaty_stage_seconds_total\{stage="(\w+)"\} (\S+)$/.exec(line);
    if (stage) out[`stage:${stage[1]}`] = Number(stage[2]);
    const election = /^treaty_consensus_elections_total\{kind="election"\} (\S+)$/.exec(line);
    if (election) out.elections = Number(election[1]);
    const phase = /^treaty_write_phase_seconds_(bucket|sum)\{phase="(\w+)"(?:,le="([^"]+)")?\} (\S+)$/.exec(
      line,
    );
    if (phase) out[`phase:${phase[2]}:${phase[1] === "sum" ? "sum" : phase[3]}`] = Number(phase[4]);
    const snapshots = /^treaty_snapshot_in_flight (\S+)$/.exec(line);
    if (snapshots) out.snapshotsInFlight = Number(snapshots[1]);
    const stride = /^treaty_snapshot_stride_entries (\S+)$/.exec(line);
    if (stride) out.snapshotStride = Number(stride[1]);
    const taken = /^treaty_snapshot_points_total\{outcome="taken"\} (\S+)$/.exec(line);
    if (taken) out.snapshotsTaken = Number(taken[1]);
    const exec = /^treaty_execution_requests_total\{op="(\w+)"\} (\S+)$/.exec(line);
    if (exec) out[`exec:${exec[1]}`] = Number(exec[2]);
    const frames = /^treaty_transport_frames_total\{direction="(sent|received)"\} (\S+)$/.exec(line);
    if (frames) out[frames[1] === "sent" ? "framesSent" : "framesReceived"] = Number(frames[2]);
  }
  return out;
}

/** Longest wait for the nodes' snapshot work before a write run, ms. */
const SNAPSHOT_SETTLE_TIMEOUT_MS = 10_000;

/**
 * Waits until no node has a snapshot read or file write in progress (`treaty_snapshot_in_flight`
 * 0 on every node, polled every 10 ms), at most SNAPSHOT_SETTLE_TIMEOUT_MS; returns the ms waited.
 */
async function snapshotsSettled(nodes: readonly ClusterNode[]): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < SNAPSHOT_SETTLE_TIMEOUT_MS) {
    const metrics = await Promise.all(nodes.map((n) => nodeMetrics(n.url)));
    if (metrics.every((m) => (m.snapshotsInFlight ?? 0) === 0)) break;
    await sleep(10);
  }
  return Math.round(performance.now() - started);
}

/** `bench:runtime`'s in-process µs per `log.writePrivate` call, run as a child (null if it fails). */
function inProcessRuntimeMicros(): number | null {
  try {
    const out = execFileSync(process.execPath, [join(import.meta.dirname, "runtime.js")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    const cps = (JSON.parse(out) as { writePrivate?: { callsPerSecond?: number } }).writePrivate
      ?.callsPerSecond;
    return typeof cps === "number" && cps > 0 ? Math.round(1e6 / cps) : null;
  } catch {
    return null;
  }
}

/**
 * `bench:execution`'s in-process CPU per signed `log.writePublic` call, run as a child (null if it
 * fails): `engine`, the engine on the child's main thread (its thread CPU), and `worker`, the
 * engine in an execution worker driven as the sequencer drives it (the worker thread's CPU). Both
 * are what the node's execution thread does per write, without the network around it.
 */
function inProcessExecutionMicros(): { engine: number; worker: number } | null {
  try {
    const out = execFileSync(
      process.execPath,
      [
        join(import.meta.dirname, "execution.js"),
        "--modes",
        "engine,pipelined",
        "--calls",
        String(IN_PROCESS_EXECUTION_CALLS),
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    );
    const report = (
      JSON.parse(out) as {
        report?: { engine?: { mainMicrosPerCall?: unknown }; pipelined?: { execMicrosPerCall?: unknown } };
      }
    ).report;
    const engine = report?.engine?.mainMicrosPerCall;
    const worker = report?.pipelined?.execMicrosPerCall;
    return typeof engine === "number" && typeof worker === "number" && engine > 0 && worker > 0
      ? { engine: Math.round(engine), worker: Math.round(worker) }
      : null;
  } catch {
    return null;
  }
}

/**
 * kill -9 of the leader: time to the first election, a new leader, its first commit, the first
 * committed write sent after the kill, and an SDK client's write.
 */
async function failover(cluster: Cluster, round: number): Promise<FailoverResult> {
  const leader = await cluster.waitForLeader();
  const { view: oldView, lastSeqno: ledgerSeqno } = await leader.status();
  const survivors = cluster.nodes.filter((n) => n !== leader);
  const agent = new Agent({ keepAlive: true, maxSockets: FAILOVER_MAX_ATTEMPTS });
  const requests = writes(
    cluster,
    10_000_000 + round * 10_000,
    FAILOVER_TIMEOUT_MS / FAILOVER_ATTEMPT_EVERY_MS,
  );
  // The SDK's own defaults (retries, backoff), the killed leader first: an app that was using it.
  // Its attempts are recorded: when each left, to which node, and how it ended.
  const sdkNodes = [leader.url, ...survivors.map((n) => n.url)];
  const sdkAttempts: string[] = [];
  const sdk = cluster.client(undefined, {
    nodes: sdkNodes,
    fetch: async (input, init) => {
      const sent = Math.round(since());
      const node = sdkNodes.findIndex((url) => String(input).startsWith(url));
      try {
        const response = await fetch(input, init);
        const code = response.ok
          ? ""
          : ` ${/NotLeader|OutcomeUnknown|Unavailable|ServiceNotOpen/.exec(await response.clone().text())?.[0] ?? ""}`;
        sdkAttempts.push(`${sent}→n${node}:${response.status}${code}@${Math.round(since())}`);
        return response;
      } catch (err) {
        sdkAttempts.push(`${sent}→n${node}:error@${Math.round(since())}`);
        throw err;
      }
    },
  });
  const outstanding = new Set<Promise<void>>();
  let done = false;
  const electionsBefore = await Promise.all(survivors.map((n) => nodeMetrics(n.url)));
  const killedAt = performance.now();
  const since = () => performance.now() - killedAt;
  const killed =
    FAILOVER_MODE === "kill"
      ? leader.kill()
      : leader.stop().then(async () => {
          await leader.start();
        });
  try {
    // Every survivor's status every 5 ms, all at once: when the election starts, when a leader
    // of a newer view appears, and when its commit point passes what the survivors held.
    const stages = (async () => {
      let electionStarted: number | null = null;
      let elected: number | null = null;
      let heldSeqno: number | null = null;
      for (;;) {
        const statuses = await Promise.all(survivors.map((n) => n.status().catch(() => undefined)));
        const at = since();
        heldSeqno ??= Math.max(ledgerSeqno, ...statuses.map((s) => s?.lastSeqno ?? 0));
        if (
          electionStarted === null &&
          statuses.some((s) => s !== undefined && (s.view > oldView || s.leader !== leader.id))
        )
          electionStarted = at;
        const newLeader = statuses.find((s) => s?.role === "leader" && s.view > oldView);
        if (newLeader !== undefined) {
          elected ??= at;
          if (newLeader.commitSeqno > heldSeqno)
            return { electionStarted: electionStarted ?? elected, elected, leaderCommit: at };
        }
        if (at > FAILOVER_TIMEOUT_MS) throw new Error("no new leader committed");
        await sleep(FAILOVER_POLL_MS);
      }
    })();
    const sdkWrite = (async () => {
      const { txid } = await sdk.call("log", "writePublic", { id: 20_000_000 + round, msg: MESSAGE });
      const answered = since();
      await sdk.waitForCommit(txid, { pollMs: FAILOVER_POLL_MS, timeoutMs: FAILOVER_TIMEOUT_MS });
      return { answered, committed: since() };
    })();
    // A fresh write every 25 ms, round robin over the survivors, without waiting for earlier
    // ones: a request held by a node that still forwards to the dead leader must not hide the
    // moment the service commits again.
    const committedAgain = new Promise<number>((resolveAgain, rejectAgain) => {
      const attempt = async (i: number) => {
        const node = survivors[i % survivors.length]!;
        const answer = await postSigned(agent, node.url, requests[i]!).catch(() => undefined);
        if (answer?.status !== 200) return;
        const { txid } = JSON.parse(answer.text) as { txid: string };
        while (!done) {
          const tx = await send(agent, `${node.url}/node/tx?txid=${txid}`, "GET", undefined).catch(
            () => undefined,
          );
          const status = tx === undefined ? undefined : (JSON.parse(tx.text) as { status: string }).status;
          if (status === "Invalid") return;
          if (status === "Committed") {
            done = true;
            resolveAgain(since());
            return;
          }
          await sleep(FAILOVER_POLL_MS);
        }
      };
      let next = 0;
      const timer = setInterval(() => {
        if (!done && since() > FAILOVER_TIMEOUT_MS) {
          done = true;
          rejectAgain(new Error("writes did not commit again"));
        }
        if (done || next >= requests.length) {
          clearInterval(timer);
          return;
        }
        if (outstanding.size >= FAILOVER_MAX_ATTEMPTS) return;
        const p = attempt(next++).finally(() => outstanding.delete(p));
        outstanding.add(p);
      }, FAILOVER_ATTEMPT_EVERY_MS);
    });
    const seen = await stages;
    const sdkSeen = await sdkWrite;
    const ms = (n: number) => Math.round(n);
    const electionsAfter = await Promise.all(survivors.map((n) => nodeMetrics(n.url)));
    const result: FailoverResult = {
      ledgerSeqno,
      electionStartedMs: ms(seen.electionStarted),
      electedMs: ms(seen.elected),
      leaderCommitMs: ms(seen.leaderCommit),
      writesCommitAgainMs: ms(await committedAgain),
      sdkAnsweredMs: ms(sdkSeen.answered),
      sdkCommittedMs: ms(sdkSeen.committed),
      elections: electionsAfter.reduce(
        (sum, m, i) => sum + (m.elections ?? 0) - (electionsBefore[i]!.elections ?? 0),
        0,
      ),
    };
    process.stderr.write(
      `failover round ${round} at seqno ${ledgerSeqno}: election started after ${result.electionStartedMs} ms, new leader after ${result.electedMs} ms, its first commit after ${result.leaderCommitMs} ms, writes commit again after ${result.writesCommitAgainMs} ms; SDK client write answered after ${result.sdkAnsweredMs} ms, committed after ${result.sdkCommittedMs} ms (its requests, sent→node:status@answered, n0 the killed leader: ${sdkAttempts.join(" ")}); ${result.elections} election(s)\n`,
    );
    await killed;
    if (FAILOVER_MODE === "kill") await leader.start();
    // The restarted node replays its whole ledger first: long ledgers take a while.
    await cluster.waitForConvergence({ nodes: cluster.nodes, timeoutMs: 30_000 + ledgerSeqno });
    return result;
  } finally {
    done = true;
    // Attempts still held by a node (forwarding to the dead leader) end with their sockets.
    agent.destroy();
    await Promise.all(outstanding);
  }
}

async function benchTreaty(nodes: number): Promise<{
  writes: WriteResult[];
  reads: ReadResult[];
  failovers: FailoverResult[];
  jwt: JwtBenchResult | null;
}> {
  const profileDir = flags["cpu-prof"] === undefined ? undefined : resolve(flags["cpu-prof"]);
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const cluster = await startCluster({
    nodes,
    userCurve: USER_CURVE,
    contracts: [
      { name: "log", path: "contracts/examples/log" },
      { name: "profile", path: "docs/examples/profile" },
    ],
    signatureIntervalMs: SIGNATURE_INTERVAL_MS,
    logLevel: "warn",
    extraConfig: {
      ...((VERIFY_WORKERS !== undefined || FRESHNESS_MS !== undefined) && {
        requests: {
          ...(VERIFY_WORKERS !== undefined && { verifyWorkers: VERIFY_WORKERS }),
          ...(FRESHNESS_MS !== undefined && { freshnessWindowMs: FRESHNESS_MS }),
        },
      }),
      ...(CONSENSUS !== undefined && { consensus: CONSENSUS }),
    },
    nodeArgs: (i: number) => [
      ...NODE_FLAGS,
      // One folder per node process: its main thread and its worker threads each write a profile.
      ...(profileDir === undefined
        ? []
        : ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, `${nodes}-nodes`, `node${i}`)}`]),
    ],
  });
  const results: WriteResult[] = [];
  const reads: ReadResult[] = [];
  const failovers: FailoverResult[] = [];
  let jwt: JwtBenchResult | null = null;
  try {
    let leader = await cluster.waitForLeader();
    let firstId = 1;
    const batch = (count: number) => {
      const requests = writes(cluster, firstId, count);
      firstId += count;
      return requests;
    };
    const warmupStarted = performance.now();
    let warmup = await writeRun(
      cluster,
      leader,
      leader,
      batch(FRESHNESS_MS === undefined ? WARMUP_REQUESTS : Math.min(WARMUP_REQUESTS, STEADY_STATE_BATCH)),
      64,
      null,
    );
    if (FRESHNESS_MS !== undefined) {
      // Past the retention, every write's transaction may carry a prune pass: the steady state.
      // Signed in short batches: a request signed longer than the window before it arrives is stale.
      let sent = Math.min(WARMUP_REQUESTS, STEADY_STATE_BATCH);
      while (
        sent < WARMUP_REQUESTS ||
        performance.now() - warmupStarted < FRESHNESS_MS + STEADY_STATE_MARGIN_MS
      ) {
        const more = await writeRun(cluster, leader, leader, batch(STEADY_STATE_BATCH), 64, null);
        warmup = { ...more, elections: warmup.elections + more.elections };
        sent += STEADY_STATE_BATCH;
      }
      process.stderr.write(
        `steady state: ${sent} warm-up writes until ${Math.round(performance.now() - warmupStarted)} ms after the first (nonce retention ${FRESHNESS_MS} ms)\n`,
      );
    }
    // A loaded machine can move the leadership while the nodes warm up: the runs "→ leader" then
    // go to the new leader (the old one would forward them and its figures would be a follower's).
    const current = await cluster.waitForLeader();
    if (warmup.elections > 0 || current !== leader) {
      process.stderr.write(
        `the warm-up saw ${warmup.elections} election(s); the runs go to the leader now, node${current.index}\n`,
      );
      leader = current;
    }
    if (PREFILL > 0) {
      for (let done = 0; done < PREFILL; done += PREFILL_CHUNK) {
        await writeRun(
          cluster,
          leader,
          leader,
          batch(Math.min(PREFILL_CHUNK, PREFILL - done)),
          Math.max(...LEVELS),
          null,
        );
        process.stderr.write(`prefilled ${Math.min(PREFILL, done + PREFILL_CHUNK)} writes\n`);
      }
      for (let round = 0; round < FAILOVERS; round++) failovers.push(await failover(cluster, round));
      for (const node of cluster.nodes) await node.stop();
      return { writes: results, reads, failovers, jwt };
    }
    /**
     * The closed-loop writes sent to a follower at the lowest level (forwarded to the leader), after
     * their own warm-up and a top-up to the leader's run's phase against snapshot points.
     */
    const followerRun = async () => {
      const follower = cluster.nodes.find((n) => n !== leader)!;
      const level = Math.min(...LEVELS);
      // Forwarding (the follower's hop, the leader's serving of forwarded batches) is code the
      // runs so far never called: it gets its own warm-up, as the leader's path did.
      const warm = await writeRun(cluster, leader, follower, batch(WARMUP_REQUESTS), level, null);
      // The run compared with the leader's at this level starts as far past a snapshot point as
      // that one did, so both hold the same snapshot work (or none): a snapshot inside one 5,000-
      // write run and not the other moved the ratio by a quarter.
      const compared = results.find(
        (r) => r.target === "leader" && r.mode === "closed" && r.inFlight === level,
      );
      const topUp =
        compared === undefined
          ? 0
          : writesToSamePhase(warm.requests, warm.seqnos, compared.seqnos.first, compared.snapshotStride);
      if (topUp > 0) await writeRun(cluster, leader, follower, batch(topUp), level, null);
      results.push(await writeRun(cluster, leader, follower, batch(REQUESTS), level, null));
    };
    for (const level of PACED_ONLY ? [] : LEVELS) {
      results.push(await writeRun(cluster, leader, leader, batch(REQUESTS), level, null));
    }
    if (PACED_ONLY && nodes > 1) {
      results.push(
        await writeRun(
          cluster,
          leader,
          leader,
          batch(pacedCount(PACED_RATE!)),
          Math.max(...LEVELS),
          PACED_RATE!,
        ),
      );
    }
    if (WRITES_ONLY || PACED_ONLY) {
      if (WITH_FOLLOWER && nodes > 1) await followerRun();
      for (const node of cluster.nodes) await node.stop();
      return { writes: results, reads, failovers, jwt };
    }
    // Reads of what was written, once every node has it.
    await cluster.waitForConvergence();
    const ids = Math.min(firstId - 1, 10_000);
    const follower = cluster.nodes.find((n) => n !== leader);
    await readRun(cluster, leader, "leader", "committed", ids); // warm-up
    for (const consistency of READ_CONSISTENCIES) {
      reads.push(await readRun(cluster, leader, "leader", consistency, ids));
      if (follower !== undefined) reads.push(await readRun(cluster, follower, "follower", consistency, ids));
    }
    const jwtLevel = Math.min(...LEVELS);
    jwt = await benchJwt(cluster, REQUESTS, jwtLevel, (requests) =>
      writeRun(cluster, leader, leader, requests, jwtLevel, null),
    );
    if (nodes > 1) {
      await followerRun();
      const peak = Math.max(...results.filter((r) => r.target === "leader").map((r) => r.committedPerSecond));
      const half = PACED_RATE ?? Math.max(1, Math.round(peak / 2));
      results.push(
        await writeRun(cluster, leader, leader, batch(pacedCount(half)), Math.max(...LEVELS), half),
      );
      for (let round = 0; round < FAILOVERS; round++) failovers.push(await failover(cluster, round));
    }
    // A clean stop, so that profiles (if asked for) are written.
    for (const node of cluster.nodes) await node.stop();
  } finally {
    await cluster.dispose();
  }
  return { writes: results, reads, failovers, jwt };
}

/** The etcd binary, or undefined when it is not installed. */
function findEtcd(): string | undefined {
  for (const candidate of ["/usr/bin/etcd", "/usr/local/bin/etcd", "/usr/sbin/etcd"]) {
    try {
      execFileSync(candidate, ["--version"], { stdio: "ignore" });
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((done, fail) => {
          const server = createServer();
          server.once("error", fail);
          server.listen(0, "127.0.0.1", () => done(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  return ports;
}

/**
 * A 3-member etcd cluster on loopback, 100-byte puts at each in-flight level through the JSON
 * gateway, then range reads of those keys, linearizable and serializable.
 */
async function benchEtcd(
  binary: string,
  paced: { readonly rate: number; readonly requests: number } | undefined,
): Promise<{ writes: EtcdResult[]; reads: EtcdReadResult[]; paced: EtcdPacedResult | null }> {
  const dir = mkdtempSync(join(tmpdir(), "treaty-bench-etcd-"));
  const ports = await freePorts(6);
  const members = [0, 1, 2].map((i) => ({
    name: `m${i}`,
    client: `http://127.0.0.1:${ports[i]}`,
    peer: `http://127.0.0.1:${ports[3 + i]}`,
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",");
  const children: ChildProcess[] = members.map((m) =>
    spawn(
      binary,
      [
        `--name=${m.name}`,
        `--data-dir=${join(dir, m.name)}`,
        `--listen-client-urls=${m.client}`,
        `--advertise-client-urls=${m.client}`,
        `--listen-peer-urls=${m.peer}`,
        `--initial-advertise-peer-urls=${m.peer}`,
        `--initial-cluster=${initialCluster}`,
        "--initial-cluster-state=new",
        "--initial-cluster-token=treaty-bench",
        "--log-level=error",
      ],
      { stdio: "ignore" },
    ),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(...LEVELS) });
  try {
    const deadline = performance.now() + 30_000;
    for (const m of members) {
      for (;;) {
        const health = await send(agent, `${m.client}/health`, "GET", undefined).catch(() => undefined);
        if (health?.status === 200 && (JSON.parse(health.text) as { health?: string }).health === "true")
          break;
        if (performance.now() > deadline) throw new Error(`etcd member ${m.name} not healthy within 30 s`);
        await sleep(100);
      }
    }
    const healthUrls = members.map((m) => `${m.client}/health`);
    const value = Buffer.alloc(ETCD_VALUE_BYTES, "v").toString("base64");
    const put = async (i: number) => {
      const body = JSON.stringify({ key: Buffer.from(`bench/${i}`).toString("base64"), value });
      const m = members[i % members.length]!;
      const { status, text } = await send(agent, `${m.client}/v3/kv/put`, "POST", body, {
        "content-type": "application/json",
      });
      if (status !== 200) throw new Error(`etcd put ${i}: HTTP ${status}: ${text}`);
    };
    const results: EtcdResult[] = [];
    let firstKey = 0;
    // What the members and this client spent from `costOf()` until the function it returns is called, per put.
    const costOf = () => {
      const before = children.map((child) => cpuSample(child.pid));
      const clientBefore = process.cpuUsage();
      const clientSampleBefore = cpuSample(process.pid);
      return (puts: number) => {
        const client = process.cpuUsage(clientBefore);
        const clientSample = cpuSample(process.pid);
        const after = children.map((child) => cpuSample(child.pid));
        const ticks = after.map((sample, i) =>
          sample === undefined || before[i] === undefined
            ? undefined
            : sample.totalTicks - before[i]!.totalTicks,
        );
        const waits = after.map((sample, i) =>
          runqueueWaitPerWrite(children[i]!.pid, before[i], sample, puts),
        );
        const clientWait = runqueueWaitPerWrite(process.pid, clientSampleBefore, clientSample, puts);
        return {
          cpuMicrosPerPut: ticks.every((t) => t !== undefined)
            ? {
                members: ticks.map((t) => Math.round((t! * 1e6) / CLOCK_TICKS_PER_SECOND / puts)),
                client: Math.round((client.user + client.system) / puts),
              }
            : null,
          runqueueWaitMicrosPerPut:
            waits.every((w): w is number => w !== null) && clientWait !== null
              ? { members: waits, client: clientWait }
              : null,
        };
      };
    };
    for (const level of [0, ...(PACED_ONLY ? [] : LEVELS)]) {
      const count = level === 0 ? WARMUP_REQUESTS : REQUESTS;
      const inFlight = level === 0 ? 64 : level;
      const latency = new Float64Array(count);
      let next = 0;
      await openConnections(agent, healthUrls, inFlight);
      const cost = costOf();
      const started = performance.now();
      const worker = async () => {
        for (let i = next++; i < count; i = next++) {
          const sent = performance.now();
          await put(firstKey + i);
          latency[i] = performance.now() - sent;
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      const elapsedMs = performance.now() - started;
      const spent = cost(count);
      firstKey += count;
      if (level > 0) {
        results.push({
          inFlight,
          requests: count,
          putsPerSecond: Math.round(count / (elapsedMs / 1000)),
          latency: summarize(latency),
          ...spent,
        });
      }
    }
    let pacedResult: EtcdPacedResult | null = null;
    if (paced !== undefined) {
      // Treaty's paced schedule (writeRun): one put every 1/rate s, at most max(LEVELS) outstanding.
      const latency = new Float64Array(paced.requests);
      const pending = new Set<Promise<void>>();
      await openConnections(agent, healthUrls, Math.max(...LEVELS));
      const cost = costOf();
      const started = performance.now();
      for (let i = 0; i < paced.requests; i++) {
        const due = started + (i * 1000) / paced.rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        while (pending.size >= Math.max(...LEVELS)) await Promise.race(pending);
        const sent = performance.now();
        const p = put(firstKey + i)
          .then(() => {
            latency[i] = performance.now() - sent;
          })
          .finally(() => pending.delete(p));
        pending.add(p);
      }
      await Promise.all(pending);
      const elapsedMs = performance.now() - started;
      const spent = cost(paced.requests);
      firstKey += paced.requests;
      pacedResult = {
        offeredPerSecond: paced.rate,
        requests: paced.requests,
        putsPerSecond: Math.round(paced.requests / (elapsedMs / 1000)),
        latency: summarize(latency),
        ...spent,
      };
    }
    const reads: EtcdReadResult[] = [];
    if (PACED_ONLY) return { writes: results, reads, paced: pacedResult };
    const inFlight = Math.min(...LEVELS);
    for (const consistency of ["linearizable", "serializable"] as const) {
      const run = await closedLoop(READS, inFlight, (i, readAgent) => {
        const key = Buffer.from(`bench/${i % firstKey}`).toString("base64");
        const body = JSON.stringify({ key, ...(consistency === "serializable" && { serializable: true }) });
        return send(readAgent, `${members[i % members.length]!.client}/v3/kv/range`, "POST", body, {
          "content-type": "application/json",
        });
      });
      reads.push({
        consistency,
        inFlight,
        requests: READS,
        readsPerSecond: run.perSecond,
        latency: run.latency,
      });
    }
    return { writes: results, reads, paced: pacedResult };
  } finally {
    agent.destroy();
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Follower-forwarded to leader rate at the same level, 5 nodes to 3, and 3 nodes' committed
 * writes to etcd's puts at each level (when both ran): issue 13's targets are these ratios.
 */
function ratios(
  results: readonly WriteResult[],
  etcdWrites: readonly EtcdResult[],
): { what: string; ratio: number }[] {
  const closed = (nodes: number, target: string, inFlight?: number) =>
    results.find(
      (w) =>
        w.nodes === nodes &&
        w.mode === "closed" &&
        w.target === target &&
        (inFlight === undefined || w.inFlight === inFlight),
    );
  const out: { what: string; ratio: number }[] = [];
  for (const nodes of [3, 5]) {
    const follower = closed(nodes, "follower");
    const leader = follower && closed(nodes, "leader", follower.inFlight);
    if (follower && leader)
      out.push({
        what: `${nodes} nodes, writes sent to a follower / to the leader (${follower.inFlight} in flight)`,
        ratio: round2(follower.committedPerSecond / leader.committedPerSecond),
      });
  }
  for (const level of LEVELS) {
    const five = closed(5, "leader", level);
    const three = closed(3, "leader", level);
    if (five && three)
      out.push({
        what: `5 nodes / 3 nodes, committed writes (${level} in flight)`,
        ratio: round2(five.committedPerSecond / three.committedPerSecond),
      });
  }
  for (const put of etcdWrites) {
    const three = closed(3, "leader", put.inFlight);
    if (three)
      out.push({
        what: `3 nodes' committed writes / etcd's puts (${put.inFlight} in flight)`,
        ratio: round2(three.committedPerSecond / put.putsPerSecond),
      });
  }
  return out;
}

async function main(): Promise<void> {
  if (flags.events) {
    // `--events`: the event stream and JetStream export on vs off (bench/events.ts).
    process.stdout.write(`${JSON.stringify(await benchEvents(REQUESTS, LEVELS[0]!), null, 2)}\n`);
    return;
  }
  const startLoad = loadavg()[0]!;
  const writeResults: WriteResult[] = [];
  const readResults: ReadResult[] = [];
  let failovers: FailoverResult[] = [];
  const jwtResults: JwtBenchResult[] = [];
  for (const nodes of PREFILL > 0 ? [3] : NODE_COUNTS) {
    process.stderr.write(`running ${nodes} node(s), user key ${USER_CURVE}...\n`);
    const result = await benchTreaty(nodes);
    writeResults.push(...result.writes);
    readResults.push(...result.reads);
    if (result.jwt !== null) jwtResults.push(result.jwt);
    // The failover figure is the 3-node one (the label says so); other sizes run rounds too.
    if (nodes === 3 && result.failovers.length > 0) failovers = result.failovers;
  }
  const etcdBinary = WRITES_ONLY || (PACED_ONLY && !PACED_ETCD) ? undefined : findEtcd();
  let etcd:
    | { installed: false; note: string }
    | {
        installed: true;
        members: 3;
        writes: EtcdResult[];
        reads: EtcdReadResult[];
        paced: EtcdPacedResult | null;
      };
  if (etcdBinary === undefined) {
    etcd = {
      installed: false,
      note:
        WRITES_ONLY || (PACED_ONLY && !PACED_ETCD)
          ? "--writes-only or --paced-only: etcd not run"
          : "etcd is not installed (Debian package etcd-server): no etcd figure in this run",
    };
  } else {
    process.stderr.write("running etcd (3 members)...\n");
    // etcd's paced run copies Treaty's (3 nodes to the leader): the same rate and count.
    const treatyPaced = writeResults.find(
      (w) => w.mode === "paced" && w.nodes === 3 && w.target === "leader",
    );
    const rate = treatyPaced?.offeredPerSecond ?? null;
    const paced =
      treatyPaced === undefined || rate === null ? undefined : { rate, requests: treatyPaced.requests };
    etcd = { installed: true, members: 3, ...(await benchEtcd(etcdBinary, paced)) };
  }
  const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
  const report = {
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? "unknown",
      /** The 1-minute load average when the run started: other work on a shared machine. */
      loadAverageAtStart: round2(startLoad),
    },
    setup: {
      transport: "nats-server (one process per node)",
      contract: "log.writePublic",
      bodyEncoding: "json",
      userKeyCurve: USER_CURVE,
      signatureIntervalMs: SIGNATURE_INTERVAL_MS,
      commitPollMs: COMMIT_POLL_MS,
      consensus: CONSENSUS ?? "node defaults",
      freshnessWindowMs: FRESHNESS_MS ?? "node default",
      nonces: RANDOM_NONCES ? "random (128 bits)" : "SDK (time-first)",
    },
    writes: writeResults,
    /** µs per call of the in-process runtime (bench:runtime), beside the node's executionMicrosPerCall. */
    runtimeMicrosPerCall: inProcessRuntimeMicros(),
    /**
     * CPU µs per signed call of the node's execution path in process (bench:execution): the
     * engine on one thread, and the execution thread with the engine in a worker.
     */
    executionInProcessMicrosPerCall: inProcessExecutionMicros(),
    ratios: ratios(writeResults, etcd.installed ? etcd.writes : []),
    /** Issue 13's targets judged on this run (bench/targets.ts): met, missed, or null where not measured. */
    targets: judgeTargets({
      writes: writeResults,
      etcdPuts: etcd.installed ? etcd.writes : [],
      failoverWritesCommitAgainMs: failovers.map((f) => f.writesCommitAgainMs),
    }),
    reads: readResults,
    jwt: jwtResults,
    failover:
      failovers.length === 0
        ? null
        : {
            rounds: failovers,
            medianElectedMs: median(failovers.map((f) => f.electedMs)),
            medianWritesCommitAgainMs: median(failovers.map((f) => f.writesCommitAgainMs)),
            medianSdkCommittedMs: median(failovers.map((f) => f.sdkCommittedMs)),
          },
    etcd,
  };

  const line = (cols: (string | number)[]) =>
    `${String(cols[0]).padEnd(24)}${cols
      .slice(1)
      .map((c) => String(c).padStart(11))
      .join("")}\n`;
  process.stderr.write(
    line([
      "treaty writes",
      "nodes",
      "in flight",
      "ack/s",
      "commit/s",
      "ack p50",
      "ack p99",
      "commit p50",
      "commit p99",
      "leader µs",
    ]),
  );
  for (const w of writeResults) {
    const what = `${w.mode === "paced" ? `paced ${w.offeredPerSecond}/s` : "closed loop"} → ${w.target}`;
    process.stderr.write(
      line([
        what,
        w.nodes,
        w.inFlight,
        w.acknowledgedPerSecond,
        w.committedPerSecond,
        w.ack.p50Ms,
        w.ack.p99Ms,
        w.commit.p50Ms,
        w.commit.p99Ms,
        w.cpuMicrosPerWrite?.nodes[0] ?? "-",
      ]),
    );
  }
  process.stderr.write(
    line([
      "leader µs per write",
      "nodes",
      "in flight",
      "http+decode",
      "signature",
      "sig worker",
      "exec/call",
      "ledger",
      "persist",
      "replicate",
      "elections",
      "NL/OU/UA",
      "polls",
    ]),
  );
  for (const w of writeResults) {
    const st = w.leaderStages ?? {};
    process.stderr.write(
      line([
        `${w.mode === "paced" ? "paced" : "closed"} → ${w.target}`,
        w.nodes,
        w.inFlight,
        (st.admission ?? 0) - (st.signature ?? 0),
        st.signature ?? "-",
        st.signatureWorker ?? "-",
        w.executionMicrosPerCall ?? "-",
        st.ledger ?? "-",
        st.persistence ?? "-",
        st.replication ?? "-",
        w.elections,
        `${w.resentNotLeader}/${w.resentOutcomeUnknown}/${w.resentUnavailable}${w.resentTransport > 0 ? ` +${w.resentTransport} reset` : ""}`,
        w.commitPollsPerWrite,
      ]),
    );
  }
  for (const w of writeResults) {
    process.stderr.write(
      `leader write phases, ms p50/p99/mean (node/stage-times.ts), ${w.nodes}n ${w.mode}→${w.target}@${w.inFlight}: ${WRITE_PHASES.map(
        (p) => {
          const s = w.leaderPhases[p];
          return `${p} ${s === null || s === undefined ? "-" : `${s.p50}/${s.p99}/${s.mean}`}`;
        },
      ).join(", ")}\n`,
    );
  }
  process.stderr.write(
    `CPU µs per write, every node process (leader first) + client: ${writeResults
      .map(
        (w) =>
          `${w.nodes}n ${w.mode}→${w.target}@${w.inFlight}: ${w.cpuMicrosPerWrite?.nodes.join("+") ?? "-"} (+${w.cpuMicrosPerWrite?.client ?? "-"})`,
      )
      .join("; ")}\n`,
  );
  for (const w of writeResults) {
    const cpu = w.cpuMicrosPerWrite;
    if (cpu === null) continue;
    process.stderr.write(
      `CPU µs per write by thread, ${w.nodes}n ${w.mode}→${w.target}@${w.inFlight}: ${cpu.threads
        .map((groups, i) => `${i === 0 ? "leader" : `f${i}`} ${cpu.nodes[i]} (${formatGroups(groups)})`)
        .join("; ")}; nats-server ${cpu.natsServer ?? "-"}\n`,
    );
    const sw = cpu.switches;
    process.stderr.write(
      `context switches per write by thread, ${w.nodes}n ${w.mode}→${w.target}@${w.inFlight}: ${sw.threads
        .map((groups, i) => `${i === 0 ? "leader" : `f${i}`} ${sw.nodes[i]} (${formatGroups(groups)})`)
        .join("; ")}; client ${sw.client ?? "-"}; nats-server ${sw.natsServer ?? "-"}\n`,
    );
    const rq = cpu.runqueueWait;
    if (rq === null) continue;
    process.stderr.write(
      `run-queue wait µs per write by thread (runnable, waiting for a CPU), ${w.nodes}n ${w.mode}→${w.target}@${w.inFlight}: ${rq.threads
        .map((groups, i) => `${i === 0 ? "leader" : `f${i}`} ${rq.nodes[i]} (${formatGroups(groups)})`)
        .join("; ")}; client ${rq.client ?? "-"}; nats-server ${rq.natsServer ?? "-"}\n`,
    );
  }
  process.stderr.write(
    `node-to-node frames per write, sent/accepted by each node (leader first): ${writeResults
      .map(
        (w) =>
          `${w.nodes}n ${w.mode}→${w.target}@${w.inFlight}: ${w.framesPerWrite.sent.map((sent, i) => `${sent}/${w.framesPerWrite.received[i]}`).join(", ")}`,
      )
      .join("; ")}\n`,
  );
  process.stderr.write(
    `execution requests per write by op, each node (leader first): ${writeResults
      .map(
        (w) =>
          `${w.nodes}n ${w.mode}→${w.target}@${w.inFlight}: ${w.executionRequestsPerWrite
            .map((ops) =>
              Object.entries(ops)
                .map(([op, n]) => `${op} ${n}`)
                .join(" "),
            )
            .join(", ")}`,
      )
      .join("; ")}\n`,
  );
  const snapshotted = writeResults.filter(
    (w) => w.snapshotPoints.length > 0 || w.snapshotsTaken.some((n) => n > 0),
  );
  if (snapshotted.length > 0) {
    process.stderr.write(
      `snapshots inside the runs (past multiples of the stride at the run's start, all nodes at once; taken by each node): ${snapshotted
        .map(
          (w) =>
            `${w.nodes}n ${w.mode}→${w.target}@${w.inFlight}: at ${w.snapshotPoints.join(", ") || "-"} (stride ${w.snapshotStride.toLocaleString("en-US")}; taken ${w.snapshotsTaken.join("/")})`,
        )
        .join("; ")}\n`,
    );
  }
  const slash = (figures: (number | null | undefined)[]) => figures.map((f) => f ?? "-").join("/");
  process.stderr.write(
    `execution in the node, µs per call: ${slash(writeResults.map((w) => w.executionMicrosPerCall))} round trip (batch wall time on the leader's main thread, queueing included) = ${slash(writeResults.map((w) => w.executionToWorkerMicrosPerCall))} until the worker starts + ${slash(writeResults.map((w) => w.executionServiceMicrosPerCall))} worker service time (wall time inside the worker per batch) + ${slash(writeResults.map((w) => w.executionFromWorkerMicrosPerCall))} until the main thread takes the reply + the main thread's own work; ${slash(writeResults.map((w) => w.cpuMicrosPerWrite?.threads[0]?.execution))} execution thread CPU per write (/proc); in process (bench:runtime, log.writePrivate): ${report.runtimeMicrosPerCall ?? "-"} µs; the node's path in process (bench:execution, signed log.writePublic: nonce, sealed KV, commits), CPU per call: ${report.executionInProcessMicrosPerCall?.engine ?? "-"} µs on one thread, ${report.executionInProcessMicrosPerCall?.worker ?? "-"} µs on the execution thread in a worker\n`,
  );
  for (const r of report.ratios) process.stderr.write(`${r.what}: ${r.ratio}\n`);
  process.stderr.write(line(["treaty reads", "nodes", "in flight", "reads/s", "", "p50", "p99", "resent"]));
  for (const r of readResults) {
    process.stderr.write(
      line([
        `${r.consistency} → ${r.target}`,
        r.nodes,
        r.inFlight,
        r.readsPerSecond,
        "",
        r.latency.p50Ms,
        r.latency.p99Ms,
        r.resent,
      ]),
    );
  }
  process.stderr.write(
    line([
      "signed vs JWT writes",
      "nodes",
      "in flight",
      "ack/s",
      "commit/s",
      "ack p50",
      "ack p99",
      "leader µs",
      "verified",
      "cached",
    ]),
  );
  for (const j of jwtResults) {
    for (const r of j.runs) {
      const f = r.figures;
      process.stderr.write(
        line([
          r.auth,
          j.nodes,
          j.inFlight,
          f.acknowledgedPerSecond,
          f.committedPerSecond,
          f.ack.p50Ms,
          f.ack.p99Ms,
          f.cpuMicrosPerWrite?.nodes[0] ?? "-",
          r.auth.startsWith("JWT") ? r.tokensVerified : "-",
          r.auth.startsWith("JWT") ? r.tokensCached : "-",
        ]),
      );
    }
  }
  if (report.failover !== null) {
    process.stderr.write(
      `failover (${FAILOVER_MODE === "kill" ? "kill -9" : "clean restart of"} leader, 3 nodes, ${failovers.length} rounds, ledger at ${failovers.map((f) => f.ledgerSeqno).join("/")}): election started after ${failovers.map((f) => f.electionStartedMs).join("/")} ms, new leader after ${failovers.map((f) => f.electedMs).join("/")} ms, its first commit after ${failovers.map((f) => f.leaderCommitMs).join("/")} ms, writes commit again after ${failovers.map((f) => f.writesCommitAgainMs).join("/")} ms, an SDK client's write committed after ${failovers.map((f) => f.sdkCommittedMs).join("/")} ms; elections per round ${failovers.map((f) => f.elections).join("/")}\n`,
    );
  }
  // The leader is healthy throughout the write runs: every election started there is spurious.
  process.stderr.write(
    `elections during the write runs (spurious: the leader was never stopped): ${writeResults.reduce((sum, w) => sum + w.elections, 0)}\n`,
  );
  if (etcd.installed) {
    process.stderr.write(line(["etcd puts (3 members)", "", "in flight", "puts/s", "", "p50", "p99"]));
    for (const e of etcd.writes) {
      process.stderr.write(line(["", "", e.inFlight, e.putsPerSecond, "", e.latency.p50Ms, e.latency.p99Ms]));
    }
    if (etcd.paced !== null) {
      const p = etcd.paced;
      process.stderr.write(
        line([
          `paced ${p.offeredPerSecond}/s`,
          "",
          Math.max(...LEVELS),
          p.putsPerSecond,
          "",
          p.latency.p50Ms,
          p.latency.p99Ms,
        ]),
      );
    }
    const runs: { readonly label: string; readonly run: EtcdResult | EtcdPacedResult }[] = [
      ...etcd.writes.map((e) => ({ label: `@${e.inFlight}`, run: e })),
      ...(etcd.paced === null ? [] : [{ label: `paced ${etcd.paced.offeredPerSecond}/s`, run: etcd.paced }]),
    ];
    const perPut = (figure: PerMemberAndClient | null) =>
      figure === null ? "-" : `${figure.members.join("+")} (+${figure.client})`;
    process.stderr.write(
      `etcd CPU µs per put, every member + client: ${runs.map((r) => `${r.label}: ${perPut(r.run.cpuMicrosPerPut)}`).join("; ")}\n`,
    );
    process.stderr.write(
      `etcd run-queue wait µs per put (runnable, waiting for a CPU), every member + client: ${runs
        .map((r) => `${r.label}: ${perPut(r.run.runqueueWaitMicrosPerPut)}`)
        .join("; ")}\n`,
    );
    process.stderr.write(line(["etcd reads (3 members)", "", "in flight", "reads/s", "", "p50", "p99"]));
    for (const r of etcd.reads) {
      process.stderr.write(
        line([r.consistency, "", r.inFlight, r.readsPerSecond, "", r.latency.p50Ms, r.latency.p99Ms]),
      );
    }
  } else {
    process.stderr.write(`${etcd.note}\n`);
  }
  process.stderr.write("issue 13's targets in this run (bench/targets.ts):\n");
  for (const t of report.targets) {
    const verdict = t.met === null ? "not run" : t.met ? "met" : "missed";
    process.stderr.write(`  ${verdict.padEnd(8)}${t.target}${t.met === null ? "" : `: ${t.value}`}\n`);
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
