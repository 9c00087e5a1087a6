import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildCoseReceipt } from "../../runtime/ledger/cose-receipts.js";
import { toHex } from "../../sdk/bytes.js";
import { verifyCoseReceipt } from "../../sdk/cose-receipt.js";
import { TreatyError } from "../../sdk/errors.js";
import type { KeyPair, PublicKey } from "../../sdk/keys.js";
import { formatTxId, verifyReceipt } from "../../sdk/receipt.js";
import { buildFixtureLedger, SERVICE, testKey } from "./fixtures.js";

const publicKeyOf = (key: KeyPair): PublicKey => ({ curve: key.curve, publicKey: key.publicKey });
const serviceKey = publicKeyOf(SERVICE);

describe("COSE receipts (sdk/cose-receipt.ts)", () => {
  const { ledger, txSeqnos } = buildFixtureLedger({ transactions: 13, signEvery: 4, signLast: true });
  const commit = ledger.lastSeqno;

  it("prove the same leaf and root as the JSON receipt, for every transaction", () => {
    for (const seqno of txSeqnos) {
      const txid = formatTxId(2, seqno);
      const json = verifyReceipt(ledger.receipt(txid, commit), serviceKey);
      const cose = verifyCoseReceipt(buildCoseReceipt(ledger, txid, commit, SERVICE), serviceKey, { txid });
      assert.equal(cose.txid, txid);
      assert.equal(cose.kind, json.kind);
      assert.deepEqual(cose.entryDigest, json.entryDigest);
      assert.deepEqual(cose.requestDigest, json.requestDigest);
      assert.equal(toHex(cose.root), toHex(json.root));
      assert.equal(cose.treeSize, json.treeSize);
      assert.equal(cose.signedBy, json.signedBy);
    }
  });

  it("fails on every flipped bit, another service key, or another txid", () => {
    const txid = formatTxId(2, txSeqnos[5]!);
    const bytes = buildCoseReceipt(ledger, txid, commit, SERVICE);
    for (let offset = 0; offset < bytes.length; offset++) {
      for (const bit of [0x01, 0x80]) {
        const changed = new Uint8Array(bytes);
        changed[offset]! ^= bit;
        assert.throws(
          () => verifyCoseReceipt(changed, serviceKey),
          (err: unknown) => err instanceof TreatyError && err.code === "ReceiptInvalid",
          `byte ${offset} ^ ${bit} still verified`,
        );
      }
    }
    assert.throws(() => verifyCoseReceipt(bytes, publicKeyOf(testKey("other"))), /kid/);
    assert.throws(() => verifyCoseReceipt(bytes, serviceKey, { txid: "2.1" }), /expected txid/);
    for (const hostile of [
      new Uint8Array(0),
      new Uint8Array(9000),
      new Uint8Array([0xd2, 0x80]),
      bytes.subarray(1),
    ]) {
      assert.throws(() => verifyCoseReceipt(hostile, serviceKey), /ReceiptInvalid|cose/);
    }
  });
});
