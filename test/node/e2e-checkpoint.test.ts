/**
 * Restart from a ledger checkpoint, end to end: a node stopped cleanly leaves a checkpoint of
 * its committed ledger; the next start reads only the entries after it, keeps its consensus log
 * to a window, and serves the same state and the same receipts (entries before the checkpoint
 * included). A damaged checkpoint is ignored: the node reads its whole ledger and serves the
 * same answers.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import type { Receipt } from "../../sdk/receipt.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { checkpointPath } from "../../node/ledger-checkpoint.js";
import { startTestNode, type TestNode } from "../support/node.js";

const WRITES = 80;

describe("restart from a ledger checkpoint", () => {
  let net: TestNode;
  const receipts = new Map<string, Receipt>();
  let lastSeqno = 0;

  before(async () => {
    net = await startTestNode();
    const log = net.client().contract<typeof logContract>("log");
    const txids: string[] = [];
    for (let id = 1; id <= WRITES; id++) {
      const write = id % 2 === 0 ? log.writePrivate : log.writePublic;
      txids.push((await write({ id, msg: `message ${id}` })).txid!);
    }
    lastSeqno = await net.settled();
    for (const txid of [txids[0]!, txids[5]!, txids[40]!, txids.at(-1)!])
      receipts.set(txid, (await net.client().receipt(txid)).receipt);
    await net.restart();
  });
  after(() => net?.dispose());

  it("the restart read only the entries after the checkpoint", () => {
    const openedFrom = net.node.ledger.openedFromSeqno;
    assert.ok(openedFrom >= 32 && openedFrom < lastSeqno, `opened from ${openedFrom} of ${lastSeqno}`);
    const window = net.node.replica.consensus.logWindow();
    assert.ok(window.baseSeqno > 0, "the consensus log starts at the durable commit");
    assert.ok(window.residentEntries < lastSeqno, `resident ${window.residentEntries}`);
  });

  it("serves the same state and the same receipts, before the checkpoint included", async () => {
    const log = net.client().contract<typeof logContract>("log");
    for (const id of [1, 2, 41, WRITES]) {
      const read = id % 2 === 0 ? log.readPrivate : log.readPublic;
      assert.deepEqual((await read({ id })).result, { msg: `message ${id}` });
    }
    for (const [txid, receipt] of receipts) {
      const again = await net.client().receipt(txid);
      assert.deepEqual(again.receipt, receipt);
      verifyReceipt(again.receipt, net.serviceKey, { txid });
    }
    const { txid } = await log.writePublic({ id: 999, msg: "after" });
    await net.client().waitForCommit(txid!);
  });

  it("a damaged checkpoint is ignored: the whole ledger is read and the answers are the same", async () => {
    await net.settled();
    await net.stop();
    const path = checkpointPath(net.dataDir);
    const bytes = readFileSync(path);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    writeFileSync(path, bytes);
    await net.restart();
    assert.equal(net.node.ledger.openedFromSeqno, 0);
    for (const [txid, receipt] of receipts)
      assert.deepEqual((await net.client().receipt(txid)).receipt, receipt);
    const log = net.client().contract<typeof logContract>("log");
    assert.deepEqual((await log.readPrivate({ id: 2 })).result, { msg: "message 2" });
  });
});
