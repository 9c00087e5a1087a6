/**
 * Partitions without production hooks: a node process is frozen with SIGSTOP, so its NATS
 * connection stays open but silent (it neither sends nor reads), then thawed with SIGCONT.
 *
 * - a follower frozen: the other two keep committing; thawed, it catches up;
 * - the leader frozen: the other two elect a new leader and keep committing; thawed, the old
 *   leader learns of the newer view, steps down, drops its uncommitted suffix and catches up.
 *
 * The load only talks to the nodes that are not frozen (a frozen node accepts TCP connections
 * but never answers). Every write acknowledged as committed is read back from every node, and
 * the stopped nodes' ledgers are identical and hold them all.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseTxId } from "../../sdk/receipt.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";
import { assertConvergedAndIdentical } from "./ledgers.js";
import { type CommittedWrite, readBack, startWriteLoad } from "./load.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];

describe("partition one node by freezing its process", () => {
  let cluster: Cluster;
  const committed: CommittedWrite[] = [];
  let nextId = 1;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
  });

  /** Runs the load against every node but `frozen` while `during` runs. */
  async function underLoad(
    frozen: ClusterNode,
    label: string,
    during: (load: ReturnType<typeof startWriteLoad>) => Promise<void>,
  ) {
    const load = startWriteLoad(cluster, {
      writers: 4,
      label,
      firstId: nextId,
      nodes: cluster.nodes.filter((n) => n !== frozen).map((n) => n.url),
    });
    try {
      await during(load);
    } finally {
      const report = await load.stop();
      committed.push(...report.committed);
      nextId += report.attempted;
    }
  }

  it("a frozen follower does not stop the others; thawed, it catches up", async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    await underLoad(follower, "follower", async (load) => {
      await load.waitForMoreCommits(20);
      follower.pause();
      await load.waitForMoreCommits(50);
      follower.resume();
      await load.waitForMoreCommits(20);
    });
    const last = await cluster.waitForConvergence({ nodes: cluster.nodes });
    assert.equal((await follower.status()).lastSeqno, last);
    assert.deepEqual(await readBack(cluster, follower, committed), []);
  });

  it("a frozen leader is replaced; thawed, it steps down and catches up", async () => {
    const leader = await cluster.waitForLeader();
    const viewBefore = (await leader.status()).view;
    let successorView = 0;
    await underLoad(leader, "leader", async (load) => {
      await load.waitForMoreCommits(20);
      leader.pause();
      const successor = await cluster.waitForLeader({ exclude: [leader] });
      successorView = (await successor.status()).view;
      assert.ok(successorView > viewBefore);
      await load.waitForMoreCommits(50);
      leader.resume();
      await cluster.waitFor("the old leader to follow the new view", async () => {
        const s = await leader.status();
        return s.role === "follower" && s.view >= successorView ? true : undefined;
      });
      await load.waitForMoreCommits(20);
    });
    assert.ok(committed.some((w) => parseTxId(w.txid).view === successorView));
    await cluster.waitForConvergence({ nodes: cluster.nodes });
    assert.deepEqual(await readBack(cluster, leader, committed), []);
  });

  it("leaves identical ledgers holding every committed write", async () => {
    await assertConvergedAndIdentical(cluster, committed);
  });
});
