/**
 * Joining a node after the leader changed, over a real nats-server with one process per node.
 * The trust policy for joiners is state of the service (its service record), not a node's
 * config: whichever node leads applies it. With auto-trust on (what `treaty dev` sets at
 * genesis), a 4th node started with `join` after the leader was killed is trusted, catches up
 * and serves reads without a vote. With auto-trust turned off by governance, a 5th node says
 * (in `/node/status` and its log) that it waits for a `trust_node` vote; members see it pending
 * over HTTP and with `treaty nodes`, trust it with `treaty trust` and `treaty vote`, and it then
 * serves reads.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { actions, Governance } from "../../sdk/governance.js";
import { toKeyFile } from "../../sdk/keys.js";
import { treaty } from "../support/cli.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";

const WRITES = 20;
const JOIN_TIMEOUT_MS = 90_000;

describe("a node joins whichever node leads", () => {
  let cluster: Cluster;
  let survivors: ClusterNode[];

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: [{ name: "log", path: "contracts/examples/log" }] });
  });
  after(() => cluster?.dispose());

  const log = (nodes: readonly ClusterNode[]) =>
    cluster.client(cluster.user, { nodes: nodes.map((n) => n.url) }).contract<typeof logContract>("log");

  /** Waits until `node` serves (phase serving, a follower in the configuration) and returns it. */
  async function serving(node: ClusterNode): Promise<void> {
    await cluster.waitFor(
      `node ${node.index} to serve`,
      async () => {
        const s = await node.status();
        return s.phase === "serving" && s.role === "follower" ? true : undefined;
      },
      JOIN_TIMEOUT_MS,
    );
    // A joiner catches up as a learner and becomes a voter once close to the leader's log.
    await cluster.waitFor(
      `node ${node.index} to be a voting member`,
      async () => ((await survivors[0]!.network()).config ?? []).includes(node.id) || undefined,
      JOIN_TIMEOUT_MS,
    );
  }

  it("auto-trust: after the leader is killed, a 4th node is trusted and catches up without a vote", async () => {
    let last = "";
    for (let id = 1; id <= WRITES; id++) {
      last = (await log(cluster.nodes).writePublic({ id, msg: `before ${id}` })).txid!;
    }
    await cluster.client().waitForCommit(last);
    const leader = await cluster.waitForLeader();
    await leader.kill();
    survivors = cluster.nodes.filter((n) => n !== leader);
    const next = await cluster.waitForLeader({ exclude: [leader] });
    assert.notEqual(next, leader);

    const joiner = await cluster.addNode({ via: survivors });
    await serving(joiner);
    assert.doesNotMatch(readFileSync(joiner.logFile, "utf8"), /waiting for members to trust/);
    const { result } = await log([joiner]).readPublic({ id: WRITES });
    assert.deepEqual(result, { msg: `before ${WRITES}` });
    survivors.push(joiner);
  });

  it("without auto-trust: the joiner says it waits for a trust_node vote, members see it and give it", async () => {
    const gov = new Governance(
      cluster.client(cluster.member, { nodes: survivors.map((n) => n.url) }),
      cluster.member,
    );
    const { proposalId } = await gov.propose([actions.setAutoTrustNodes(false)]);
    await gov.vote(proposalId, "for");
    assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");
    assert.equal((await gov.service()).autoTrustNodes, false);

    const joiner = await cluster.addNode({ via: survivors });
    const reason = `waiting for members to trust node ${joiner.id} (proposal trust_node)`;
    const pending = await cluster.waitFor(
      "the joiner to report that it is pending",
      async () => {
        const s = await joiner.status();
        return s.phase === "pending" ? s : undefined;
      },
      JOIN_TIMEOUT_MS,
    );
    assert.deepEqual(pending.progress, { phase: "pending", waitingFor: reason });
    await cluster.waitFor("the joiner to log why it waits", async () =>
      readFileSync(joiner.logFile, "utf8").includes(`pending: ${reason}`) ? true : undefined,
    );
    const refused = await fetch(`${joiner.url}/app/log/readPublic`, {
      method: "POST",
      body: JSON.stringify({ args: { id: 1 } }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(refused.status, 503);
    const refusal = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(refusal.error.code, "Unavailable");
    assert.equal(refusal.error.message, `the node is pending: ${reason}: retry shortly`);

    // Members see the pending node over HTTP and with the CLI...
    await cluster.waitFor("the pending node in /gov/nodes", async () =>
      (await gov.nodes()).some((n) => n.id === joiner.id && n.status === "pending") ? true : undefined,
    );
    // Its join request announced what its code does, and the leader recorded it (as genesis did
    // for the founder): no leader writes the legacy nonce rows for it (docs/deploy.md).
    for (const node of await gov.nodes()) assert.deepEqual(node.features, ["nonceLog"], node.id);
    const keyFile = join(cluster.dir, "member0-key.json");
    const serviceFile = join(cluster.dir, "service-survivors.json");
    writeFileSync(keyFile, JSON.stringify(toKeyFile(cluster.member)), { mode: 0o600 });
    writeFileSync(
      serviceFile,
      JSON.stringify({ ...cluster.serviceFile, nodes: survivors.map((n) => n.url) }),
    );
    const listed = await treaty("nodes", "--status", "pending", "--service", serviceFile);
    assert.equal(listed.code, 0, listed.stderr);
    const nodes = (JSON.parse(listed.stdout) as { nodes: { id: string; status: string }[] }).nodes;
    assert.deepEqual(
      nodes.map((n) => [n.id, n.status]),
      [[joiner.id, "pending"]],
    );

    // ...and trust it by proposal and ballot; the joiner then joins and serves reads.
    const proposed = await treaty("trust", joiner.id, "--key", keyFile, "--service", serviceFile);
    assert.equal(proposed.code, 0, proposed.stderr);
    const proposal = JSON.parse(proposed.stdout) as { proposalId: string; state: string };
    assert.equal(proposal.state, "Open", "proposing does not vote");
    const voted = await treaty(
      "vote",
      proposal.proposalId,
      "--for",
      "--key",
      keyFile,
      "--service",
      serviceFile,
      "--wait",
    );
    assert.equal(voted.code, 0, voted.stderr);
    assert.equal((JSON.parse(voted.stdout) as { state: string }).state, "Accepted");
    await serving(joiner);
    const { result } = await log([joiner]).readPublic({ id: 1 });
    assert.deepEqual(result, { msg: "before 1" });
  });
});
