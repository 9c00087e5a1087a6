/**
 * Retiring nodes shrinks the quorum safely, under a steady signed write load. Member0 retires a
 * follower, then the leader, by governance (`retire_node`, one vote: a single-member
 * consortium). Each time the configuration shrinks (the retiring leader hands over to the
 * remaining node), the retired node is recorded `retired`, and its process is stopped. The last
 * node then commits alone: with 2 of the 3 original processes gone, only a quorum that really
 * shrank can still commit. Every write acknowledged as committed is read back from the last node,
 * and the retired nodes' ledgers are prefixes of its ledger.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Governance, actions } from "../../sdk/governance.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";
import { compareLedgers } from "./ledgers.js";
import { type LoadReport, readBack, startWriteLoad } from "./load.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];

describe("retiring nodes", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("shrinks the configuration and the quorum; the last node commits alone", async (t) => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    const last = cluster.nodes.find((n) => n !== leader && n !== follower)!;
    const gov = new Governance(cluster.client(cluster.member, { nodes: [last.url] }), cluster.member);

    /** Retires `node` by proposal and vote, then waits until `last` sees the configuration without it. */
    const retire = async (node: ClusterNode, remaining: readonly ClusterNode[]) => {
      const { proposalId } = await gov.propose([actions.retireNode(node.id)]);
      const ballot = await gov.vote(proposalId, "for");
      // The proposal is read from `last`, which may not have applied it yet when the leader
      // answered (waitForFinal then throws UnknownProposal): wait until `last` committed the ballot.
      await gov.client.waitForCommit(ballot.txid);
      assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");
      const expected = remaining.map((n) => n.id).sort();
      await cluster.waitFor(`node ${node.index} to be retired`, async () => {
        const network = await last.network();
        const record = (await gov.nodes()).find((n) => n.id === node.id);
        const config = [...(network.config ?? [])].sort();
        return record?.status === "retired" && JSON.stringify(config) === JSON.stringify(expected)
          ? true
          : undefined;
      });
    };

    const load = startWriteLoad(cluster, { writers: 3, label: "retire", nodes: [last.url] });
    let report: LoadReport;
    try {
      await load.waitForMoreCommits(20);
      await retire(follower, [leader, last]);
      assert.equal(await follower.stop(), 0);
      await load.waitForMoreCommits(20);

      await retire(leader, [last]);
      const status = await last.status();
      assert.equal(status.role, "leader", "the retiring leader handed over to the remaining node");
      assert.equal(await leader.stop(), 0);
      await load.waitForMoreCommits(30);
    } finally {
      report = await load.stop();
    }
    t.diagnostic(
      `writes: ${report.attempted} attempted, ${report.committed.length} committed; failures ${JSON.stringify(report.failures)}`,
    );

    await cluster.waitForConvergence({ nodes: [last] });
    assert.deepEqual(await readBack(cluster, last, report.committed), []);
    assert.equal(await last.stop(), 0);
    assert.deepEqual(cluster.crashes(), []);
    const { problems } = await compareLedgers(
      [last.dataDir, leader.dataDir, follower.dataDir],
      cluster.serviceKey,
      report.committed,
      { prefixes: true },
    );
    assert.deepEqual(problems, []);
  });
});
