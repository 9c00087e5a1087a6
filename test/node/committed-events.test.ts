/**
 * Committed events on one node (issue 14): declared events type the SDK's results; only public
 * events are recorded in the ledger and served on `GET /app/events`, with filters, resumption,
 * and coded refusals of hostile parameters; a contract that emits what it did not declare fails
 * the call; the stream's bounds hold (stream count, a client that stops reading is dropped).
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { EventsOf, PublicEventsOf } from "../../contracts/api/contract.js";
import type board from "../../docs/examples/board/index.js";
import type { Client } from "../../sdk/client.js";
import { TreatyError } from "../../sdk/errors.js";
import { EventStreamRefused, sseFrames, watchEvents } from "../../sdk/events.js";
import { runEvents } from "../../node/cli/events.js";
import { startTestNode, type TestNode } from "../support/node.js";

const FIXTURES = join("test", "fixtures", "contracts");

/** Type-level checks: the declared events as a union, narrowed by name. */
type BoardEvent = EventsOf<typeof board>;
const typedPosted: BoardEvent = { name: "posted", data: { id: 1, text: "x" } };
const typedPublic: PublicEventsOf<typeof board> = { name: "posted", data: { id: 1, text: "x" } };
// @ts-expect-error: "drafted" is private, not among the public events
const notPublic: PublicEventsOf<typeof board> = { name: "drafted", data: { id: 1 } };
// @ts-expect-error: a posted event's text is a string
const misTyped: BoardEvent = { name: "posted", data: { id: 1, text: 2 } };
void [typedPosted, typedPublic, notPublic, misTyped];

/** Reads `count` frames of `/app/events?<query>` (then closes), with optional extra headers. */
async function readEvents(
  url: string,
  query: string,
  count: number,
  headers: Record<string, string> = {},
): Promise<{ id: string; event: Record<string, unknown> }[]> {
  const stop = new AbortController();
  const response = await fetch(`${url}/app/events?${query}`, { headers, signal: stop.signal });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const out: { id: string; event: Record<string, unknown> }[] = [];
  if (count === 0) {
    stop.abort();
    return out;
  }
  for await (const frame of sseFrames(response.body!)) {
    if (frame.id === undefined || frame.data === undefined) continue;
    out.push({ id: frame.id, event: JSON.parse(frame.data) as Record<string, unknown> });
    if (out.length === count) break;
  }
  stop.abort();
  return out;
}

describe("committed events on one node", () => {
  let net: TestNode;
  let user: Client;
  const txids: string[] = [];

  before(async () => {
    net = await startTestNode({
      extraContracts: [
        { name: "board", path: "docs/examples/board" },
        { name: "misdeclared", path: join(FIXTURES, "events-misdeclared") },
      ],
      events: { maxStreams: 3, maxBufferedBytes: 64 * 1024, stallTimeoutMs: 300, heartbeatMs: 200 },
    });
    user = net.client();
  });
  after(() => net?.dispose());

  it("types a call's events by the contract's declarations and returns private ones to the caller", async () => {
    const boardClient = user.contract<typeof board>("board");
    for (let id = 0; id < 3; id++) {
      const answer = await boardClient.post({ id, text: `notice ${id}`, draft: "between us" });
      const texts: string[] = [];
      for (const e of answer.events) if (e.name === "posted") texts.push(e.data.text);
      assert.deepEqual(texts, [`notice ${id}`]);
      assert.deepEqual(
        answer.events.map((e) => e.name),
        ["posted", "drafted"],
      );
      await user.waitForCommit(answer.txid);
      txids.push(answer.txid);
    }
  });

  it("streams only public events, each with its txid, from the start of the ledger", async () => {
    const frames = await readEvents(net.url, "after=0&contract=board", 3);
    assert.deepEqual(
      frames.map((f) => f.id),
      txids.map((t) => `${t}/0`),
    );
    assert.deepEqual(frames[1]!.event, {
      txid: txids[1],
      index: 0,
      contract: "board",
      name: "posted",
      data: { id: 1, text: "notice 1" },
    });
    // The private event is in no entry: its name never reaches the ledger bytes.
    const ledger = net.node.ledger;
    for (const txid of txids) {
      const bytes = Buffer.from(ledger.get(Number(txid.split(".")[1]))!.bytes).toString("latin1");
      assert.ok(bytes.includes("notice"), "the public event is in clear in its entry");
      assert.ok(
        !bytes.includes("drafted") && !bytes.includes("between us"),
        "the private event is not recorded",
      );
    }
  });

  it("resumes after an id (Last-Event-ID) or a txid, and filters by contract and name", async () => {
    const resumed = await readEvents(net.url, "after=0", 2, { "last-event-id": `${txids[0]}/0` });
    assert.deepEqual(
      resumed.map((f) => f.id),
      [`${txids[1]}/0`, `${txids[2]}/0`],
    );
    const afterTx = await readEvents(net.url, `after=${txids[1]}`, 1);
    assert.equal(afterTx[0]!.id, `${txids[2]}/0`);
    // A filter that matches nothing still moves on: the next matching event arrives.
    const stop = new AbortController();
    const response = await fetch(`${net.url}/app/events?contract=misdeclared&name=noted`, {
      signal: stop.signal,
    });
    const frames = sseFrames(response.body!);
    const ok = await user.call("misdeclared", "ok", {});
    await user.waitForCommit(ok.txid);
    let first: { id?: string; data?: string } | undefined;
    for await (const frame of frames) {
      if (frame.id !== undefined) {
        first = frame;
        break;
      }
    }
    stop.abort();
    assert.equal(first?.id, `${ok.txid}/0`);
    assert.deepEqual(JSON.parse(first!.data!).data, { id: 1 });
  });

  it("follows the events from the CLI (treaty events)", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), fetch: globalThis.fetch };
    const code = await runEvents(
      ["--node", net.url, "--contract", "board", "--name", "posted", "--from-start", "--count", "3"],
      io,
    );
    assert.equal(code, 0, err.join(""));
    const lines = out
      .join("")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id: string; txid: string });
    assert.deepEqual(
      lines.map((l) => l.txid),
      txids,
    );
    const refused = await runEvents(["--node", net.url, "--after", "nope"], io);
    assert.equal(refused, 1);
    assert.match(err.join(""), /InvalidArgs/);
  });

  it("fails a call that emits an undeclared or misshaped event, writing nothing", async () => {
    for (const method of ["undeclared", "misshaped"]) {
      await assert.rejects(
        user.call("misdeclared", method, {}),
        (err: unknown) =>
          err instanceof TreatyError && err.code === "ContractFault" && /event/.test(err.message),
      );
    }
  });

  it("refuses hostile parameters with coded errors", async () => {
    const cases: [string, number, string][] = [
      ["after=banana", 400, "InvalidArgs"],
      ["after=1.2/x", 400, "InvalidArgs"],
      [`after=999.${txids[0]!.split(".")[1]}`, 404, "TxNotFound"],
      [Array.from({ length: 33 }, (_, i) => `name=n${i}`).join("&"), 400, "InvalidArgs"],
      // Names no event can have (EVENT_NAME): empty segments, wildcards, whitespace.
      ...["a..b", "a.", ".a", "a.*", "a.>", "*", ">", "a b", "", "a".repeat(65)].map(
        (name): [string, number, string] => [
          `name=posted&name=${encodeURIComponent(name)}`,
          400,
          "InvalidArgs",
        ],
      ),
    ];
    for (const [query, status, code] of cases) {
      const response = await fetch(`${net.url}/app/events?${query}`);
      assert.equal(response.status, status, query);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, code, query);
    }
    const stop = new AbortController();
    const watching = watchEvents({
      nodes: [net.url],
      names: ["posted", "a..b"],
      after: "0",
      signal: stop.signal,
    });
    try {
      await assert.rejects(
        watching.next(),
        (err: unknown) =>
          err instanceof EventStreamRefused &&
          err.code === "InvalidArgs" &&
          /"a\.\.b" is invalid/.test(err.message),
      );
    } finally {
      stop.abort();
    }
  });

  it("bounds the open streams and drops a client that stops reading", { timeout: 180_000 }, async () => {
    const opened: AbortController[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const stop = new AbortController();
        const response = await fetch(`${net.url}/app/events`, { signal: stop.signal });
        assert.equal(response.status, 200);
        opened.push(stop);
      }
      const refused = await fetch(`${net.url}/app/events`);
      assert.equal(refused.status, 503);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "Unavailable");
    } finally {
      for (const stop of opened) stop.abort();
    }
    // A raw client that never reads: once its buffers fill, the node disconnects it.
    // The aborted streams free their slots once the node sees them close.
    for (let freed = false; !freed; ) {
      const stop = new AbortController();
      const probe = await fetch(`${net.url}/app/events`, { signal: stop.signal });
      freed = probe.status === 200;
      stop.abort();
      if (!freed) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const socket: Socket = connect(Number(new URL(net.url).port), "127.0.0.1");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => undefined);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("GET /app/events?after=0&contract=board HTTP/1.1\r\nhost: x\r\n\r\n");
    socket.pause();
    const text = "x".repeat(200_000);
    let received = 0;
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
    });
    // 20 MB of events: more than the socket buffers of a client that reads nothing can hold.
    for (let i = 0; i < 100; i++) {
      const answer = await user.call("board", "post", { id: 100 + i, text });
      if (i % 20 === 19) await user.waitForCommit(answer.txid);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    socket.resume();
    const outcome = await Promise.race([
      closed.then(() => "closed"),
      new Promise((resolve) => setTimeout(() => resolve("still open"), 15_000)),
    ]);
    assert.equal(outcome, "closed", "the node closed the stream of a client that stopped reading");
    assert.ok(received < 100 * 200_000, `it got only part of the events (${received} bytes)`);
  });
});
