/**
 * Crash fault tolerance over real processes and a real nats-server: under a steady signed write
 * load, the leader is killed with SIGKILL (twice, so the second kill hits a leader elected after a
 * crash); each time a new leader is elected and writes continue, and the killed node restarts on
 * its data dir and catches up. At the end every write acknowledged as committed is read back from
 * every node, and the stopped nodes' ledgers are identical, entry for entry, with equal Merkle
 * roots, and hold every such write at its txid.
 *
 * Also: a write that reaches a follower right after the leader died (the follower still forwards
 * to the dead leader) ends in the new leader, through the SDK's ordinary retry.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client } from "../../sdk/client.js";
import { parseTxId } from "../../sdk/receipt.js";
import { type Cluster, startCluster } from "../support/cluster.js";
import { assertConvergedAndIdentical } from "./ledgers.js";
import { type LoadReport, startWriteLoad } from "./load.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];
const KILL_ROUNDS = 2;

describe("kill -9 the leader under load", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("answers a write that reached a follower just after the leader died through the new leader", async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    // A plain SDK client (no per-request timeout of our own, which would retry and hide a
    // forward that hangs): the follower still believes in the dead leader for an election
    // timeout, so its first forward goes nowhere. It must end as a retryable OutcomeUnknown once
    // a new leader is known (the SDK resends the same bytes), not as a Timeout the client cannot
    // retry.
    const client = new Client({ nodes: [follower.url], serviceKey: cluster.serviceKey, key: cluster.user });
    await leader.kill();
    try {
      const { txid } = await client.call("log", "writePublic", { id: 0, msg: "sent right after the kill" });
      await client.waitForCommit(txid!);
    } finally {
      await leader.start();
      await cluster.waitForConvergence({ nodes: cluster.nodes });
    }
  });

  it("elects a new leader, keeps committing, loses no committed write, and the killed node catches up", async (t) => {
    const load = startWriteLoad(cluster, { writers: 6, label: "kill" });
    const successorViews: number[] = [];
    let report: LoadReport;
    try {
      await load.waitForMoreCommits(50);
      for (let round = 0; round < KILL_ROUNDS; round++) {
        const leader = await cluster.waitForLeader();
        const viewBefore = (await leader.status()).view;
        await leader.kill();
        const successor = await cluster.waitForLeader({ exclude: [leader] });
        const view = (await successor.status()).view;
        assert.ok(view > viewBefore, `the new leader's view ${view} is above ${viewBefore}`);
        successorViews.push(view);
        await load.waitForMoreCommits(50);
        await leader.start();
        await load.waitForMoreCommits(20);
      }
    } finally {
      report = await load.stop();
    }
    t.diagnostic(
      `writes: ${report.attempted} attempted, ${report.committed.length} committed; failures ${JSON.stringify(report.failures)}`,
    );
    for (const view of successorViews) {
      assert.ok(
        report.committed.some((w) => parseTxId(w.txid).view === view),
        `writes were committed by the leader of view ${view}`,
      );
    }

    const last = await assertConvergedAndIdentical(cluster, report.committed);
    assert.ok(last >= report.committed.length, "every committed write is in the converged ledger");
  });
});
