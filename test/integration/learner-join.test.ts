/**
 * The learner phase over real processes: a loaded 3-node service with one node down (two of
 * three left: any further voter that cannot answer would stop commits) takes a fourth node. The
 * joiner is frozen (SIGSTOP) while it is still catching up, after it has asked to become a
 * member: as a learner it counts for nothing, so the two live voters keep committing and the
 * joiner stays out of the configuration. Resumed, it catches up and becomes a voter; the
 * stopped node comes back; no committed write is lost.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Cluster, startCluster } from "../support/cluster.js";
import { assertConvergedAndIdentical } from "./ledgers.js";
import { type LoadReport, startWriteLoad } from "./load.js";

describe("adding a node to a loaded, degraded service", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: [{ name: "log", path: "contracts/examples/log" }] });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("commits continue while the joiner catches up as a learner", async (t) => {
    const leader = await cluster.waitForLeader();
    const down = cluster.nodes.find((n) => n !== leader)!;
    const live = cluster.nodes.filter((n) => n !== down);
    const load = startWriteLoad(cluster, { writers: 4, label: "learner", nodes: live.map((n) => n.url) });
    let report: LoadReport;
    try {
      await load.waitForMoreCommits(200, 60_000);
      assert.equal(await down.stop(), 0);
      await load.waitForMoreCommits(20, 60_000);

      const joiner = await cluster.addNode({ via: live });
      // Frozen once it runs with the service's secrets and fetches the ledger: it has asked (or
      // is about to ask) to become a voter, and is far from the leader's log.
      await cluster.waitFor(
        "the joiner to catch up",
        async () => ((await joiner.status()).phase === "catching_up" ? true : undefined),
        120_000,
      );
      joiner.pause();
      await load.waitForMoreCommits(50, 60_000);
      const net = await leader.network();
      assert.ok(!net.config?.includes(joiner.id), "a frozen learner is not a voter");
      assert.equal(net.config?.length, 3);
      assert.equal(net.nodes.find((n) => n.nodeId === joiner.id)?.role, "learner", "/node/network shows it");

      joiner.resume();
      await cluster.waitFor(
        "the joiner to become a voter",
        async () => ((await leader.network()).config?.includes(joiner.id) ? true : undefined),
        120_000,
      );
      const roles = new Map((await leader.network()).nodes.map((n) => [n.nodeId, n.role]));
      assert.deepEqual([roles.get(leader.id), roles.get(joiner.id)], ["leader", "follower"]);
      await cluster.waitFor(
        "the joiner to see itself as a voter",
        async () => ((await joiner.status()).role === "follower" ? true : undefined),
        60_000,
      );
      await load.waitForMoreCommits(20, 60_000);
      await down.start();
      await load.waitForMoreCommits(20, 60_000);
    } finally {
      report = await load.stop();
    }
    t.diagnostic(
      `writes: ${report.attempted} attempted, ${report.committed.length} committed; failures ${JSON.stringify(report.failures)}`,
    );
    await assertConvergedAndIdentical(cluster, report.committed);
  });
});
