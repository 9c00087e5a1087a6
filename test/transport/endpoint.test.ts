/**
 * Request/response edge cases shared by every transport (they live in `TransportEndpoint`), run on
 * the memory network with a hand-driven peer where the peer itself misbehaves.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, type KeyPair } from "../../sdk/keys.js";
import type { SecureChannel } from "../../node/transport/channel.js";
import { FrameKind, nodeSubject } from "../../node/transport/frame.js";
import { MemoryNetwork, type MemoryTransport } from "../../node/transport/memory.js";
import { RECEIVE_DROP_REASONS, type TransportOptions } from "../../node/transport/types.js";
import { freshServiceId, handChannel, waitFor } from "./conformance.js";

interface Setup {
  readonly network: MemoryNetwork;
  readonly serviceId: string;
  readonly a: MemoryTransport;
  readonly aKey: KeyPair;
  /** b played by hand: its channel, and the requests that reached it. */
  readonly b: SecureChannel;
  readonly requestsAtB: { ctr: number; body: Uint8Array }[];
}

/** A memory network and the keys of a and b; `transport(id)` makes that node, trusting the other. */
function twoNodes() {
  const network = new MemoryNetwork();
  const serviceId = freshServiceId();
  const keys = { a: generateKeyPair("ed25519"), b: generateKeyPair("ed25519") };
  const transport = (id: "a" | "b", options: Partial<TransportOptions> = {}) => {
    const peer = id === "a" ? "b" : "a";
    return network.createTransport({
      serviceId,
      nodeId: id,
      identity: keys[id],
      sessionEpoch: 1,
      peers: [{ id: peer, publicKey: keys[peer] }],
      ...options,
    });
  };
  return { network, serviceId, keys, transport };
}

function setup(options: Partial<TransportOptions> = {}): Setup {
  const { network, serviceId, keys, transport } = twoNodes();
  const a = transport("a", options);
  const b = handChannel({
    serviceId,
    nodeId: "b",
    identity: keys.b,
    sessionEpoch: 1,
    sessionIdByte: 2,
    maxFrameBytes: a.maxFrameBytes,
    peer: { id: "a", publicKey: keys.a },
  });
  const requestsAtB: { ctr: number; body: Uint8Array }[] = [];
  network.tap((frame, subject) => {
    if (subject !== nodeSubject(serviceId, "b")) return;
    const result = b.open(frame);
    if (result.ok && result.kind === FrameKind.Request)
      requestsAtB.push({ ctr: result.ctr, body: result.body });
  });
  return { network, serviceId, a, aKey: keys.a, b, requestsAtB };
}

function respond(s: Setup, re: number, body: Uint8Array): void {
  s.network.publish(
    "b",
    nodeSubject(s.serviceId, "a"),
    s.b.seal("a", FrameKind.Response, body, true, re).frame,
  );
}

describe("TransportEndpoint requests", () => {
  it("rejects with MalformedEncoding when an authenticated peer answers with a malformed body", async () => {
    const s = setup();
    try {
      for (const body of [
        new Uint8Array([0xc1]),
        encode({ neither: 1 }),
        encode({ ok: "text" }),
        encode({ error: { code: 1 } }),
      ]) {
        const pending = s.a.request("b", utf8.encode("q"), 10_000);
        await waitFor(() => s.requestsAtB.length > 0, "the request at b");
        respond(s, s.requestsAtB.pop()!.ctr, body);
        await assert.rejects(pending, (err) => isTreatyError(err, "MalformedEncoding"));
      }
    } finally {
      await s.a.close();
    }
  });

  it("drops responses that answer nothing pending, or come from another peer than the one asked", async () => {
    const s = setup();
    try {
      respond(s, 12345, encode({ ok: new Uint8Array(0) }));
      await waitFor(() => s.a.stats().dropped.unexpectedResponse === 1, "the unsolicited response");
      // c is trusted by a, but a asked b: c's answer to b's request number is not the answer.
      const cKey = generateKeyPair("ed25519");
      s.a.addPeer({ id: "c", publicKey: cKey });
      const c = handChannel({
        serviceId: s.serviceId,
        nodeId: "c",
        identity: cKey,
        sessionEpoch: 1,
        sessionIdByte: 3,
        maxFrameBytes: s.a.maxFrameBytes,
        peer: { id: "a", publicKey: s.aKey },
      });
      const pending = s.a.request("b", utf8.encode("q"), 10_000);
      await waitFor(() => s.requestsAtB.length === 1, "the request at b");
      const re = s.requestsAtB[0]!.ctr;
      s.network.publish(
        "c",
        nodeSubject(s.serviceId, "a"),
        c.seal("a", FrameKind.Response, encode({ ok: utf8.encode("c") }), true, re).frame,
      );
      await waitFor(() => s.a.stats().dropped.unexpectedResponse === 2, "c's response");
      respond(s, re, encode({ ok: utf8.encode("b") }));
      assert.equal(utf8.decode(await pending), "b");
    } finally {
      await s.a.close();
    }
  });

  it("bounds pending requests at maxPendingRequests", async () => {
    const s = setup({ maxPendingRequests: 2 });
    try {
      const first = s.a.request("b", utf8.encode("1"), 10_000);
      const second = s.a.request("b", utf8.encode("2"), 10_000);
      await assert.rejects(s.a.request("b", utf8.encode("3"), 10_000), (err) =>
        isTreatyError(err, "Unavailable"),
      );
      await waitFor(() => s.requestsAtB.length === 2, "both requests at b");
      for (const { ctr } of s.requestsAtB) respond(s, ctr, encode({ ok: new Uint8Array([1]) }));
      await Promise.all([first, second]);
      // Room again once they are answered.
      const third = s.a.request("b", utf8.encode("3"), 10_000);
      await waitFor(() => s.requestsAtB.length === 3, "the third request");
      respond(s, s.requestsAtB[2]!.ctr, encode({ error: { code: "NotLeader", message: "ask c" } }));
      await assert.rejects(third, (err) => isTreatyError(err, "NotLeader") && err.message === "ask c");
    } finally {
      await s.a.close();
    }
  });
});

describe("TransportEndpoint serving", () => {
  async function servingPair(
    handler: (payload: Uint8Array) => Uint8Array | Promise<Uint8Array>,
    options: Partial<TransportOptions> = {},
  ) {
    const { transport } = twoNodes();
    const a = transport("a");
    const b = transport("b", options);
    b.onRequest((_from, payload) => handler(payload));
    return { a, b, close: () => Promise.all([a.close(), b.close()]) };
  }

  it("answers Unavailable beyond maxServingRequests", async () => {
    const { a, b, close } = await servingPair(() => new Promise<Uint8Array>(() => undefined), {
      maxServingRequests: 1,
    });
    try {
      const stuck = a.request("b", utf8.encode("1"), 60_000);
      await waitFor(() => b.stats().received === 1, "the first request");
      await assert.rejects(
        a.request("b", utf8.encode("2"), 60_000),
        (err) => isTreatyError(err, "Unavailable") && /serving 1/.test(err.message),
      );
      const failed = assert.rejects(stuck, (err) => isTreatyError(err, "Unavailable"));
      await close();
      await failed;
    } finally {
      await close();
    }
  });

  it("answers Internal for a handler that returns no bytes, PayloadTooLarge for too many", async () => {
    const { a, close } = await servingPair(
      (payload) => (payload[0] === 1 ? ("text" as unknown as Uint8Array) : new Uint8Array(5000)),
      {
        maxMessageBytes: 4096,
      },
    );
    try {
      await assert.rejects(a.request("b", new Uint8Array([1]), 10_000), (err) =>
        isTreatyError(err, "Internal"),
      );
      await assert.rejects(a.request("b", new Uint8Array([2]), 10_000), (err) =>
        isTreatyError(err, "PayloadTooLarge"),
      );
    } finally {
      await close();
    }
  });

  it("accounts for every frame: received plus receive drops equals frames that arrived", async () => {
    const { a, b, close } = await servingPair((payload) => payload);
    try {
      a.send("b", utf8.encode("no handler yet"));
      await waitFor(() => b.stats().dropped.noHandler === 1, "the unhandled message");
      b.onMessage(() => undefined);
      for (let i = 0; i < 10; i++) a.send("b", utf8.encode(String(i)));
      await a.request("b", utf8.encode("echo"), 10_000);
      await waitFor(() => b.stats().received === 11, "all frames at b");
      const stats = b.stats();
      const drops = RECEIVE_DROP_REASONS.reduce((sum, reason) => sum + stats.dropped[reason], 0);
      assert.equal(stats.received + drops, a.stats().sent);
      assert.equal(a.stats().received, 1);
    } finally {
      await close();
    }
  });
});
