/**
 * `treaty.nonceLog` keys and values (node/execution/nonces.ts): hostile caller ids and nonces
 * (any length, any UTF-16, separators inside), `createdMs` at and past its bounds.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  NONCE_KEY_BYTES,
  nonceKey,
  nonceKeyCreatedMs,
  nonceValue,
  readNonceValue,
} from "../../node/execution/nonces.js";
import { TreatyError } from "../../sdk/errors.js";

function compare(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

describe("nonceKey", () => {
  it("is createdMs big-endian then 16 digest bytes, and the same request gives the same key", () => {
    const key = nonceKey("alice", "00".repeat(32), 1_700_000_000_123);
    assert.equal(key.length, NONCE_KEY_BYTES);
    assert.equal(nonceKeyCreatedMs(key), 1_700_000_000_123);
    assert.deepEqual(nonceKey("alice", "00".repeat(32), 1_700_000_000_123), key);
  });

  it("never merges two (caller, nonce) pairs that concatenate alike", () => {
    const pairs: Array<[string, string]> = [
      ["a:b", "c"],
      ["a", "b:c"],
      ["ab", ""],
      ["a", "b"],
      ["", "ab"],
      ["", ""],
      // UTF-8 would encode both lone surrogates as U+FFFD: UTF-16 keeps them apart.
      ["\ud800", "n"],
      ["\udc00", "n"],
      ["\ufffd", "n"],
      ["x", "\ud800"],
      ["x", "\ufffd"],
      ["\u0000", "\u0000"],
      ["\u0000\u0000", ""],
    ];
    const keys = new Set(pairs.map(([c, n]) => Buffer.from(nonceKey(c, n, 5)).toString("hex")));
    assert.equal(keys.size, pairs.length);
  });

  it("separates random distinct pairs, and orders keys by createdMs first", () => {
    const text = fc.string({ unit: "binary", maxLength: 80 });
    fc.assert(
      fc.property(text, text, text, text, fc.nat(), fc.nat(), (c1, n1, c2, n2, t1, t2) => {
        const a = nonceKey(c1, n1, t1);
        const b = nonceKey(c2, n2, t2);
        if (t1 !== t2) assert.equal(Math.sign(compare(a, b)), Math.sign(t1 - t2));
        else if (c1 !== c2 || n1 !== n2) assert.notDeepEqual(a, b);
        else assert.deepEqual(a, b);
      }),
    );
  });

  it("takes caller ids and nonces of any length (the key stays 24 bytes)", () => {
    for (const length of [0, 1, 31, 32, 64, 65, 1024, 100_000]) {
      const key = nonceKey("c".repeat(length), "f".repeat(length), 7);
      assert.equal(key.length, NONCE_KEY_BYTES);
    }
  });

  it("takes createdMs from 0 to 2^53 - 1 in order, and refuses anything else", () => {
    const bounds = [0, 1, 2 ** 32 - 1, 2 ** 32, 1_700_000_000_000, Number.MAX_SAFE_INTEGER];
    const keys = bounds.map((ms) => nonceKey("a", "n", ms));
    for (let i = 0; i < bounds.length; i++) assert.equal(nonceKeyCreatedMs(keys[i]!), bounds[i]);
    for (let i = 1; i < keys.length; i++) assert.equal(compare(keys[i - 1]!, keys[i]!), -1);
    for (const bad of [-1, 0.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN, Number.POSITIVE_INFINITY, -0.1]) {
      assert.throws(
        () => nonceKey("a", "n", bad),
        (err: unknown) => err instanceof TreatyError && err.code === "MalformedRequest",
        String(bad),
      );
    }
  });
});

describe("nonceValue", () => {
  it("reads back the txid and time it holds", () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.double(), (view, seqno, timeMs) => {
        const txid = `${view}.${seqno}`;
        const record = readNonceValue(nonceValue({ txid, timeMs }));
        assert.equal(record.txid, txid);
        assert.ok(Object.is(record.timeMs, timeMs));
      }),
    );
    assert.equal(nonceValue({ txid: "12.345678", timeMs: 1_700_000_000_000 }).length, 8 + 9);
  });

  it("reads a value that holds no record as a consumed nonce of unknown txid", () => {
    for (const bytes of [
      new Uint8Array(0),
      new Uint8Array(7),
      new Uint8Array(8),
      new Uint8Array(64).fill(0xfe),
    ]) {
      assert.deepEqual(readNonceValue(bytes), { txid: "unknown", timeMs: 0 });
    }
  });
});
