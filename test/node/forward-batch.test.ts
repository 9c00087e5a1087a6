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
  type ForwardedRequest,
  forwardedCommitWait,
  forwardedItems,
  serveBatch,
  serveItems,
} from "../../node/forward-batch.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A forwarded request whose body is `name`. */
const req = (name: string): ForwardedRequest => ({
  method: "POST",
  url: "/app/log/write",
  headers: { "content-type": "application/json" },
  body: bytes(name),
});

/** The answer body of a request the test leader answered. */
const answerBody = (answer: unknown) => (answer as { body: unknown }).body;

/** Answers `answer:<name>`, or fails names starting with `fail`. */
async function one(request: unknown) {
  const body = (request as { body?: unknown } | null)?.body;
  if (!(body instanceof Uint8Array)) throw new TreatyError("MalformedRequest", "expected a request");
  const name = text(body);
  if (name.startsWith("fail")) throw new TreatyError("Replay", `refused ${name}`);
  return { status: 200, body: `answer:${name}`, headers: {} };
}

/** A leader serving the single and items forms. */
async function leader(payload: Uint8Array): Promise<Uint8Array> {
  const request = decode<unknown>(payload, "test");
  const items = forwardedItems(request);
  return items === null ? encode(await one(request)) : serveItems(items, one);
}

function recorder(serve: (payload: Uint8Array) => Promise<Uint8Array> = leader) {
  const sent: Uint8Array[] = [];
  const batcher = new ForwardBatcher((_leader, payload) => {
    sent.push(payload);
    return serve(payload);
  });
  const isBatch = (payload: Uint8Array) => decode<{ items?: unknown }>(payload, "t").items !== undefined;
  return { batcher, sent, isBatch };
}

describe("forward batching", () => {
  it("sends a turn's requests to one leader as one batch and answers each in order", async () => {
    const { batcher, sent, isBatch } = recorder();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => batcher.forward("L", req(`w${i}`))),
    );
    assert.deepEqual(
      answers.map(answerBody),
      Array.from({ length: 10 }, (_, i) => `answer:w${i}`),
    );
    assert.equal(sent.length, 1);
    assert.ok(isBatch(sent[0]!));
    assert.deepEqual(batcher.stats, { requests: 10, sends: 1 });
  });

  it("keeps an item's error to that item", async () => {
    const { batcher } = recorder();
    const results = await Promise.allSettled(
      ["a", "fail-b", "c"].map((name) => batcher.forward("L", req(name))),
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
    await batcher.forward("L", req("alone"));
    assert.equal(sent.length, 1);
    assert.equal(isBatch(sent[0]!), false);
    const leaders: string[] = [];
    const two = new ForwardBatcher((to, payload) => {
      leaders.push(to);
      return leader(payload);
    });
    await Promise.all([two.forward("A", req("1")), two.forward("B", req("2")), two.forward("A", req("3"))]);
    assert.deepEqual(leaders.sort(), ["A", "B"]);
  });

  it("cuts batches at the item and byte bounds; an oversized request goes alone", async () => {
    const { batcher, sent } = recorder();
    const count = FORWARD_BATCH_MAX_ITEMS * 2 + 1;
    await Promise.all(Array.from({ length: count }, (_, i) => batcher.forward("L", req(`n${i}`))));
    assert.equal(sent.length, 3);

    const big = recorder();
    const half = "x".repeat(FORWARD_BATCH_MAX_BYTES / 2);
    const answers = await Promise.all([
      big.batcher.forward("L", req(`a${half}`)),
      big.batcher.forward("L", req(`b${half}`)),
      big.batcher.forward("L", req(`c${"x".repeat(FORWARD_BATCH_MAX_BYTES)}`)),
    ]);
    assert.equal(answers.length, 3);
    // a+b exceed the byte bound together: each goes in its own send; c is above it alone.
    assert.equal(big.sent.length, 3);
    assert.ok(big.sent.every((payload) => !big.isBatch(payload)));
  });

  it("fails every item of a batch whose transport request failed", async () => {
    const { batcher } = recorder(() => Promise.reject(new TreatyError("Timeout", "no response")));
    const results = await Promise.allSettled([
      batcher.forward("L", req("a")),
      batcher.forward("L", req("b")),
    ]);
    assert.ok(results.every((r) => r.status === "rejected" && r.reason.code === "Timeout"));
  });

  it("falls back to single forms for a leader that refuses the items form", async () => {
    // An older leader: the items form is no single request to it, refused whole.
    const old = async (payload: Uint8Array) => {
      const request = decode<{ method?: unknown; body?: Uint8Array }>(payload, "old");
      if (typeof request.method !== "string" || !(request.body instanceof Uint8Array))
        throw new TreatyError("MalformedRequest", "expected {method, url, ...}");
      return encode({ status: 200, body: `old:${text(request.body)}`, headers: {} });
    };
    const { batcher, sent, isBatch } = recorder(old);
    const first = await Promise.all([batcher.forward("L", req("a")), batcher.forward("L", req("b"))]);
    assert.deepEqual(first.map(answerBody), ["old:a", "old:b"]);
    assert.equal(sent.length, 3, "one refused batch, then two singles");
    await Promise.all([batcher.forward("L", req("c")), batcher.forward("L", req("d"))]);
    assert.equal(sent.length, 5);
    assert.ok(sent.slice(3).every((payload) => !isBatch(payload)));
  });

  it("rejects items whose batch answer is malformed", async () => {
    const { batcher } = recorder(async () => encode({ answers: [{ ok: bytes("only one") }] }));
    const results = await Promise.allSettled([
      batcher.forward("L", req("a")),
      batcher.forward("L", req("b")),
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

  it("refuses hostile item lists whole on the leader's side", () => {
    assert.equal(forwardedItems({}), null);
    assert.equal(forwardedItems({ batch: [] }), null, "the previous form is batchItems'");
    for (const items of [
      "x",
      7,
      null,
      [],
      [req("one")],
      Array.from({ length: FORWARD_BATCH_MAX_ITEMS + 1 }, () => req("r")),
      [req("a"), "not a request"],
      [req("a"), null],
      [req("a"), [req("b"), req("c")]],
      [req("a"), bytes("an encoded request")],
      { 0: req("a"), 1: req("b") },
    ]) {
      assert.throws(() => forwardedItems({ items }), { code: "MalformedRequest" });
    }
    assert.equal(forwardedItems({ items: [req("a"), req("b")] })?.length, 2);
  });

  it("serves each item once, duplicates too, and answers nested or failing items with codes", async () => {
    const served: unknown[] = [];
    const encoded = await serveItems(
      [
        req("a"),
        { items: [req("x"), req("y")] },
        { batch: [encode(req("x")), encode(req("y"))] },
        req("a"),
        req("crash"),
        { method: "POST" },
        req("fail-b"),
      ],
      async (request) => {
        served.push(request);
        const answer = await one(request);
        if (answer.body === "answer:crash") throw new Error("a host bug with internal details");
        return answer;
      },
    );
    const { answers } = decode<{
      answers: Array<{ ok?: unknown; error?: { code: string; message: string } }>;
    }>(encoded, "t");
    assert.equal(answers.length, 7);
    assert.equal(served.length, 5, "nested items are never served");
    assert.deepEqual(answers[0], { ok: { status: 200, body: "answer:a", headers: {} } });
    assert.deepEqual(answers[3], answers[0], "a duplicate is served on its own (admission refuses a replay)");
    assert.deepEqual(
      [1, 2, 4, 5, 6].map((i) => answers[i]!.error?.code),
      ["MalformedRequest", "MalformedRequest", "Internal", "MalformedRequest", "Replay"],
    );
    assert.equal(answers[4]!.error?.message, "the leader failed to serve a forwarded request");
  });

  it("rejects items whose answers are malformed, each on its own", async () => {
    const { batcher } = recorder(async () =>
      encode({
        answers: [
          { ok: { status: 200, body: "fine", headers: {} } },
          { ok: "not an answer" },
          { error: { code: 7, message: "x" } },
          null,
        ],
      }),
    );
    const results = await Promise.allSettled(
      ["a", "b", "c", "d"].map((name) => batcher.forward("L", req(name))),
    );
    assert.equal(results[0]!.status, "fulfilled");
    assert.ok(results.slice(1).every((r) => r.status === "rejected" && r.reason.code === "Internal"));
    const short = recorder(async () => encode({ answers: "none" }));
    const failed = await Promise.allSettled([
      short.batcher.forward("L", req("a")),
      short.batcher.forward("L", req("b")),
    ]);
    assert.ok(failed.every((r) => r.status === "rejected" && r.reason.code === "Internal"));
  });
});

describe("a forwarded request's commit point (forwardedCommitWait)", () => {
  const leaderAt = { lastSeqno: 100, folded: 40 };
  const refused = (committed: unknown, leader: typeof leaderAt | null = leaderAt) =>
    assert.throws(
      () => forwardedCommitWait({ committed }, leader),
      (err: unknown) => err instanceof TreatyError && err.code === "MalformedRequest",
      `committed ${String(committed)}`,
    );

  it("waits for a point in the leader's log past its fold, and for nothing else", () => {
    assert.equal(forwardedCommitWait({}, leaderAt), null, "absent: a node of the previous version");
    assert.equal(forwardedCommitWait({ committed: undefined }, leaderAt), null);
    assert.equal(forwardedCommitWait({ committed: 0 }, leaderAt), null);
    assert.equal(forwardedCommitWait({ committed: 40 }, leaderAt), null, "already folded");
    assert.equal(forwardedCommitWait({ committed: 41 }, leaderAt), 41);
    assert.equal(forwardedCommitWait({ committed: 100 }, leaderAt), 100, "the log's end is reachable");
    assert.equal(forwardedCommitWait({ committed: 10 ** 9 }, null), null, "not leading: no wait");
  });

  it("refuses a point beyond the leader's log, and anything that is not a seqno, leading or not", () => {
    refused(101);
    refused(Number.MAX_SAFE_INTEGER);
    for (const leader of [leaderAt, null]) {
      for (const hostile of [
        2 ** 53,
        1e308,
        Infinity,
        -Infinity,
        Number.NaN,
        -1,
        1.5,
        "5",
        {},
        [],
        null,
        true,
      ])
        refused(hostile, leader);
    }
  });
});
