/**
 * The ledger's recent decoded entries (`RECENT_DECODED_ENTRIES`): `entry`, `get`,
 * `publicWritesAt` and `writeSetAt` answer from them exactly what decoding the stored bytes
 * answers, also after a truncation replaced entries at the same seqnos, after the window moved
 * past an entry, and for entries persisted to the store meanwhile.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toHex } from "../../sdk/bytes.js";
import {
  decodeEntry,
  decodePublicWrites,
  EncodedWriteSet,
  entryWriteSet,
} from "../../runtime/ledger/entry.js";
import { Ledger, RECENT_DECODED_ENTRIES } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { buildFixtureLedger, recordsOf, SERVICE, testSecrets, txFor } from "./fixtures.js";

/** `value` with every byte array as hex (Buffer and Uint8Array alike). */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  // A write set in the entry's form (a recent entry's writeSetAt) as the objects it decodes to.
  if (value instanceof EncodedWriteSet) return plain({ public: value.public, private: value.private });
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

/** Everything the ledger answers for `seqno`, against a fresh decode of the store's bytes. */
function assertFresh(ledger: Ledger, store: MemoryLedgerStore, seqno: number): void {
  const record = ledger.get(seqno)!;
  assert.ok(record, `entry ${seqno} exists`);
  const stored = store.get(seqno) ?? record;
  assert.equal(toHex(record.bytes), toHex(stored.bytes), `entry ${seqno}: get answers the stored bytes`);
  const fresh = decodeEntry(stored.bytes, seqno);
  assert.deepEqual(plain(ledger.entry(seqno)), plain(fresh), `entry ${seqno}: decoded as the bytes say`);
  assert.deepEqual(plain(ledger.publicWritesAt(seqno)), plain(decodePublicWrites(fresh)));
  assert.deepEqual(plain(ledger.writeSetAt(seqno)), plain(entryWriteSet(fresh, testSecrets())));
}

describe("Ledger recent decoded entries", () => {
  it("a follower's replicated entries read back as decoding them does, before and after persist", () => {
    const { store: leaderStore } = buildFixtureLedger({ transactions: 30, signEvery: 7, signLast: true });
    const store = new MemoryLedgerStore();
    const follower = Ledger.open({ store, serviceKey: SERVICE, secrets: testSecrets() });
    const records = recordsOf(leaderStore);
    follower.appendReplicated(records.slice(0, 20));
    for (let s = 1; s <= 20; s++) assertFresh(follower, store, s);
    follower.persist();
    follower.appendReplicated(records.slice(20));
    for (let s = 1; s <= follower.lastSeqno; s++) assertFresh(follower, store, s);
  });

  it("a leader's own entry answers publicWritesAt with the write set it appended, as decoding does", () => {
    const { ledger, store } = buildFixtureLedger({ transactions: 5, signEvery: 100 });
    const tx = txFor(70);
    const { seqno } = ledger.appendTransaction(2, tx);
    assert.equal(ledger.publicWritesAt(seqno), tx.writeSet.public, "no decode of what was just encoded");
    assertFresh(ledger, store as MemoryLedgerStore, seqno);
    ledger.persist();
    assertFresh(ledger, store as MemoryLedgerStore, seqno);
  });

  it("a truncation drops the replaced entries: the new ones at those seqnos are answered", () => {
    const { ledger, store } = buildFixtureLedger({ transactions: 20, signEvery: 5 });
    ledger.appendTransaction(2, txFor(50));
    ledger.appendTransaction(2, txFor(51));
    const cut = ledger.lastSeqno - 1;
    const before = toHex(ledger.publicWritesAt(cut)[0]!.writes[0]![0]);
    ledger.truncate(cut);
    assert.throws(() => ledger.publicWritesAt(cut), { code: "TxNotFound" });
    ledger.appendTransaction(3, txFor(60));
    ledger.persist();
    assert.notEqual(toHex(ledger.publicWritesAt(cut)[0]!.writes[0]![0]), before);
    for (let s = 1; s <= ledger.lastSeqno; s++) assertFresh(ledger, store as MemoryLedgerStore, s);
  });

  it("entries past the window are read from the store and decoded again", () => {
    const count = RECENT_DECODED_ENTRIES + 10;
    const { ledger, store } = buildFixtureLedger({ transactions: count, signEvery: 1000 });
    for (const s of [1, 5, 11, count - 1, ledger.lastSeqno])
      assertFresh(ledger, store as MemoryLedgerStore, s);
  });

  it("recentPublicWrites gives a recent entry's decoded public writes, and nothing past the window", () => {
    const count = RECENT_DECODED_ENTRIES + 10;
    const { ledger } = buildFixtureLedger({ transactions: count, signEvery: 1000 });
    const last = ledger.lastSeqno;
    assert.equal(ledger.recentPublicWrites(last), ledger.publicWritesAt(last), "the same decoded writes");
    assert.equal(ledger.recentPublicWrites(1), undefined, "past the window: not read, not decoded");
    assert.equal(ledger.recentPublicWrites(last + 1), undefined, "no such entry");
  });
});
