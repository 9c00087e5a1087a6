/**
 * The committed event feed of a node that installed a snapshot (docs/integration.md): it holds no
 * entries before the snapshot, so a read from an older position (`/app/events?after=0`, or the
 * JetStream export of a stream that is behind the snapshot) is refused with TxNotFound, never
 * answered as if there had been no events; positions after the snapshot read as usual.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isTreatyError } from "../../sdk/errors.js";
import { EventFeed, WHOLE_TX } from "../../node/events/feed.js";
import { Ledger, type LedgerBase } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { buildFixtureLedger, SERVICE, testSecrets } from "../ledger/fixtures.js";

function baseAt(ledger: Ledger, seqno: number): LedgerBase {
  return {
    seqno,
    view: ledger.get(seqno)!.view,
    frontier: ledger.tree.frontier(seqno),
    views: ledger.viewStarts().filter((v) => v.startSeqno <= seqno),
  };
}

test("a feed over a ledger that starts after a snapshot refuses positions before it", () => {
  const fixture = buildFixtureLedger({ transactions: 100, signEvery: 10, signLast: true });
  const full = fixture.ledger;
  const at = full.lastSignatureAtOrBefore(60);
  const joined = Ledger.open({ store: new MemoryLedgerStore(), secrets: testSecrets(), serviceKey: SERVICE });
  joined.rebase(baseAt(full, at));
  joined.appendReplicated([...fixture.store.range(at + 1)]);
  joined.persist();
  // Few warm entries, so that older positions are read from the ledger rather than the ring.
  const feed = new EventFeed({ ledger: joined, warmEntries: 5 });
  feed.onCommit(joined.lastSeqno);

  for (const after of [
    { seqno: 0, index: WHOLE_TX },
    { seqno: at - 1, index: WHOLE_TX },
  ]) {
    assert.throws(
      () => feed.read(after, 64),
      (err) =>
        isTreatyError(err, "TxNotFound") && /no longer in this node's ledger/.test((err as Error).message),
      `after seqno ${after.seqno}`,
    );
  }
  const fromBase = feed.read({ seqno: at, index: WHOLE_TX }, 64);
  assert.deepEqual(fromBase.events, [], "the fixture's entries carry no events");
  assert.ok(fromBase.cursor.seqno > at, "the read moves on from the snapshot");
});
