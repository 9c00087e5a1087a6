/**
 * Forward batching (node/forward-batch.ts) as pure logic over a recording `send`: a turn's
 * requests to one leader share one transport request and get their own answers back in order,
 * per-item errors stay per item, the bounds cut batches, a lone or oversized request keeps the
 * single form, a leader refusing the batch form gets singles from then on, and hostile batches
 * are refused whole on the leader's side. The end-to-end path (real nodes) is
 * test/integration/forward-batch.test.ts.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decode, encode } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import {
  batchItems,
  FORWARD_BATCH_MAX_BYTES,
  FORWARD_BATCH_MAX_ITEMS,
  ForwardBatcher,
  serveBatch,
} from "../../node/forward-batch.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A leader that answers each item with `answer:<item>`, or fails items starting with `fail`. */
async function leader(payload: Uint8Array): Promise<Uint8Array> {
  const request = decode<unknown>(payload, "test");
  const items = batchItems(request);
  const one = async (name: unknown) => {
    if (typeof name !== "string") throw new TreatyError("MalformedRequest", "expected a name");
    if (name.startsWith("fail")) throw new TreatyError("Replay", `refused ${name}`);
    return bytes(`answer:${name}`);
  };
  return items === null ? one(request) : serveBatch(items, one);
}

function recorder(serve: (payload: Uint8Array) => Promise<Uint8Array> = leader) {
  const sent: Uint8Array[] = [];
  const batcher = new ForwardBatcher((_leader, payload) => {
    sent.push(payload);
    return serve(payload);
  });
  const isBatch = (payload: Uint8Array) => decode<{ batch?: unknown }>(payload, "t").batch !== undefined;
  return { batcher, sent, isBatch };
}

describe("forward batching", () => {
  it("sends a turn's requests to one leader as one batch and answers each in order", async () => {
    const { batcher, sent, isBatch } = recorder();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => batcher.forward("L", encode(`w${i}`))),
    );
    assert.deepEqual(
      answers.map(text),
      Array.from({ length: 10 }, (_, i) => `answer:w${i}`),
    );
    assert.equal(sent.length, 1);
    assert.ok(isBatch(sent[0]!));
    assert.deepEqual(batcher.stats, { requests: 10, sends: 1 });
  });

  it("keeps an item's error to that item", async () => {
    const { batcher } = recorder();
    const results = await Promise.allSettled(
      ["a", "fail-b", "c"].map((name) => batcher.forward("L", encode(name))),
    );
    assert.equal(results[0]!.status, "fulfilled");
    assert.equal(results[2]!.status, "fulfilled");
    const failed = results[1]!;
    assert.equal(failed.status, "rejected");
    assert.ok(failed.status === "rejected" && failed.reason instanceof TreatyError);
    assert.equal((failed as PromiseRejectedResult).reason.code, "Replay");
  });

  it("sends a lone request in the single form, and one batch per leader", async () => {
    const { batcher, sent, isBatch } = recorder();
    await batcher.forward("L", encode("alone"));
    assert.equal(sent.length, 1);
    assert.equal(isBatch(sent[0]!), false);
    const leaders: string[] = [];
    const two = new ForwardBatcher((to, payload) => {
      leaders.push(to);
      return leader(payload);
    });
    await Promise.all([
      two.forward("A", encode("1")),
      two.forward("B", encode("2")),
      two.forward("A", encode("3")),
    ]);
    assert.deepEqual(leaders.sort(), ["A", "B"]);
  });

  it("cuts batches at the item and byte bounds; an oversized request goes alone", async () => {
    const { batcher, sent } = recorder();
    const count = FORWARD_BATCH_MAX_ITEMS * 2 + 1;
    await Promise.all(Array.from({ length: count }, (_, i) => batcher.forward("L", encode(`n${i}`))));
    assert.equal(sent.length, 3);

    const big = recorder();
    const half = "x".repeat(FORWARD_BATCH_MAX_BYTES / 2);
    const answers = await Promise.all([
      big.batcher.forward("L", encode(`a${half}`)),
      big.batcher.forward("L", encode(`b${half}`)),
      big.batcher.forward("L", encode(`c${"x".repeat(FORWARD_BATCH_MAX_BYTES)}`)),
    ]);
    assert.equal(answers.length, 3);
    // a+b exceed the byte bound together: each goes in its own send; c is above it alone.
    assert.equal(big.sent.length, 3);
    assert.ok(big.sent.every((payload) => !big.isBatch(payload)));
  });

  it("fails every item of a batch whose transport request failed", async () => {
    const { batcher } = recorder(() => Promise.reject(new TreatyError("Timeout", "no response")));
    const results = await Promise.allSettled([
      batcher.forward("L", encode("a")),
      batcher.forward("L", encode("b")),
    ]);
    assert.ok(results.every((r) => r.status === "rejected" && r.reason.code === "Timeout"));
  });

  it("falls back to single forms for a leader that refuses the batch form", async () => {
    // An older leader: only the single form parses.
    const old = async (payload: Uint8Array) => {
      const request = decode<unknown>(payload, "old");
      if (typeof request !== "string")
        throw new TreatyError("MalformedRequest", "expected {method, url, ...}");
      return bytes(`old:${request}`);
    };
    const { batcher, sent, isBatch } = recorder(old);
    const first = await Promise.all([batcher.forward("L", encode("a")), batcher.forward("L", encode("b"))]);
    assert.deepEqual(first.map(text), ["old:a", "old:b"]);
    assert.equal(sent.length, 3, "one refused batch, then two singles");
    await Promise.all([batcher.forward("L", encode("c")), batcher.forward("L", encode("d"))]);
    assert.equal(sent.length, 5);
    assert.ok(sent.slice(3).every((payload) => !isBatch(payload)));
  });

  it("rejects items whose batch answer is malformed", async () => {
    const { batcher } = recorder(async () => encode({ answers: [{ ok: bytes("only one") }] }));
    const results = await Promise.allSettled([
      batcher.forward("L", encode("a")),
      batcher.forward("L", encode("b")),
    ]);
    assert.ok(results.every((r) => r.status === "rejected" && r.reason.code === "Internal"));
  });

  it("refuses hostile batches whole on the leader's side", () => {
    assert.equal(batchItems({}), null);
    for (const batch of [
      "x",
      [],
      [bytes("one")],
      Array.from({ length: FORWARD_BATCH_MAX_ITEMS + 1 }, () => bytes("r")),
      [bytes("a"), "not bytes"],
      { 0: bytes("a"), 1: bytes("b") },
    ]) {
      assert.throws(() => batchItems({ batch }), { code: "MalformedRequest" });
    }
    assert.equal(batchItems({ batch: [bytes("a"), bytes("b")] })?.length, 2);
  });

  it("answers a served batch's failures with coded errors, never the thrown object", async () => {
    const answer = await serveBatch([encode("a"), encode("b")], async (item) => {
      if (item === "b") throw new Error("a host bug with internal details");
      return bytes(String(item));
    });
    const { answers } = decode<{ answers: unknown[] }>(answer, "t");
    assert.deepEqual(answers[0], { ok: Buffer.from("a") });
    assert.deepEqual(answers[1], {
      error: { code: "Internal", message: "the leader failed to serve a forwarded request" },
    });
  });

  it("answers an item that does not decode, or is itself a batch, MalformedRequest; serves the others", async () => {
    const served: unknown[] = [];
    const answer = await serveBatch(
      [
        encode("ok"),
        Uint8Array.of(0xc1),
        encode({ batch: [encode("x"), encode("y")] }),
        encode({ batch: "junk" }),
      ],
      async (item) => {
        served.push(item);
        return bytes("served");
      },
    );
    const { answers } = decode<{ answers: Array<{ error?: { code: string } }> }>(answer, "t");
    assert.deepEqual(served, ["ok"]);
    assert.deepEqual(
      answers.slice(1).map((a) => a.error?.code),
      ["MalformedEncoding", "MalformedRequest", "MalformedRequest"],
    );
  });

  it("takes any decoded value without throwing outside its codes", () => {
    for (const request of [null, 7, "x", [], { method: "POST" }]) assert.equal(batchItems(request), null);
  });
});
