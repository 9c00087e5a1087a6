/**
 * A 3-node network over a real nats-server with small ledger chunks (8 KiB): enough writes close
 * several chunks on every node, which become read-only committed `.chunk` files; a node killed
 * with SIGKILL and restarted keeps its chunk files, converges, and serves verifiable receipts for
 * the earliest transactions (read back from committed chunks). Then a node stopped cleanly has
 * its oldest committed chunks moved to an archive folder, as an operator would: without a
 * snapshot it still needs them to start, and says so with the coded error LedgerArchived naming
 * the seqno; the archive plus the live folder audit together; put back, the node starts.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseTxId } from "../../sdk/receipt.js";
import { parseChunkFileName } from "../../runtime/ledger/chunks.js";
import { ledgerStoreDir } from "../../runtime/ledger/lmdb-store.js";
import { runLedgerVerify } from "../../node/cli/ledger.js";
import { toHex } from "../../sdk/bytes.js";
import { type Cluster, startCluster } from "../support/cluster.js";
import { captureLedgerIo } from "../support/cli.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];
const WRITES = 240;
const MESSAGE = "x".repeat(200);

function committedChunks(dataDir: string): string[] {
  return readdirSync(ledgerStoreDir(dataDir))
    .filter((name) => parseChunkFileName(name) !== undefined)
    .sort((a, b) => parseChunkFileName(a)!.firstSeqno - parseChunkFileName(b)!.firstSeqno);
}

describe("chunked ledger files on a live network", () => {
  let cluster: Cluster;
  const txids: string[] = [];

  before(async () => {
    cluster = await startCluster({
      nodes: 3,
      contracts: LOG_ONLY,
      extraConfig: { ledger: { signatureIntervalMs: 20, chunkBytes: 8192 } },
    });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("closes and commits several read-only chunks on every node", async () => {
    const client = cluster.client();
    for (let start = 0; start < WRITES; start += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          client.call("log", "writePublic", { id: start + i, msg: MESSAGE }),
        ),
      );
      txids.push(...batch.map((r) => r.txid!));
    }
    await client.waitForCommit(txids.at(-1)!);
    await cluster.waitForConvergence();
    for (const node of cluster.nodes) {
      const chunks = committedChunks(node.dataDir);
      assert.ok(chunks.length >= 4, `node ${node.index}: ${chunks.join(", ")}`);
      for (const name of chunks)
        assert.equal(
          statSync(join(ledgerStoreDir(node.dataDir), name)).mode & 0o222,
          0,
          `${name} is read-only`,
        );
    }
  });

  it("a node killed with SIGKILL restarts on its chunks and serves receipts for early transactions", async () => {
    const leader = await cluster.waitForLeader();
    await leader.kill();
    await leader.start();
    await cluster.waitForConvergence();
    const client = cluster.client(null, { nodes: [leader.url] });
    for (const txid of [txids[0]!, txids[1]!, txids[WRITES / 2]!]) {
      const { verified } = await client.receipt(txid);
      assert.equal(verified.seqno, parseTxId(txid).seqno);
    }
    // Writes go on after the restart.
    const { txid } = await cluster.client().call("log", "writePublic", { id: 9999, msg: "after" });
    await cluster.client().waitForCommit(txid!);
  });

  it("a node whose oldest chunks were archived refuses to start with LedgerArchived (it needs a snapshot), and starts once they are back", async () => {
    const leader = await cluster.waitForLeader();
    const node = cluster.nodes.find((n) => n !== leader)!;
    await node.stop();
    const live = ledgerStoreDir(node.dataDir);
    const chunks = committedChunks(node.dataDir);
    const archive = join(node.dataDir, "..", `archive-${node.index}`);
    mkdirSync(archive, { recursive: true });
    const archived = chunks.slice(0, 2);
    for (const name of archived) renameSync(join(live, name), join(archive, name));
    const firstLive = parseChunkFileName(chunks[2]!)!.firstSeqno;
    await node.start();
    await assert.rejects(
      cluster.waitForConvergence({ timeoutMs: 60_000 }),
      (err: Error) =>
        /LedgerArchived: entry \d+: not available on this node/.test(err.message) &&
        err.message.includes(`starts at seqno ${firstLive}`),
    );
    // The archive and the live folder audit together (copied into one folder while the node runs).
    const audit = join(node.dataDir, "..", `audit-${node.index}`);
    mkdirSync(audit);
    for (const name of archived) cpSync(join(archive, name), join(audit, name));
    for (const name of committedChunks(node.dataDir)) cpSync(join(live, name), join(audit, name));
    const io = captureLedgerIo();
    const code = await runLedgerVerify(
      [audit, "--quiet", "--service-key", toHex(cluster.serviceKey.publicKey)],
      io,
    );
    assert.equal(code, 0, io.stdout);

    assert.deepEqual(
      cluster.crashes().map((c) => c.index),
      [node.index],
    );
    cluster.clearCrashes();
    for (const name of archived) renameSync(join(archive, name), join(live, name));
    await node.start();
    await cluster.waitForConvergence();
    const { verified } = await cluster.client(null, { nodes: [node.url] }).receipt(txids[0]!);
    assert.equal(verified.seqno, parseTxId(txids[0]!).seqno);
  });
});
