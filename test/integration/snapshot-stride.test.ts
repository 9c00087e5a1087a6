/**
 * The snapshot stride on a 3-node service over a real nats-server: it grows with the newest
 * snapshot recorded in the ledger (docs/snapshots.md), and every node, reading the same ledger,
 * reckons the same stride and snapshots at the same seqnos, byte for byte; a node restarted from
 * its snapshot reckons it again from its ledger and goes on snapshotting with the others.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { snapshotDir } from "../../node/snapshot/files.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];
const EVERY_ENTRIES = 8;
/** Well below the first snapshot (the genesis state with the log contract): the stride grows at once. */
const STRIDE_BYTES = 16 * 1024;
const WRITES = 160;

function committedSnapshots(node: ClusterNode): string[] {
  return readdirSync(snapshotDir(node.dataDir))
    .filter((name) => name.endsWith(".committed"))
    .sort();
}

/** The value of the metric line `name` in the node's `/node/metrics`. */
async function metric(node: ClusterNode, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${node.url}/node/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe("the snapshot stride, over nats-server", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({
      nodes: 3,
      contracts: LOG_ONLY,
      extraConfig: { snapshots: { everyEntries: EVERY_ENTRIES, strideBytes: STRIDE_BYTES, keep: 100 } },
    });
    const log = cluster.client().contract<typeof logContract>("log");
    for (let id = 1; id <= WRITES; id++) await log.writePublic({ id, msg: `message ${id}` });
    await cluster.waitForConvergence();
    // Every node's newest snapshot file is committed (its evidence seen) once all hold the same.
    await cluster.waitFor(
      "the same newest committed snapshot on every node",
      async () => {
        const newest = cluster.nodes.map((n) => committedSnapshots(n).at(-1));
        return newest[0] !== undefined && newest.every((f) => f === newest[0]) ? true : undefined;
      },
      30_000,
    );
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("grew, and every node reckons the same stride", async () => {
    const strides = await Promise.all(cluster.nodes.map((n) => metric(n, "treaty_snapshot_stride_entries")));
    assert.ok(strides[0]! > EVERY_ENTRIES, `the stride grew past everyEntries: ${strides.join(", ")}`);
    assert.deepEqual(strides, [strides[0], strides[0], strides[0]]);
  });

  it("every node snapshotted at the same seqnos once the stride grew, byte for byte", async () => {
    const stride = (await metric(cluster.nodes[0]!, "treaty_snapshot_stride_entries"))!;
    const files = cluster.nodes.map(committedSnapshots);
    const seqnoOf = (name: string) => Number(/snapshot-(\d+)\./.exec(name)![1]);
    // Past the first snapshots (taken at the base stride, where a node still busy with one may
    // skip the next), the points are a stride or more apart and the same on every node.
    const late = files.map((list) => list.filter((name) => seqnoOf(name) > stride));
    assert.ok(late[0]!.length > 0, `a snapshot past seqno ${stride}: ${files[0]!.join(", ")}`);
    assert.deepEqual(late[1], late[0]);
    assert.deepEqual(late[2], late[0]);
    const seqnos = late[0]!.map(seqnoOf);
    for (let i = 1; i < seqnos.length; i++) assert.ok(seqnos[i]! - seqnos[i - 1]! >= EVERY_ENTRIES * 2);
    const name = late[0]!.at(-1)!;
    const bytes = cluster.nodes.map((n) => readFileSync(join(snapshotDir(n.dataDir), name)));
    assert.deepEqual(bytes[1], bytes[0]);
    assert.deepEqual(bytes[2], bytes[0]);
  });

  it("a restarted node reckons the same stride from its ledger and snapshots with the others", async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n !== leader)!;
    const before = committedSnapshots(follower).at(-1)!;
    await follower.stop();
    await follower.start();
    await cluster.waitForConvergence({ timeoutMs: 60_000 });
    const stride = (await metric(leader, "treaty_snapshot_stride_entries"))!;
    // At once: the stride comes from the evidence in the ledger it restarted on.
    assert.equal(await metric(follower, "treaty_snapshot_stride_entries"), stride);
    const log = cluster.client().contract<typeof logContract>("log");
    // Past the next point: enough writes for a stride of entries (a write and its signature each).
    for (let id = WRITES + 1; id <= WRITES + stride; id++)
      await log.writePublic({ id, msg: `message ${id}` });
    await cluster.waitForConvergence();
    await cluster.waitFor(
      "a newer committed snapshot, the same on every node",
      async () => {
        const newest = cluster.nodes.map((n) => committedSnapshots(n).at(-1));
        return newest[0]! > before && newest.every((f) => f === newest[0]) ? true : undefined;
      },
      30_000,
    );
    const strides = await Promise.all(cluster.nodes.map((n) => metric(n, "treaty_snapshot_stride_entries")));
    assert.deepEqual(strides, [strides[0], strides[0], strides[0]]);
  });
});
