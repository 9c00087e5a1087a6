/**
 * Durability end to end: a node stopped and started again on the same data dir keeps every
 * write (public and private), its replay protection and its receipts, continues the ledger, and
 * leaves a data dir that the offline auditor (`treaty ledger verify`, spawned as a user would)
 * accepts with the pinned service key and the ledger secret.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { toHex } from "../../sdk/bytes.js";
import { generateKeyPair, keyId } from "../../sdk/keys.js";
import { parseTxId, type Receipt, verifyReceipt } from "../../sdk/receipt.js";
import { type SignedRequest, signRequest } from "../../sdk/request.js";
import { createSealingProvider } from "../../node/secrets/sealing.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { treaty } from "../support/cli.js";

const MESSAGES = 6;

describe("restart durability", () => {
  let net: TestNode;
  const receipts = new Map<string, Receipt>();
  let replayable: SignedRequest;
  let replayableTxid: string;
  let lastSeqnoBefore: number;

  before(async () => {
    net = await startTestNode();
    const log = net.client().contract<typeof logContract>("log");
    for (let id = 1; id <= MESSAGES; id++) {
      const write = id % 2 === 0 ? log.writePrivate : log.writePublic;
      const { txid } = await write({ id, msg: `message ${id}` });
      receipts.set(txid!, await waitReceipt(txid!));
    }
    replayable = signRequest(net.user, keyId(net.serviceKey), "/app/log/writePublic", {
      id: 50,
      msg: "once",
    });
    const first = await net.post(replayable.path, replayable.body, replayable.headers);
    assert.equal(first.status, 200);
    replayableTxid = (first.json as { txid: string }).txid;
    await net.client().waitForCommit(replayableTxid);
    // A clean stop: every entry signed and committed.
    lastSeqnoBefore = await net.settled();
    await net.restart();
  });
  after(() => net?.dispose());

  async function waitReceipt(txid: string): Promise<Receipt> {
    const client = net.client();
    await client.waitForCommit(txid);
    return (await client.receipt(txid)).receipt;
  }

  it("every write before the restart is readable after it, public and private", async () => {
    const log = net.client().contract<typeof logContract>("log");
    for (let id = 1; id <= MESSAGES; id++) {
      const read = id % 2 === 0 ? log.readPrivate : log.readPublic;
      assert.deepEqual((await read({ id })).result, { msg: `message ${id}` });
    }
    assert.deepEqual((await log.readPublic({ id: 50 })).result, { msg: "once" });
  });

  it("what was committed before the restart is committed after it, without any new write", async () => {
    // The restarted leader must re-establish the commit point itself (a signature in its new
    // view), as CCF's new primary does; clients waiting for receipts cannot be asked to write.
    const client = net.client();
    await client.waitForCommit(replayableTxid, { timeoutMs: 5_000 });
    for (const txid of [...receipts.keys(), replayableTxid]) {
      assert.equal(await client.txStatus(txid), "Committed");
      const { verified } = await client.receipt(txid);
      assert.equal(verified.txid, txid);
    }
  });

  it("replay protection survives the restart", async () => {
    const answer = await net.post(replayable.path, replayable.body, replayable.headers);
    assert.equal(answer.status, 409);
    assert.equal(answer.code, "Replay");
    assert.deepEqual((answer.json as { error: { details: unknown } }).error.details, {
      txid: replayableTxid,
    });
  });

  it("new writes continue the ledger and commit", async () => {
    const { txid } = await net.client().call("log", "writePublic", { id: 70, msg: "after" });
    assert.ok(parseTxId(txid).seqno > lastSeqnoBefore);
    const receipt = await waitReceipt(txid!);
    assert.equal(verifyReceipt(receipt, net.serviceKey, { txid: txid! }).kind, "user");
  });

  it("old receipts still verify, and the node serves the same receipts again", async () => {
    for (const [txid, receipt] of receipts) {
      verifyReceipt(receipt, net.serviceKey, { txid });
      const again = await net.client().receipt(txid);
      assert.deepEqual(again.receipt, receipt);
    }
  });

  it("a write acknowledged just before a stop survives it and commits after the restart", async () => {
    const log = net.client().contract<typeof logContract>("log");
    // Acknowledged means persisted; it may or may not be signed yet when the node stops.
    const { txid } = await log.writePublic({ id: 60, msg: "in flight at the stop" });
    await net.restart();
    const next = await log.writePublic({ id: 61, msg: "after the second restart" });
    await net.client().waitForCommit(next.txid!);
    assert.equal(await net.client().txStatus(txid!), "Committed");
    assert.deepEqual((await log.readPublic({ id: 60 })).result, { msg: "in flight at the stop" });
    const { verified } = await net.client().receipt(txid!);
    assert.equal(verified.txid, txid);
  });

  it("the stopped node's data dir passes treaty ledger verify", async () => {
    await net.settled();
    const lastSeqno = net.node.ledger.lastSeqno;
    await net.stop();
    const serviceKeyFile = join(net.dir, "service-key.json");
    writeFileSync(
      serviceKeyFile,
      JSON.stringify({ curve: net.serviceKey.curve, publicKey: toHex(net.serviceKey.publicKey) }),
    );
    // The operator holding the node's sealing key can unseal its ledger secrets ([{version, key}]).
    const secrets = createSealingProvider(net.node.config.sealing, net.dataDir, {
      randomBytes: (n) => new Uint8Array(randomBytes(n)),
    }).unseal()!.secrets!;
    const secretFile = join(net.dir, "ledger-secrets.json");
    writeFileSync(secretFile, JSON.stringify(secrets.ledgerSecrets));
    const run = await treaty(
      "ledger",
      "verify",
      net.dataDir,
      "--service-key",
      serviceKeyFile,
      "--ledger-secret",
      secretFile,
      "--quiet",
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      lastSeqno: number;
      unsignedTail: number;
      privateEntries: number;
      decryptedEntries: number;
      serviceKey: { pinned: boolean };
      kinds: Record<string, number>;
    };
    assert.equal(report.ok, true);
    assert.equal(report.lastSeqno, lastSeqno);
    assert.equal(report.unsignedTail, 0);
    assert.equal(report.serviceKey.pinned, true);
    assert.ok(report.privateEntries >= MESSAGES / 2);
    assert.equal(report.decryptedEntries, report.privateEntries);
    assert.equal(report.kinds.user, MESSAGES + 4);

    // Another service key must not verify this ledger.
    const otherKey = join(net.dir, "other-key.json");
    writeFileSync(
      otherKey,
      JSON.stringify({ curve: "ed25519", publicKey: toHex(generateKeyPair().publicKey) }),
    );
    const refused = await treaty("ledger", "verify", net.dataDir, "--service-key", otherKey, "--quiet");
    assert.equal(refused.code, 1);
    assert.ok((JSON.parse(refused.stdout) as { error?: unknown }).error !== undefined);
  });
});
