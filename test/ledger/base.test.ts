/**
 * A ledger opened at a base (a snapshot's seqno, view and Merkle frontier) reads only the entries
 * after it and ends in the state a full open reaches: roots, the last signature, receipts for
 * entries before the base (read back from the store that still holds them) and after it. A base
 * that does not fit is refused (LedgerCorrupt). `rebase` drops everything and continues there.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isTreatyError } from "../../sdk/errors.js";
import { Ledger, type LedgerBase } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { buildFixtureLedger, SERVICE, testSecrets } from "./fixtures.js";

function reopen(fixture: ReturnType<typeof buildFixtureLedger>, base?: LedgerBase, residentLevel?: number) {
  return Ledger.open({
    store: fixture.store,
    secrets: testSecrets(),
    serviceKey: SERVICE,
    ...(residentLevel !== undefined && { residentLevel }),
    ...(base !== undefined && { base }),
  });
}

function baseAt(ledger: Ledger, seqno: number): LedgerBase {
  return {
    seqno,
    view: ledger.get(seqno)!.view,
    frontier: ledger.tree.frontier(seqno),
    views: ledger.viewStarts().filter((v) => v.startSeqno <= seqno),
  };
}

for (const residentLevel of [0, 2, 5]) {
  test(`open at a base equals a full open (resident level ${residentLevel})`, () => {
    const fixture = buildFixtureLedger({ transactions: 300, signEvery: 10, signLast: true, residentLevel });
    const full = reopen(fixture, undefined, residentLevel);
    const at = full.lastSignatureAtOrBefore(237);
    const fast = reopen(fixture, baseAt(full, at), residentLevel);
    assert.equal(fast.openedFromSeqno, at);
    assert.equal(fast.base?.seqno, at);
    assert.equal(fast.lastSeqno, full.lastSeqno);
    assert.deepEqual(fast.root(), full.root());
    assert.deepEqual(fast.lastSignature, full.lastSignature);
    const committed = full.lastSeqno;
    for (const seqno of [1, 17, 100, at - 1, at + 1, committed - 1]) {
      if (full.entry(seqno)?.header.kind === "signature") continue;
      const txid = `${full.get(seqno)!.view}.${seqno}`;
      assert.deepEqual(fast.receipt(txid, committed), full.receipt(txid, committed), `receipt ${txid}`);
    }
    assert.deepEqual(fast.tree.consistencyProof(at + 3), full.tree.consistencyProof(at + 3));
    fast.truncate(at + 5);
    full.truncate(at + 5);
    assert.deepEqual(fast.root(), full.root());
  });
}

test("a base that does not fit the store is refused", () => {
  const fixture = buildFixtureLedger({ transactions: 100, signEvery: 10, signLast: true });
  const full = reopen(fixture);
  const good = baseAt(full, full.lastSignatureAtOrBefore(50));
  const bad: Array<[string, LedgerBase]> = [
    ["a frontier of the wrong length", { ...good, frontier: good.frontier.slice(1) }],
    ["a seqno beyond the store", { ...good, seqno: full.lastSeqno + 100 }],
    ["another view", { ...good, view: good.view + 1 }],
  ];
  for (const [what, base] of bad)
    assert.throws(
      () => reopen(fixture, base),
      (err) => isTreatyError(err, "LedgerCorrupt"),
      what,
    );
  // A wrong frontier hash passes open but the next signature's root check catches it.
  const flipped = good.frontier.map((h) => new Uint8Array(h));
  flipped[0]![0] = flipped[0]![0]! ^ 1;
  assert.throws(
    () => reopen(fixture, { ...good, frontier: flipped }),
    (err) => isTreatyError(err, "LedgerCorrupt"),
  );
});

test("rebase: the store and tree continue after the base; older entries are not held", () => {
  const fixture = buildFixtureLedger({ transactions: 100, signEvery: 10, signLast: true });
  const full = reopen(fixture);
  const at = full.lastSignatureAtOrBefore(60);
  const store = new MemoryLedgerStore();
  const joined = Ledger.open({ store, secrets: testSecrets(), serviceKey: SERVICE });
  joined.rebase(baseAt(full, at));
  assert.equal(store.baseSeqno, at);
  joined.appendReplicated([...fixture.store.range(at + 1)]);
  joined.persist();
  assert.deepEqual(joined.root(), full.root());
  const committed = full.lastSeqno;
  const txid = `${full.get(at + 1)!.view}.${at + 1}`;
  assert.deepEqual(joined.receipt(txid, committed), full.receipt(txid, committed));
  assert.throws(
    () => joined.receipt(`${full.get(5)!.view}.5`, committed),
    (err) => isTreatyError(err, "TxNotFound"),
  );
  assert.throws(
    () => joined.tree.inclusionProof(3, at - 1),
    (err) => isTreatyError(err, "TxNotFound"),
  );
  // A ledger that held the entries before the base no longer reads them after a rebase.
  const held = buildFixtureLedger({ transactions: 100, signEvery: 10, signLast: true }).ledger;
  assert.notEqual(held.entry(5), undefined);
  held.rebase(baseAt(full, at));
  assert.equal(held.get(5), undefined);
  assert.equal(held.entry(5), undefined);
  // Reopening the rebased store needs the base; with it, it opens.
  assert.throws(
    () => Ledger.open({ store, secrets: testSecrets() }),
    (err) => isTreatyError(err, "LedgerCorrupt"),
  );
  assert.deepEqual(
    Ledger.open({ store, secrets: testSecrets(), base: baseAt(full, at) }).root(),
    full.root(),
  );
});
