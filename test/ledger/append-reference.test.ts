/**
 * The leader's append writes an entry through reused buffers and in-place writes (the nonce's
 * random salt, the outer map and the content digest part by part, the leaf hash into the
 * ledger's own array, the Merkle parent hashed from the hash in hand): none of that may change a
 * byte. Each entry appended here is checked against a reference built without any of the
 * ledger's code paths (the codec's encoding of the outer map, noble's SHA-256 over the digest's
 * definition, the nonce from the random stream, the portable Merkle frontier over noble leaf
 * hashes), and the whole ledger against the bytes session 21's starting code (6d98b0a) wrote
 * for the same transactions.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createHash } from "node:crypto";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { concatBytes, toHex, utf8 } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import { sha256Hasher } from "../../sdk/merkle.js";
import { encodeLeafData, verifyReceipt } from "../../sdk/receipt.js";
import { verifySignature } from "../../runtime/crypto.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import { decodeEntry, EncodedWriteSet, encodeWrites, leafFields } from "../../runtime/ledger/entry.js";
import { Ledger, type TransactionInput } from "../../runtime/ledger/ledger.js";
import { MerkleFrontier } from "../../runtime/ledger/merkle-tree.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { SERVICE, signerFor, testRandom, testSecrets, txFor, VALID_FROM_MS } from "./fixtures.js";

const u32 = (n: number) => Uint8Array.of(n >>> 24, n >>> 16, n >>> 8, n);
const u64 = (n: number) => concatBytes(u32(Math.floor(n / 2 ** 32)), u32(n % 2 ** 32));

/**
 * The i-th transaction: the fixture's, varied so that every path of the append runs: a claims
 * digest, no private part, a non-ASCII map name (the codec's path), values past the reused
 * buffers' 1 KiB and past an entry slab's quarter (16 KiB / 4), nothing written, and the
 * execution worker's encoded write sets beside write sets of objects.
 */
function tx(i: number): TransactionInput {
  const base = txFor(i);
  let writeSet: WriteSet = base.writeSet;
  if (i % 9 === 4) {
    const odd: MapWrites = { map: "public:bank.é", writes: [[utf8.encode(`k${i}`), utf8.encode("ü")]] };
    writeSet = { public: [...writeSet.public, odd], private: writeSet.private };
  }
  if (i % 13 === 7) {
    const big: MapWrites = {
      map: "public:blob",
      writes: [[utf8.encode("b"), new Uint8Array(1500 + 300 * i).fill(i)]],
    };
    writeSet = { public: [...writeSet.public, big], private: writeSet.private };
  }
  if (i % 17 === 11) writeSet = { public: [], private: [] };
  if (i % 2 === 1)
    writeSet = new EncodedWriteSet(
      encodeWrites(writeSet.public, true).slice(),
      encodeWrites(writeSet.private, false).slice(),
    );
  return {
    ...base,
    writeSet,
    ...(i % 5 === 3 && { claimsDigest: createHash("sha256").update(`claims ${i}`).digest() }),
  };
}

describe("the ledger's append against a reference built without it", () => {
  it("writes the entries, nonces, leaves, roots and receipts the reference gives", () => {
    const ledger = Ledger.open({
      store: new MemoryLedgerStore(),
      secrets: testSecrets(),
      random: testRandom(),
      serviceKey: SERVICE,
      residentLevel: 2,
    });
    const signer = signerFor();
    // The random stream as the ledger draws it: 4096 bytes at a time, 4 per sealed entry.
    const stream = testRandom();
    let pool: Uint8Array = new Uint8Array(0);
    let used = 0;
    const frontier = new MerkleFrontier(sha256Hasher);
    const all = createHash("sha256");
    for (let i = 0; i < 120; i++) {
      const record =
        i % 10 === 9
          ? ledger.appendSignature(2, signer, VALID_FROM_MS + 2000 + i)
          : ledger.appendTransaction(2, tx(i));
      const entry = decodeEntry(record.bytes, record.seqno);
      const { headerBytes: h, publicBytes: p, sealed: x, signatureBytes: s } = entry;
      const digest = nobleSha256(
        concatBytes(
          u32(h.length),
          h,
          u32(p.length),
          p,
          u32(x?.length ?? 0),
          x ?? new Uint8Array(0),
          u32(s?.length ?? 0),
          s ?? new Uint8Array(0),
        ),
      );
      assert.equal(toHex(entry.digest), toHex(digest), `entry ${record.seqno}: content digest`);
      assert.equal(
        toHex(record.bytes),
        toHex(encode({ h, p, x, s, d: digest })),
        `entry ${record.seqno}: bytes`,
      );
      if (x !== null) {
        if (used + 4 > pool.length) {
          pool = stream(4096);
          used = 0;
        }
        const nonce = concatBytes(u64(record.seqno), pool.subarray(used, used + 4));
        used += 4;
        assert.equal(toHex(x.subarray(0, 12)), toHex(nonce), `entry ${record.seqno}: nonce`);
      }
      frontier.append(sha256Hasher.leaf(encodeLeafData(leafFields(entry))));
      assert.equal(toHex(ledger.root()), toHex(frontier.root()), `root at ${record.seqno}`);
      all.update(record.bytes);
    }
    for (let seqno = 1; seqno < ledger.lastSeqno; seqno++) {
      const verified = verifyReceipt(ledger.receipt(`2.${seqno}`, ledger.lastSeqno), SERVICE, {
        verify: verifySignature,
      });
      assert.equal(verified.seqno, seqno);
    }
    // What 6d98b0a's ledger wrote for these 120 entries (and its root after them).
    assert.equal(all.digest("hex"), "07f3a39735d80e685c1e7aa16b7ba88241d841d814e251c1f89a84ae88715708");
    assert.equal(toHex(ledger.root()), "26203b035c480f2790534cc04f6ab29ba496505ce76dd750288e7341f573a26e");
  });
});
