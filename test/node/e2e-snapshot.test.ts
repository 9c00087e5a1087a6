/**
 * Snapshots on one node, end to end (real LMDB, QuickJS, signatures): the node writes snapshots
 * at committed signatures, the leader records their evidence, each becomes usable (self-proving)
 * once the evidence commits; a restart loads the latest one and reads only the ledger after it,
 * serving the same state and the same receipts (entries before the snapshot included).
 */
import assert from "node:assert/strict";
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toHex } from "../../sdk/bytes.js";
import { SnapshotFiles, snapshotDir } from "../../node/snapshot/files.js";
import { treaty } from "../support/cli.js";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import type { Receipt } from "../../sdk/receipt.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { verifySnapshot } from "../../node/snapshot/verify.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { until } from "../support/poll.js";

const WRITES = 80;

describe("restart from a snapshot", () => {
  let net: TestNode;
  const receipts = new Map<string, Receipt>();
  let lastSeqno = 0;
  let snapshotSeqno = 0;
  /** Seqnos of the committed files written before the restart: completed in place, or whole. */
  const inPlace: number[] = [];
  const whole: number[] = [];

  before(async () => {
    const { completePending, writeCommitted } = SnapshotFiles.prototype;
    SnapshotFiles.prototype.completePending = async function (this: SnapshotFiles, seqno, ...rest) {
      const done = await completePending.call(this, seqno, ...rest);
      if (done) inPlace.push(seqno);
      return done;
    };
    SnapshotFiles.prototype.writeCommitted = async function (this: SnapshotFiles, seqno, parts) {
      whole.push(seqno);
      return writeCommitted.call(this, seqno, parts);
    };
    try {
      await takeSnapshots();
    } finally {
      SnapshotFiles.prototype.completePending = completePending;
      SnapshotFiles.prototype.writeCommitted = writeCommitted;
    }
    await net.restart();
  });

  async function takeSnapshots(): Promise<void> {
    net = await startTestNode({ snapshots: { everyEntries: 30 } });
    const log = net.client().contract<typeof logContract>("log");
    const txids: string[] = [];
    for (let id = 1; id <= WRITES; id++) {
      const write = id % 2 === 0 ? log.writePrivate : log.writePublic;
      txids.push((await write({ id, msg: `message ${id}` })).txid!);
    }
    lastSeqno = await net.settled();
    await until("a usable snapshot", () => (net.node.snapshots.latest()?.seqno ?? 0) > 60);
    snapshotSeqno = net.node.snapshots.latest()!.seqno;
    for (const txid of [txids[0]!, txids[5]!, txids[40]!, txids.at(-1)!])
      receipts.set(txid, (await net.client().receipt(txid)).receipt);
  }
  after(() => net?.dispose());

  it("completed each snapshot's pending file in place with its evidence (the body written once)", () => {
    assert.ok(inPlace.includes(snapshotSeqno), `${snapshotSeqno} in ${inPlace.join(",")}`);
    assert.deepEqual(whole, [], "no committed file written whole");
  });

  it("the latest usable snapshot proves itself against the service identity", () => {
    const latest = net.node.snapshots.latest()!;
    const verified = verifySnapshot(latest.bytes, [net.serviceKey]);
    assert.equal(verified.body.seqno, latest.seqno);
    assert.ok(latest.seqno >= snapshotSeqno);
  });

  it("after the restart the node reports the service open (governance state from the snapshot)", async () => {
    const status = (await (await fetch(`${net.url}/node/status`)).json()) as { serviceStatus: string };
    assert.equal(status.serviceStatus, "open");
  });

  it("the restart started the ledger at the snapshot and read only the entries after it", () => {
    const base = net.node.ledger.base;
    assert.ok(base !== undefined, "the ledger starts at a snapshot");
    assert.ok(base.seqno >= snapshotSeqno && base.seqno < lastSeqno + 10, `base ${base.seqno}`);
    assert.equal(net.node.ledger.openedFromSeqno, base.seqno);
    assert.ok(net.node.ledger.tree.memoryBytes() < 64 * 1024);
  });

  it("serves the same state and the same receipts, before the snapshot included", async () => {
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
    verifyReceipt((await net.client().receipt(txid!)).receipt, net.serviceKey, { txid: txid! });
  });

  it("treaty ledger verify --snapshot checks a snapshot file against its evidence", async () => {
    // A copy: the node keeps writing snapshots (and drops old ones) while the CLI runs.
    const dir = snapshotDir(net.dataDir);
    const name = readdirSync(dir)
      .filter((n) => n.endsWith(".committed"))
      .sort()
      .at(-1)!;
    const file = join(net.dir, name);
    copyFileSync(join(dir, name), file);
    const keyFile = join(net.dir, "service-key.json");
    writeFileSync(keyFile, JSON.stringify({ curve: "ed25519", publicKey: toHex(net.serviceKey.publicKey) }));
    const ok = await treaty("ledger", "verify", "--snapshot", file, "--service-key", keyFile);
    assert.equal(ok.code, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as { seqno: number; evidence: string; privateMaps: null };
    assert.equal(report.seqno, Number(/\d+/.exec(name)![0]));
    assert.match(report.evidence, /^\d+\.\d+$/);
    assert.equal(report.privateMaps, null);
    const bytes = readFileSync(file);
    bytes[40] = bytes[40]! ^ 0x01;
    const tampered = join(net.dir, "tampered.committed");
    writeFileSync(tampered, bytes);
    const bad = await treaty("ledger", "verify", "--snapshot", tampered, "--service-key", keyFile);
    assert.equal(bad.code, 1);
    assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, "SnapshotInvalid");
  });
});
