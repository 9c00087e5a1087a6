/**
 * A node retired by governance and then started again (e.g. by its supervisor) says so and
 * exits: it logs one `NodeRetired` line naming itself and stops with `EXIT_RETIRED` (0), so a
 * `Restart=on-failure` unit leaves it down; started again on an emptied data folder, its join
 * is refused as retired and it exits the same way. The other nodes keep committing.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { EXIT_RETIRED } from "../../node/main.js";
import { Governance, actions } from "../../sdk/governance.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];

/** The JSON log lines of `node` whose `code` is `NodeRetired`. */
function retiredLines(node: ClusterNode): Record<string, unknown>[] {
  return node
    .tail(10_000)
    .split("\n")
    .flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        return parsed.code === "NodeRetired" ? [parsed] : [];
      } catch {
        return [];
      }
    });
}

describe("a retired node started again", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
  });

  /** Starts `node` and waits until it exits by itself with EXIT_RETIRED. */
  const startExpectingExit = async (node: ClusterNode) => {
    await node.start();
    await cluster
      .waitFor(`node ${node.index} to exit`, async () => (node.running() ? undefined : true), 30_000)
      .catch((err: unknown) => {
        // waitFor fails at once when a node exits unasked: that exit is the one expected here.
        if (node.running()) throw err;
      });
    assert.deepEqual(cluster.crashes(), [{ index: node.index, code: EXIT_RETIRED, signal: null }]);
    cluster.clearCrashes();
  };

  it("logs NodeRetired and exits with EXIT_RETIRED; the others keep committing", async () => {
    const leader = await cluster.waitForLeader();
    const retired = cluster.nodes.find((n) => n !== leader)!;
    const others = cluster.nodes.filter((n) => n !== retired);
    const gov = new Governance(cluster.client(cluster.member, { nodes: [leader.url] }), cluster.member);
    const client = cluster.client(undefined, { nodes: others.map((n) => n.url) });
    await client.call("log", "writePublic", { id: 1, msg: "before" });
    // Every node a voter first: the node retired below leaves the configuration, not a learner list.
    await cluster.waitFor("three voters", async () =>
      (await leader.network()).config?.length === 3 ? true : undefined,
    );

    const { proposalId } = await gov.propose([actions.retireNode(retired.id)]);
    await gov.vote(proposalId, "for");
    assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");
    await cluster.waitFor(`node ${retired.index} to be retired`, async () => {
      const record = (await gov.nodes()).find((n) => n.id === retired.id);
      return record?.status === "retired" ? true : undefined;
    });
    // While it runs and serves, a retired node keeps running (its operator stops it).
    assert.equal((await retired.status()).role, "retired");
    assert.equal(retiredLines(retired).length, 0);
    assert.equal(await retired.stop(), 0);

    await startExpectingExit(retired);
    let lines = retiredLines(retired);
    assert.equal(lines.length, 1, retired.tail(40));
    assert.equal(lines[0]!.node, retired.id);
    assert.equal(lines[0]!.level, "warn");
    // Its own ledger ends at `retiring` (the leader stops replicating to it once the configuration
    // without it commits): it learned `retired` from the service's committed node table.
    assert.equal(lines[0]!.source, "service");

    // The same identity on an emptied data folder: the join is refused as retired, same exit.
    rmSync(retired.dataDir, { recursive: true, force: true });
    mkdirSync(retired.dataDir);
    await startExpectingExit(retired);
    lines = retiredLines(retired);
    assert.equal(lines.length, 2, retired.tail(40));
    assert.equal(lines[1]!.node, retired.id);
    assert.equal(lines[1]!.source, "service");

    // The remaining two nodes still commit.
    const { txid } = await client.call("log", "writePublic", { id: 2, msg: "after" });
    await client.waitForCommit(txid);
    assert.deepEqual(cluster.crashes(), []);
  });
});
