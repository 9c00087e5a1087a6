/**
 * `npm run bench:node`: one real node in this process (HTTP API, admission, sequencer, execution
 * worker, LMDB ledger and KV), driven over HTTP with many requests in flight.
 *
 * - signed `log.writePublic` calls per second at each in-flight level (default 64 and 256):
 *   acknowledged rate (answers with a txid), latency p50/p99, and the committed rate (until the
 *   last transaction of the run is committed);
 * - signed `log.readPublic` calls per second (readonly: executed, never sequenced) at each read
 *   consistency level (`x-treaty-consistency`: committed, linearizable, latest), with p50/p99;
 *   on one node a linearizable read's read index needs no other node's answer;
 * - the runtime-only rate of the same write (ContractRuntime + KvStore on this thread, no HTTP,
 *   no signatures, no ledger), and the node's rate as a fraction of it: the service-layer cost.
 *
 * Client work shares the machine's cores with the node, so requests are built and signed before
 * the clock starts (the ed25519 signatures through node:crypto's `signFast`, byte-identical to
 * the SDK's `signRequest`, which is ~15x slower and would only lengthen the setup) and sent as
 * raw bytes over keep-alive node:http connections. Prints a table on stderr and JSON on stdout.
 *
 * Options: `--requests N` per level (default 6000), `--in-flight 64,256`, `--reads N` (default 6000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { toBase64Url } from "../sdk/bytes.js";
import type { KeyPair } from "../sdk/keys.js";
import { parseTxId } from "../sdk/receipt.js";
import {
  encodeBody,
  HEADER_CALLER,
  HEADER_CONSISTENCY,
  READ_CONSISTENCIES,
  type ReadConsistency,
  HEADER_SIGNATURE,
  newNonce,
  type SignedRequest,
  signingInput,
  verifyRequest,
} from "../sdk/request.js";
import { compileContract, findPackageRoot } from "../runtime/compiler/index.js";
import { type ContractCall, ContractRuntime } from "../runtime/executor.js";
import { KvStore } from "../runtime/kv/store.js";
import { signFast } from "../runtime/ledger/signature.js";
import { startTestNode, type TestNode } from "../test/support/node.js";
import { postSigned } from "./http.js";

const MESSAGE = "The quick brown fox jumps over the lazy dog; a typical short log line of about 100 bytes.";
const WARMUP_REQUESTS = 500;
const RUNTIME_CALLS = 20_000;
const RUNTIME_COMMIT_EVERY = 500;

interface LoadResult {
  readonly consistency?: ReadConsistency;
  readonly inFlight: number;
  readonly requests: number;
  readonly acknowledgedPerSecond: number;
  readonly committedPerSecond: number | null;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const { values: flags } = parseArgs({
  options: {
    requests: { type: "string", default: "6000" },
    "in-flight": { type: "string", default: "64,256" },
    reads: { type: "string", default: "6000" },
  },
});
const REQUESTS = Number(flags.requests);
const READS = Number(flags.reads);
const LEVELS = flags["in-flight"].split(",").map(Number);
if (![REQUESTS, READS, ...LEVELS].every((n) => Number.isSafeInteger(n) && n > 0)) {
  throw new Error("--requests, --reads and --in-flight take positive integers");
}

/** Builds and signs a request exactly as `signRequest` does, with the fast signer. */
function signed(key: KeyPair, serviceId: string, path: string, args: unknown): SignedRequest {
  const body = encodeBody({ args, nonce: newNonce(), createdMs: Date.now() }, "json");
  const signature = signFast(key, signingInput(serviceId, path, body));
  return {
    path,
    body,
    headers: {
      "content-type": "application/json",
      "content-length": String(body.length),
      [HEADER_CALLER]: key.id,
      [HEADER_SIGNATURE]: toBase64Url(signature),
    },
  };
}

/**
 * Sends `requests` with `inFlight` outstanding at any time; every answer must be 200. Returns
 * the elapsed ms, each request's latency and each answer's text.
 */
async function drive(url: string, requests: readonly SignedRequest[], inFlight: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const latencies = new Float64Array(requests.length);
  const answers: string[] = new Array(requests.length);
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= requests.length) return;
      const sentAt = performance.now();
      const { status, text } = await postSigned(agent, url, requests[i]!);
      latencies[i] = performance.now() - sentAt;
      if (status !== 200) throw new Error(`request ${i}: HTTP ${status}: ${text}`);
      answers[i] = text;
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, worker));
  } finally {
    agent.destroy();
  }
  return { elapsedMs: performance.now() - started, latencies, answers };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;

/** Waits until the node's commit point reaches `seqno`. */
async function committed(net: TestNode, seqno: number): Promise<void> {
  while (net.node.replica.consensus.status().commitSeqno < seqno) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function writeLoad(net: TestNode, inFlight: number, firstId: number): Promise<LoadResult> {
  const serviceId = net.node.serviceId;
  const requests = Array.from({ length: REQUESTS }, (_, i) =>
    signed(net.user, serviceId, "/app/log/writePublic", { id: firstId + i, msg: MESSAGE }),
  );
  const started = performance.now();
  const run = await drive(net.url, requests, inFlight);
  const lastSeqno = Math.max(
    ...run.answers.map((text) => parseTxId((JSON.parse(text) as { txid: string }).txid).seqno),
  );
  await committed(net, lastSeqno);
  const committedMs = performance.now() - started;
  const sorted = Float64Array.from(run.latencies).sort();
  return {
    inFlight,
    requests: REQUESTS,
    acknowledgedPerSecond: Math.round(REQUESTS / (run.elapsedMs / 1000)),
    committedPerSecond: Math.round(REQUESTS / (committedMs / 1000)),
    p50Ms: round2(percentile(sorted, 0.5)),
    p99Ms: round2(percentile(sorted, 0.99)),
    maxMs: round2(sorted[sorted.length - 1]!),
  };
}

async function readLoad(
  net: TestNode,
  inFlight: number,
  ids: number,
  consistency: ReadConsistency,
): Promise<LoadResult> {
  const serviceId = net.node.serviceId;
  const requests = Array.from({ length: READS }, (_, i) => {
    const request = signed(net.user, serviceId, "/app/log/readPublic", { id: i % ids });
    return { ...request, headers: { ...request.headers, [HEADER_CONSISTENCY]: consistency } };
  });
  const run = await drive(net.url, requests, inFlight);
  const sorted = Float64Array.from(run.latencies).sort();
  return {
    consistency,
    inFlight,
    requests: READS,
    acknowledgedPerSecond: Math.round(READS / (run.elapsedMs / 1000)),
    committedPerSecond: null,
    p50Ms: round2(percentile(sorted, 0.5)),
    p99Ms: round2(percentile(sorted, 0.99)),
    maxMs: round2(sorted[sorted.length - 1]!),
  };
}

/** The same write through ContractRuntime + KvStore alone, as the execution worker runs it. */
async function runtimeOnly(): Promise<number> {
  const compiled = compileContract(join(findPackageRoot(), "contracts", "examples", "log"));
  if (!compiled.ok) throw new Error("log does not compile");
  const runtime = await ContractRuntime.create();
  runtime.load("log", compiled.bundle);
  const dir = mkdtempSync(join(tmpdir(), "treaty-bench-node-runtime-"));
  const store = KvStore.open(dir);
  const seed = new Uint8Array(32).fill(1);
  const call = (id: number): ContractCall => ({
    contract: "log",
    method: "writePublic",
    args: { id, msg: MESSAGE },
    caller: { id: "bench-user", role: "user" },
    txid: null,
    timeMs: Date.now(),
    seed,
  });
  try {
    let pending: Promise<void> = Promise.resolve();
    const once = (i: number) => {
      const outcome = runtime.execute(call(i % 10_000), store.begin());
      if (!outcome.ok) throw new Error(`writePublic failed: ${outcome.error.code}`);
      const version = store.appliedVersion + 1;
      store.apply(version, outcome.writeSet);
      if (version % RUNTIME_COMMIT_EVERY === 0) pending = store.commit(version);
    };
    for (let i = 0; i < 1000; i++) once(i);
    const started = performance.now();
    for (let i = 0; i < RUNTIME_CALLS; i++) once(i);
    const elapsedMs = performance.now() - started;
    await pending;
    return Math.round(RUNTIME_CALLS / (elapsedMs / 1000));
  } finally {
    runtime.dispose();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  // The node's default signature interval (100 ms), not the tests' short one.
  const net = await startTestNode({ signatureIntervalMs: 100 });
  const writes: LoadResult[] = [];
  const reads: LoadResult[] = [];
  try {
    const check = signed(net.user, net.node.serviceId, "/app/log/writePublic", { id: 0, msg: MESSAGE });
    const signature = Buffer.from(check.headers[HEADER_SIGNATURE]!, "base64url");
    if (!verifyRequest(net.user, net.node.serviceId, check.path, check.body, signature)) {
      throw new Error("the fast signer's requests do not verify with the SDK");
    }
    await drive(
      net.url,
      Array.from({ length: WARMUP_REQUESTS }, (_, i) =>
        signed(net.user, net.node.serviceId, "/app/log/writePublic", { id: i, msg: MESSAGE }),
      ),
      64,
    );
    let firstId = 0;
    for (const level of LEVELS) {
      writes.push(await writeLoad(net, level, firstId));
      firstId += REQUESTS;
    }
    await committed(net, net.node.ledger.lastSeqno);
    await readLoad(net, Math.min(...LEVELS), Math.min(firstId, 10_000), "committed"); // warm-up
    for (const consistency of READ_CONSISTENCIES) {
      reads.push(await readLoad(net, Math.min(...LEVELS), Math.min(firstId, 10_000), consistency));
    }
  } finally {
    await net.dispose();
  }
  const runtimePerSecond = await runtimeOnly();
  const best = Math.max(...writes.map((w) => w.acknowledgedPerSecond));
  const report = {
    machine: { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown" },
    node: { signatureIntervalMs: 100, bodyEncoding: "json", contract: "log.writePublic" },
    writes,
    reads,
    runtimeOnly: { writesPerSecond: runtimePerSecond },
    serviceLayer: {
      /** The node's best write rate as a fraction of the runtime-only rate. */
      ratioToRuntime: round2(best / runtimePerSecond),
      /** What HTTP, admission, sequencing, ledger and commit add per write, µs. */
      overheadMicrosPerWrite: round1(1e6 / best - 1e6 / runtimePerSecond),
    },
  };
  const line = (cols: (string | number)[]) =>
    `${String(cols[0]).padEnd(36)}${cols
      .slice(1)
      .map((c) => String(c).padStart(11))
      .join("")}\n`;
  process.stderr.write(line(["what", "in flight", "per s", "commit/s", "p50 ms", "p99 ms"]));
  for (const w of writes) {
    process.stderr.write(
      line([
        "log.writePublic (HTTP)",
        w.inFlight,
        w.acknowledgedPerSecond,
        w.committedPerSecond ?? "-",
        w.p50Ms,
        w.p99Ms,
      ]),
    );
  }
  for (const r of reads) {
    process.stderr.write(
      line([
        `log.readPublic ${r.consistency} (HTTP)`,
        r.inFlight,
        r.acknowledgedPerSecond,
        "-",
        r.p50Ms,
        r.p99Ms,
      ]),
    );
  }
  process.stderr.write(line(["log.writePublic (runtime only)", "-", runtimePerSecond, "-", "-", "-"]));
  process.stderr.write(
    `service layer: ${report.serviceLayer.ratioToRuntime}x the runtime-only rate, +${report.serviceLayer.overheadMicrosPerWrite} µs per write\n`,
  );
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
