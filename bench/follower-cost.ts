/**
 * What a committed write costs each node process of a 3-node network, by thread: a short run of
 * signed `log.writePublic` writes sent to the leader at each in-flight level, then CPU per write
 * (user + system, from /proc) of every node process by thread group (bench/thread-cpu.ts: main
 * thread, execution worker, verify workers, V8's platform threads, libuv's threadpool, other),
 * the nats-server's, and the node-to-node frames a follower accepted and sent per write.
 * The follower's share is what bench:network does not break down; `--cpu-prof DIR` writes V8
 * profiles of every node process (each level runs on a fresh network, so a profile holds one).
 *
 *   node dist/bench/follower-cost.js [--requests 2000] [--warmup 500] [--in-flight 64,256]
 *     [--to leader|follower] [--cpu-prof DIR] [--node-flags=FLAGS]
 *
 * `--to follower` sends the writes to the first follower instead (forwarded to the leader): what
 * the forwarding path costs each node.
 *
 * Table on stderr, JSON on stdout. Needs Linux /proc.
 */
import { Agent } from "node:http";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type Cluster, type ClusterNode, startCluster } from "../test/support/cluster.js";
import { fastSignedRequest } from "../test/integration/load.js";
import { postSigned } from "./http.js";
import {
  clockTicks,
  cpuTicksByGroup,
  findChildProcess,
  formatGroups,
  microsPerWrite,
  type ProcessSample,
  sampleProcess,
  THREAD_GROUPS,
  type ThreadGroup,
  v8PoolSizeOf,
} from "./thread-cpu.js";

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    warmup: { type: "string", default: "500" },
    "in-flight": { type: "string", default: "64,256" },
    "cpu-prof": { type: "string" },
    "node-flags": { type: "string", default: "" },
    to: { type: "string", default: "leader" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  process.stdout.write(`node dist/bench/follower-cost.js [options]  (3 nodes, writes sent to the leader or a follower)
  --requests N       writes per in-flight level (default 2000)
  --warmup N         writes before each measured level, not measured (default 500; V8 still
                     compiles hot code for a few thousand writes, CPU per write falls with it)
  --in-flight 64,256 in-flight levels (a fresh network for each)
  --to leader|follower  where the writes are sent (default leader; follower: the first
                     follower, which forwards them to the leader)
  --cpu-prof DIR     V8 CPU profiles of every node process, DIR/<level>/node<i>/
  --node-flags=FLAGS extra node flags for every node process
Table on stderr (CPU µs per write per node and thread group), JSON on stdout.
`);
  process.exit(0);
}
const REQUESTS = Number(flags.requests);
const LEVELS = flags["in-flight"].split(",").map(Number);
const WARMUP = Number(flags.warmup);
if (![REQUESTS, WARMUP, ...LEVELS].every((n) => Number.isSafeInteger(n) && n > 0))
  throw new Error("--requests, --warmup and --in-flight take positive integers");
const TICKS_PER_SECOND = clockTicks();
if (flags.to !== "leader" && flags.to !== "follower") throw new Error("--to takes leader or follower");
const NODE_FLAGS = flags["node-flags"].split(" ").filter((f) => f.length > 0);

/** Frames each node sent and accepted (`/node/metrics`). */
async function frames(node: ClusterNode): Promise<{ sent: number; received: number }> {
  const text = await (await fetch(`${node.url}/node/metrics`)).text();
  const count = (direction: string) =>
    Number(
      new RegExp(`^treaty_transport_frames_total\\{direction="${direction}"\\} (\\S+)$`, "m").exec(
        text,
      )?.[1] ?? NaN,
    );
  return { sent: count("sent"), received: count("received") };
}

async function commitSeqno(node: ClusterNode): Promise<number> {
  const status = await node.status();
  return status.commitSeqno ?? 0;
}

async function run(
  cluster: Cluster,
  target: ClusterNode,
  firstId: number,
  count: number,
  inFlight: number,
): Promise<number> {
  const requests = Array.from({ length: count }, (_, i) =>
    fastSignedRequest(cluster.user, cluster.serviceId, "/app/log/writePublic", {
      id: firstId + i,
      msg: "The quick brown fox jumps over the lazy dog; a typical short log line of about 100 bytes.",
    }),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  let next = 0;
  let last = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const { status, text } = await postSigned(agent, target.url, requests[i]!);
      if (status !== 200) throw new Error(`write ${i}: HTTP ${status}: ${text}`);
      const seqno = Number((JSON.parse(text) as { txid: string }).txid.split(".")[1]);
      if (seqno > last) last = seqno;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  agent.destroy();
  return last;
}

async function level(inFlight: number): Promise<Record<string, unknown>> {
  const profileDir =
    flags["cpu-prof"] === undefined ? undefined : resolve(flags["cpu-prof"], String(inFlight));
  const cluster = await startCluster({
    nodes: 3,
    contracts: [{ name: "log", path: "contracts/examples/log" }],
    signatureIntervalMs: 20,
    logLevel: "warn",
    nodeArgs: (i: number) => [
      ...NODE_FLAGS,
      ...(profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, `node${i}`)}`]),
    ],
  });
  try {
    const leader = await cluster.waitForLeader();
    const measured = [leader, ...cluster.nodes.filter((n) => n !== leader)];
    // The writes go to the leader, or to the first follower (measured[1]), which forwards them.
    const target = flags.to === "follower" ? measured[1]! : leader;
    await run(cluster, target, 1, WARMUP, inFlight);
    const framesBefore = await Promise.all(measured.map(frames));
    const pids = measured.map((n) => n.pid()!);
    const natsPid = findChildProcess(process.pid, "nats-server");
    const sample = (pid: number | undefined): ProcessSample => {
      const s = pid === undefined ? undefined : sampleProcess(pid);
      if (s === undefined) throw new Error(`no /proc figures for process ${pid}`);
      return s;
    };
    const natsBefore = sample(natsPid);
    const before = pids.map(sample);
    const started = performance.now();
    const last = await run(cluster, target, WARMUP + 1, REQUESTS, inFlight);
    // Every node has committed (and so applied) the last write before CPU is read again.
    for (const node of measured) while ((await commitSeqno(node)) < last) await sleep(2);
    const seconds = (performance.now() - started) / 1000;
    const after = pids.map(sample);
    const natsAfter = sample(natsPid);
    const framesAfter = await Promise.all(measured.map(frames));
    const framesPerWrite = framesAfter.map((f, i) => ({
      sent: Number(((f.sent - framesBefore[i]!.sent) / REQUESTS).toFixed(2)),
      received: Number(((f.received - framesBefore[i]!.received) / REQUESTS).toFixed(2)),
    }));
    const perWrite = after.map((s, i) =>
      microsPerWrite(
        cpuTicksByGroup(pids[i]!, before[i]!, s, v8PoolSizeOf(NODE_FLAGS)),
        TICKS_PER_SECOND,
        REQUESTS,
      ),
    );
    const natsServer = Math.round(
      ((natsAfter.totalTicks - natsBefore.totalTicks) * 1e6) / TICKS_PER_SECOND / REQUESTS,
    );
    for (const node of cluster.nodes) await node.stop(); // profiles are written on a clean stop
    return {
      inFlight,
      writesPerSecond: Math.round(REQUESTS / seconds),
      cpuMicrosPerWrite: perWrite,
      natsServerMicrosPerWrite: natsServer,
      framesPerWrite,
    };
  } finally {
    await cluster.dispose();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const results = [];
const loadAtStart = loadavg()[0]!;
for (const inFlight of LEVELS) {
  const r = await level(inFlight);
  results.push(r);
  const nodes = r.cpuMicrosPerWrite as Array<Record<ThreadGroup, number>>;
  const fmt = (g: Record<ThreadGroup, number>) =>
    `${THREAD_GROUPS.reduce((sum, group) => sum + g[group], 0)} (${formatGroups(g)})`;
  const f = (r.framesPerWrite as Array<{ sent: number; received: number }>)[1]!;
  process.stderr.write(
    `in flight ${inFlight}, sent to the ${flags.to}: ${r.writesPerSecond} writes/s; CPU µs per write: leader ${fmt(nodes[0]!)}; followers ${fmt(nodes[1]!)}, ${fmt(nodes[2]!)}; nats-server ${r.natsServerMicrosPerWrite}; follower frames per write: ${f.received} in, ${f.sent} out\n`,
  );
}
process.stderr.write(`load average at start ${loadAtStart.toFixed(2)}, at end ${loadavg()[0]!.toFixed(2)}\n`);
process.stdout.write(`${JSON.stringify({ loadAtStart, results }, null, 2)}\n`);
