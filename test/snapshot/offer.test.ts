/**
 * What a node needs to offer its latest snapshot to lagging followers without reading the file
 * (node/snapshot/transfer.ts reads it only at the first chunk request): its seqno and its view,
 * from the snapshot the node wrote or, after a restart, from the ledger.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { decodeBody, decodeFile } from "../../node/snapshot/format.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("the latest snapshot's view, known without its file", () => {
  const nets: TestNode[] = [];
  after(async () => {
    for (const net of nets) await net.dispose();
  });

  it("is the view the file holds, before and after a restart", async () => {
    const net = await startTestNode({ snapshots: { everyEntries: 4, strideBytes: 0 } });
    nets.push(net);
    const log = net.client().contract<typeof logContract>("log");
    let id = 0;
    while (net.node.snapshots.latestSeqno() === 0) {
      await log.writePublic({ id: ++id, msg: `message ${id}` });
      if (id % 8 === 0) await net.node.snapshots.settled();
    }
    await net.node.snapshots.settled();
    const latest = net.node.snapshots.latest()!;
    const fileView = decodeBody(decodeFile(latest.bytes).body).view;
    assert.equal(net.node.snapshots.latestView(), fileView, "the snapshot this node wrote");

    await net.restart();
    assert.equal(net.node.snapshots.latestSeqno(), latest.seqno, "no writes: the same snapshot");
    assert.equal(net.node.snapshots.latestView(), fileView, "after a restart: from the ledger");
  });
});
