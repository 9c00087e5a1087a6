/**
 * Read consistency and write outcomes on one node, over HTTP: every answer names its txid (body
 * and `x-treaty-txid`), a pending write is invisible to committed and linearizable reads and
 * visible to latest ones (as `Pending`), and the SDK turns a lost or `OutcomeUnknown` answer
 * into a resend whose `Replay` is the earlier attempt's success.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Client } from "../../sdk/client.js";
import { decode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { keyId } from "../../sdk/keys.js";
import { parseTxId } from "../../sdk/receipt.js";
import { CONTENT_JSON, HEADER_CONSISTENCY, HEADER_TXID, signRequest } from "../../sdk/request.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("read consistency on one node", () => {
  let net: TestNode;
  let user: Client;

  before(async () => {
    // Signatures only every 10 minutes (or 1000 transactions), none when idle: a write stays
    // Pending for the whole test, so what each level sees is deterministic.
    net = await startTestNode({ signatureIntervalMs: 600_000, signWhenIdle: false });
    user = net.client();
  });
  after(() => net?.dispose());

  /** A signed readPublic at `consistency` (none: the default), raw, with the answer's header. */
  async function rawRead(id: number, consistency?: string) {
    const request = signRequest(net.user, keyId(net.serviceKey), "/app/log/readPublic", { id });
    const response = await fetch(net.url + request.path, {
      method: "POST",
      headers: {
        ...request.headers,
        ...(consistency !== undefined && { [HEADER_CONSISTENCY]: consistency }),
      },
      body: request.body as Uint8Array<ArrayBuffer>,
    });
    return {
      status: response.status,
      header: response.headers.get(HEADER_TXID),
      json: (await response.json()) as {
        result?: unknown;
        txid?: string;
        status?: string;
        error?: { code: string };
      },
    };
  }

  it("a pending write is seen only by latest reads, which say Pending and name its txid", async () => {
    const write = await user.call("log", "writePublic", { id: 1, msg: "pending" });
    assert.equal(write.status, "Pending");
    assert.equal(await user.txStatus(write.txid), "Pending");

    const committed = await rawRead(1);
    assert.equal(committed.status, 422);
    assert.equal(committed.json.error?.code, "MessageNotFound", "no dirty read by default");
    const linearizable = await rawRead(1, "linearizable");
    assert.equal(linearizable.json.error?.code, "MessageNotFound", "no dirty read when linearizable");

    const latest = await rawRead(1, "latest");
    assert.equal(latest.status, 200);
    assert.deepEqual(latest.json, {
      result: { msg: "pending" },
      txid: write.txid,
      status: "Pending",
      events: [],
    });
    assert.equal(latest.header, write.txid);
  });

  it("every read answer names the committed state it read, in the body and the header", async () => {
    const member = net.client(net.member);
    const status = await user.status();
    const { commitSeqno } = status;
    const lastSeqno = status.lastSeqno as number;
    assert.ok(lastSeqno > commitSeqno, "a write is pending above the commit point");
    for (const consistency of ["committed", "linearizable"] as const) {
      const supply = await member.call("bank", "totalSupply", {}, { consistency });
      assert.equal(supply.status, "Committed");
      assert.equal(parseTxId(supply.txid).seqno, commitSeqno, "read at the commit point, not above it");
    }
    const latest = await member.call("bank", "totalSupply", {}, { consistency: "latest" });
    assert.deepEqual([latest.status, parseTxId(latest.txid).seqno], ["Pending", lastSeqno]);
    const request = signRequest(net.member, keyId(net.serviceKey), "/app/bank/totalSupply", {});
    const response = await fetch(net.url + request.path, {
      method: "POST",
      headers: request.headers,
      body: request.body as Uint8Array<ArrayBuffer>,
    });
    const body = (await response.json()) as { txid: string; status: string };
    assert.equal(response.headers.get(HEADER_TXID), body.txid);
    assert.equal(body.status, "Committed");
    assert.equal(parseTxId(body.txid).seqno, commitSeqno);
  });

  it("an unknown consistency level is refused with 400 MalformedRequest naming the header", async () => {
    for (const bad of ["strong", "", "LATEST"]) {
      const answer = await rawRead(1, bad);
      assert.equal(answer.status, 400);
      assert.equal(answer.json.error?.code, "MalformedRequest");
    }
    const unsigned = await fetch(`${net.url}/app/meter/tariff`, {
      method: "POST",
      headers: { "content-type": CONTENT_JSON, [HEADER_CONSISTENCY]: "serializable" },
      body: JSON.stringify({ args: {} }),
    });
    assert.equal(unsigned.status, 400);
  });

  it("the SDK resends a write whose answer was lost or OutcomeUnknown, and takes Replay as its success", async () => {
    for (const failure of ["network", "outcome-unknown"] as const) {
      let calls = 0;
      let firstTxid: string | undefined;
      const flaky = net.client(net.user, {
        fetch: async (input, init) => {
          const response = await fetch(input, init);
          if (++calls > 1) return response;
          // The node executed the first attempt; its answer never reaches the client.
          assert.equal(response.status, 200);
          firstTxid = decode<{ txid: string }>(new Uint8Array(await response.arrayBuffer())).txid;
          if (failure === "network") throw new TypeError("fetch failed: socket hang up");
          return new Response(
            JSON.stringify({ error: { code: "OutcomeUnknown", message: "the leader changed" } }),
            { status: 503, headers: { "content-type": CONTENT_JSON } },
          );
        },
      });
      const answer = await flaky.call("log", "writePublic", { id: 2, msg: failure });
      assert.equal(calls, 2, "one resend");
      assert.equal(answer.replayed, true);
      assert.equal(answer.txid, firstTxid, "the txid of the attempt that executed");
    }
  });

  it("the SDK gives up on OutcomeUnknown after outcomeTimeoutMs, with that code", async () => {
    let calls = 0;
    // Two ordinary attempts; resends past them come only from the OutcomeUnknown deadline (a
    // wide one against 1 ms backoffs, so a loaded machine still fits several in).
    const stuck = net.client(net.user, {
      retries: 2,
      outcomeTimeoutMs: 500,
      backoffMs: 1,
      fetch: async () => {
        calls++;
        return new Response(JSON.stringify({ error: { code: "OutcomeUnknown", message: "no answer" } }), {
          status: 503,
          headers: { "content-type": CONTENT_JSON },
        });
      },
    });
    await assert.rejects(stuck.call("log", "writePublic", { id: 3, msg: "x" }), (err) =>
      isTreatyError(err, "OutcomeUnknown"),
    );
    assert.ok(calls > 2, `resent beyond the ordinary retries (${calls} attempts)`);
  });

  it("a /node/tx long poll on a transaction that stays pending answers Pending; a bad wait is 400", async () => {
    const { txid } = await user.call("log", "writePublic", { id: 4, msg: "long poll" });
    assert.equal(await user.txStatus(txid, { waitMs: 200 }), "Pending");
    for (const wait of ["abc", "-1", "1.5", "10001", "99999999", ""]) {
      const response = await fetch(`${net.url}/node/tx?txid=${txid}&wait=${wait}`);
      const body = (await response.json()) as { error?: { code: string } };
      assert.deepEqual([response.status, body.error?.code], [400, "MalformedRequest"], `wait=${wait}`);
    }
  });
});

describe("GET /node/tx as a long poll", () => {
  let net: TestNode;
  before(async () => {
    // A signature (so a commit) about every second, none when idle: a write stays Pending for
    // a while, and then commits.
    net = await startTestNode({ signatureIntervalMs: 1_000, signWhenIdle: false });
  });
  after(() => net?.dispose());

  it("answers a pending transaction once it commits, not at once", async () => {
    const client = net.client();
    const { txid } = await client.call("log", "writePublic", { id: 5, msg: "committed soon" });
    // 10 s is far beyond the next signature: the answer comes when the commit point passes
    // the write (an answer at once would still say Pending, as the write was a moment ago).
    const response = await fetch(`${net.url}/node/tx?txid=${txid}&wait=10000`);
    assert.deepEqual(await response.json(), { txid, status: "Committed" });
    // The SDK's waitForCommit long-polls the same way; a later write commits at the next signature.
    const later = await client.call("log", "writePublic", { id: 6, msg: "and this one" });
    await client.waitForCommit(later.txid);
    assert.equal(await client.txStatus(later.txid), "Committed");
  });
});
