import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { SERVICE, signerFor, testRandom, testSecrets, txFor, VALID_FROM_MS } from "./fixtures.js";

/** Two identical ledgers (same bytes), one compacted as its commit point moves. */
function build(transactions: number, compactEvery: number) {
  const open = () =>
    Ledger.open({
      store: new MemoryLedgerStore(),
      secrets: testSecrets(),
      random: testRandom(),
      serviceKey: SERVICE,
    });
  const [ledger, reference] = [open(), open()];
  const signer = signerFor();
  let highest = { signatures: 0, treeBytes: 0 };
  for (let i = 0; i < transactions; i++) {
    for (const l of [ledger, reference]) {
      l.appendTransaction(2, txFor(i));
      if (i % 5 === 4) l.appendSignature(2, signer, VALID_FROM_MS + 1000 + i);
      l.persist();
    }
    if (i % compactEvery === compactEvery - 1) {
      ledger.compact(Math.max(0, ledger.lastSeqno - compactEvery));
      highest = {
        signatures: Math.max(highest.signatures, ledger.resident.signatures),
        treeBytes: Math.max(highest.treeBytes, ledger.resident.treeBytes),
      };
    }
  }
  return { ledger, reference, highest };
}

describe("Ledger.compact", () => {
  it("keeps the signature index and the Merkle tree bounded as entries grow", () => {
    const { reference, highest } = build(20_000, 512);
    // 2 × 512 transactions (and their signatures) at most since the compaction point.
    assert.ok(highest.signatures <= (2 * 512) / 5 + 2, `signature index: ${highest.signatures}`);
    assert.ok(highest.treeBytes < 16 * 1024, `Merkle tree: ${highest.treeBytes} bytes`);
    assert.ok(reference.resident.signatures >= 4000, "without compaction the index holds every signature");
    assert.ok(reference.resident.treeBytes > highest.treeBytes * 2);
  });

  it("answers signature look-ups and receipts for compacted entries as before", () => {
    const { ledger, reference } = build(1_500, 256);
    assert.ok(ledger.resident.signatures < reference.resident.signatures);
    for (let seqno = 1; seqno <= ledger.lastSeqno; seqno++) {
      assert.equal(
        ledger.lastSignatureAtOrBefore(seqno),
        reference.lastSignatureAtOrBefore(seqno),
        `≤ ${seqno}`,
      );
      assert.equal(ledger.signatureAfter(seqno), reference.signatureAfter(seqno), `after ${seqno}`);
    }
    for (const seqno of [1, 2, 77, 500, 1024, 1500, ledger.lastSeqno - 1]) {
      const txid = `2.${seqno}`;
      if (ledger.entry(seqno)!.header.kind === "signature") continue;
      const receipt = ledger.receipt(txid, ledger.lastSeqno);
      assert.deepEqual(receipt, reference.receipt(txid, reference.lastSeqno), txid);
      assert.equal(verifyReceipt(receipt, SERVICE).seqno, seqno);
    }
  });

  it("refuses to roll back below the compaction point, and rolls back above it", () => {
    const { ledger, reference } = build(600, 100);
    ledger.truncate(ledger.lastSeqno - 20);
    reference.truncate(reference.lastSeqno - 20);
    assert.deepEqual(ledger.root(), reference.root());
    assert.equal(ledger.lastSignature?.seqno, reference.lastSignature?.seqno);
    assert.throws(() => ledger.truncate(10), /truncate|base/);
  });
});
