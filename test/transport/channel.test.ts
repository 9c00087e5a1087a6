import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { equalBytes, fromHex, utf8 } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, type KeyPair, keyPairFromPrivate, sign } from "../../sdk/keys.js";
import { type OpenedFrame, SecureChannel } from "../../node/transport/channel.js";
import {
  aeadOpen,
  aeadSeal,
  deriveAeadKey,
  ed25519Signer,
  isUsableEd25519PublicKey,
  x25519PrivateKey,
  x25519SharedSecret,
} from "../../node/transport/crypto.js";
import {
  decodeFrame,
  encodeFrame,
  encodeHeader,
  type FrameHeader,
  FrameKind,
  signedBytes,
} from "../../node/transport/frame.js";

const MAX_FRAME_BYTES = 64 * 1024;

function channel(nodeId: string, identity: KeyPair, epoch = 1, sessionByte = 1): SecureChannel {
  return new SecureChannel({
    serviceId: "svc",
    nodeId,
    identity,
    sessionEpoch: epoch,
    sessionId: new Uint8Array(16).fill(sessionByte),
    maxFrameBytes: MAX_FRAME_BYTES,
  });
}

function linked(): { aKey: KeyPair; bKey: KeyPair; a: SecureChannel; b: SecureChannel } {
  const aKey = generateKeyPair("ed25519");
  const bKey = generateKeyPair("ed25519");
  const a = channel("a", aKey);
  const b = channel("b", bKey);
  a.addPeer({ id: "b", publicKey: bKey });
  b.addPeer({ id: "a", publicKey: aKey });
  return { aKey, bKey, a, b };
}

function opened(result: ReturnType<SecureChannel["open"]>): OpenedFrame {
  assert.ok(result.ok, `expected an accepted frame, got ${result.ok ? "" : result.reason}`);
  return result;
}

/** A frame with a hand-made header, correctly signed by `key`: only the structural checks can reject it. */
function signedFrame(key: KeyPair, header: Record<string, unknown>, body: Uint8Array): Uint8Array {
  const headerBytes = encode(header);
  return encodeFrame(headerBytes, body, sign(key, signedBytes(headerBytes, body)));
}

describe("transport crypto", () => {
  it("node:crypto ed25519 signatures are byte-identical to sdk/keys (noble)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 600 }),
        (seed, message) => {
          const key = keyPairFromPrivate("ed25519", seed);
          assert.ok(equalBytes(ed25519Signer(key)(message), sign(key, message)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it("derives the same x25519 secret on both sides, equal to noble's", () => {
    const a = generateKeyPair("ed25519");
    const b = generateKeyPair("ed25519");
    const ab = x25519SharedSecret(x25519PrivateKey(a), b.publicKey);
    const ba = x25519SharedSecret(x25519PrivateKey(b), a.publicKey);
    assert.ok(ab !== undefined && ba !== undefined && equalBytes(ab, ba));
    const noble = x25519.getSharedSecret(
      ed25519.utils.toMontgomerySecret(a.privateKey),
      ed25519.utils.toMontgomery(b.publicKey),
    );
    assert.ok(equalBytes(ab, noble));
    const c = generateKeyPair("ed25519");
    assert.equal(equalBytes(ab, x25519SharedSecret(x25519PrivateKey(a), c.publicKey)!), false);
  });

  it("rejects small-order and invalid ed25519 public keys", () => {
    const identity = fromHex("0100000000000000000000000000000000000000000000000000000000000000");
    const orderTwo = fromHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    assert.equal(isUsableEd25519PublicKey(identity), false);
    assert.equal(isUsableEd25519PublicKey(orderTwo), false);
    assert.equal(isUsableEd25519PublicKey(new Uint8Array(31)), false);
    assert.equal(isUsableEd25519PublicKey(new Uint8Array(32).fill(0xff)), false);
    assert.equal(isUsableEd25519PublicKey(generateKeyPair("ed25519").publicKey), true);
    // Even if such a key got through, the all-zero shared secret is refused.
    assert.equal(x25519SharedSecret(x25519PrivateKey(generateKeyPair("ed25519")), identity), undefined);
  });

  it("AES-256-GCM opens only with the same key, nonce and associated data", () => {
    const key = deriveAeadKey(new Uint8Array(32).fill(1), new Uint8Array(16), utf8.encode("test"));
    const otherKey = deriveAeadKey(new Uint8Array(32).fill(1), new Uint8Array(16), utf8.encode("test2"));
    const nonce = new Uint8Array(12).fill(3);
    const aad = utf8.encode("header");
    const sealed = aeadSeal(key, nonce, aad, utf8.encode("secret"));
    assert.equal(utf8.decode(aeadOpen(key, nonce, aad, sealed)!), "secret");
    assert.equal(aeadOpen(otherKey, nonce, aad, sealed), undefined);
    assert.equal(aeadOpen(key, new Uint8Array(12), aad, sealed), undefined);
    assert.equal(aeadOpen(key, nonce, utf8.encode("header!"), sealed), undefined);
    assert.equal(aeadOpen(key, nonce, aad, sealed.subarray(0, sealed.length - 1)), undefined);
    assert.equal(aeadOpen(key, nonce, aad, new Uint8Array(3)), undefined);
  });
});

describe("SecureChannel", () => {
  it("round-trips any payload, kind and confidentiality", () => {
    const { a, b } = linked();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (payload, confidential) => {
        const { frame, ctr } = a.seal("b", FrameKind.Message, payload, confidential);
        const result = opened(b.open(frame));
        assert.equal(result.from, "a");
        assert.equal(result.ctr, ctr);
        assert.equal(result.confidential, confidential);
        assert.ok(equalBytes(result.body, payload));
      }),
      { numRuns: 100 },
    );
    const response = opened(b.open(a.seal("b", FrameKind.Response, utf8.encode("r"), true, 7).frame));
    assert.equal(response.kind, FrameKind.Response);
    assert.equal(response.re, 7);
  });

  it("rejects every single-byte change of a frame, and never throws", () => {
    const { a, b } = linked();
    for (const confidential of [false, true]) {
      const { frame } = a.seal("b", FrameKind.Message, utf8.encode("transfer 10 to carol"), confidential);
      fc.assert(
        fc.property(fc.nat({ max: frame.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, mask) => {
          const copy = new Uint8Array(frame);
          copy[index] = copy[index]! ^ mask;
          assert.equal(b.open(copy).ok, false);
        }),
        { numRuns: 300 },
      );
      // Untouched, it still opens (so the rejections above are the tampering's doing).
      assert.ok(b.open(frame).ok);
    }
  });

  it("rejects arbitrary bytes without throwing", () => {
    const { b } = linked();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        assert.equal(b.open(bytes).ok, false);
      }),
      { numRuns: 500 },
    );
  });

  it("carries epochs across the whole safe-integer range (e.g. a start time in ms)", () => {
    const aKey = generateKeyPair("ed25519");
    const bKey = generateKeyPair("ed25519");
    const b = channel("b", bKey);
    b.addPeer({ id: "a", publicKey: aKey });
    for (const epoch of [0, 2 ** 32, 1_795_000_000_000, Number.MAX_SAFE_INTEGER]) {
      const a = channel("a", aKey, epoch);
      a.addPeer({ id: "b", publicKey: bKey });
      opened(b.open(a.seal("b", FrameKind.Message, utf8.encode("e"), true).frame));
      assert.equal(b.highestSessionEpoch("a"), epoch);
    }
  });

  it("accepts each counter once and drops frames reordered behind a later one", () => {
    const { a, b } = linked();
    const first = a.seal("b", FrameKind.Message, utf8.encode("1"), false).frame;
    const second = a.seal("b", FrameKind.Message, utf8.encode("2"), false).frame;
    opened(b.open(second));
    assert.deepEqual(b.open(first), { ok: false, reason: "replay" });
    assert.deepEqual(b.open(second), { ok: false, reason: "replay" });
  });

  it("does not move replay state for frames that fail authentication", () => {
    const { aKey, bKey, b } = linked();
    const forger = channel("a", generateKeyPair("ed25519"), 99);
    forger.addPeer({ id: "b", publicKey: bKey });
    // A forged frame from a far newer epoch must not make a's real session look stale.
    assert.deepEqual(b.open(forger.seal("b", FrameKind.Message, utf8.encode("x"), false).frame), {
      ok: false,
      reason: "badSignature",
    });
    assert.equal(b.highestSessionEpoch("a"), undefined);
    const real = channel("a", aKey, 1);
    real.addPeer({ id: "b", publicKey: bKey });
    opened(b.open(real.seal("b", FrameKind.Message, utf8.encode("y"), false).frame));
    assert.equal(b.highestSessionEpoch("a"), 1);
  });

  it("uses a key per direction and session: a frame cannot be decrypted under another session", () => {
    const { aKey, bKey, b } = linked();
    const s1 = channel("a", aKey, 5, 1);
    s1.addPeer({ id: "b", publicKey: bKey });
    const sealed = s1.seal("b", FrameKind.Message, utf8.encode("secret"), true);
    const decoded = decodeFrame(sealed.frame)!;
    // Re-sign the same ciphertext under a header naming another session id: signature valid, key wrong.
    const header: FrameHeader = { ...decoded.header, sid: new Uint8Array(16).fill(2) };
    const headerBytes = encodeHeader(header);
    const moved = encodeFrame(headerBytes, decoded.body, sign(aKey, signedBytes(headerBytes, decoded.body)));
    assert.deepEqual(b.open(moved), { ok: false, reason: "decryptFailed" });
    opened(b.open(sealed.frame));
  });

  it("stops accepting an old key once a peer's key is replaced", () => {
    const { a, b } = linked();
    const before = a.seal("b", FrameKind.Message, utf8.encode("old key"), true).frame;
    b.addPeer({ id: "a", publicKey: generateKeyPair("ed25519") });
    assert.deepEqual(b.open(before), { ok: false, reason: "badSignature" });
  });

  it("rejects correctly signed frames whose header breaks the format", () => {
    const { aKey, b } = linked();
    const base = {
      v: 1,
      svc: "svc",
      from: "a",
      to: "b",
      ep: 1,
      sid: new Uint8Array(16).fill(1),
      ctr: 1,
      k: 0,
      c: false,
    };
    const body = utf8.encode("x");
    const cases: [string, Record<string, unknown>][] = [
      ["an extra key", { ...base, extra: 1 }],
      ["version 2", { ...base, v: 2 }],
      ["a request in clear", { ...base, k: FrameKind.Request }],
      ["a response without re", { ...base, k: FrameKind.Response, c: true }],
      ["a message with re", { ...base, re: 1 }],
      ["counter 0", { ...base, ctr: 0 }],
      ["a fractional epoch", { ...base, ep: 1.5 }],
      ["a short session id", { ...base, sid: new Uint8Array(15) }],
      ["an unknown kind", { ...base, k: 3 }],
      ["a string flag", { ...base, c: "false" }],
      ["a missing key", { v: 1, svc: "svc", from: "a", to: "b", ep: 1, sid: base.sid, ctr: 1, k: 0 }],
    ];
    for (const [what, header] of cases) {
      assert.deepEqual(b.open(signedFrame(aKey, header, body)), { ok: false, reason: "malformed" }, what);
    }
    // The same construction with a valid header is accepted: the cases above fail on the header alone.
    opened(b.open(signedFrame(aKey, base, body)));
  });

  it("drops frames over maxFrameBytes before decoding them", () => {
    const { b } = linked();
    assert.deepEqual(b.open(new Uint8Array(MAX_FRAME_BYTES + 1)), { ok: false, reason: "oversize" });
  });

  it("validates peers with MalformedRequest naming the field", () => {
    const { b } = linked();
    const bad: [unknown, RegExp][] = [
      [{ id: "a.b", publicKey: generateKeyPair("ed25519") }, /peer\.id/],
      [{ id: "x".repeat(129), publicKey: generateKeyPair("ed25519") }, /peer\.id/],
      [{ id: "b", publicKey: generateKeyPair("ed25519") }, /this node itself/],
      [
        { id: "p", publicKey: { curve: "ed25519", publicKey: fromHex(`01${"00".repeat(31)}`) } },
        /peer\.publicKey/,
      ],
      [{ id: "p", publicKey: generateKeyPair("p256") }, /peer\.publicKey/],
      [{ id: "p" }, /peer\.publicKey/],
      [undefined, /peer\.id/],
      [{ id: "p", publicKey: generateKeyPair("ed25519"), minSessionEpoch: Number.NaN }, /minSessionEpoch/],
    ];
    for (const [peer, field] of bad) {
      assert.throws(
        () => b.addPeer(peer as never),
        (err) => isTreatyError(err, "MalformedRequest") && field.test(err.message),
      );
    }
    assert.deepEqual(b.peerIds(), ["a"]);
  });
});
