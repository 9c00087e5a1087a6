/**
 * Hostile forwarded requests: what a leader does with forwards that no honest follower sends.
 *
 * (a) From an authenticated, trusted node (a real follower's own transport, test/node/forward-harness.ts):
 *     a `committed` field that is not a seqno or lies beyond the leader's log, and broken batch
 *     envelopes, each answered with a coded error without executing anything; duplicate and
 *     tampered requests inside a batch; and a flood of hostile forwards while an honest write
 *     goes through.
 * (b) From anything else on the network (node/transport: every frame is authenticated): a
 *     sender the leader does not trust, a frame claiming a trusted sender under another key, a
 *     tampered frame and a replayed one are dropped and counted, never served.
 *
 * "Not executed" is checked by sending the same signed bytes again honestly: the first execution
 * of a signed request records its nonce, so a second one would be refused as `Replay`.
 * Deterministic: no assertion depends on timing (waits are failure bounds only).
 */
import assert from "node:assert/strict";
import { get as httpsGet } from "node:https";
import { after, before, describe, it } from "node:test";
import { FORWARD_BATCH_MAX_ITEMS } from "../../node/forward-batch.js";
import type { TreatyNode } from "../../node/service.js";
import {
  decodeFrame,
  encodeFrame,
  encodeHeader,
  FrameKind,
  MAX_MESSAGE_BYTES,
  nodeSubject,
} from "../../node/transport/frame.js";
import { MemoryTransport } from "../../node/transport/memory.js";
import { encode } from "../../sdk/codec.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { holdDurable, logNetwork, until } from "../support/memory-nodes.js";
import {
  answerCode,
  captureTransports,
  codeOf,
  type ForwardAnswer,
  forwardRaw,
  outcome,
  type RawForward,
  signedWrite,
} from "./forward-harness.js";

const net = logNetwork("treaty-forward-hostile-");
const { user } = net;
const { network } = net.nodes;
const transports = captureTransports(network);
let written = 0;

describe("hostile forwarded requests", () => {
  let leader: TreatyNode;
  let follower: TreatyNode;
  let other: TreatyNode;
  /** A fresh signed write of the log contract (its own id and nonce). */
  const write = (committed?: unknown): RawForward =>
    signedWrite(user, leader.serviceId, "/app/log/writePublic", { id: ++written, msg: "m" }, committed);
  /** Sends as the trusted follower (its own transport). */
  const send = (payload: unknown) => forwardRaw(transports, follower, leader, payload);
  /** Forwards `request` again, honestly (no `committed`): "ok" if it had not executed before. */
  const resend = async (request: RawForward) => {
    const { committed: _, ...honest } = request;
    return answerCode(await send(honest));
  };
  const clientOf = (node: TreatyNode) => net.client(node);

  before(async () => {
    [leader, follower, other] = await net.start();
  });
  after(() => net.stop());

  it("the harness: a forward from the follower's own transport is served as the follower's", async () => {
    const request = write(follower.committedSeqno);
    const answer = (await send(request)) as ForwardAnswer;
    assert.equal(answerCode(answer), "ok");
    assert.match(answer.headers["x-treaty-txid"] ?? "", /^\d+\.\d+$/);
    // Without `committed` (a node of the previous version) too.
    assert.equal(answerCode(await send(write())), "ok");
    // Sent again, the same signed bytes are a Replay: that is how "not executed" is checked below.
    assert.equal(await resend(request), "Replay");
  });

  it("a committed that is not a seqno is refused MalformedRequest, and the write is not executed", async () => {
    const hostile: [string, unknown][] = [
      ["2^53", 2 ** 53],
      ["1e308", 1e308],
      ["Infinity", Number.POSITIVE_INFINITY],
      ["-Infinity", Number.NEGATIVE_INFINITY],
      ["NaN", Number.NaN],
      ["-1", -1],
      ["fractional", 1.5],
      ["a string", "5"],
      ["a map", { seqno: 5 }],
      ["a list", [5]],
      ["null", null],
      ["a boolean", true],
      ["bytes", new Uint8Array(8)],
    ];
    for (const [what, committed] of hostile) {
      const request = write(committed);
      const answer = await outcome(send(request));
      assert.equal(codeOf(answer), "MalformedRequest", `committed ${what}`);
      assert.ok(
        "error" in answer && /committed/.test(answer.error.message),
        `committed ${what}: names the field`,
      );
      assert.equal(await resend(request), "ok", `committed ${what}: not executed`);
    }
  });

  it("a committed beyond the leader's log is refused at once, not waited for", async () => {
    const commitReached = leader.reads.commitReached;
    let waits = 0;
    leader.reads.commitReached = function (this: typeof leader.reads, seqno, timeoutMs) {
      waits += 1;
      return commitReached.call(this, seqno, timeoutMs);
    };
    try {
      for (const committed of [
        Number.MAX_SAFE_INTEGER,
        leader.replica.consensus.status().lastSeqno + 1_000_000,
      ]) {
        const request = write(committed);
        const answer = await outcome(send(request));
        assert.equal(codeOf(answer), "MalformedRequest", `committed ${committed}`);
        assert.ok("error" in answer && /beyond this leader's log/.test(answer.error.message));
        assert.equal(await resend(request), "ok", `committed ${committed}: not executed`);
      }
      assert.equal(waits, 0, "the leader never waited for an unreachable commit point");
      // A reachable point (the leader's own folded one) is admitted at once.
      assert.equal(answerCode(await send(write(leader.committedSeqno))), "ok");
      assert.equal(answerCode(await send(write(0))), "ok");
    } finally {
      leader.reads.commitReached = commitReached;
    }
  });

  it("a hostile item in a batch gets its own coded error; its batch-mates are served", async () => {
    const honest = [write(follower.committedSeqno), write()];
    const hostile = [write(Number.MAX_SAFE_INTEGER), write("x"), write(Number.NaN)];
    const answers = (await send({ items: [honest[0], ...hostile, honest[1]] })) as {
      answers: { ok?: unknown; error?: { code: string } }[];
    };
    assert.deepEqual(
      answers.answers.map((a) => (a.ok === undefined ? a.error?.code : answerCode(a.ok))),
      ["ok", "MalformedRequest", "MalformedRequest", "MalformedRequest", "ok"],
    );
    for (const request of hostile)
      assert.equal(await resend(request), "ok", "the hostile item did not execute");
  });

  it("broken envelopes: coded errors, nothing executed", async () => {
    const request = write();
    const encoded = encode(request);
    const cases: [string, unknown, string][] = [
      ["not msgpack", Uint8Array.from([0xc1, 0xff, 0x00]), "MalformedEncoding"],
      ["truncated", encoded.subarray(0, encoded.length - 7), "MalformedEncoding"],
      ["empty", new Uint8Array(0), "MalformedEncoding"],
      ["not a map", encode([request]), "MalformedRequest"],
      ["no method", { ...request, method: undefined }, "MalformedRequest"],
      ["url not a string", { ...request, url: 7 }, "MalformedRequest"],
      ["headers not a map", { ...request, headers: "content-type: json" }, "MalformedRequest"],
      ["body not bytes", { ...request, body: "{}" }, "MalformedRequest"],
      ["items of one", { items: [request] }, "MalformedRequest"],
      [
        "items over the bound",
        { items: Array.from({ length: FORWARD_BATCH_MAX_ITEMS + 1 }, () => request) },
        "MalformedRequest",
      ],
      ["items not maps", { items: [encoded, encoded] }, "MalformedRequest"],
      ["items not a list", { items: { 0: request, 1: request } }, "MalformedRequest"],
      ["batch of one", { batch: [encoded] }, "MalformedRequest"],
      ["batch not bytes", { batch: [request, request] }, "MalformedRequest"],
    ];
    for (const [what, payload, code] of cases) {
      assert.equal(codeOf(await outcome(send(payload))), code, what);
    }
    // Per-item errors: a nested batch, an item that does not decode (previous version's form).
    const nested = (await send({
      items: [{ items: [request, request] }, { batch: [encoded, encoded] }],
    })) as {
      answers: { error?: { code: string } }[];
    };
    assert.deepEqual(
      nested.answers.map((a) => a.error?.code),
      ["MalformedRequest", "MalformedRequest"],
    );
    const legacy = (await send({ batch: [encoded.subarray(0, 5), Uint8Array.from([0xc1])] })) as {
      answers: { error?: { code: string } }[];
    };
    assert.deepEqual(
      legacy.answers.map((a) => a.error?.code),
      ["MalformedEncoding", "MalformedEncoding"],
    );
    assert.equal(await resend(request), "ok", "no case executed the request");
    // A payload over the transport's bound never leaves a trusted node's transport.
    const oversized = outcome(send(new Uint8Array(MAX_MESSAGE_BYTES + 1)));
    assert.equal(codeOf(await oversized), "PayloadTooLarge");
  });

  it("odd methods, targets and headers get ordinary coded answers, and nothing executes", async () => {
    const request = write(follower.committedSeqno);
    const cases: [string, RawForward][] = [
      ["unknown method", { ...request, method: "BREW" }],
      ["empty url", { ...request, url: "" }],
      ["unknown route", { ...request, url: "/app/nope/writePublic" }],
      [
        "headers with non-string values",
        { ...request, headers: { "content-type": 7, "x-treaty-caller": {} } },
      ],
      ["no signing headers", { ...request, headers: {} }],
    ];
    for (const [what, hostile] of cases) {
      const answer = await outcome(send(hostile));
      const code = "ok" in answer ? answerCode(answer.ok) : answer.error.code;
      assert.notEqual(code, "ok", what);
      assert.notEqual(code, "Internal", what);
    }
    assert.equal(await resend(request), "ok", "no case executed the request");
    // A target without its leading slash, or naming another host, is read as its path: the
    // signature covers the path the leader's router parses, so only what the caller signed runs,
    // once.
    for (const url of ["app/log/writePublic", "http://elsewhere.invalid/app/log/writePublic"]) {
      const same = write(follower.committedSeqno);
      assert.equal(answerCode(await send({ ...same, url })), "ok", url);
      assert.equal(await resend(same), "Replay", url);
    }
  });

  it("a forwarded event stream is refused and takes none of the leader's stream slots", async () => {
    // More than the leader's stream bound (events.maxStreams, 64 by default).
    for (let i = 0; i < 80; i++) {
      const answer = await outcome(
        send({ method: "GET", url: "/app/events", headers: {}, body: new Uint8Array(0) }),
      );
      assert.equal(codeOf(answer), "MalformedRequest", `forward ${i}`);
    }
    // A client's own stream on the leader still opens.
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpsGet(
        `${leader.url}/app/events`,
        { ca: leader.serviceCertificate, checkServerIdentity: () => undefined },
        (response) => {
          resolve(response.statusCode ?? 0);
          response.destroy();
        },
      );
      request.on("error", reject);
    });
    assert.equal(status, 200);
  });

  it("the same signed request twice in one batch executes once", async () => {
    const request = write(follower.committedSeqno);
    const answers = (await send({ items: [request, request, request] })) as {
      answers: { ok?: ForwardAnswer; error?: { code: string } }[];
    };
    const codes = answers.answers.map((a) => (a.ok === undefined ? a.error?.code : answerCode(a.ok)));
    assert.deepEqual([...codes].sort(), ["Replay", "Replay", "ok"], `codes: ${codes.join(", ")}`);
  });

  it("a request whose signed bytes were altered is refused BadSignature, not executed", async () => {
    const request = write(follower.committedSeqno);
    const body = request.body as Uint8Array;
    const altered = Uint8Array.from(body);
    // Change one character of the message ("m" -> "n") so the body still parses.
    const at = new TextDecoder().decode(body).lastIndexOf('"m"') + 1;
    altered[at] = "n".charCodeAt(0);
    const answer = await send({ ...request, body: altered });
    assert.equal(answerCode(answer), "BadSignature");
    // A signature taken from another request, over the same path.
    const donor = write();
    const swapped = await send({ ...request, headers: donor.headers });
    assert.equal(answerCode(swapped), "BadSignature");
    assert.equal(await resend(request), "ok", "the original request never executed");
  });

  it("a flood of hostile forwards does not hold an honest write, forwarded or direct", async () => {
    // Each would hold one of the leader's serving slots for the whole wait bound if the leader
    // waited for its commit point (the slots are bounded: 256 at once, more are shed Unavailable).
    const hostile = Array.from({ length: 200 }, (_, i) =>
      outcome(send(write(i % 2 === 0 ? Number.MAX_SAFE_INTEGER : 2 ** 60))),
    );
    // Sent after them, on the same link and from the other follower: served all the same.
    const honest = outcome(send(write(follower.committedSeqno)));
    const fromOther = outcome(forwardRaw(transports, other, leader, write(other.committedSeqno)));
    const direct = clientOf(leader).call("log", "writePublic", { id: ++written, msg: "direct" });
    const settled = await Promise.all(hostile);
    assert.deepEqual(
      [...new Set(settled.map(codeOf))],
      ["MalformedRequest"],
      "every hostile forward refused",
    );
    for (const answer of [await honest, await fromOther]) {
      assert.ok("ok" in answer, `honest forward failed: ${"error" in answer ? answer.error.message : ""}`);
      assert.equal(answerCode(answer.ok), "ok");
      await clientOf(leader).waitForCommit((answer.ok as ForwardAnswer).headers["x-treaty-txid"]!);
    }
    await clientOf(leader).waitForCommit((await direct).txid!);
  });

  it("a forward waiting for its commit point holds only itself", async () => {
    // The leader cannot fold (its durable step is held; the followers commit without it), so a
    // forward whose commit point is in the leader's log but not folded waits, up to the bound.
    const held = holdDurable(leader);
    const commitReached = leader.reads.commitReached;
    const waiting: number[] = [];
    leader.reads.commitReached = function (this: typeof leader.reads, seqno, timeoutMs) {
      waiting.push(seqno);
      return commitReached.call(this, seqno, timeoutMs);
    };
    try {
      const first = await clientOf(leader).call("log", "writePublic", { id: ++written, msg: "unfolded" });
      await clientOf(other).waitForCommit(first.txid!);
      const target = Number(first.txid!.split(".")[1]);
      assert.ok(leader.committedSeqno < target, "the leader's fold is held");
      const waiter = write(target);
      const answer = outcome(send(waiter));
      await until("the leader to hold the forward", () => (waiting.includes(target) ? true : undefined));
      // Meanwhile: a forward within the leader's fold, and a direct write, go through and commit.
      const within = await send(write(leader.committedSeqno));
      assert.equal(answerCode(within), "ok");
      const direct = await clientOf(leader).call("log", "writePublic", { id: ++written, msg: "beside" });
      await clientOf(other).waitForCommit((within as ForwardAnswer).headers["x-treaty-txid"]!);
      await clientOf(other).waitForCommit(direct.txid!);
      held.release();
      const released = await answer;
      assert.ok(
        "ok" in released && answerCode(released.ok) === "ok",
        `the held forward: ${codeOf(released)}`,
      );
    } finally {
      leader.reads.commitReached = commitReached;
      held.release();
    }
  });

  // Last in this network: the leader's forward handler is replaced for good (it has no getter).
  it("a leader's answer with an impossible HTTP status is the follower's Internal, and it keeps serving", async () => {
    let status: unknown = 200;
    transports
      .get(leader.identity.id)!
      .onRequest(async () => encode({ status, body: { fake: true }, headers: {} }));
    const client = net.client(follower, user, { retries: 1 });
    for (const bad of [99_999, 0, -1, 1.5, Number.NaN, "200", null]) {
      status = bad;
      const answer = await outcome(client.call("log", "writePublic", { id: ++written, msg: "x" }));
      assert.equal(codeOf(answer), "Internal", `status ${String(bad)}`);
    }
    status = 200;
    const fine = await client.call("log", "writePublic", { id: ++written, msg: "x" });
    assert.deepEqual(fine as unknown, { fake: true }, "the follower passes a well-formed answer on");
  });
});

describe("forwards from outside the service (the transport authenticates every frame)", () => {
  let leader: TreatyNode;
  let follower: TreatyNode;
  const dropped = () => leader.transportStats()!.dropped;
  const served = () => leader.transportStats()!.requestsServed;
  const write = () =>
    signedWrite(user, leader.serviceId, "/app/log/writePublic", { id: ++written, msg: "outside" });
  /** "ok" when the trusted follower's honest forward of `request` executes it (so it had not before). */
  const executesNow = async (request: RawForward) =>
    answerCode(await forwardRaw(transports, follower, leader, request));

  before(async () => {
    // The network of the describe above is stopped; this one is new (same memory network).
    [leader, follower] = await net.start();
  });
  after(() => net.stop());

  it("a node the leader does not trust: dropped as unknownSender, never served", async () => {
    const stranger = generateKeyPair("ed25519");
    const transport = new MemoryTransport(network, {
      serviceId: leader.serviceId,
      nodeId: stranger.id,
      identity: stranger,
      sessionEpoch: 1,
      peers: [
        {
          id: leader.identity.id,
          publicKey: { curve: leader.identity.curve, publicKey: leader.identity.publicKey },
        },
      ],
    });
    try {
      const before = dropped().unknownSender;
      const servedBefore = served();
      const request = write();
      const answer = outcome(transport.request(leader.identity.id, encode(request), 60_000));
      await until("the leader to drop the stranger's frame", () =>
        dropped().unknownSender > before ? true : undefined,
      );
      assert.equal(served(), servedBefore);
      await transport.close();
      assert.equal(codeOf(await answer), "Unavailable", "no answer: the request failed on close");
      assert.equal(await executesNow(request), "ok", "the stranger's request never executed");
    } finally {
      await transport.close();
    }
  });

  it("a frame that claims the follower's id under another key: dropped as badSignature", async () => {
    const impostor = generateKeyPair("ed25519");
    const transport = new MemoryTransport(network, {
      serviceId: leader.serviceId,
      nodeId: follower.identity.id,
      identity: impostor,
      // A newer session than the follower's: judged on its signature, not refused as stale.
      sessionEpoch: Number.MAX_SAFE_INTEGER,
      peers: [
        {
          id: leader.identity.id,
          publicKey: { curve: leader.identity.curve, publicKey: leader.identity.publicKey },
        },
      ],
    });
    try {
      const before = dropped().badSignature;
      const servedBefore = served();
      const request = write();
      const answer = outcome(transport.request(leader.identity.id, encode(request), 60_000));
      await until("the leader to drop the impostor's frame", () =>
        dropped().badSignature > before ? true : undefined,
      );
      assert.equal(served(), servedBefore);
      await transport.close();
      assert.equal(codeOf(await answer), "Unavailable");
      // The real follower's session is untouched: its forwards are still served.
      assert.equal(await executesNow(request), "ok", "the impostor's request never executed");
    } finally {
      await transport.close();
    }
  });

  it("a forwarded request frame replayed or tampered with is dropped, never served", async () => {
    const to = leader.identity.id;
    const subject = nodeSubject(leader.serviceId, to);
    // Watch the follower's next request frame to the leader (it is delivered as sent).
    let captured: Uint8Array | undefined;
    const untap = network.tap((frame, frameSubject, publisher) => {
      if (captured !== undefined || publisher !== follower.identity.id || frameSubject !== subject) return;
      if (decodeFrame(frame)?.header.k === FrameKind.Request) captured = frame;
    });
    let frame: Uint8Array;
    try {
      assert.equal(await executesNow(write()), "ok");
      frame = await until("the forward's frame", () => captured);
    } finally {
      untap();
    }
    const servedOnce = served();

    // Replayed as it is: its counter was used.
    const replays = dropped().replay;
    network.publish("attacker", subject, frame);
    await until("the replayed frame to be dropped", () => (dropped().replay > replays ? true : undefined));
    assert.equal(served(), servedOnce, "the replay was not served");

    // Under a fresh counter (the header is authenticated), and with its body altered as well.
    const { header, body, auth } = decodeFrame(frame)!;
    const fresh = encodeHeader({ ...header, ctr: header.ctr + 1_000_000 });
    const altered = Uint8Array.from(body);
    altered[0] = altered[0]! ^ 0x01;
    const bad = dropped().badSignature;
    network.publish("attacker", subject, encodeFrame(fresh, body, auth));
    network.publish("attacker", subject, encodeFrame(fresh, altered, auth));
    await until("the tampered frames to be dropped", () =>
      dropped().badSignature >= bad + 2 ? true : undefined,
    );
    assert.equal(served(), servedOnce, "no tampered frame was served");
    // The follower's session was not moved by them: its next forward is served.
    assert.equal(await executesNow(write()), "ok");
  });

  it("an oversized frame is dropped unread", async () => {
    const before = dropped().oversize;
    network.publish(
      "attacker",
      nodeSubject(leader.serviceId, leader.identity.id),
      new Uint8Array(MAX_MESSAGE_BYTES + 4096),
    );
    await until("the oversized frame to be dropped", () => (dropped().oversize > before ? true : undefined));
    assert.equal(await executesNow(write()), "ok", "the leader still serves forwards");
  });
});
