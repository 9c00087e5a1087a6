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
  aeadOpenDetached,
  aeadSeal,
  aeadSealDetached,
  deriveAeadKey,
  deriveSecretKeys,
  ed25519Signer,
  hmacSha256,
  hmacSha256Verify,
  isUsableEd25519PublicKey,
  x25519PrivateKey,
  x25519SharedSecret,
} from "../../node/transport/crypto.js";
import {
  advertisesMacFrames,
  decodeFrame,
  encodeFrame,
  encodeHeader,
  type FrameHeader,
  FrameKind,
  MAC_FRAME_VERSION,
  MAC_FRAMES_MARKER,
  SIGNED_FRAME_VERSION,
  signedBytes,
} from "../../node/transport/frame.js";

const MAX_FRAME_BYTES = 64 * 1024;

function channel(
  nodeId: string,
  identity: KeyPair,
  epoch = 1,
  sessionByte = 1,
  macFrames = true,
): SecureChannel {
  return new SecureChannel({
    serviceId: "svc",
    nodeId,
    identity,
    sessionEpoch: epoch,
    sessionId: new Uint8Array(16).fill(sessionByte),
    maxFrameBytes: MAX_FRAME_BYTES,
    macFrames,
  });
}

/** One frame each way, so that each side has accepted the other's session (and its advertisement). */
function greet(x: SecureChannel, y: SecureChannel): void {
  opened(y.open(x.seal(y.nodeId, FrameKind.Message, utf8.encode("hello"), false).frame));
  opened(x.open(y.seal(x.nodeId, FrameKind.Message, utf8.encode("hello"), false).frame));
}

/** `linked()` after one frame each way: from here on a and b send each other MAC frames. */
function meshed(): ReturnType<typeof linked> {
  const pair = linked();
  greet(pair.a, pair.b);
  return pair;
}

function version(frame: Uint8Array): number {
  const decoded = decodeFrame(frame);
  assert.ok(decoded !== undefined, "a well-formed frame");
  return decoded.header.v;
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
  for (const [format, pair] of [
    ["signed", linked],
    ["MAC", meshed],
  ] as const) {
    it(`round-trips any payload, kind and confidentiality (${format} frames)`, () => {
      const { a, b } = pair();
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (payload, confidential) => {
          const { frame, ctr } = a.seal("b", FrameKind.Message, payload, confidential);
          assert.equal(version(frame), format === "MAC" ? MAC_FRAME_VERSION : SIGNED_FRAME_VERSION);
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

    it(`rejects every single-byte change and every truncation of a frame, and never throws (${format} frames)`, () => {
      const { a, b } = pair();
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
        for (let length = 0; length < frame.length; length++) {
          assert.equal(b.open(frame.subarray(0, length)).ok, false, `truncated to ${length} bytes`);
        }
        // Untouched, it still opens (so the rejections above are the tampering's doing).
        assert.ok(b.open(frame).ok);
      }
    });
  }

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
      ["version 3", { ...base, v: 3 }],
      ["version 2 carrying a signature", { ...base, v: 2 }],
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

/** A MAC frame re-built by hand: `header` replaced, `body` and authenticator kept as they were. */
function relabelled(frame: Uint8Array, change: Partial<FrameHeader>): Uint8Array {
  const decoded = decodeFrame(frame)!;
  return encodeFrame(encodeHeader({ ...decoded.header, ...change }), decoded.body, decoded.auth);
}

describe("SecureChannel MAC frames (version 2)", () => {
  it("advertises MAC frames in its session id and sends them only once the peer's session advertised them", () => {
    const { a, b } = linked();
    assert.ok(advertisesMacFrames(a.ownSessionId));
    assert.ok(equalBytes(a.ownSessionId.subarray(8), MAC_FRAMES_MARKER));
    assert.ok(
      equalBytes(a.ownSessionId.subarray(0, 8), new Uint8Array(8).fill(1)),
      "the first 8 bytes are kept",
    );
    // Nothing accepted from b yet: a signs.
    const first = a.seal("b", FrameKind.Message, utf8.encode("1"), true).frame;
    assert.equal(version(first), SIGNED_FRAME_VERSION);
    opened(b.open(first));
    // b accepted a's advertising session: b sends MAC frames; a, having accepted one, too.
    const reply = b.seal("a", FrameKind.Message, utf8.encode("2"), true).frame;
    assert.equal(version(reply), MAC_FRAME_VERSION);
    opened(a.open(reply));
    assert.equal(version(a.seal("b", FrameKind.Message, utf8.encode("3"), false).frame), MAC_FRAME_VERSION);
  });

  it("interoperates with a node of the previous version: signed frames both ways, MAC frames never sent to it", () => {
    const newKey = generateKeyPair("ed25519");
    const oldKey = generateKeyPair("ed25519");
    const fresh = channel("n", newKey);
    const old = channel("o", oldKey, 1, 2, false);
    fresh.addPeer({ id: "o", publicKey: oldKey });
    old.addPeer({ id: "n", publicKey: newKey });
    assert.equal(advertisesMacFrames(old.ownSessionId), false);
    for (let i = 0; i < 5; i++) {
      for (const confidential of [false, true]) {
        const toOld = fresh.seal("o", FrameKind.Message, utf8.encode(`n${i}`), confidential).frame;
        assert.equal(version(toOld), SIGNED_FRAME_VERSION);
        assert.equal(utf8.decode(opened(old.open(toOld)).body), `n${i}`);
        const toNew = old.seal("n", FrameKind.Message, utf8.encode(`o${i}`), confidential).frame;
        assert.equal(version(toNew), SIGNED_FRAME_VERSION);
        assert.equal(utf8.decode(opened(fresh.open(toNew)).body), `o${i}`);
      }
    }
    assert.equal(fresh.sendsMacFramesTo("o"), false);
    // The previous version drops a MAC frame as malformed (it knows version 1 only).
    const { a } = meshed();
    const oldB = channel("b", generateKeyPair("ed25519"), 1, 3, false);
    oldB.addPeer({ id: "a", publicKey: generateKeyPair("ed25519") });
    assert.deepEqual(oldB.open(a.seal("b", FrameKind.Message, utf8.encode("x"), false).frame), {
      ok: false,
      reason: "malformed",
    });
  });

  it("drops a forged MAC or tag as badSignature and does not move the replay record", () => {
    const { a, b } = meshed();
    for (const confidential of [false, true]) {
      const frame = a.seal("b", FrameKind.Message, utf8.encode("pay 10 to carol"), confidential).frame;
      const decoded = decodeFrame(frame)!;
      const forged = encodeFrame(decoded.headerBytes, decoded.body, new Uint8Array(decoded.auth.length));
      assert.deepEqual(b.open(forged), { ok: false, reason: "badSignature" });
      // The genuine frame with the same counter still opens: the forgery moved nothing.
      opened(b.open(frame));
    }
    // Claiming a far newer session of a's (a restart) with an authenticator of an older frame.
    for (const confidential of [false, true]) {
      const frame = a.seal("b", FrameKind.Message, utf8.encode("forged"), confidential).frame;
      const newer = relabelled(frame, { ep: 99, sid: new Uint8Array(16).fill(7) });
      assert.deepEqual(b.open(newer), { ok: false, reason: "badSignature" });
    }
    assert.equal(b.highestSessionEpoch("a"), 1, "the forged newer session did not replace a's");
    opened(b.open(a.seal("b", FrameKind.Message, utf8.encode("still a"), true).frame));
  });

  it("drops a replayed MAC frame, clear or confidential", () => {
    const { a, b } = meshed();
    for (const confidential of [false, true]) {
      const frame = a.seal("b", FrameKind.Message, utf8.encode("once"), confidential).frame;
      assert.equal(version(frame), MAC_FRAME_VERSION);
      opened(b.open(frame));
      assert.deepEqual(b.open(frame), { ok: false, reason: "replay" });
    }
  });

  it("drops a MAC frame reflected back to its sender, as sent or with from/to swapped", () => {
    const { a, b } = meshed();
    for (const confidential of [false, true]) {
      const frame = a.seal("b", FrameKind.Message, utf8.encode("to b"), confidential).frame;
      assert.deepEqual(a.open(frame), { ok: false, reason: "wrongReceiver" });
      // Swapping the ids makes it look like b's frame to a; b's session fields are the only
      // other thing a checks first. Sent in a's own session numbers it is then stale or forged:
      const swapped = relabelled(frame, { from: "b", to: "a" });
      const result = a.open(swapped);
      assert.equal(result.ok, false);
      assert.ok(result.ok === false && ["badSignature", "staleSession"].includes(result.reason));
      // ... and in b's current session (epoch, id and a fresh counter), the key is b's, not a's.
      const bSession = decodeFrame(b.seal("a", FrameKind.Message, new Uint8Array(0), false).frame)!.header;
      const inBSession = relabelled(frame, {
        from: "b",
        to: "a",
        ep: bSession.ep,
        sid: bSession.sid,
        ctr: 1000,
      });
      assert.deepEqual(a.open(inBSession), { ok: false, reason: "badSignature" });
      opened(b.open(frame));
    }
  });

  it("drops a MAC frame redirected to a third node, as sent or re-addressed to it", () => {
    const aKey = generateKeyPair("ed25519");
    const bKey = generateKeyPair("ed25519");
    const cKey = generateKeyPair("ed25519");
    const a = channel("a", aKey);
    const b = channel("b", bKey);
    const c = channel("c", cKey);
    a.addPeer({ id: "b", publicKey: bKey });
    a.addPeer({ id: "c", publicKey: cKey });
    b.addPeer({ id: "a", publicKey: aKey });
    c.addPeer({ id: "a", publicKey: aKey });
    greet(a, b);
    greet(a, c);
    for (const confidential of [false, true]) {
      const frame = a.seal("b", FrameKind.Message, utf8.encode("for b only"), confidential).frame;
      assert.equal(version(frame), MAC_FRAME_VERSION);
      assert.deepEqual(c.open(frame), { ok: false, reason: "wrongReceiver" });
      assert.deepEqual(c.open(relabelled(frame, { to: "c" })), { ok: false, reason: "badSignature" });
      // c's record of a is untouched: a's next frame to c still opens.
      opened(c.open(a.seal("c", FrameKind.Message, utf8.encode("for c"), confidential).frame));
      opened(b.open(frame));
    }
  });

  it("drops a tampered header even when it stays well-formed (kind, flag, counter, epoch, session id)", () => {
    const { a, b } = meshed();
    const frame = a.seal("b", FrameKind.Request, utf8.encode("req"), true).frame;
    const changes: Partial<FrameHeader>[] = [
      { ctr: decodeFrame(frame)!.header.ctr + 1 },
      { k: FrameKind.Message },
      { ep: 2 },
      { sid: new Uint8Array(16).fill(9) },
    ];
    for (const change of changes) {
      const result = b.open(relabelled(frame, change));
      assert.equal(result.ok, false, JSON.stringify(Object.keys(change)));
    }
    // The clear/confidential flag decides the authenticator's length: flipping it is malformed.
    assert.deepEqual(b.open(relabelled(a.seal("b", 0, utf8.encode("m"), true).frame, { c: false })), {
      ok: false,
      reason: "malformed",
    });
    opened(b.open(frame));
  });

  it("drops MAC frames from a removed peer, and from an old key after the peer's key is replaced", () => {
    const { aKey, a, b } = meshed();
    const beforeRemoval = a.seal("b", FrameKind.Message, utf8.encode("x"), true).frame;
    b.removePeer("a");
    assert.deepEqual(b.open(beforeRemoval), { ok: false, reason: "unknownSender" });
    const afterRemoval = a.seal("b", FrameKind.Message, utf8.encode("y"), false).frame;
    assert.equal(version(afterRemoval), MAC_FRAME_VERSION);
    assert.deepEqual(b.open(afterRemoval), { ok: false, reason: "unknownSender" });
    // Trusted again under a new key (a rotation): a's frames under the old key are refused.
    b.addPeer({ id: "a", publicKey: generateKeyPair("ed25519") });
    assert.deepEqual(b.open(a.seal("b", FrameKind.Message, utf8.encode("z"), true).frame), {
      ok: false,
      reason: "badSignature",
    });
    assert.deepEqual(b.open(a.seal("b", FrameKind.Message, utf8.encode("z"), false).frame), {
      ok: false,
      reason: "badSignature",
    });
    // And under its real key again, they pass.
    b.addPeer({ id: "a", publicKey: aKey });
    opened(b.open(a.seal("b", FrameKind.Message, utf8.encode("back"), true).frame));
  });

  it("keys depend on the sender's session only: a restarted receiver opens MAC frames, a new sender session needs a new greeting", () => {
    const { aKey, bKey, a } = meshed();
    // b restarts (same identity, new session): a's MAC frames open there.
    const b2 = channel("b", bKey, 2, 4);
    b2.addPeer({ id: "a", publicKey: aKey });
    opened(b2.open(a.seal("b", FrameKind.Message, utf8.encode("after b's restart"), true).frame));
    // a restarts: it has accepted nothing from b's session yet, so it signs first.
    const a2 = channel("a", aKey, 2, 5);
    a2.addPeer({ id: "b", publicKey: bKey });
    const first = a2.seal("b", FrameKind.Message, utf8.encode("hello again"), false).frame;
    assert.equal(version(first), SIGNED_FRAME_VERSION);
    opened(b2.open(first));
    // a's old session is now stale at b2, MAC frame or not.
    assert.deepEqual(b2.open(a.seal("b", FrameKind.Message, utf8.encode("old"), true).frame), {
      ok: false,
      reason: "staleSession",
    });
  });

  it("goes back to signed frames when a peer's newer session does not advertise MAC frames (a downgrade)", () => {
    const { aKey, bKey, a } = meshed();
    assert.equal(a.sendsMacFramesTo("b"), true);
    const oldB = channel("b", bKey, 2, 6, false);
    oldB.addPeer({ id: "a", publicKey: aKey });
    opened(a.open(oldB.seal("a", FrameKind.Message, utf8.encode("I am old"), false).frame));
    assert.equal(a.sendsMacFramesTo("b"), false);
    const toOld = a.seal("b", FrameKind.Message, utf8.encode("signed again"), true).frame;
    assert.equal(version(toOld), SIGNED_FRAME_VERSION);
    opened(oldB.open(toOld));
  });
});

describe("transport crypto: MAC frame primitives", () => {
  it("detached AES-256-GCM equals the attached form and checks the tag", () => {
    const [key, other] = deriveSecretKeys(
      new Uint8Array(32).fill(1),
      new Uint8Array(16),
      utf8.encode("t"),
      2,
    );
    const nonce = new Uint8Array(12).fill(3);
    const aad = utf8.encode("header");
    const { ciphertext, tag } = aeadSealDetached(key!, nonce, aad, utf8.encode("secret"));
    assert.ok(
      equalBytes(aeadSeal(key!, nonce, aad, utf8.encode("secret")), new Uint8Array([...ciphertext, ...tag])),
    );
    assert.equal(utf8.decode(aeadOpenDetached(key!, nonce, aad, ciphertext, tag)!), "secret");
    assert.equal(aeadOpenDetached(other!, nonce, aad, ciphertext, tag), undefined);
    assert.equal(aeadOpenDetached(key!, nonce, aad, ciphertext, tag.subarray(0, 15)), undefined);
  });

  it("HMAC-SHA256 over parts equals node:crypto's over their concatenation; verification is exact", () => {
    const [key, other] = deriveSecretKeys(
      new Uint8Array(32).fill(2),
      new Uint8Array(16),
      utf8.encode("m"),
      2,
    );
    const parts = [utf8.encode("a"), utf8.encode("bc"), new Uint8Array(0)];
    const mac = hmacSha256(key!, parts);
    assert.equal(mac.length, 32);
    assert.ok(equalBytes(mac, hmacSha256(key!, [utf8.encode("abc")])));
    assert.ok(hmacSha256Verify(key!, parts, mac));
    assert.equal(hmacSha256Verify(other!, parts, mac), false);
    assert.equal(hmacSha256Verify(key!, parts, mac.subarray(0, 31)), false);
    const flipped = new Uint8Array(mac);
    flipped[0] = flipped[0]! ^ 1;
    assert.equal(hmacSha256Verify(key!, parts, flipped), false);
  });
});
