/**
 * Records a concurrent history of writes and reads against a real multi-process cluster
 * (test/support/cluster.ts) while a seeded fault schedule freezes the leader (SIGSTOP, then
 * SIGCONT), stops nats-server for a moment (the leader keeps executing writes it cannot
 * replicate: the stall in which dirty reads used to happen) and kills the leader (SIGKILL, then
 * restart), and hands it to `checkHistory`.
 *
 * Keys are `log` messages (`writePublic` / `readPublic {id}`); every write stores a unique value.
 * Each key is written and committed once before the faults start, and every node has applied
 * it, so a read never legitimately finds a key absent.
 * - Writers send through every node (the SDK rotates on failures and resends a write whose
 *   outcome is unknown), record the txid, then wait until it is `Committed` (that moment ends
 *   the write, for the linearizability check). A write whose call failed has an unknown outcome.
 * - Readers each ask one node picked at random, at a consistency picked at random, and record the
 *   value, the answer's txid and status. Failed reads are left out (they promise nothing).
 * After the run every node is thawed and restarted, the cluster converges, and every known txid
 * gets its final status from a node.
 *
 * Everything random (keys, levels, nodes, fault times) comes from the seed.
 */
import { isTreatyError } from "../../sdk/errors.js";
import { parseTxId } from "../../sdk/receipt.js";
import type { ReadConsistency } from "../../sdk/request.js";
import type { Cluster, ClusterNode } from "../support/cluster.js";
import { Prng } from "../sim/prng.js";
import {
  checkHistory,
  type HistoryRecord,
  type HistoryReport,
  type ReadRecord,
  type WriteRecord,
} from "./checker.js";

export interface HistoryRunOptions {
  readonly seed: number;
  /** How long the workload and faults run, ms (default 10 s). */
  readonly durationMs?: number;
  /** Keys (log message ids) the workload touches (default 5: contention matters). */
  readonly keys?: number;
  readonly writers?: number;
  readonly readers?: number;
}

/** One seed's outcome: the report, the faults injected and what the workload saw. */
export interface HistoryRun {
  readonly seed: number;
  readonly report: HistoryReport;
  readonly faults: readonly string[];
  readonly writeFailures: Readonly<Record<string, number>>;
  readonly readFailures: Readonly<Record<string, number>>;
}

const LEVELS: readonly ReadConsistency[] = ["committed", "linearizable", "latest"];
const COMMIT_WAIT_MS = 15_000;

/** Runs one seed on `cluster` (3 running nodes with the `log` contract); see the module comment. */
export async function runHistory(cluster: Cluster, options: HistoryRunOptions): Promise<HistoryRun> {
  const rng = new Prng(options.seed);
  const durationMs = options.durationMs ?? 10_000;
  const keyCount = options.keys ?? 5;
  const keyBase = options.seed * 1000;
  const keys = Array.from({ length: keyCount }, (_, i) => keyBase + i);
  const label = `s${options.seed}`;
  const history: HistoryRecord[] = [];
  const writes: { record: WriteRecord; txid: string | null }[] = [];
  const writeFailures: Record<string, number> = {};
  const readFailures: Record<string, number> = {};
  const started = Date.now();
  const now = () => Date.now() - started;
  let counter = 0;

  // Initial values, committed and applied everywhere before the faults.
  const setup = cluster.client();
  for (const key of keys) {
    const value = `${label}:init:${key}`;
    const invokeMs = now();
    const { txid } = await setup.call("log", "writePublic", { id: key, msg: value });
    await setup.waitForCommit(txid, { timeoutMs: COMMIT_WAIT_MS });
    const record: WriteRecord = {
      kind: "write",
      key: String(key),
      value,
      invokeMs,
      committedMs: now(),
      seqno: parseTxId(txid).seqno,
      final: "Unknown",
    };
    writes.push({ record, txid });
  }
  await cluster.waitForConvergence();

  let stopping = false;
  const writer = async (index: number, random: Prng) => {
    const client = cluster.client();
    while (!stopping) {
      const key = random.pick(keys);
      const value = `${label}:w${index}:${++counter}`;
      const invokeMs = now();
      let txid: string | null = null;
      let committedMs = Number.POSITIVE_INFINITY;
      try {
        txid = (await client.call("log", "writePublic", { id: key, msg: value })).txid;
        await client.waitForCommit(txid, { timeoutMs: COMMIT_WAIT_MS });
        committedMs = now();
      } catch (err) {
        const code = isTreatyError(err) ? err.code : err instanceof Error ? err.name : "unknown";
        writeFailures[code] = (writeFailures[code] ?? 0) + 1;
        await sleep(50);
      }
      writes.push({
        record: {
          kind: "write",
          key: String(key),
          value,
          invokeMs,
          committedMs,
          seqno: txid === null ? null : parseTxId(txid).seqno,
          final: "Unknown",
        },
        txid,
      });
    }
  };
  const reader = async (random: Prng) => {
    while (!stopping) {
      const key = random.pick(keys);
      const consistency = random.pick(LEVELS);
      const node = random.pick(cluster.nodes);
      const client = cluster.client(cluster.user, { nodes: [node.url], retries: 1, consistency });
      const invokeMs = now();
      try {
        const answer = await client.call<{ msg: string }>("log", "readPublic", { id: key });
        const record: ReadRecord = {
          kind: "read",
          key: String(key),
          consistency,
          value: answer.result.msg,
          invokeMs,
          completeMs: now(),
          seqno: parseTxId(answer.txid).seqno,
          status: answer.status ?? "?",
          node: `node${node.index}`,
        };
        history.push(record);
      } catch (err) {
        const code = isTreatyError(err) ? err.code : err instanceof Error ? err.name : "unknown";
        readFailures[`${consistency}:${code}`] = (readFailures[`${consistency}:${code}`] ?? 0) + 1;
        await sleep(20);
      }
    }
  };
  const workload = Promise.all([
    ...Array.from({ length: options.writers ?? 3 }, (_, i) => writer(i, rng.fork())),
    ...Array.from({ length: options.readers ?? 4 }, () => reader(rng.fork())),
  ]);

  const faults: string[] = [];
  try {
    await injectFaults(cluster, rng.fork(), durationMs, (line) => faults.push(`${now()} ms: ${line}`));
  } finally {
    stopping = true;
    await workload;
    for (const node of cluster.nodes) {
      if (node.paused()) node.resume();
      if (!node.running()) await node.start();
    }
  }
  await cluster.waitForConvergence({ timeoutMs: 60_000 });

  // Final statuses, from a node that has everything.
  const judge = cluster.client();
  for (const { record, txid } of writes) {
    const final = txid === null ? "Unknown" : await judge.txStatus(txid);
    history.push({
      ...record,
      final: final === "Committed" || final === "Invalid" ? final : "Unknown",
    });
  }
  return { seed: options.seed, report: checkHistory(history), faults, writeFailures, readFailures };
}

/** The seed's fault schedule over `durationMs`: a leader freeze, a NATS outage, a leader kill. */
async function injectFaults(
  cluster: Cluster,
  rng: Prng,
  durationMs: number,
  say: (line: string) => void,
): Promise<void> {
  const end = Date.now() + durationMs;
  await sleep(rng.between(500, 1500));
  let leader: ClusterNode = await cluster.waitForLeader();
  leader.pause();
  say(`SIGSTOP leader node${leader.index}`);
  await sleep(rng.between(1500, 3000));
  leader.resume();
  say(`SIGCONT node${leader.index}`);
  await sleep(rng.between(500, 1500));
  await cluster.waitForLeader();
  await cluster.nats.stop();
  say("stop nats-server");
  await sleep(rng.between(1000, 2500));
  await cluster.nats.start();
  say("start nats-server");
  await sleep(rng.between(500, 1500));
  leader = await cluster.waitForLeader();
  await leader.kill();
  say(`SIGKILL leader node${leader.index}`);
  await sleep(rng.between(1000, 2500));
  await leader.start();
  say(`restart node${leader.index}`);
  await sleep(Math.max(0, end - Date.now()));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A one-line summary of a run, and its violations. */
export function describeRun(run: HistoryRun): string {
  const { report } = run;
  const lines = [
    `seed ${run.seed}: ${report.writes} writes, reads ${JSON.stringify(report.reads)}, ` +
      `${report.unverifiable} unverifiable, ${report.violations.length} violations; ` +
      `write failures ${JSON.stringify(run.writeFailures)}, read failures ${JSON.stringify(run.readFailures)}`,
    `  faults: ${run.faults.join("; ")}`,
    ...report.violations.map((v) => `  VIOLATION ${v}`),
  ];
  return lines.join("\n");
}
