/**
 * A follower's replicated entries are checked and handed to its KV apply as the entry's own bytes
 * (runtime/ledger/entry-read.ts `checkedWritesEnd`, entry.ts `checkPublicWrites` and
 * `openPrivateWrites`, `Ledger.writeSetAt`): the walk over the bytes accepts exactly what decoding
 * and `writesFromWire` accept, every check made before is still made (the public part's shape and
 * order when staged, the private part's AES-GCM tag and its writes when read), and what the bytes
 * decode to is what decoding the entry gives.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { decode, encode } from "../../sdk/codec.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import { checkedPrivateWritesStart, checkedWritesEnd, readWrites } from "../../runtime/ledger/entry-read.js";
import {
  associatedData,
  decodeEntry,
  EncodedWriteSet,
  entryWriteSet,
  MAX_META_STRING,
  writesFromWire,
} from "../../runtime/ledger/entry.js";
import { Ledger, type TransactionInput } from "../../runtime/ledger/ledger.js";
import { sealPrivate } from "../../runtime/ledger/secrets.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { forgeEntry, SERVICE, signerFor, testRandom, testSecrets, txFor, VALID_FROM_MS } from "./fixtures.js";

const b = (text: string) => utf8.encode(text);

/** True when decoding `bytes` as a write set part and checking it (`writesFromWire`) accepts it. */
function decodes(bytes: Uint8Array, part: "public" | "private"): boolean {
  const wire = readWrites(bytes);
  if (wire === undefined) return false;
  try {
    writesFromWire(wire, 1, part);
    return true;
  } catch {
    return false;
  }
}

/** Wire write sets, valid and not: each check of `writesFromWire` broken once. */
function wireCases(prefix: string): unknown[] {
  const m = (name: string) => `${prefix}${name}`;
  const kv = (k: string, v: string | null) => [b(k), v === null ? null : b(v)];
  return [
    [],
    [[m("a"), []]],
    [[m("a"), [kv("k", "v")]]],
    [[m("a"), [kv("k", null), kv("k2", "")]]],
    [
      [m("a"), [kv("a", "1"), kv("b", "2")]],
      [m("b"), [kv("a", "1")]],
    ],
    [[m("a"), [kv("b", "1"), kv("a", "2")]]], // keys out of order
    [[m("a"), [kv("a", "1"), kv("a", "2")]]], // a key repeated
    [[m("a"), [kv("ab", "1"), kv("a", "2")]]], // a prefix after its extension
    [
      [m("b"), []],
      [m("a"), []],
    ], // maps out of order
    [
      [m("a"), []],
      [m("a"), []],
    ], // a map repeated
    [
      [m("a"), []],
      [m("ab"), []],
    ],
    [["", []]], // empty name
    [[m("x".repeat(MAX_META_STRING - prefix.length)), []]], // longest name
    [[m("x".repeat(MAX_META_STRING - prefix.length + 1)), []]], // one too long
    [["public:a", []]], // public map
    [["publi", []]],
    [["a", []]], // private map
    [[m("a"), [[b("k")]]]], // a pair of one
    [[m("a"), [[b("k"), b("v"), b("w")]]]],
    [[m("a"), [["k", b("v")]]]], // a string key
    [[m("a"), [[b("k"), 1]]]], // a number value
    [[m("a")]], // a map without writes
    [[1, []]], // a number for a name
    [m("a")],
    {},
  ];
}

describe("checkedWritesEnd", () => {
  it("accepts exactly the write sets decoding and writesFromWire accept (ASCII names)", () => {
    let accepted = 0;
    for (const part of ["public", "private"] as const) {
      for (const prefix of ["public:", ""]) {
        for (const wire of wireCases(prefix)) {
          const bytes = encode(wire);
          const walked = checkedWritesEnd(bytes, 0, part === "public", MAX_META_STRING) === bytes.length;
          assert.equal(walked, decodes(bytes, part), `${part}: ${JSON.stringify(wire)}`);
          if (walked) accepted++;
          // Truncated anywhere, never accepted.
          for (let cut = 0; cut < bytes.length; cut++)
            assert.notEqual(
              checkedWritesEnd(bytes.subarray(0, cut), 0, part === "public", MAX_META_STRING),
              cut,
            );
        }
      }
    }
    assert.ok(accepted >= 14, `valid cases accepted (${accepted})`);
  });

  it("declines a non-ASCII map name (the caller decodes it, and string order decides)", () => {
    const bytes = encode([["public:é", []]]);
    assert.equal(checkedWritesEnd(bytes, 0, true, MAX_META_STRING), -1);
    assert.equal(decodes(bytes, "public"), false, "the direct reader declines it too: the codec decodes it");
  });

  it("finds the writes of a private plaintext, or declines another layout", () => {
    const writes = [["a", [[b("k"), b("v")]]]];
    for (const seed of [null, b("seed")]) {
      const plaintext = encode({ seed, writes });
      const start = checkedPrivateWritesStart(plaintext, MAX_META_STRING);
      assert.ok(start > 0);
      assert.equal(toHex(plaintext.subarray(start)), toHex(encode(writes)));
    }
    assert.equal(
      checkedPrivateWritesStart(encode({ seed: null, writes: [["public:a", []]] }), MAX_META_STRING),
      -1,
    );
    assert.equal(checkedPrivateWritesStart(encode({ seed: 7, writes }), MAX_META_STRING), -1);
    assert.equal(checkedPrivateWritesStart(encode({ writes, seed: null }), MAX_META_STRING), -1);
    assert.equal(checkedPrivateWritesStart(encode({ seed: null, writes, more: 1 }), MAX_META_STRING), -1);
  });
});

function openLedger(store = new MemoryLedgerStore()): Ledger {
  return Ledger.open({ store, secrets: testSecrets(), random: testRandom(), serviceKey: SERVICE });
}

/** The fixture's transactions with a non-ASCII private map and a non-ASCII public map now and then. */
function tx(i: number): TransactionInput {
  const base = txFor(i);
  if (i % 5 !== 4) return base;
  const odd: MapWrites = { map: "bank.ünïcode", writes: [[b(`k${i}`), b("v")]] };
  const oddPublic: MapWrites = { map: "public:bank.é", writes: [[b(`k${i}`), null]] };
  return {
    ...base,
    writeSet: { public: [...base.writeSet.public, oddPublic], private: [...base.writeSet.private, odd] },
  };
}

/** `value` with every byte array as hex, an encoded write set as the objects it decodes to. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (value instanceof EncodedWriteSet) return plain({ public: value.public, private: value.private });
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

describe("a follower's replicated write sets as the entry's bytes", () => {
  it("hands out the entry's public bytes and its private writes' bytes, which decode as the entry does", () => {
    const leader = openLedger();
    const signer = signerFor();
    for (let i = 0; i < 30; i++) {
      leader.appendTransaction(2, tx(i));
      if (i % 8 === 7) leader.appendSignature(2, signer, VALID_FROM_MS + 2000 + i);
    }
    const records = [...Array(leader.lastSeqno).keys()].map((i) => leader.get(i + 1)!);
    const follower = openLedger();
    follower.appendReplicated(records);
    for (const record of records) {
      const fresh = decodeEntry(record.bytes, record.seqno);
      assert.equal(follower.recentPublicWrites(record.seqno), undefined, "not decoded by the append");
      const writeSet = follower.writeSetAt(record.seqno);
      assert.ok(writeSet instanceof EncodedWriteSet);
      assert.equal(toHex(writeSet.publicBytes), toHex(fresh.publicBytes), "the entry's public bytes");
      assert.equal(writeSet.publicBytes.buffer, record.bytes.buffer, "a view, not a copy");
      assert.deepEqual(plain(writeSet), plain(entryWriteSet(fresh, testSecrets())), `entry ${record.seqno}`);
    }
  });

  it("still refuses a private part whose tag does not check, and malformed writes under a good tag", () => {
    const leader = openLedger();
    const record = leader.appendTransaction(2, txFor(0));
    const tagFlipped = forgeEntry(record.bytes, (o) => {
      const x = new Uint8Array(o.x!);
      x[x.length - 1]! ^= 1;
      o.x = x;
    });
    const follower = openLedger();
    follower.appendReplicated([{ ...record, bytes: tagFlipped }]);
    assert.throws(() => follower.writeSetAt(1), { code: "DecryptionFailed" });

    // Keys out of order in the private writes, sealed under the ledger secret: the tag checks.
    const unsorted = forgeEntry(record.bytes, (o) => {
      const plaintext = encode({
        seed: null,
        writes: [
          [
            "bank.balances",
            [
              [b("b"), b("1")],
              [b("a"), b("2")],
            ],
          ],
        ],
      });
      const nonce = new Uint8Array(12).fill(3);
      o.x = sealPrivate(testSecrets().current!, nonce, plaintext, associatedData(o.h, o.p)).slice();
    });
    const second = openLedger();
    second.appendReplicated([{ ...record, bytes: unsorted }]);
    assert.throws(() => second.writeSetAt(1), { code: "LedgerCorrupt", message: /entry 1: private\[0\]/ });
  });

  it("refuses a malformed public part when staging it, staging nothing", () => {
    const leader = openLedger();
    const first = leader.appendTransaction(2, txFor(0));
    const second = leader.appendTransaction(2, txFor(1));
    const outOfOrder = forgeEntry(second.bytes, (o) => {
      o.p = encode([
        ["public:b", []],
        ["public:a", []],
      ]);
      o.x = null; // the private part's tag would no longer check; not what is tested here
      o.h = encode({ ...decode<Record<string, unknown>>(o.h), secret: 0 });
    });
    const follower = openLedger();
    assert.throws(() => follower.appendReplicated([first, { ...second, bytes: outOfOrder }]), {
      code: "LedgerCorrupt",
      message: /entry 2: public\[1\]/,
    });
    assert.equal(follower.lastSeqno, 0);
  });
});
