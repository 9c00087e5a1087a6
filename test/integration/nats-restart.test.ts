/**
 * The nats-server itself fails under a steady signed write load:
 *
 * - a quick restart (stop, start on the same port): the nodes reconnect and writes continue;
 * - an outage longer than the election timeout (the NATS server goes away): the leader steps
 *   down (check-quorum), every node keeps serving HTTP and none crashes; when the server comes
 *   back a leader is elected and writes continue.
 *
 * No write acknowledged as committed is lost: each is read back from every node, and the stopped
 * nodes' ledgers are identical and hold them all.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseTxId } from "../../sdk/receipt.js";
import { type Cluster, startCluster } from "../support/cluster.js";
import { assertConvergedAndIdentical } from "./ledgers.js";
import { type LoadReport, startWriteLoad } from "./load.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];

describe("nats-server restarts and outages", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("writes pause and continue; no committed write is lost; no node crashes", async (t) => {
    const load = startWriteLoad(cluster, { writers: 4, label: "nats" });
    let report: LoadReport;
    let viewBeforeOutage = Number.POSITIVE_INFINITY;
    try {
      await load.waitForMoreCommits(30);

      // A quick restart: every node loses its connection at once and reconnects.
      await cluster.nats.stop();
      await cluster.nats.start();
      await load.waitForMoreCommits(50);

      // The server goes away for longer than an election timeout.
      await cluster.nats.stop();
      await cluster.waitFor("every node to notice it leads nobody", async () => {
        const statuses = await Promise.all(cluster.nodes.map((n) => n.status()));
        return statuses.every((s) => s.role !== "leader") ? true : undefined;
      });
      const statuses = await Promise.all(cluster.nodes.map((n) => n.status()));
      for (const s of statuses) assert.equal(s.serviceStatus, "open", "nodes keep serving without NATS");
      viewBeforeOutage = Math.max(...statuses.map((s) => s.view));
      await cluster.nats.start();
      await cluster.waitForLeader();
      await load.waitForMoreCommits(50);
    } finally {
      report = await load.stop();
    }
    t.diagnostic(
      `writes: ${report.attempted} attempted, ${report.committed.length} committed; failures ${JSON.stringify(report.failures)}`,
    );

    assert.ok(
      report.committed.some((w) => parseTxId(w.txid).view > viewBeforeOutage),
      `writes committed in a view after the outage (above ${viewBeforeOutage})`,
    );

    await assertConvergedAndIdentical(cluster, report.committed);
  });
});
