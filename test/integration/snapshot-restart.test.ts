/**
 * Snapshots on a 3-node service over a real nats-server: every node writes the same snapshot
 * (byte for byte: the body is deterministic and the evidence receipt is the same), and a node
 * restarted after a snapshot reads only the ledger after it, then serves the same state and the
 * same receipts as before, for transactions before the snapshot too.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import type { Receipt } from "../../sdk/receipt.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { snapshotDir } from "../../node/snapshot/files.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];
const WRITES = 120;

function committedSnapshots(node: ClusterNode): string[] {
  try {
    return readdirSync(snapshotDir(node.dataDir))
      .filter((name) => name.endsWith(".committed"))
      .sort();
  } catch {
    return [];
  }
}

describe("restart after a snapshot, over nats-server", () => {
  let cluster: Cluster;
  const receipts = new Map<string, Receipt>();
  let restarted: ClusterNode;

  before(async () => {
    cluster = await startCluster({
      nodes: 3,
      contracts: LOG_ONLY,
      extraConfig: { snapshots: { everyEntries: 40 } },
    });
    const log = cluster.client().contract<typeof logContract>("log");
    const txids: string[] = [];
    for (let id = 1; id <= WRITES; id++) {
      const write = id % 2 === 0 ? log.writePrivate : log.writePublic;
      txids.push((await write({ id, msg: `message ${id}` })).txid!);
    }
    await cluster.waitForConvergence();
    await cluster.waitFor(
      "a committed snapshot on every node",
      async () => (cluster.nodes.every((n) => committedSnapshots(n).length > 0) ? true : undefined),
      30_000,
    );
    for (const txid of [txids[0]!, txids[1]!, txids[50]!, txids.at(-1)!]) {
      const { receipt } = await cluster.client().receipt(txid);
      receipts.set(txid, receipt);
    }
    const leader = await cluster.waitForLeader();
    restarted = cluster.nodes.find((n) => n !== leader)!;
    await restarted.stop();
    // The service goes on without it.
    for (let id = WRITES + 1; id <= WRITES + 10; id++) await log.writePublic({ id, msg: `message ${id}` });
    await restarted.start();
    await cluster.waitForConvergence({ timeoutMs: 60_000 });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("every node wrote the same snapshot, byte for byte", () => {
    const [first, ...rest] = cluster.nodes.map((n) => new Map(committedSnapshots(n).map((f) => [f, n])));
    const common = [...first!.keys()].filter((name) => rest.every((m) => m.has(name)));
    assert.ok(common.length > 0, "a snapshot seqno every node has");
    const name = common.at(-1)!;
    const bytes = cluster.nodes.map((n) => readFileSync(join(snapshotDir(n.dataDir), name)));
    for (const other of bytes.slice(1)) assert.deepEqual(other, bytes[0]);
  });

  it("the restarted node read only the ledger after its snapshot", async () => {
    const lines = readFileSync(restarted.logFile, "utf8").split("\n");
    const starts = lines
      .filter((l) => l.includes('"replaying"') && l.includes('"done":0'))
      .map((l) => JSON.parse(l) as { total: number });
    const lastSeqno = (await restarted.status()).lastSeqno;
    assert.ok(starts.length >= 2, "two starts logged");
    assert.ok(starts.at(-1)!.total < lastSeqno - 40, `read ${starts.at(-1)!.total} of ${lastSeqno} entries`);
  });

  it("serves the same state and the same receipts, before the snapshot included", async () => {
    const client = cluster.client(undefined, { nodes: [restarted.url] });
    const log = client.contract<typeof logContract>("log");
    for (const id of [1, 2, 61, WRITES, WRITES + 10]) {
      const read = id % 2 === 0 && id <= WRITES ? log.readPrivate : log.readPublic;
      assert.deepEqual((await read({ id })).result, { msg: `message ${id}` });
    }
    for (const [txid, receipt] of receipts) {
      const again = await client.receipt(txid);
      assert.deepEqual(again.receipt, receipt);
      verifyReceipt(again.receipt, cluster.serviceKey, { txid });
    }
  });
});
