/**
 * `GET /node/transactions` (node/http/explorer-routes.ts), the console's list of recent entries:
 * newest first, bounded, only txid/kind/status/time, and a coded 400 for any other `limit`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MAX_LISTED_TRANSACTIONS } from "../../node/http/explorer-routes.js";
import { startTestNode, type TestNode } from "../support/node.js";

interface Listing {
  lastSeqno: number;
  commitSeqno: number;
  transactions: Array<Record<string, unknown>>;
}

describe("GET /node/transactions", () => {
  let net: TestNode;
  let txid: string;
  before(async () => {
    net = await startTestNode();
    txid = (await net.client().call("log", "writePrivate", { id: 1, msg: "secret" })).txid;
    await net.client().waitForCommit(txid);
  });
  after(async () => {
    await net?.dispose();
  });

  const get = async (query: string) => {
    const response = await fetch(`${net.url}/node/transactions${query}`);
    return {
      status: response.status,
      body: (await response.json()) as Listing & { error?: { code: string } },
    };
  };

  it("lists the latest entries newest first, with their status and nothing about the call", async () => {
    const { status, body } = await get("?limit=100");
    assert.equal(status, 200);
    const seqnos = body.transactions.map((t) => Number(String(t.txid).split(".")[1]));
    assert.deepEqual(
      seqnos,
      [...seqnos].sort((a, b) => b - a),
    );
    assert.equal(seqnos[0], body.lastSeqno);
    const write = body.transactions.find((t) => t.txid === txid);
    assert.deepEqual(Object.keys(write!).sort(), ["kind", "status", "timeMs", "txid"]);
    assert.deepEqual({ kind: write!.kind, status: write!.status }, { kind: "user", status: "Committed" });
    assert.doesNotMatch(JSON.stringify(body), /secret|writePrivate/);
    // Its own lastSeqno: a signature may be appended between the two listings.
    const byDefault = (await get("")).body;
    assert.equal(byDefault.transactions.length, Math.min(20, byDefault.lastSeqno), "20 by default");
  });

  it("refuses any other limit with a coded 400", async () => {
    for (const limit of [
      "0",
      "-1",
      "abc",
      "1.5",
      "1e2",
      String(MAX_LISTED_TRANSACTIONS + 1),
      "9".repeat(400),
    ]) {
      const { status, body } = await get(`?limit=${limit}`);
      assert.equal(status, 400, limit);
      assert.equal(body.error?.code, "MalformedRequest", limit);
    }
  });
});
