/**
 * The one conformance suite every `Transport` implementation passes (memory.test.ts and
 * nats.test.ts run it). A harness gives the suite transports on one network plus an attacker's
 * view of that network: record the raw frames sent to a node, inject arbitrary bytes on a node's
 * subject. Negative tests wait until the receiver has counted the drop (a causal condition, no
 * sleeps) and then check that nothing reached the handler.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { concatBytes, equalBytes, utf8 } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import { isTreatyError, TreatyError } from "../../sdk/errors.js";
import { generateKeyPair, type KeyPair } from "../../sdk/keys.js";
import { type ChannelOptions, SecureChannel } from "../../node/transport/channel.js";
import {
  decodeFrame,
  encodeFrame,
  encodeHeader,
  FRAME_OVERHEAD_BYTES,
  FrameKind,
  MAC_FRAME_VERSION,
  SIGNED_FRAME_VERSION,
} from "../../node/transport/frame.js";
import type {
  ConnectionState,
  DropReason,
  MessageMeta,
  NodeId,
  PeerInfo,
  Transport,
  TransportOptions,
} from "../../node/transport/types.js";

/** What the suite needs from an implementation under test. */
export interface ConformanceHarness {
  /** A connected transport on the harness's network (resolves once it can send and receive). */
  create(options: TransportOptions): Promise<Transport>;
  /** Publishes raw bytes on `to`'s subject in `serviceId`, as anyone on the network could. */
  inject(serviceId: string, to: NodeId, frame: Uint8Array): Promise<void>;
  /** Starts recording every frame published on `to`'s subject in `serviceId`. */
  record(serviceId: string, to: NodeId): Promise<Recording>;
  dispose(): Promise<void>;
}

/** Frames seen on one subject, in order. */
export interface Recording {
  readonly frames: Uint8Array[];
  stop(): Promise<void>;
}

interface Received {
  readonly from: NodeId;
  readonly message: Uint8Array;
  readonly meta: MessageMeta;
}

interface TestNode {
  readonly id: NodeId;
  readonly identity: KeyPair;
  readonly transport: Transport;
  readonly inbox: Received[];
}

const WAIT_MS = 10_000;
let serviceCounter = 0;

/** Waits until `condition` holds; fails naming `what` if it does not within a generous bound. */
export async function waitFor(condition: () => boolean, what: string, limitMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A service id no other test uses, so tests sharing a nats-server never see each other's frames. */
export function freshServiceId(): string {
  serviceCounter += 1;
  return `svc${serviceCounter}x${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * A channel played by hand (a forger, a twin session, a peer that misbehaves): node `nodeId` of
 * `serviceId` trusting `peer`, in session `sessionEpoch` with a session id of 16 `sessionIdByte`
 * bytes; frames up to `maxFrameBytes` (default 4096).
 */
export function handChannel(
  options: Omit<ChannelOptions, "sessionId" | "maxFrameBytes"> & {
    readonly sessionIdByte: number;
    readonly maxFrameBytes?: number;
    readonly peer: PeerInfo;
  },
): SecureChannel {
  const { sessionIdByte, maxFrameBytes = 4096, peer, ...rest } = options;
  const channel = new SecureChannel({
    ...rest,
    sessionId: new Uint8Array(16).fill(sessionIdByte),
    maxFrameBytes,
  });
  channel.addPeer(peer);
  return channel;
}

/** Epochs for the sessions tests start: increasing, as a node would persist them. */
let epochCounter = 1_000;
function nextEpoch(): number {
  epochCounter += 1;
  return epochCounter;
}

async function expectRejects(promise: Promise<unknown>, code: string): Promise<TreatyError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isTreatyError(err, code), `expected TreatyError ${code}, got ${String(err)}`);
    return err as TreatyError;
  }
  assert.fail(`expected a rejection with ${code}`);
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** Registers the suite under `name`; `makeHarness` runs once before its tests. */
export function transportConformance(name: string, makeHarness: () => Promise<ConformanceHarness>): void {
  describe(`Transport conformance: ${name}`, () => {
    let harness: ConformanceHarness;
    const open: Transport[] = [];

    before(async () => {
      harness = await makeHarness();
    });
    after(async () => {
      await Promise.all(open.map((t) => t.close()));
      await harness.dispose();
    });

    /** Starts one transport for `identity` as `id` that trusts `peers`. */
    async function start(
      serviceId: string,
      id: NodeId,
      identity: KeyPair,
      peers: readonly { id: NodeId; identity: KeyPair; minSessionEpoch?: number }[],
      extra: Partial<TransportOptions> = {},
    ): Promise<TestNode> {
      const transport = await harness.create({
        serviceId,
        nodeId: id,
        identity,
        sessionEpoch: extra.sessionEpoch ?? nextEpoch(),
        peers: peers.map((p) => ({ id: p.id, publicKey: p.identity, minSessionEpoch: p.minSessionEpoch })),
        ...extra,
      });
      open.push(transport);
      const inbox: Received[] = [];
      transport.onMessage((from, message, meta) => inbox.push({ from, message, meta }));
      return { id, identity, transport, inbox };
    }

    /** Starts fully meshed nodes named `names` in a fresh service. */
    async function cluster(names: readonly string[], extra: Partial<TransportOptions> = {}) {
      const serviceId = freshServiceId();
      const keys = names.map((id) => ({ id, identity: generateKeyPair("ed25519") }));
      const nodes = await Promise.all(
        keys.map((k) =>
          start(
            serviceId,
            k.id,
            k.identity,
            keys.filter((p) => p.id !== k.id),
            extra,
          ),
        ),
      );
      return { serviceId, keys, nodes };
    }

    function dropped(node: TestNode, reason: DropReason): number {
      return node.transport.stats().dropped[reason];
    }

    /** Injects `frame` at `node` and waits until it is dropped for `reason`. */
    async function expectDrop(serviceId: string, node: TestNode, frame: Uint8Array, reason: DropReason) {
      const before = dropped(node, reason);
      const delivered = node.inbox.length;
      await harness.inject(serviceId, node.id, frame);
      await waitFor(() => dropped(node, reason) === before + 1, `${node.id} to drop a frame as ${reason}`);
      assert.equal(node.inbox.length, delivered, "a dropped frame never reaches the handler");
    }

    /** Sends one message from `from` to `to` and returns the frame as recorded on the wire. */
    async function sendRecorded(
      serviceId: string,
      from: TestNode,
      to: TestNode,
      message: Uint8Array,
      confidential = false,
    ) {
      const recording = await harness.record(serviceId, to.id);
      const count = to.inbox.length;
      if (confidential) from.transport.sendConfidential(to.id, message);
      else from.transport.send(to.id, message);
      await waitFor(
        () => to.inbox.length === count + 1 && recording.frames.length === 1,
        "the recorded message",
      );
      await recording.stop();
      return recording.frames[0]!;
    }

    it("delivers a message with the sender's id, in clear, and counts it", async () => {
      const { nodes } = await cluster(["a", "b"]);
      const [a, b] = nodes as [TestNode, TestNode];
      assert.equal(a.transport.state(), "connected");
      a.transport.send("b", utf8.encode("hello"));
      a.transport.send("b", new Uint8Array(0));
      await waitFor(() => b.inbox.length === 2, "two messages");
      assert.equal(b.inbox[0]!.from, "a");
      assert.equal(utf8.decode(b.inbox[0]!.message), "hello");
      assert.equal(b.inbox[0]!.meta.confidential, false);
      assert.equal(b.inbox[1]!.message.length, 0);
      assert.equal(a.transport.stats().sent, 2);
      assert.equal(b.transport.stats().received, 2);
      assert.ok(b.transport.stats().bytesReceived > 5);
      assert.deepEqual(b.transport.peers(), ["a"]);
      assert.equal(b.transport.highestSessionEpoch("a") !== undefined, true);
    });

    it("keeps each sender's order, also with several senders interleaved", async () => {
      const { nodes } = await cluster(["a", "b", "c"]);
      const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
      const count = 300;
      for (let i = 0; i < count; i++) {
        a.transport.send("c", encode({ i, pad: new Uint8Array(100) }));
        b.transport.send("c", encode({ i }));
      }
      await waitFor(() => c.inbox.length === 2 * count, "all messages at c");
      for (const sender of ["a", "b"]) {
        const seen = c.inbox
          .filter((r) => r.from === sender)
          .map((r) => (r.message.length > 0 ? r.message : null));
        assert.equal(seen.length, count);
        seen.forEach((bytes, i) => {
          assert.ok(
            bytes !== null &&
              equalBytes(bytes, encode(sender === "a" ? { i, pad: new Uint8Array(100) } : { i })),
          );
        });
      }
      assert.equal(c.transport.stats().dropped.replay, 0);
    });

    it("encrypts confidential messages: the plaintext never appears on the wire", async () => {
      const { serviceId, nodes } = await cluster(["a", "b"]);
      const [a, b] = nodes as [TestNode, TestNode];
      const secret = utf8.encode("ledger-secret:0123456789abcdef0123456789abcdef");
      const frame = await sendRecorded(serviceId, a, b, secret, true);
      assert.equal(contains(frame, secret), false);
      assert.ok(equalBytes(b.inbox[0]!.message, secret));
      assert.equal(b.inbox[0]!.meta.confidential, true);
      // The same bytes sent in clear do appear: the check above can fail.
      const clear = await sendRecorded(serviceId, a, b, secret, false);
      assert.equal(contains(clear, secret), true);
    });

    it("drops a frame claiming another sender (forged identity) as badSignature", async () => {
      const { serviceId, nodes } = await cluster(["a", "b"]);
      const b = nodes[1]!;
      const mallory = handChannel({
        serviceId,
        nodeId: "a",
        identity: generateKeyPair("ed25519"),
        sessionEpoch: nextEpoch(),
        sessionIdByte: 7,
        maxFrameBytes: b.transport.maxMessageBytes + FRAME_OVERHEAD_BYTES,
        peer: { id: "b", publicKey: b.identity },
      });
      await expectDrop(
        serviceId,
        b,
        mallory.seal("b", FrameKind.Message, utf8.encode("forged"), false).frame,
        "badSignature",
      );
      const confidential = mallory.seal("b", FrameKind.Message, utf8.encode("forged"), true).frame;
      await expectDrop(serviceId, b, confidential, "badSignature");
    });

    it("drops frames from unknown senders, and from peers after removePeer", async () => {
      const { serviceId, keys, nodes } = await cluster(["a", "b", "c"]);
      const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
      const early = await sendRecorded(serviceId, a, b, utf8.encode("before removal"));
      b.transport.removePeer("a");
      assert.deepEqual(b.transport.peers(), ["c"]);
      a.transport.send("b", utf8.encode("after removal"));
      await waitFor(() => dropped(b, "unknownSender") === 1, "b to drop a's message");
      assert.equal(b.inbox.length, 1);
      // c never trusted "z": a well-formed frame from z is dropped before its signature is checked.
      const z = handChannel({
        serviceId,
        nodeId: "z",
        identity: generateKeyPair("ed25519"),
        sessionEpoch: 1,
        sessionIdByte: 0,
        peer: { id: "c", publicKey: c.identity },
      });
      await expectDrop(
        serviceId,
        c,
        z.seal("c", FrameKind.Message, utf8.encode("hi"), false).frame,
        "unknownSender",
      );
      // Trusted again: new frames pass, the frame from before the removal is still a replay.
      b.transport.addPeer({ id: "a", publicKey: keys[0]!.identity });
      a.transport.send("b", utf8.encode("back"));
      await waitFor(() => b.inbox.length === 2, "a's message after re-adding");
      await expectDrop(serviceId, b, early, "replay");
    });

    it("does not send to removed or unknown peers, and counts it", async () => {
      const { nodes } = await cluster(["a", "b"]);
      const a = nodes[0]!;
      a.transport.removePeer("b");
      a.transport.send("b", utf8.encode("x"));
      a.transport.sendConfidential("nobody", utf8.encode("x"));
      assert.equal(a.transport.stats().dropped.unknownPeer, 2);
      assert.equal(a.transport.stats().sent, 0);
      await expectRejects(a.transport.request("b", utf8.encode("x"), 1000), "Unavailable");
    });

    it("drops replayed frames, plain and confidential", async () => {
      const { serviceId, nodes } = await cluster(["a", "b"]);
      const [a, b] = nodes as [TestNode, TestNode];
      const plain = await sendRecorded(serviceId, a, b, utf8.encode("once"));
      await expectDrop(serviceId, b, plain, "replay");
      const secret = await sendRecorded(serviceId, a, b, utf8.encode("once, secretly"), true);
      await expectDrop(serviceId, b, secret, "replay");
      await expectDrop(serviceId, b, plain, "replay");
      assert.equal(b.inbox.length, 2);
    });

    it("drops tampered frames: any changed byte in header, body or signature", async () => {
      const { serviceId, nodes } = await cluster(["a", "b"]);
      const [a, b] = nodes as [TestNode, TestNode];
      for (const confidential of [false, true]) {
        // Record without delivering: b must not have seen the counter yet, or the copy would be a replay.
        const recording = await harness.record(serviceId, "b");
        b.transport.removePeer("a");
        const unknownBefore = dropped(b, "unknownSender");
        if (confidential) a.transport.sendConfidential("b", utf8.encode("pay 10 to carol"));
        else a.transport.send("b", utf8.encode("pay 10 to carol"));
        await waitFor(
          () => recording.frames.length === 1 && dropped(b, "unknownSender") === unknownBefore + 1,
          "the recorded frame",
        );
        await recording.stop();
        b.transport.addPeer({ id: "a", publicKey: a.identity });
        const frame = recording.frames[0]!;
        const positions = [
          frame.length - 1,
          frame.length - 40,
          frame.length - 70,
          Math.floor(frame.length / 2),
          20,
        ];
        for (const position of positions) {
          const copy = new Uint8Array(frame); // a copy (Buffer#slice would share memory)
          copy[position] = copy[position]! ^ 0x01;
          const before = Object.values(b.transport.stats().dropped).reduce((x, y) => x + y, 0);
          await harness.inject(serviceId, "b", copy);
          await waitFor(
            () => Object.values(b.transport.stats().dropped).reduce((x, y) => x + y, 0) === before + 1,
            `b to drop the frame tampered at ${position}`,
          );
        }
        assert.equal(b.inbox.length, 0, "no tampered frame is delivered");
        // The untouched frame still passes: the drops above were caused by the tampering.
        await harness.inject(serviceId, "b", frame);
        await waitFor(() => b.inbox.length === 1, "the untouched frame");
        assert.equal(b.inbox[0]!.meta.confidential, confidential);
        b.inbox.length = 0;
      }
      assert.ok(dropped(b, "badSignature") >= 6);
    });

    it("sends MAC frames once both sides have heard from each other, and drops them replayed, reflected, redirected, tampered, truncated or from a removed peer", async () => {
      const { serviceId, keys, nodes } = await cluster(["a", "b", "c"]);
      const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
      // a has heard nothing from b: its first frame is signed; once b answered, a MACs.
      const first = await sendRecorded(serviceId, a, b, utf8.encode("first"), true);
      assert.equal(decodeFrame(first)?.header.v, SIGNED_FRAME_VERSION);
      await sendRecorded(serviceId, b, a, utf8.encode("answer"), true);
      const secret = await sendRecorded(serviceId, a, b, utf8.encode("pay 10 to carol"), true);
      const clear = await sendRecorded(serviceId, a, b, utf8.encode("heartbeat"), false);
      for (const frame of [secret, clear]) {
        assert.equal(decodeFrame(frame)?.header.v, MAC_FRAME_VERSION);
        await expectDrop(serviceId, b, frame, "replay");
        await expectDrop(serviceId, a, frame, "wrongReceiver"); // reflected to its sender
        await expectDrop(serviceId, c, frame, "wrongReceiver"); // redirected to a third node
        const decoded = decodeFrame(frame)!;
        // Re-addressed to c with a's authenticator: c's key with a is another key.
        const readdressed = encodeFrame(
          encodeHeader({ ...decoded.header, to: "c" }),
          decoded.body,
          decoded.auth,
        );
        await expectDrop(serviceId, c, readdressed, "badSignature");
        // Tampered header (a higher counter, so not a replay) and a forged authenticator.
        const bumped = encodeFrame(
          encodeHeader({ ...decoded.header, ctr: decoded.header.ctr + 1000 }),
          decoded.body,
          decoded.auth,
        );
        await expectDrop(serviceId, b, bumped, "badSignature");
        await expectDrop(serviceId, b, frame.subarray(0, frame.length - 1), "malformed");
      }
      assert.equal(b.inbox.filter((r) => r.from === "a").length, 3);
      assert.equal(c.inbox.length, 0);
      // Removed: a's MAC frames are refused before any key is used; trusted again, they pass.
      b.transport.removePeer("a");
      a.transport.sendConfidential("b", utf8.encode("after removal"));
      await waitFor(() => dropped(b, "unknownSender") === 1, "b to drop a's MAC frame");
      b.transport.addPeer({ id: "a", publicKey: keys[0]!.identity });
      a.transport.sendConfidential("b", utf8.encode("back"));
      await waitFor(() => b.inbox.length === 4, "a's frame after re-adding");
      assert.equal(utf8.decode(b.inbox[3]!.message), "back");
    });

    it("drops a frame re-targeted to another node (wrongReceiver) or another service (wrongService)", async () => {
      const { serviceId, keys, nodes } = await cluster(["a", "b", "c"]);
      const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
      const toB = await sendRecorded(serviceId, a, b, utf8.encode("for b only"), true);
      await expectDrop(serviceId, c, toB, "wrongReceiver");
      // The same identity and ids in another service produce frames b must not take.
      const other = handChannel({
        serviceId: freshServiceId(),
        nodeId: "a",
        identity: keys[0]!.identity,
        sessionEpoch: nextEpoch(),
        sessionIdByte: 1,
        peer: { id: "b", publicKey: b.identity },
      });
      await expectDrop(
        serviceId,
        b,
        other.seal("b", FrameKind.Message, utf8.encode("x"), false).frame,
        "wrongService",
      );
    });

    it("drops garbage, truncated and malformed frames without throwing", async () => {
      const { serviceId, nodes } = await cluster(["a", "b"]);
      const [a, b] = nodes as [TestNode, TestNode];
      const good = await sendRecorded(serviceId, a, b, utf8.encode("a good frame"));
      const sig = new Uint8Array(64);
      const hostile: [string, Uint8Array][] = [
        ["empty", new Uint8Array(0)],
        ["random bytes", Uint8Array.from({ length: 97 }, (_, i) => (i * 37 + 11) & 0xff)],
        ["reserved byte 0xc1", new Uint8Array([0xc1])],
        ["a msgpack string", encode("hello")],
        ["a map instead of an array", encode({ h: new Uint8Array(1), b: new Uint8Array(1), s: sig })],
        ["two elements", encode([new Uint8Array(1), new Uint8Array(1)])],
        ["strings instead of bytes", encode(["h", "b", "s"])],
        ["short signature", encode([new Uint8Array(4), new Uint8Array(0), new Uint8Array(63)])],
        ["header not msgpack", encode([new Uint8Array([0xc1, 0xc1]), new Uint8Array(0), sig])],
        ["header an array", encode([encode([1, 2, 3]), new Uint8Array(0), sig])],
        [
          "header with bad types",
          encode([encode({ v: 1, svc: serviceId, from: 1, to: "b" }), new Uint8Array(0), sig]),
        ],
        [
          "header with a subject wildcard",
          encode([encode({ v: 1, svc: "*", from: "a", to: "b" }), new Uint8Array(0), sig]),
        ],
        ["trailing byte", concatBytes(good, new Uint8Array([0]))],
        ["truncated to half", good.slice(0, Math.floor(good.length / 2))],
        ["truncated by one byte", good.slice(0, good.length - 1)],
        ["deeply nested", new Uint8Array(200).fill(0x91)],
      ];
      for (const [what, frame] of hostile) {
        const before = dropped(b, "malformed");
        await harness.inject(serviceId, "b", frame);
        await waitFor(() => dropped(b, "malformed") === before + 1, `b to drop ${what} as malformed`);
      }
      assert.equal(b.inbox.length, 1);
      assert.equal(b.transport.state(), "connected");
    });

    it("rejects oversized payloads with PayloadTooLarge and drops oversized frames unread", async () => {
      const { serviceId, nodes } = await cluster(["a", "b"], { maxMessageBytes: 2048 });
      const [a, b] = nodes as [TestNode, TestNode];
      assert.equal(a.transport.maxMessageBytes, 2048);
      assert.throws(
        () => a.transport.send("b", new Uint8Array(2049)),
        (err) => isTreatyError(err, "PayloadTooLarge"),
      );
      assert.throws(
        () => a.transport.sendConfidential("b", new Uint8Array(4096)),
        (err) => isTreatyError(err, "PayloadTooLarge") && /message: 4096 bytes/.test(err.message),
      );
      await expectRejects(a.transport.request("b", new Uint8Array(2049), 1000), "PayloadTooLarge");
      assert.equal(a.transport.stats().sent, 0);
      a.transport.send("b", new Uint8Array(2048));
      a.transport.sendConfidential("b", new Uint8Array(2048));
      await waitFor(() => b.inbox.length === 2, "the largest allowed messages");
      await expectDrop(serviceId, b, new Uint8Array(2048 + FRAME_OVERHEAD_BYTES + 1), "oversize");
      assert.throws(
        () => a.transport.send("b", "text" as unknown as Uint8Array),
        (err) => isTreatyError(err, "MalformedRequest"),
      );
    });

    it("binds frames to the sender's session: an older session is never accepted after a newer one", async () => {
      const serviceId = freshServiceId();
      const aKey = generateKeyPair("ed25519");
      const bKey = generateKeyPair("ed25519");
      const b = await start(serviceId, "b", bKey, [{ id: "a", identity: aKey }]);
      const a1 = await start(serviceId, "a", aKey, [{ id: "b", identity: bKey }], { sessionEpoch: 10 });
      const fromOld = await sendRecorded(serviceId, a1, b, utf8.encode("session 10"));
      await a1.transport.close();
      // The restarted node: a new epoch and session id, its counter starts again at 1.
      const a2 = await start(serviceId, "a", aKey, [{ id: "b", identity: bKey }], { sessionEpoch: 11 });
      const fromNew = await sendRecorded(serviceId, a2, b, utf8.encode("session 11"));
      assert.equal(b.transport.highestSessionEpoch("a"), 11);
      await expectDrop(serviceId, b, fromOld, "staleSession");
      // Reusing an epoch with another session id is not a new session either.
      const twin = handChannel({
        serviceId,
        nodeId: "a",
        identity: aKey,
        sessionEpoch: 11,
        sessionIdByte: 9,
        peer: { id: "b", publicKey: bKey },
      });
      await expectDrop(
        serviceId,
        b,
        twin.seal("b", FrameKind.Message, utf8.encode("twin"), false).frame,
        "staleSession",
      );
      await a2.transport.close();
      const a3 = await start(serviceId, "a", aKey, [{ id: "b", identity: bKey }], { sessionEpoch: 12 });
      a3.transport.sendConfidential("b", utf8.encode("session 12"));
      await waitFor(() => b.inbox.length === 3, "the newest session's message");
      assert.equal(b.transport.highestSessionEpoch("a"), 12);
      await b.transport.close();
      // A restarted receiver that persisted the epoch it had seen rejects older sessions at once.
      const b2 = await start(serviceId, "b", bKey, [{ id: "a", identity: aKey, minSessionEpoch: 12 }]);
      await expectDrop(serviceId, b2, fromNew, "staleSession");
      await a3.transport.close();
    });

    it("answers requests, encrypted both ways, and carries the handler's error codes", async () => {
      const { serviceId, nodes } = await cluster(["a", "b"]);
      const [a, b] = nodes as [TestNode, TestNode];
      b.transport.onRequest(async (from, payload) => {
        const text = utf8.decode(payload);
        if (text === "not leader") throw new TreatyError("NotLeader", "b is not the leader; try c");
        if (text === "bug") throw new Error("host secret /etc/passwd");
        return utf8.encode(`${from} asked: ${text}`);
      });
      const requestRecording = await harness.record(serviceId, "b");
      const responseRecording = await harness.record(serviceId, "a");
      const response = await a.transport.request("b", utf8.encode("transfer 5 secretcoins"), 5000);
      assert.equal(utf8.decode(response), "a asked: transfer 5 secretcoins");
      await waitFor(
        () => requestRecording.frames.length === 1 && responseRecording.frames.length === 1,
        "both frames",
      );
      await requestRecording.stop();
      await responseRecording.stop();
      assert.equal(contains(requestRecording.frames[0]!, utf8.encode("secretcoins")), false);
      assert.equal(contains(responseRecording.frames[0]!, utf8.encode("secretcoins")), false);

      const notLeader = await expectRejects(
        a.transport.request("b", utf8.encode("not leader"), 5000),
        "NotLeader",
      );
      assert.match(notLeader.message, /try c/);
      const internal = await expectRejects(a.transport.request("b", utf8.encode("bug"), 5000), "Internal");
      assert.doesNotMatch(internal.message, /passwd/);
      // Concurrent requests are matched to their own responses.
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) => a.transport.request("b", utf8.encode(`n${i}`), 5000)),
      );
      assert.deepEqual(
        many.map((bytes) => utf8.decode(bytes)),
        many.map((_, i) => `a asked: n${i}`),
      );
      assert.equal(a.transport.stats().requestsSent, 23);
      assert.equal(b.transport.stats().requestsServed, 23);
      // A response frame replayed later matches no pending request.
      await expectDrop(serviceId, a, responseRecording.frames[0]!, "replay");
    });

    it("fails requests with Timeout, Unavailable (no handler) and MalformedRequest (bad timeout)", async () => {
      const { nodes } = await cluster(["a", "b"]);
      const [a, b] = nodes as [TestNode, TestNode];
      await expectRejects(a.transport.request("b", utf8.encode("anyone?"), 5000), "Unavailable");
      let release: () => void = () => undefined;
      b.transport.onRequest(
        () =>
          new Promise<Uint8Array>((resolve) => {
            release = () => resolve(utf8.encode("too late"));
          }),
      );
      await expectRejects(a.transport.request("b", utf8.encode("slow"), 30), "Timeout");
      assert.equal(a.transport.stats().requestsTimedOut, 1);
      // The late response arrives and is dropped: nobody waits for it any more.
      release();
      await waitFor(() => dropped(a, "unexpectedResponse") === 1, "a to drop the late response");
      await expectRejects(a.transport.request("b", utf8.encode("x"), 0), "MalformedRequest");
      await expectRejects(a.transport.request("b", utf8.encode("x"), 1.5), "MalformedRequest");
    });

    it("fails a pending request with Unavailable when its peer is removed", async () => {
      const { nodes } = await cluster(["a", "b"]);
      const [a, b] = nodes as [TestNode, TestNode];
      let served = false;
      b.transport.onRequest(() => {
        served = true;
        return new Promise<Uint8Array>(() => undefined);
      });
      const pending = a.transport.request("b", utf8.encode("x"), 60_000);
      await waitFor(() => served, "b to start serving");
      a.transport.removePeer("b");
      await expectRejects(pending, "Unavailable");
    });

    it("close stops everything: state, sends, requests, delivery; it is idempotent", async () => {
      const { nodes } = await cluster(["a", "b", "c"]);
      const [a, b, c] = nodes as [TestNode, TestNode, TestNode];
      const states: ConnectionState[] = [];
      b.transport.onStateChange((state) => states.push(state));
      c.transport.onRequest(() => new Promise<Uint8Array>(() => undefined));
      let removedListenerCalls = 0;
      const unsubscribe = b.transport.onStateChange(() => {
        removedListenerCalls += 1;
      });
      unsubscribe();
      const pending = b.transport.request("c", utf8.encode("never answered"), 60_000);
      await waitFor(() => c.transport.stats().received === 1, "c to receive the request");
      const failed = expectRejects(pending, "Unavailable");
      await b.transport.close();
      await failed;
      assert.equal(b.transport.state(), "closed");
      assert.deepEqual(states, ["closed"]);
      b.transport.send("a", utf8.encode("after close"));
      assert.equal(b.transport.stats().dropped.closed, 1);
      await expectRejects(b.transport.request("a", utf8.encode("x"), 1000), "Unavailable");
      await b.transport.close();
      // Frames for the closed node reach nobody; a later frame to a live node shows a has sent them.
      a.transport.send("b", utf8.encode("to the closed node"));
      a.transport.send("c", utf8.encode("to a live node"));
      await waitFor(() => c.inbox.length === 1, "c's message");
      assert.equal(b.inbox.length, 0);
      assert.equal(removedListenerCalls, 0);
    });

    it("validates options and peers with MalformedRequest naming the field", async () => {
      const identity = generateKeyPair("ed25519");
      const serviceId = freshServiceId();
      const cases: [Partial<TransportOptions>, RegExp][] = [
        [{ serviceId: "has.dot" }, /serviceId/],
        [{ nodeId: "" }, /nodeId/],
        [{ nodeId: "a>" }, /nodeId/],
        [{ identity: generateKeyPair("p256") }, /identity/],
        [{ sessionEpoch: -1 }, /sessionEpoch/],
        [{ sessionEpoch: 1.5 }, /sessionEpoch/],
        [{ sessionId: new Uint8Array(8) }, /sessionId/],
        [{ maxMessageBytes: 2 * 1024 * 1024 }, /maxMessageBytes/],
        [{ maxPendingRequests: 0 }, /maxPendingRequests/],
        [{ peers: [{ id: "self", publicKey: identity }] }, /peer\.id/],
        [
          { peers: [{ id: "p", publicKey: { curve: "ed25519", publicKey: new Uint8Array(32) } }] },
          /peer\.publicKey/,
        ],
        [{ peers: [{ id: "p", publicKey: generateKeyPair("secp256k1") }] }, /peer\.publicKey/],
        [
          { peers: [{ id: "p", publicKey: generateKeyPair("ed25519"), minSessionEpoch: -2 }] },
          /minSessionEpoch/,
        ],
      ];
      for (const [override, field] of cases) {
        await assert.rejects(
          harness.create({ serviceId, nodeId: "self", identity, sessionEpoch: 1, ...override }),
          (err) => isTreatyError(err, "MalformedRequest") && field.test(err.message),
          `expected MalformedRequest naming ${field}`,
        );
      }
    });
  });
}
