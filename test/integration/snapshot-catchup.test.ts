/**
 * Catching up from a snapshot over a real nats-server, one process per node (docs/consensus.md,
 * "Install-snapshot"). A follower stopped while 20,000 writes commit is behind the leader's
 * in-memory window when it comes back: the leader sends its latest snapshot (pulled in chunks,
 * verified against the service identity), the follower installs it, replicates the rest and
 * ends with the same ledger tail (identical receipts from its own ledger) and the same state.
 * Then a brand-new node joins from a snapshot instead of replaying the ledger from seqno 1.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import type { CallResult } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { assertConvergedAndIdentical } from "./ledgers.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";
import { fastSignedRequest } from "./load.js";

const WRITES = 20_000;
/** Concurrent writers while the follower is down. */
const WRITERS = 64;
/** Snapshots every this many entries (the default is 10,000). */
const SNAPSHOT_EVERY_ENTRIES = 4_000;
const CATCH_UP_TIMEOUT_MS = 90_000;

/** `treaty_snapshot_events_total{event}` of a node. */
async function snapshotEvents(node: ClusterNode): Promise<Record<string, number>> {
  const text = await (await fetch(`${node.url}/node/metrics`)).text();
  const events: Record<string, number> = {};
  for (const match of text.matchAll(/^treaty_snapshot_events_total\{event="(\w+)"\} (\d+)$/gm))
    events[match[1]!] = Number(match[2]);
  return events;
}

describe("catch-up and join from a snapshot", () => {
  let cluster: Cluster;
  let leader: ClusterNode;
  let lagging: ClusterNode;
  const txids: string[] = [];

  before(async () => {
    cluster = await startCluster({
      nodes: 3,
      contracts: [{ name: "log", path: "contracts/examples/log" }],
      extraConfig: { snapshots: { everyEntries: SNAPSHOT_EVERY_ENTRIES, everyMs: 3_600_000 } },
    });
    leader = await cluster.waitForLeader();
    lagging = cluster.nodes.find((n) => n !== leader)!;
  });
  after(() => cluster?.dispose());

  const log = (node: ClusterNode) =>
    cluster.client(cluster.user, { nodes: [node.url] }).contract<typeof logContract>("log");

  it("a follower stopped through 20k writes catches up by snapshot, with the same ledger and state", async (t) => {
    const started = Date.now();
    await log(leader).writePublic({ id: 0, msg: "before the stop" });
    await cluster.waitForConvergence();
    const lastBefore = (await lagging.status()).lastSeqno;
    await lagging.stop();

    // Many concurrent writers straight to the leader; commits are awaited once, at the end.
    const client = cluster.client(cluster.user, { nodes: [leader.url] });
    let next = 1;
    const writer = async () => {
      while (next <= WRITES) {
        const id = next++;
        const request = fastSignedRequest(cluster.user, cluster.serviceId, "/app/log/writePublic", {
          id,
          msg: `message ${id}`,
        });
        try {
          txids[id] = (await client.post<CallResult>(request)).txid!;
        } catch (err) {
          // The client resent a request that had executed: the answer names the transaction.
          if (!isTreatyError(err, "Replay") || typeof err.details?.txid !== "string") throw err;
          txids[id] = err.details.txid;
        }
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, writer));
    await client.waitForCommit(txids[WRITES]!, { timeoutMs: 30_000 });
    t.diagnostic(`${WRITES} writes committed in ${Date.now() - started} ms`);
    const leaderStatus = await leader.status();
    assert.ok(leaderStatus.commitSeqno >= lastBefore + WRITES, "the writes committed");

    await lagging.start();
    const restarted = Date.now();
    const converged = await cluster.waitForConvergence({ timeoutMs: CATCH_UP_TIMEOUT_MS });
    t.diagnostic(`the follower caught up ${Date.now() - restarted} ms after its restart`);
    assert.ok(converged >= leaderStatus.commitSeqno);

    const events = await snapshotEvents(lagging);
    assert.ok((events.installed ?? 0) >= 1, `the follower installed a snapshot: ${JSON.stringify(events)}`);
    assert.ok((events.bytesFetched ?? 0) > 0);
    // Served by whichever node led when the follower came back (leadership may move under load).
    let served = 0;
    for (const node of cluster.nodes)
      if (node !== lagging) served += (await snapshotEvents(node)).chunksServed ?? 0;
    assert.ok(served >= 1, "a leader served the chunks");
    assert.match(lagging.tail(400), /snapshot installed/);

    // The same ledger tail: receipts built by each node from its own ledger are identical.
    const mine = cluster.client(null, { nodes: [lagging.url] });
    const theirs = cluster.client(null, { nodes: [leader.url] });
    for (const id of [WRITES - 20, WRITES - 7, WRITES - 1, WRITES]) {
      const txid = txids[id]!;
      assert.deepEqual((await mine.receipt(txid)).receipt, (await theirs.receipt(txid)).receipt, txid);
    }
    const [a, b] = [await lagging.status(), await leader.status()];
    assert.equal(a.lastSeqno, b.lastSeqno);
    assert.equal(a.commitSeqno, b.commitSeqno);

    // The same state, from the follower's own KV: writes inside the snapshot and after it.
    for (const id of [0, 1, 2_345, 9_999, 15_000, WRITES - 3, WRITES]) {
      const expected = id === 0 ? "before the stop" : `message ${id}`;
      assert.deepEqual((await log(lagging).readPublic({ id })).result, { msg: expected }, `id ${id}`);
    }

    // And it keeps replicating: a write after the catch-up reaches it.
    const { txid } = await log(leader).writePublic({ id: WRITES + 1, msg: "after" });
    await cluster.client(null, { nodes: [lagging.url] }).waitForCommit(txid!);
    assert.deepEqual((await log(lagging).readPublic({ id: WRITES + 1 })).result, { msg: "after" });
  });

  it("a new node joins from a snapshot, not from seqno 1", async (t) => {
    const started = Date.now();
    const joiner = await cluster.addNode();
    await cluster.waitFor(
      "the new node to serve",
      async () => {
        const s = await joiner.status();
        return s.phase === "serving" && s.role === "follower" ? true : undefined;
      },
      CATCH_UP_TIMEOUT_MS,
    );
    await cluster.waitForConvergence({ timeoutMs: CATCH_UP_TIMEOUT_MS });
    t.diagnostic(`the new node served and converged ${Date.now() - started} ms after it started`);
    const events = await snapshotEvents(joiner);
    assert.ok((events.installed ?? 0) >= 1, `the joiner installed a snapshot: ${JSON.stringify(events)}`);
    for (const id of [1, 12_345, WRITES, WRITES + 1]) {
      const expected = id === WRITES + 1 ? "after" : `message ${id}`;
      assert.deepEqual((await log(joiner).readPublic({ id })).result, { msg: expected }, `id ${id}`);
    }
    const txid = txids[WRITES]!;
    assert.deepEqual(
      (await cluster.client(null, { nodes: [joiner.url] }).receipt(txid)).receipt,
      (await cluster.client(null, { nodes: [leader.url] }).receipt(txid)).receipt,
    );
    // Stopped, every ledger verifies offline (the two that start at a snapshot from it) and they
    // are identical after the latest snapshot any of them starts at.
    await assertConvergedAndIdentical(cluster, []);
  });
});
