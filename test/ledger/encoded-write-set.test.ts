/**
 * A leader appends the execution worker's write sets as they arrive, in the entry's form
 * (runtime/ledger/entry.ts `EncodedWriteSet`, node/execution/pack.ts): the entries must be the
 * very bytes appending the same write sets as objects makes (entries are hashed and signed), and
 * what the ledger answers about them the same as decoding the stored bytes answers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toHex, utf8 } from "../../sdk/bytes.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import {
  decodeEntry,
  decodePublicWrites,
  EncodedWriteSet,
  encodeWrites,
  entryWriteSet,
} from "../../runtime/ledger/entry.js";
import { Ledger, type TransactionInput } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { SERVICE, signerFor, testRandom, testSecrets, txFor, VALID_FROM_MS } from "./fixtures.js";

/** `writeSet` as the worker sends it: each part encoded, copied out of the encoder's buffer. */
function encoded(writeSet: WriteSet): EncodedWriteSet {
  const publicBytes = encodeWrites(writeSet.public, true).slice();
  return new EncodedWriteSet(publicBytes, encodeWrites(writeSet.private, false).slice());
}

/**
 * The i-th transaction, varied beyond the fixture's: private writes without a seed, a seed
 * without private writes, a non-ASCII map name (the codec's path), nothing written at all.
 */
function variedTx(i: number): TransactionInput {
  const tx = txFor(i);
  const odd: MapWrites = { map: "public:bank.é", writes: [[utf8.encode(`k${i}`), utf8.encode("ü")]] };
  let writeSet: WriteSet = tx.writeSet;
  if (i % 7 === 3) writeSet = { public: [...writeSet.public, odd], private: writeSet.private };
  if (i % 7 === 5) writeSet = { public: writeSet.public, private: [] };
  if (i % 11 === 6) writeSet = { public: [], private: [] };
  return { ...tx, writeSet, seed: i % 4 === 1 ? null : tx.seed };
}

function openLedger(store: MemoryLedgerStore): Ledger {
  return Ledger.open({ store, secrets: testSecrets(), random: testRandom(), serviceKey: SERVICE });
}

/** `value` with every byte array as hex. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  // A write set in the entry's form (a recent entry's writeSetAt) as the objects it decodes to.
  if (value instanceof EncodedWriteSet) return plain({ public: value.public, private: value.private });
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

describe("Ledger.appendTransaction with an encoded write set", () => {
  it("writes the same entries as the write set's objects, and answers reads as their bytes decode", () => {
    const signer = signerFor();
    const asObjects = new MemoryLedgerStore();
    const asBytes = new MemoryLedgerStore();
    const a = openLedger(asObjects);
    const b = openLedger(asBytes);
    for (let i = 0; i < 60; i++) {
      const tx = variedTx(i);
      const left = a.appendTransaction(2, tx);
      const right = b.appendTransaction(2, { ...tx, writeSet: encoded(tx.writeSet) });
      assert.equal(toHex(right.bytes), toHex(left.bytes), `entry ${left.seqno}: the same bytes`);
      if (i % 9 === 8) {
        a.appendSignature(2, signer, VALID_FROM_MS + 2000 + i);
        b.appendSignature(2, signer, VALID_FROM_MS + 2000 + i);
      }
    }
    a.persist();
    b.persist();
    assert.equal(toHex(b.root()), toHex(a.root()));
    for (let seqno = 1; seqno <= b.lastSeqno; seqno++) {
      const stored = asBytes.get(seqno)!;
      assert.equal(toHex(stored.bytes), toHex(asObjects.get(seqno)!.bytes));
      const fresh = decodeEntry(stored.bytes, seqno);
      if (fresh.header.kind === "signature") continue;
      // Not decoded by appending: read on demand, then kept.
      assert.equal(b.recentPublicWrites(seqno), undefined, `entry ${seqno}: not decoded until read`);
      const publicWrites = b.publicWritesAt(seqno);
      assert.deepEqual(plain(publicWrites), plain(decodePublicWrites(fresh)));
      assert.equal(b.recentPublicWrites(seqno), publicWrites);
      assert.deepEqual(plain(b.writeSetAt(seqno)), plain(entryWriteSet(fresh, testSecrets())));
    }
  });

  it("decodes its parts on first read, as views into its bytes", () => {
    const tx = variedTx(3);
    const writeSet = encoded(tx.writeSet);
    assert.ok(writeSet.hasPrivateWrites);
    assert.deepEqual(plain(writeSet.public), plain(tx.writeSet.public));
    assert.deepEqual(plain(writeSet.private), plain(tx.writeSet.private));
    assert.equal(writeSet.public, writeSet.public, "decoded once");
    assert.equal(writeSet.public[0]!.writes[0]![0].buffer, writeSet.publicBytes.buffer);
    assert.equal(encoded({ public: [], private: [] }).hasPrivateWrites, false);
  });
});
