/**
 * Ledger checkpoints: `Ledger.open` from a checkpoint reads only the entries after it and ends
 * in exactly the state a full open reaches (roots, indexes, receipts for entries before the
 * checkpoint); a checkpoint that disagrees with the store is ignored.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Ledger, type LedgerCheckpoint } from "../../runtime/ledger/ledger.js";
import { buildFixtureLedger, SERVICE, testSecrets } from "./fixtures.js";

function reopen(
  fixture: ReturnType<typeof buildFixtureLedger>,
  checkpoint?: LedgerCheckpoint,
  residentLevel?: number,
) {
  return Ledger.open({
    store: fixture.store,
    secrets: testSecrets(),
    serviceKey: SERVICE,
    ...(residentLevel !== undefined && { residentLevel }),
    ...(checkpoint !== undefined && { checkpoint }),
  });
}

function sameLedger(a: Ledger, b: Ledger): void {
  assert.equal(a.lastSeqno, b.lastSeqno);
  assert.equal(a.lastView, b.lastView);
  assert.deepEqual(a.root(), b.root());
  assert.deepEqual(a.lastSignature, b.lastSignature);
  assert.deepEqual(a.viewStarts(), b.viewStarts());
  assert.deepEqual([...a.internalSeqnosDownFrom(a.lastSeqno)], [...b.internalSeqnosDownFrom(b.lastSeqno)]);
  for (let s = 1; s <= a.lastSeqno; s += 7)
    assert.equal(a.lastSignatureAtOrBefore(s), b.lastSignatureAtOrBefore(s));
}

for (const residentLevel of [0, 2, 5]) {
  test(`open from a checkpoint equals a full open (resident level ${residentLevel})`, () => {
    const fixture = buildFixtureLedger({ transactions: 300, signEvery: 10, signLast: true, residentLevel });
    const checkpoint = fixture.ledger.checkpoint()!;
    assert.ok(checkpoint.size > 200 && checkpoint.size % 2 ** residentLevel === 0, `size ${checkpoint.size}`);
    assert.ok(checkpoint.signedAt > checkpoint.size, "a signature after it covers it");
    const full = reopen(fixture, undefined, residentLevel);
    const fast = reopen(fixture, checkpoint, residentLevel);
    assert.equal(full.openedFromSeqno, 0);
    assert.equal(fast.openedFromSeqno, checkpoint.size);
    sameLedger(fast, full);
    const committed = full.lastSeqno;
    for (const seqno of [1, 17, 100, checkpoint.size - 1, committed - 1]) {
      if (full.get(seqno) === undefined || full.entry(seqno)?.header.kind === "signature") continue;
      const txid = `2.${seqno}`;
      assert.deepEqual(fast.receipt(txid, committed), full.receipt(txid, committed), `receipt ${txid}`);
    }
    // The ledger goes on from there exactly as the full one does.
    assert.deepEqual(fast.tree.inclusionProof(5), full.tree.inclusionProof(5));
    assert.deepEqual(fast.tree.consistencyProof(50), full.tree.consistencyProof(50));
  });
}

test("a checkpoint that disagrees with the store is ignored: the whole store is read", () => {
  const fixture = buildFixtureLedger({ transactions: 300, signEvery: 10, signLast: true });
  const good = fixture.ledger.checkpoint()!;
  const full = reopen(fixture);
  const flipped = new Uint8Array(good.nodes);
  flipped[3] = flipped[3]! ^ 1;
  const lastNode = new Uint8Array(good.nodes);
  lastNode[lastNode.length - 1] = lastNode[lastNode.length - 1]! ^ 1;
  const bad: Array<[string, LedgerCheckpoint]> = [
    ["a flipped node", { ...good, nodes: flipped }],
    ["a flipped node after the last signature it covers", { ...good, nodes: lastNode }],
    ["nodes of the wrong length", { ...good, nodes: good.nodes.subarray(32) }],
    ["a size beyond the store", { ...good, size: good.size + 10_000 }],
    ["a size off the chunk boundary", { ...good, size: good.size - 1 }],
    ["another view", { ...good, view: good.view + 1 }],
    ["no signature before it", { ...good, signatures: [] }],
    ["no signature after it", { ...good, signedAt: good.size }],
    ["signedAt not a signature", { ...good, signedAt: good.signedAt - 1 }],
    ["signatures out of order", { ...good, signatures: [...good.signatures].reverse() }],
  ];
  for (const [what, checkpoint] of bad) {
    const ledger = reopen(fixture, checkpoint);
    assert.equal(ledger.openedFromSeqno, 0, what);
    sameLedger(ledger, full);
  }
});

test("no checkpoint before a whole chunk is durable", () => {
  const fixture = buildFixtureLedger({ transactions: 20, signEvery: 5 });
  assert.equal(Ledger.open({ store: fixture.store, secrets: testSecrets() }).checkpoint(), undefined);
});
