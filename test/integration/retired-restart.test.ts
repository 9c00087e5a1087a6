/**
 * A node retired by governance and then started again (e.g. by its supervisor) says so and
 * exits: it logs one `NodeRetired` line naming itself and stops with `EXIT_RETIRED` (0), so a
 * `Restart=on-failure` unit leaves it down; started again on an emptied data folder, its join
 * is refused as retired and it exits the same way. The other nodes keep committing. A node
 * retired while it was down (its own ledger still counts it in the configuration and `trusted`)
 * learns it from the service the same way when it is started again, and so does a node admitted
 * but not yet a voter (`trusted`, out of the configuration), whose request to become a voting
 * member is refused as retired. Such a node started again without its `join` section asks the
 * nodes its own ledger advertises, and becomes a voting member. Every deliberate stop here
 * (SIGTERM) is clean: exit 0, and nothing logged at error level (also while the node still asks
 * to become a voting member).
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { EXIT_RETIRED } from "../../node/main.js";
import type { Client } from "../../sdk/client.js";
import { Governance, actions } from "../../sdk/governance.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";
import { type Seen, stubServers } from "../support/stub-server.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];

/** The JSON log lines of `node` that `pick` keeps. */
function logLines(
  node: ClusterNode,
  pick: (line: Record<string, unknown>) => boolean,
): Record<string, unknown>[] {
  return node
    .tail(10_000)
    .split("\n")
    .flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        return pick(parsed) ? [parsed] : [];
      } catch {
        return [];
      }
    });
}

/** The JSON log lines of `node` whose `code` is `NodeRetired`. */
function retiredLines(node: ClusterNode): Record<string, unknown>[] {
  return logLines(node, (line) => line.code === "NodeRetired");
}

/** Stops `node` (SIGTERM): a clean stop exits 0 and logs nothing at error level. */
async function stopCleanly(node: ClusterNode): Promise<void> {
  assert.equal(await node.stop(), 0);
  assert.deepEqual(
    logLines(node, (line) => line.level === "error"),
    [],
  );
}

/** Starts `node` in `cluster` and waits until it exits by itself with EXIT_RETIRED. */
async function startExpectingExit(cluster: Cluster, node: ClusterNode): Promise<void> {
  await node.start();
  await cluster
    .waitFor(`node ${node.index} to exit`, async () => (node.running() ? undefined : true), 30_000)
    .catch((err: unknown) => {
      // waitFor fails at once when a node exits unasked: that exit is the one expected here.
      if (node.running()) throw err;
    });
  assert.deepEqual(cluster.crashes(), [{ index: node.index, code: EXIT_RETIRED, signal: null }]);
  cluster.clearCrashes();
}

/** Retires `node` by proposal and vote (through `leader`) and waits until its record is `retired`. */
async function retire(cluster: Cluster, leader: ClusterNode, node: ClusterNode): Promise<void> {
  const gov = new Governance(cluster.client(cluster.member, { nodes: [leader.url] }), cluster.member);
  const { proposalId } = await gov.propose([actions.retireNode(node.id)]);
  await gov.vote(proposalId, "for");
  assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");
  await cluster.waitFor(`node ${node.index} to be retired`, async () => {
    const record = (await gov.nodes()).find((n) => n.id === node.id);
    return record?.status === "retired" ? true : undefined;
  });
}

/**
 * A follower of the 3-node `cluster` to retire, and a client of the two others, once a write
 * went through and every node is a voter (the node retired leaves the configuration, not a learner
 * list).
 */
async function followerToRetire(
  cluster: Cluster,
): Promise<{ leader: ClusterNode; retired: ClusterNode; client: Client }> {
  const leader = await cluster.waitForLeader();
  const retired = cluster.nodes.find((n) => n !== leader)!;
  const client = cluster.client(undefined, {
    nodes: cluster.nodes.filter((n) => n !== retired).map((n) => n.url),
  });
  await client.call("log", "writePublic", { id: 1, msg: "before" });
  await cluster.waitFor("three voters", async () =>
    (await leader.network()).config?.length === 3 ? true : undefined,
  );
  return { leader, retired, client };
}

describe("a retired node started again", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("logs NodeRetired and exits with EXIT_RETIRED; the others keep committing", async () => {
    const { leader, retired, client } = await followerToRetire(cluster);
    await retire(cluster, leader, retired);
    // While it runs and serves, a retired node keeps running (its operator stops it).
    assert.equal((await retired.status()).role, "retired");
    assert.equal(retiredLines(retired).length, 0);
    await stopCleanly(retired);

    await startExpectingExit(cluster, retired);
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
    await startExpectingExit(cluster, retired);
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

describe("a node retired while it was down, started again", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("learns from the service that it is retired, logs NodeRetired and exits", async () => {
    const { leader, retired, client } = await followerToRetire(cluster);
    // Down before the retirement: its ledger ends with it `trusted` and in the configuration.
    await stopCleanly(retired);
    await retire(cluster, leader, retired);

    await startExpectingExit(cluster, retired);
    const lines = retiredLines(retired);
    assert.equal(lines.length, 1, retired.tail(40));
    assert.equal(lines[0]!.node, retired.id);
    assert.equal(lines[0]!.source, "service");

    const { txid } = await client.call("log", "writePublic", { id: 2, msg: "after" });
    await client.waitForCommit(txid);
    assert.deepEqual(cluster.crashes(), []);
  });
});

/**
 * A proxy in front of `target` for a joiner's requests. While `holdBack` is set, it lets through
 * requests to become a voting member (`args.ready`) only until one is answered (the leader then
 * catches the joiner up as a learner) and refuses the later ones as a busy service would (503),
 * so the joiner stays out of the configuration.
 */
async function joinProxy(
  servers: ReturnType<typeof stubServers>,
  target: string,
): Promise<{ url: string; holdBack: boolean }> {
  const proxy = { url: "", holdBack: true };
  let readyAnswered = false;
  const forward = async (req: Seen): Promise<{ status: number; body: Uint8Array }> => {
    const ready = (JSON.parse(Buffer.from(req.body).toString("utf8")) as { args?: { ready?: unknown } }).args
      ?.ready;
    if (ready === true && proxy.holdBack && readyAnswered) {
      const error = { code: "Unavailable", message: "held back by the test's proxy" };
      return { status: 503, body: Buffer.from(JSON.stringify({ error })) };
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (typeof value === "string" && !["host", "connection", "content-length"].includes(name))
        headers[name] = value;
    const response = await fetch(target + req.url, {
      method: req.method,
      headers,
      body: req.body as Uint8Array<ArrayBuffer>,
    });
    if (ready === true && response.ok) readyAnswered = true;
    return { status: response.status, body: new Uint8Array(await response.arrayBuffer()) };
  };
  const { url } = await servers.serve((req, res) => {
    void forward(req).then(
      ({ status, body }) => res.writeHead(status, { "content-type": "application/json" }).end(body),
      () => res.destroy(),
    );
  });
  proxy.url = url;
  return proxy;
}

/**
 * A node admitted through a proxy that holds back its voter request: trusted, caught up as a
 * learner, not a voter; then stopped (cleanly, while it still asks to become a voting member).
 */
async function stoppedLearner(
  cluster: Cluster,
  servers: ReturnType<typeof stubServers>,
): Promise<{ leader: ClusterNode; proxy: { url: string; holdBack: boolean }; joiner: ClusterNode }> {
  const leader = await cluster.waitForLeader();
  const proxy = await joinProxy(servers, leader.url);
  const joiner = await cluster.addNode({ via: [proxy.url] });
  await cluster.waitFor(
    "the joiner to catch up as a learner",
    async () => ((await joiner.status()).phase === "serving" ? true : undefined),
    60_000,
  );
  const net = await leader.network();
  assert.ok(!net.config?.includes(joiner.id), "the joiner is not a voter");
  assert.equal(net.nodes.find((n) => n.nodeId === joiner.id)?.status, "trusted");
  await stopCleanly(joiner);
  return { leader, proxy, joiner };
}

describe("a node admitted but not yet a voter, retired while it was down, started again", () => {
  let cluster: Cluster;
  const servers = stubServers();

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
    await servers.closeAll();
  });

  it("is refused its membership as retired, logs NodeRetired and exits", async () => {
    const { leader, proxy, joiner } = await stoppedLearner(cluster, servers);
    await retire(cluster, leader, joiner);

    // Started again, it asks (through its join config) to become a voting member.
    proxy.holdBack = false;
    await startExpectingExit(cluster, joiner);
    const lines = retiredLines(joiner);
    assert.equal(lines.length, 1, joiner.tail(40));
    assert.equal(lines[0]!.node, joiner.id);
    assert.equal(lines[0]!.source, "service");

    const client = cluster.client(undefined, { nodes: [leader.url] });
    const { txid } = await client.call("log", "writePublic", { id: 3, msg: "after" });
    await client.waitForCommit(txid);
    assert.deepEqual(cluster.crashes(), []);
  });
});

describe("a node admitted but not yet a voter, started again without a join config", () => {
  let cluster: Cluster;
  const servers = stubServers();

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY });
  });
  after(async () => {
    await cluster?.dispose();
    await servers.closeAll();
  });

  it("asks the nodes its ledger advertises and becomes a voting member", async () => {
    const { leader, proxy, joiner } = await stoppedLearner(cluster, servers);
    // Its operator drops the `join` section once the node has joined (only an empty data folder needs it).
    const { join: _join, ...withoutJoin } = JSON.parse(readFileSync(joiner.configFile, "utf8")) as Record<
      string,
      unknown
    >;
    writeFileSync(joiner.configFile, JSON.stringify(withoutJoin, null, 2));

    // Started again: the proxy (its old join URL) would still hold it back; the nodes its own
    // ledger's committed records advertise are asked instead.
    await joiner.start();
    await cluster.waitFor(
      "the joiner to be a voter",
      async () => ((await leader.network()).config?.includes(joiner.id) ? true : undefined),
      60_000,
    );
    const asked = logLines(
      joiner,
      (line) => line.msg === "not in the consensus configuration: asking to be added",
    );
    // One line per start: through its join config first, then the nodes its ledger advertises.
    assert.equal(asked.length, 2, joiner.tail(40));
    assert.deepEqual(asked[0]!.nodes, [proxy.url]);
    assert.deepEqual(
      [...(asked[1]!.nodes as string[])].sort(),
      cluster.nodes
        .filter((n) => n !== joiner)
        .map((n) => n.url)
        .sort(),
    );
    await cluster.waitFor("the joiner to say it is a voting member", async () =>
      logLines(joiner, (line) => line.msg === "voting member of the service").length > 0 ? true : undefined,
    );
    const client = cluster.client(undefined, { nodes: [joiner.url] });
    const { txid } = await client.call("log", "writePublic", { id: 4, msg: "through the new voter" });
    await client.waitForCommit(txid);
    await stopCleanly(joiner);
    assert.deepEqual(cluster.crashes(), []);
  });
});
