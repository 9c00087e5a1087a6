/**
 * `npm run bench:network -- --events`: the cost per write of the committed event stream and the
 * JetStream export (issue 14). A 3-node network over real nats-servers runs the docs' `board`
 * contract, whose `post` emits a public event (so every write records its event in the ledger),
 * twice: once with nothing consuming events ("off"), once with the JetStream export on and one
 * `/app/events` client following from a follower ("on"). Each run sends the same number of
 * signed writes from a closed loop and waits until they are committed (and, "on", until the
 * stream client and JetStream have every event). Reported per run: committed writes per second
 * and the CPU time of all node processes per write, read from /proc (on a shared machine the
 * rate moves with the neighbours' load, the CPU per write much less); then the overhead of "on".
 *
 * Prints a table on stderr and JSON on stdout. Options (given to network.ts): `--requests N`
 * (default 5000), `--in-flight` (its first level, default 64).
 */
import { readFileSync } from "node:fs";
import { Agent } from "node:http";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { watchEvents } from "../sdk/events.js";
import type { SignedRequest } from "../sdk/request.js";
import { startNatsServer } from "../node/nats-server.js";
import { type Cluster, startCluster } from "../test/support/cluster.js";
import { fastSignedRequest } from "../test/integration/load.js";
import { postSigned } from "./http.js";

const STREAM = "TREATY_EVENTS_BENCH";
const TEXT = "The quick brown fox jumps over the lazy dog; a typical short notice of about 100 bytes.";
const WARMUP = 300;

export interface EventsBenchRun {
  readonly mode: "off" | "on";
  readonly writes: number;
  readonly writesPerSecond: number;
  readonly nodeCpuMsPerWrite: number;
}

/** Runs both modes and prints the comparison; returns the JSON report. */
export async function benchEvents(requests: number, inFlight: number): Promise<unknown> {
  const runs: EventsBenchRun[] = [];
  for (const mode of ["off", "on"] as const) {
    process.stderr.write(`events bench: ${mode}...\n`);
    runs.push(await runMode(mode, requests, inFlight));
  }
  const [off, on] = runs as [EventsBenchRun, EventsBenchRun];
  const overheadPercent = ((on.nodeCpuMsPerWrite - off.nodeCpuMsPerWrite) / off.nodeCpuMsPerWrite) * 100;
  process.stderr.write(
    [
      "mode  writes/s  node CPU ms/write",
      ...runs.map(
        (r) =>
          `${r.mode.padEnd(4)}  ${r.writesPerSecond.toFixed(0).padStart(8)}  ${r.nodeCpuMsPerWrite.toFixed(3).padStart(17)}`,
      ),
      `event stream + JetStream export: ${overheadPercent >= 0 ? "+" : ""}${overheadPercent.toFixed(1)}% node CPU per write`,
      "",
    ].join("\n"),
  );
  return { contract: "board.post", inFlight, runs, overheadPercent };
}

async function runMode(mode: "off" | "on", requests: number, inFlight: number): Promise<EventsBenchRun> {
  const js = mode === "on" ? await startNatsServer({ jetstream: true }) : undefined;
  let cluster: Cluster | undefined;
  const stop = new AbortController();
  try {
    cluster = await startCluster({
      nodes: 3,
      contracts: [{ name: "board", path: "docs/examples/board" }],
      logLevel: "warn",
      ...(js !== undefined && {
        extraConfig: { events: { jetstream: { servers: [js.url], stream: STREAM, subjectPrefix: "bench" } } },
      }),
    });
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    let streamed = 0;
    const following =
      mode === "on"
        ? (async () => {
            for await (const _ of watchEvents({ nodes: [follower.url], after: "0", signal: stop.signal }))
              streamed++;
          })()
        : Promise.resolve();
    const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
    const sign = (first: number, count: number): SignedRequest[] =>
      Array.from({ length: count }, (_, i) =>
        fastSignedRequest(cluster!.user, cluster!.serviceId, "/app/board/post", {
          id: first + i,
          text: TEXT,
        }),
      );
    await closedLoop(agent, leader.url, sign(0, WARMUP), inFlight);
    const batch = sign(WARMUP, requests);
    const cpu0 = nodeCpuMs(cluster);
    const t0 = performance.now();
    const lastTxid = await closedLoop(agent, leader.url, batch, inFlight);
    await cluster.client().waitForCommit(lastTxid, { timeoutMs: 120_000 });
    const total = WARMUP + requests;
    if (mode === "on") {
      await cluster.waitFor(
        "the stream client to see every event",
        async () => (streamed >= total ? true : undefined),
        120_000,
      );
      const nc = await connect({ servers: js!.url });
      try {
        const jsm = await jetstreamManager(nc);
        await cluster.waitFor(
          "JetStream to hold every event",
          async () => ((await jsm.streams.info(STREAM)).state.messages >= total ? true : undefined),
          120_000,
        );
      } finally {
        await nc.close();
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpuMs = nodeCpuMs(cluster) - cpu0;
    agent.destroy();
    stop.abort();
    await following;
    return {
      mode,
      writes: requests,
      writesPerSecond: requests / seconds,
      nodeCpuMsPerWrite: cpuMs / requests,
    };
  } finally {
    stop.abort();
    await cluster?.dispose();
    await js?.dispose();
  }
}

/** Sends every request with `inFlight` outstanding; every answer must be 200. Returns the last txid. */
async function closedLoop(
  agent: Agent,
  base: string,
  batch: readonly SignedRequest[],
  inFlight: number,
): Promise<string> {
  let next = 0;
  let last = "";
  let lastSeqno = 0;
  const worker = async () => {
    while (next < batch.length) {
      const request = batch[next++]!;
      const { status, text } = await postSigned(agent, base, request);
      if (status !== 200) throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`);
      const txid = (JSON.parse(text) as { txid: string }).txid;
      const seqno = Number(txid.split(".")[1]);
      if (seqno > lastSeqno) {
        lastSeqno = seqno;
        last = txid;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return last;
}

/** CPU time (user + system) of every running node process, ms. */
function nodeCpuMs(cluster: Cluster): number {
  let total = 0;
  for (const node of cluster.nodes) {
    const pid = node.pid();
    if (pid === undefined) continue;
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    total += ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ: 100 on Linux
  }
  return total;
}
