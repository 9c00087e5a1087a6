import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { AssertionFailure } from "../../sdk/assert.js";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { decode, encodeCanonical } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, sign } from "../../sdk/keys.js";
import { encodeLeafData, verifyReceipt } from "../../sdk/receipt.js";
import { ed25519Signer, verifySignature } from "../../runtime/crypto.js";
import { createPrivateKey, sign as opensslSign } from "node:crypto";
import {
  decodeEntry,
  decodePublicWrites,
  leafFields,
  openPrivatePart,
  storedLeafFields,
} from "../../runtime/ledger/entry.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { LmdbLedgerStore } from "../../runtime/ledger/lmdb-store.js";
import {
  DEFAULT_SIGNATURE_POLICY,
  parseSignaturePolicy,
  signatureDue,
  unsignedWaitDue,
} from "../../runtime/ledger/policy.js";
import { LedgerSecret, LedgerSecrets } from "../../runtime/ledger/secrets.js";
import { endorseNode, nodeSigner, signFast } from "../../runtime/ledger/signature.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import {
  buildFixtureLedger,
  forgeEntry,
  NODE,
  PRIVATE_MARKER,
  recordsOf,
  SECRET_KEY,
  SERVICE,
  signerFor,
  storeOf,
  testKey,
  testRandom,
  testSecrets,
  txFor,
  VALID_FROM_MS,
  VALID_TO_MS,
  writeSetFor,
} from "./fixtures.js";

const isCode = (code: string, seqno?: number) => (err: unknown) =>
  isTreatyError(err, code) && (seqno === undefined || err.details?.seqno === seqno);

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

describe("Ledger entries", () => {
  it("records header, metadata, public writes in clear, and private writes and seed sealed", () => {
    const { ledger, txSeqnos } = buildFixtureLedger({ transactions: 12, signEvery: 5 });
    txSeqnos.forEach((seqno, i) => {
      const entry = ledger.entry(seqno)!;
      const tx = txFor(i);
      assert.equal(entry.header.seqno, seqno);
      assert.equal(entry.header.view, 2);
      assert.equal(entry.header.kind, tx.kind);
      assert.deepEqual(entry.header.meta, tx.meta);
      assert.equal(
        toHex(entry.header.requestDigest ?? new Uint8Array()),
        toHex(tx.requestDigest ?? new Uint8Array()),
      );
      assert.deepEqual(decodePublicWrites(entry).map(normalize), tx.writeSet.public.map(normalize));
      const opened = openPrivatePart(entry, testSecrets());
      assert.deepEqual(opened.writes.map(normalize), tx.writeSet.private.map(normalize));
      assert.equal(toHex(opened.seed ?? new Uint8Array()), toHex(tx.seed ?? new Uint8Array()));
      assert.equal(entry.header.secretVersion, entry.sealed === null ? 0 : 1);
      assert.deepEqual(ledger.writeSetAt(seqno).private.map(normalize), tx.writeSet.private.map(normalize));
    });
  });

  it("writes headers and signature records as canonical msgpack (sorted keys)", () => {
    const { store } = buildFixtureLedger({ transactions: 6, signEvery: 3 });
    for (const record of store.range(1)) {
      const entry = decodeEntry(record.bytes, record.seqno);
      assert.equal(toHex(encodeCanonical(decode(entry.headerBytes))), toHex(entry.headerBytes));
      if (entry.signatureBytes !== null) {
        assert.equal(toHex(encodeCanonical(decode(entry.signatureBytes))), toHex(entry.signatureBytes));
      }
    }
  });

  it("signs with node:crypto byte-for-byte like the portable noble path", () => {
    for (const label of ["a", "b", "c"]) {
      const key = testKey(label);
      const message = utf8.encode(`message ${label}`);
      assert.equal(toHex(signFast(key, message)), toHex(sign(key, message)));
    }
    const p256 = generateKeyPair("p256");
    assert.ok(verifySignature(p256, utf8.encode("m"), signFast(p256, utf8.encode("m"))));
  });

  it("signs ed25519 with libsodium byte-for-byte like OpenSSL and noble (public key derived from the seed)", () => {
    const opensslOf = (seed: Uint8Array, message: Uint8Array): string =>
      toHex(
        opensslSign(
          null,
          message,
          createPrivateKey({
            key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]),
            format: "der",
            type: "pkcs8",
          }),
        ),
      );
    for (const size of [0, 1, 32, 200, 5000]) {
      const key = generateKeyPair("ed25519");
      const message = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
      const signer = ed25519Signer(key.privateKey);
      assert.ok(signer !== null, "sodium-native loads: libsodium signs");
      const expected = opensslOf(key.privateKey, message);
      assert.equal(toHex(signer(message)), expected);
      assert.equal(toHex(sign(key, message)), expected);
      assert.equal(toHex(signFast(key, message)), expected);
      // A key pair whose public half is wrong signs as OpenSSL does: with the seed's own key.
      const wrong = { ...key, publicKey: generateKeyPair("ed25519").publicKey };
      assert.equal(toHex(signFast(wrong, message)), expected);
    }
    assert.equal(ed25519Signer(new Uint8Array(31)), null, "a seed of another length has no signer");
  });

  it("the light leaf decoding used for old tree chunks agrees with the full one", () => {
    const { store } = buildFixtureLedger({ transactions: 12, signEvery: 5 });
    for (const record of store.range(1)) {
      const full = leafFields(decodeEntry(record.bytes, record.seqno));
      const light = storedLeafFields(record.bytes, record.seqno);
      assert.equal(toHex(encodeLeafData(light)), toHex(encodeLeafData(full)));
    }
    assert.throws(() => storedLeafFields(new Uint8Array([0xc1]), 4), isCode("LedgerCorrupt", 4));
  });

  it("never writes private values or the ledger secret in clear", () => {
    const { store } = buildFixtureLedger({ transactions: 15, signEvery: 4 });
    let sealed = 0;
    for (const record of store.range(1)) {
      assert.ok(
        !contains(record.bytes, utf8.encode(PRIVATE_MARKER)),
        `entry ${record.seqno} leaks a private value`,
      );
      assert.ok(
        !contains(record.bytes, SECRET_KEY.subarray(0, 16)),
        `entry ${record.seqno} leaks the secret`,
      );
      if (decodeEntry(record.bytes, record.seqno).sealed !== null) sealed++;
    }
    assert.ok(sealed >= 8);
    assert.equal(JSON.stringify(new LedgerSecret(1, SECRET_KEY)), '{"version":1,"key":"[redacted]"}');
  });

  it("uses a unique nonce per entry, even for a seqno re-executed after a rollback", () => {
    const { ledger, store } = buildFixtureLedger({ transactions: 20, signEvery: 6 });
    const nonces = new Map<string, number>();
    let lastSealed = 0;
    for (const record of store.range(1)) {
      const sealed = decodeEntry(record.bytes, record.seqno).sealed;
      if (sealed === null) continue;
      nonces.set(toHex(sealed.subarray(0, 12)), record.seqno);
      lastSealed = record.seqno;
    }
    assert.equal(nonces.size, 14, "every sealed entry has its own nonce");
    const before = toHex(ledger.entry(lastSealed)!.sealed!.subarray(0, 12));
    ledger.truncate(lastSealed);
    ledger.appendTransaction(3, txFor(0));
    const after = toHex(ledger.entry(lastSealed)!.sealed!.subarray(0, 12));
    assert.notEqual(after, before);
    assert.equal(after.slice(0, 16), before.slice(0, 16), "the first 8 bytes are the seqno");
    assert.ok(!nonces.has(after));
  });

  it("binds header and public part to the ciphertext (AES-GCM associated data)", () => {
    const { store } = buildFixtureLedger({ transactions: 3, signEvery: 10 });
    const record = store.get(1)!;
    // Move the sealed part onto a different header (digest recomputed, so only GCM can notice).
    const forged = forgeEntry(record.bytes, (outer) => {
      const header = decode<Record<string, unknown>>(outer.h);
      outer.h = encodeCanonical({ ...header, meta: { ...(header.meta as object), caller: "mallory" } });
    });
    assert.throws(
      () => openPrivatePart(decodeEntry(forged, 1), testSecrets()),
      isCode("DecryptionFailed", 1),
    );
    const forgedPublic = forgeEntry(record.bytes, (outer) => {
      outer.p = store.get(2)!.bytes.length > 0 ? decode<{ p: Uint8Array }>(store.get(2)!.bytes).p : outer.p;
    });
    assert.throws(
      () => openPrivatePart(decodeEntry(forgedPublic, 1), testSecrets()),
      isCode("DecryptionFailed", 1),
    );
    // A wrong secret, or a missing version, is DecryptionFailed too.
    const wrong = new LedgerSecrets([new LedgerSecret(1, new Uint8Array(32).fill(1))]);
    assert.throws(() => openPrivatePart(decodeEntry(record.bytes, 1), wrong), isCode("DecryptionFailed", 1));
    assert.throws(
      () => openPrivatePart(decodeEntry(record.bytes, 1), new LedgerSecrets()),
      isCode("DecryptionFailed", 1),
    );
  });

  it("encrypts with the highest secret version and still reads older ones after a rekey", () => {
    const secrets = testSecrets();
    const ledger = Ledger.open({ store: new MemoryLedgerStore(), secrets, random: testRandom() });
    ledger.appendTransaction(1, txFor(0));
    secrets.add(new LedgerSecret(2, new Uint8Array(32).fill(7)));
    ledger.appendTransaction(1, txFor(1));
    assert.equal(ledger.entry(1)!.header.secretVersion, 1);
    assert.equal(ledger.entry(2)!.header.secretVersion, 2);
    assert.equal(ledger.writeSetAt(1).private.length, 1);
    assert.equal(ledger.writeSetAt(2).private.length, 1);
    assert.throws(() => secrets.add(new LedgerSecret(2, new Uint8Array(32))), isCode("Conflict"));
  });

  it("refuses write sets that break the KV's ordering or domain rules (assertions: a KV bug)", () => {
    const ledger = Ledger.open({
      store: new MemoryLedgerStore(),
      secrets: testSecrets(),
      random: testRandom(),
    });
    const ws = writeSetFor(0);
    const meta = txFor(0).meta;
    const unsorted = { ...ws, public: [...ws.public, { map: "public:a", writes: [] }] };
    assert.throws(
      () => ledger.appendTransaction(1, { kind: "user", writeSet: unsorted, meta }),
      AssertionFailure,
    );
    const wrongDomain = { public: ws.private, private: [] };
    assert.throws(
      () => ledger.appendTransaction(1, { kind: "user", writeSet: wrongDomain, meta }),
      AssertionFailure,
    );
    const duplicateKeys = {
      public: [{ map: "public:x", writes: [ws.public[0]!.writes[0]!, ws.public[0]!.writes[0]!] }],
      private: [],
    };
    assert.throws(
      () => ledger.appendTransaction(1, { kind: "user", writeSet: duplicateKeys, meta }),
      AssertionFailure,
    );
    assert.throws(
      () => ledger.appendTransaction(1, { kind: "signature" as "user", writeSet: ws, meta }),
      AssertionFailure,
    );
    assert.equal(ledger.lastSeqno, 0);
    ledger.appendTransaction(3, txFor(0));
    assert.throws(() => ledger.appendTransaction(2, txFor(1)), AssertionFailure, "views never go back");
  });
});

function normalize(m: { map: string; writes: readonly (readonly [Uint8Array, Uint8Array | null])[] }) {
  return { map: m.map, writes: m.writes.map(([k, v]) => [toHex(k), v === null ? null : toHex(v)]) };
}

describe("Ledger signatures, persistence and replication", () => {
  it("signs the root of every entry before each signature, and tracks the unsigned count", () => {
    const { ledger } = buildFixtureLedger({ transactions: 10, signEvery: 4 });
    assert.equal(ledger.lastSignature?.seqno, 10);
    assert.equal(ledger.unsignedCount, 2);
    assert.equal(ledger.signatureAfter(3), 5);
    assert.equal(ledger.signatureAfter(5), 10);
    assert.equal(ledger.signatureAfter(10), undefined);
    const signature = ledger.entry(10)!;
    assert.equal(signature.header.kind, "signature");
    assert.equal(signature.header.meta.callerId, NODE.id);
  });

  it("reopens from the store with the same tree, signatures and view", () => {
    const { ledger, store } = buildFixtureLedger({ transactions: 25, signEvery: 6 });
    const reopened = Ledger.open({ store, serviceKey: SERVICE });
    assert.equal(reopened.lastSeqno, ledger.lastSeqno);
    assert.equal(reopened.persistedSeqno, ledger.lastSeqno);
    assert.equal(toHex(reopened.root()), toHex(ledger.root()));
    assert.deepEqual(reopened.lastSignature, ledger.lastSignature);
    assert.equal(reopened.lastView, 2);
  });

  it("keeps staged entries out of the store until persist(), then writes them in one batch", () => {
    const store = new MemoryLedgerStore();
    const ledger = Ledger.open({ store, secrets: testSecrets(), random: testRandom() });
    ledger.appendTransaction(1, txFor(0));
    ledger.appendTransaction(1, txFor(1));
    assert.equal(store.lastSeqno, 0);
    assert.equal(ledger.lastSeqno, 2);
    assert.equal(ledger.get(2)?.seqno, 2);
    const written = ledger.persist();
    assert.deepEqual(
      written.map((r) => r.seqno),
      [1, 2],
    );
    assert.equal(store.lastSeqno, 2);
    assert.deepEqual(ledger.persist(), []);
  });

  it("truncates staged and stored suffixes, rolling back tree, signatures and view", () => {
    const { ledger, store } = buildFixtureLedger({ transactions: 20, signEvery: 5 });
    const rootAt = (size: number) => toHex(ledger.tree.root(size));
    const root11 = rootAt(11);
    ledger.appendTransaction(4, txFor(30));
    ledger.truncate(ledger.lastSeqno); // only the staged entry
    assert.equal(ledger.lastView, 2);
    ledger.truncate(12);
    assert.equal(ledger.lastSeqno, 11);
    assert.equal(store.lastSeqno, 11);
    assert.equal(toHex(ledger.root()), root11);
    assert.equal(ledger.lastSignature?.seqno, 6);
    assert.equal(ledger.unsignedCount, 5);
    ledger.appendTransaction(5, txFor(40));
    ledger.appendSignature(5, signerFor(), VALID_FROM_MS + 10_000);
    ledger.persist();
    const reopened = Ledger.open({ store });
    assert.equal(toHex(reopened.root()), toHex(ledger.root()));
    assert.equal(reopened.lastSignature?.seqno, 13);
  });

  it("reads after a truncation and new appends at the same seqnos give the new entries", () => {
    const { ledger, store } = buildFixtureLedger({ transactions: 20, signEvery: 5 });
    const before = ledger.entry(15)!;
    ledger.truncate(12);
    assert.equal(ledger.entry(15), undefined);
    assert.equal(ledger.get(15), undefined);
    for (let i = 0; i < 5; i++) ledger.appendTransaction(5, txFor(100 + i));
    ledger.persist();
    const after = ledger.entry(15)!;
    assert.equal(after.header.view, 5);
    assert.notEqual(toHex(after.digest), toHex(before.digest));
    // What a fresh open decodes from the store, seqno by seqno.
    const reopened = Ledger.open({ store });
    for (let seqno = 1; seqno <= ledger.lastSeqno; seqno++) {
      assert.equal(
        toHex(ledger.entry(seqno)!.digest),
        toHex(reopened.entry(seqno)!.digest),
        `seqno ${seqno}`,
      );
      assert.equal(toHex(ledger.get(seqno)!.bytes), toHex(reopened.get(seqno)!.bytes), `seqno ${seqno}`);
    }
  });

  it("a follower accepts the leader's entries and reaches the same root", () => {
    const { ledger, store } = buildFixtureLedger({ transactions: 30, signEvery: 7, signLast: true });
    const follower = Ledger.open({ store: new MemoryLedgerStore(), serviceKey: SERVICE });
    const records = recordsOf(store);
    for (let i = 0; i < records.length; i += 9) {
      follower.appendReplicated(records.slice(i, i + 9));
      follower.persist();
    }
    assert.equal(toHex(follower.root()), toHex(ledger.root()));
    assert.equal(follower.lastSignature?.seqno, ledger.lastSignature?.seqno);
  });

  it("a follower rejects a bad batch as a whole, naming the first bad seqno", () => {
    const { store } = buildFixtureLedger({ transactions: 12, signEvery: 5 });
    const records = recordsOf(store);
    const follower = Ledger.open({ store: new MemoryLedgerStore(), serviceKey: SERVICE });
    follower.appendReplicated(records.slice(0, 3));
    const bad = records.slice(3, 8).map((r) => ({ ...r }));
    bad[2] = {
      ...bad[2]!,
      bytes: forgeEntry(bad[2]!.bytes, (o) => {
        o.p = o.p.subarray(0, -1);
      }),
    };
    assert.throws(() => follower.appendReplicated(bad), isCode("LedgerCorrupt", 6));
    assert.equal(follower.lastSeqno, 3, "nothing of the bad batch is kept");
    assert.throws(() => follower.appendReplicated(records.slice(4, 5)), isCode("LedgerCorrupt", 5), "a gap");
    const wrongView = { ...records[3]!, view: 9 };
    assert.throws(() => follower.appendReplicated([wrongView]), isCode("LedgerCorrupt", 4));
    follower.appendReplicated(records.slice(3));
    assert.equal(follower.lastSeqno, records.length);
  });

  it("a follower rejects a signature over a different root, or from a node the service did not endorse", () => {
    const { store } = buildFixtureLedger({ transactions: 4, signEvery: 4 });
    const records = recordsOf(store);
    // Same leader, honest signature, but the follower's entry 2 differs: roots disagree.
    const follower = Ledger.open({
      store: new MemoryLedgerStore(),
      secrets: testSecrets(),
      random: testRandom("f"),
      serviceKey: SERVICE,
    });
    follower.appendReplicated(records.slice(0, 1));
    follower.appendTransaction(2, txFor(7));
    follower.appendReplicated(records.slice(2, 4));
    assert.throws(() => follower.appendReplicated(records.slice(4, 5)), isCode("LedgerCorrupt", 5));
    // A node endorsed by another "service" key signs: rejected when the service key is pinned.
    const rogueService = testKey("rogue-service");
    const rogue = buildFixtureLedger({
      transactions: 4,
      signEvery: 4,
      signer: signerFor(testKey("rogue-node"), rogueService),
      serviceKey: rogueService,
    });
    const pinned = Ledger.open({ store: new MemoryLedgerStore(), serviceKey: SERVICE });
    assert.throws(
      () => pinned.appendReplicated(recordsOf(rogue.store)),
      (err) => {
        return isCode("LedgerCorrupt", 5)(err) && /service/.test((err as Error).message);
      },
    );
  });

  it("refuses to sign outside the node's endorsement or for another service identity", () => {
    const ledger = Ledger.open({
      store: new MemoryLedgerStore(),
      secrets: testSecrets(),
      random: testRandom(),
      serviceKey: SERVICE,
    });
    ledger.appendTransaction(1, txFor(0));
    assert.throws(() => ledger.appendSignature(1, signerFor(), VALID_TO_MS + 1), isCode("Forbidden"));
    assert.throws(() => ledger.appendSignature(1, signerFor(), VALID_FROM_MS - 1), isCode("Forbidden"));
    const other = testKey("other-service");
    assert.throws(
      () => ledger.appendSignature(1, signerFor(NODE, other), VALID_FROM_MS),
      isCode("Forbidden"),
    );
    assert.throws(() => nodeSigner(NODE, endorseNode(SERVICE, testKey("x"), 0, 1), SERVICE), TypeError);
    assert.equal(ledger.lastSeqno, 1);
  });

  it("persists to LMDB in batches and reopens with the same root", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-ledger-"));
    try {
      const store = LmdbLedgerStore.open(dir);
      const { ledger } = buildFixtureLedger({ transactions: 40, signEvery: 9, store, residentLevel: 2 });
      const root = toHex(ledger.root());
      const receipt = ledger.receipt(`2.${3}`, ledger.lastSeqno);
      await store.close();
      const reopenedStore = LmdbLedgerStore.open(dir, { readOnly: true });
      try {
        const reopened = Ledger.open({ store: reopenedStore, residentLevel: 2 });
        assert.equal(toHex(reopened.root()), root);
        assert.deepEqual(reopened.receipt("2.3", reopened.lastSeqno), receipt);
      } finally {
        await reopenedStore.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("opening a store with a missing or altered entry is LedgerCorrupt at that seqno", () => {
    const { store } = buildFixtureLedger({ transactions: 10, signEvery: 4 });
    const records = recordsOf(store);
    const withGap = storeOf([...records.slice(0, 4), ...records.slice(5)]);
    assert.throws(() => Ledger.open({ store: withGap }), isCode("LedgerCorrupt", 5));
    const altered = new MemoryLedgerStore();
    const copy = records.map((r) => ({ ...r }));
    copy[1] = {
      ...copy[1]!,
      bytes: forgeEntry(copy[1]!.bytes, (o) => {
        const header = decode<Record<string, unknown>>(o.h);
        o.h = encodeCanonical({ ...header, meta: { ...(header.meta as object), time: 1 } });
      }),
    };
    altered.append(copy);
    assert.throws(
      () => Ledger.open({ store: altered }),
      isCode("LedgerCorrupt", 5),
      "the next signature's root no longer matches",
    );
  });
});

describe("Ledger receipts", () => {
  it("gives a verifiable receipt for every committed, signed txid, in every kind", () => {
    const { ledger, txSeqnos } = buildFixtureLedger({
      transactions: 23,
      signEvery: 5,
      signLast: true,
      residentLevel: 2,
    });
    const kinds = new Set<string>();
    for (let seqno = 1; seqno < ledger.lastSeqno; seqno++) {
      const receipt = ledger.receipt(`2.${seqno}`, ledger.lastSeqno);
      const verified = verifyReceipt(receipt, SERVICE, { verify: verifySignature });
      assert.equal(verified.seqno, seqno);
      kinds.add(verified.kind);
      const i = txSeqnos.indexOf(seqno);
      if (i >= 0) {
        assert.equal(verified.kind, txFor(i).kind);
        const expected = txFor(i).requestDigest;
        assert.equal(
          verified.requestDigest === null ? null : toHex(verified.requestDigest),
          expected ? toHex(expected) : null,
        );
      } else {
        assert.equal(verified.kind, "signature");
      }
    }
    assert.deepEqual([...kinds].sort(), ["governance", "internal", "member", "signature", "user"]);
    // The noble (browser) path verifies the same receipt.
    assert.equal(verifyReceipt(ledger.receipt("2.1", ledger.lastSeqno), SERVICE).seqno, 1);
  });

  it("refuses receipts for uncommitted, unsigned, rolled-back and unknown txids", () => {
    const { ledger } = buildFixtureLedger({ transactions: 12, signEvery: 5 });
    // Signatures at 6 and 12; entries 13 and 14 are unsigned.
    assert.throws(
      () => ledger.receipt("2.3", 5),
      isCode("TxNotCommitted", 3),
      "the covering signature is not committed",
    );
    assert.throws(
      () => ledger.receipt("2.8", 7),
      isCode("TxNotCommitted", 8),
      "the tx itself is not committed",
    );
    assert.throws(
      () => ledger.receipt("2.13", ledger.lastSeqno),
      isCode("TxNotCommitted", 13),
      "no signature covers it",
    );
    assert.throws(() => ledger.receipt("2.99", 99), isCode("TxNotFound", 99));
    assert.throws(
      () => ledger.receipt("1.3", ledger.lastSeqno),
      isCode("TxNotFound", 3),
      "another view's txid",
    );
    assert.throws(() => ledger.receipt("2.x", 9), isCode("MalformedRequest"));
    assert.equal(ledger.receipt("2.3", 6).signature.seqno, 6);
  });
});

describe("Signature policy", () => {
  const policy = parseSignaturePolicy({ maxTxs: 100, maxIntervalMs: 50 });

  it("signs after N transactions or T ms, whichever first, and never with nothing to sign", () => {
    assert.equal(signatureDue(policy, { unsignedTxs: 0, lastSignatureMs: 0, nowMs: 10_000 }), false);
    assert.equal(signatureDue(policy, { unsignedTxs: 99, lastSignatureMs: 1000, nowMs: 1049 }), false);
    assert.equal(signatureDue(policy, { unsignedTxs: 100, lastSignatureMs: 1000, nowMs: 1000 }), true);
    assert.equal(signatureDue(policy, { unsignedTxs: 1, lastSignatureMs: 1000, nowMs: 1050 }), true);
  });

  it("bounds an unsigned entry's wait below saturation: due once the oldest has waited maxWaitMs, never after a busy batch or with nothing to sign", () => {
    const bound = { maxWaitMs: 5, busyBatchCalls: 32 };
    const wait = { unsignedTxs: 3, oldestUnsignedMs: 1000, lastBatchCalls: 1, nowMs: 1005 };
    assert.equal(unsignedWaitDue(bound, wait), true);
    assert.equal(unsignedWaitDue(bound, { ...wait, nowMs: 1004 }), false, "not waited long enough");
    assert.equal(unsignedWaitDue(bound, { ...wait, lastBatchCalls: 31 }), true);
    assert.equal(
      unsignedWaitDue(bound, { ...wait, lastBatchCalls: 32 }),
      false,
      "saturated: the policy decides",
    );
    assert.equal(unsignedWaitDue(bound, { ...wait, unsignedTxs: 0 }), false, "nothing to sign");
    assert.equal(unsignedWaitDue(bound, { ...wait, oldestUnsignedMs: null }), false, "no entry timed");
  });

  it("validates configuration, naming the field, with CCF-like defaults", () => {
    assert.deepEqual(parseSignaturePolicy({}), DEFAULT_SIGNATURE_POLICY);
    assert.throws(
      () => parseSignaturePolicy({ maxTxs: 0 }),
      (err) => isCode("MalformedRequest")(err) && /maxTxs/.test((err as Error).message),
    );
    assert.throws(() => parseSignaturePolicy({ maxIntervalMs: "1s" }), /signatures.maxIntervalMs/);
  });
});
