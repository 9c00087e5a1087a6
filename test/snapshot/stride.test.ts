/**
 * When a node snapshots (node/snapshot/schedule.ts, snapshots.ts): the stride grows with the
 * newest snapshot recorded in the ledger (its evidence carries the body's size), and a node takes
 * one snapshot at a time, skipping a point it reaches while the previous one is still being taken.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { decodeEntry } from "../../runtime/ledger/entry.js";
import { SnapshotFiles } from "../../node/snapshot/files.js";
import { decodeFile } from "../../node/snapshot/format.js";
import { evidenceOf } from "../../node/snapshot/evidence.js";
import { strideAfter } from "../../node/snapshot/schedule.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { until } from "../support/poll.js";

/** Far below a test node's first snapshot (~400 KB: the genesis contracts): the stride doubles a few times. */
const STRIDE_BYTES = 64 * 1024;
const EVERY_ENTRIES = 4;

/** The metric line `name value` of the node's `/node/metrics`, as a number. */
async function metric(net: TestNode, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${net.url}/node/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe("snapshot stride", () => {
  const nets: TestNode[] = [];
  after(async () => {
    for (const net of nets) await net.dispose();
  });

  it("grows with the newest snapshot's size, recorded in its evidence", async () => {
    const schedule = { everyEntries: EVERY_ENTRIES, strideBytes: STRIDE_BYTES };
    const net = await startTestNode({ snapshots: schedule });
    nets.push(net);
    const { snapshots, ledger } = net.node;
    const log = net.client().contract<typeof logContract>("log");
    let id = 0;
    // Up to the first point, then no writes until its snapshot is usable: the next point is then
    // decided with its evidence in the ledger.
    while (snapshots.points().taken === 0) await log.writePublic({ id: ++id, msg: `message ${id}` });
    await until("the first snapshot is usable", () => snapshots.latestSeqno() > 0);
    await snapshots.settled();
    const first = snapshots.latest()!;
    const { body } = decodeFile(first.bytes);
    const evidenceAt = [...ledger.internalSeqnosDownFrom(ledger.lastSeqno)].find(
      (s) => evidenceOf(decodeEntry(ledger.get(s)!.bytes, s))?.seqno === first.seqno,
    )!;
    const record = evidenceOf(decodeEntry(ledger.get(evidenceAt)!.bytes, evidenceAt))!;
    assert.equal(record.bytes, body.length, "the evidence records the body's size");
    assert.ok(record.bytes > STRIDE_BYTES, `the first snapshot (${record.bytes} bytes) is past strideBytes`);
    const stride = strideAfter({ ...schedule, everyMs: 3_600_000 }, record.bytes);
    assert.ok(stride.entries >= 4 * EVERY_ENTRIES, `the stride grew: ${stride.entries}`);
    await until("the gauge shows the grown stride", async () => {
      return (await metric(net, "treaty_snapshot_stride_entries")) === stride.entries;
    });

    // Snapshots the node took before that evidence (at the base stride) may still complete.
    await snapshots.settled();
    const taken = snapshots.points().taken;
    while (snapshots.points().taken === taken) await log.writePublic({ id: ++id, msg: `message ${id}` });
    await until("a snapshot past the evidence is usable", () => snapshots.latestSeqno() > evidenceAt);
    // The first signature after the evidence with a multiple of the grown stride since the
    // signature before it: none of the everyEntries multiples in between was a point.
    const before = ledger.lastSignatureAtOrBefore(evidenceAt);
    const multiple = (Math.floor(before / stride.entries) + 1) * stride.entries;
    assert.equal(snapshots.latestSeqno(), ledger.signatureAfter(Math.max(multiple - 1, evidenceAt)));
    assert.equal(snapshots.points().taken, taken + 1);
  });

  it("takes one snapshot at a time: a point reached while one is being written is skipped, and the next taken", async () => {
    const net = await startTestNode({ snapshots: { everyEntries: EVERY_ENTRIES, strideBytes: 0 } });
    nets.push(net);
    const { snapshots } = net.node;
    const log = net.client().contract<typeof logContract>("log");
    // Pending files wait for `release`: the first snapshot stays in progress.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const writePending = SnapshotFiles.prototype.writePending;
    SnapshotFiles.prototype.writePending = async function (this: SnapshotFiles, ...args) {
      await released;
      return writePending.apply(this, args);
    };
    try {
      await snapshots.settled(); // whatever the node's start took
      const before = snapshots.points();
      let id = 0;
      while (snapshots.points().skipped < before.skipped + 2)
        await log.writePublic({ id: ++id, msg: `message ${id}` });
      assert.equal(
        snapshots.points().taken,
        before.taken + 1,
        "no snapshot started while one was in progress",
      );
      assert.equal(
        await metric(net, 'treaty_snapshot_points_total{outcome="skipped"}'),
        snapshots.points().skipped,
      );
    } finally {
      release();
      SnapshotFiles.prototype.writePending = writePending;
    }
    await snapshots.settled();
    await until("the held snapshot is usable", () => snapshots.latestSeqno() > 0);
    const first = snapshots.latestSeqno();
    const taken = snapshots.points().taken;
    let id = 1000;
    while (snapshots.points().taken === taken) await log.writePublic({ id: ++id, msg: `message ${id}` });
    await until("the next point's snapshot is usable", () => snapshots.latestSeqno() > first);
  });
});
