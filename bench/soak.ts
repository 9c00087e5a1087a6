/**
 * `npm run soak -- [--seconds S] [--in-flight N] [--every S] [--freshness-ms MS] [--chunk-bytes B]`:
 * sustained signed writes against one real node in this process (HTTP, admission, sequencer,
 * execution worker, chunked ledger files, LMDB KV), for S seconds (default 120). Every `--every`
 * seconds (default 10) prints one line: writes so far, the ledger's last seqno, RSS and heap
 * (MB), open file descriptors (/proc/self/fd), the ledger's chunk files (committed and in
 * total), the consensus log's resident entries, the ledger's in-memory signature and internal
 * indexes, view history and Merkle tree (`Ledger.resident`), and the live nonce rows. What must
 * stay flat once the first freshness window has passed: RSS, heap, open files (whatever the
 * number of chunk files), resident entries, signature and internal indexes, Merkle bytes and
 * nonce rows (the view history grows only with elections). `--freshness-ms` (default 20000) shortens the
 * request window so nonce pruning shows within the run; `--chunk-bytes` (default 262144) keeps
 * chunks small so many close within the run. Not part of CI.
 */
import { readdirSync } from "node:fs";
import { parseArgs } from "node:util";
import type logContract from "../contracts/examples/log/index.js";
import { INTERNAL } from "../node/gov/tables.js";
import { ledgerStoreDir } from "../runtime/ledger/lmdb-store.js";
import { startTestNode } from "../test/support/node.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "120" },
    "in-flight": { type: "string", default: "16" },
    every: { type: "string", default: "10" },
    "freshness-ms": { type: "string", default: "20000" },
    "chunk-bytes": { type: "string", default: "262144" },
  },
});
const seconds = Number(values.seconds);
const inFlight = Number(values["in-flight"]);
const everyMs = Number(values.every) * 1000;

function openFiles(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}

async function main(): Promise<void> {
  const net = await startTestNode({
    signatureIntervalMs: 100,
    freshnessWindowMs: Number(values["freshness-ms"]),
    ledgerChunkBytes: Number(values["chunk-bytes"]),
  });
  const ledgerDir = ledgerStoreDir(net.dataDir);
  const log = net.client().contract<typeof logContract>("log");
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let writes = 0;
  let failures = 0;
  const report = async () => {
    const memory = process.memoryUsage();
    const nonces = (await net.node.execution.scan(INTERNAL.nonceLog)).length;
    process.stdout.write(
      `${JSON.stringify({
        s: Math.round((performance.now() - started) / 1000),
        writes,
        failures,
        lastSeqno: net.node.ledger.lastSeqno,
        rssMB: Math.round(memory.rss / 2 ** 20),
        heapMB: Math.round(memory.heapUsed / 2 ** 20),
        openFiles: openFiles(),
        chunkFiles: readdirSync(ledgerDir).length,
        committedChunks: readdirSync(ledgerDir).filter((name) => name.endsWith(".chunk")).length,
        residentEntries: net.node.replica.consensus.logWindow().residentEntries,
        ledgerSignatures: net.node.ledger.resident.signatures,
        ledgerInternal: net.node.ledger.resident.internal,
        ledgerViews: net.node.ledger.resident.views,
        merkleKB: Math.round(net.node.ledger.resident.treeBytes / 1024),
        nonceRows: nonces,
      })}\n`,
    );
  };
  const timer = setInterval(() => void report(), everyMs);
  const worker = async (lane: number) => {
    for (let i = 0; performance.now() < deadline; i++) {
      try {
        await log.writePublic({ id: (lane * 1_000_003 + i) % 5000, msg: `lane ${lane} write ${i}` });
        writes++;
      } catch {
        failures++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, (_, lane) => worker(lane)));
    await report();
  } finally {
    clearInterval(timer);
    await net.dispose();
  }
}

await main();
