/**
 * Signed answers for readonly calls on a real node: the SDK asks for one and verifies it against
 * the pinned service key; the statement names the txid the read observed; any change to the
 * answer, the question, the challenge or the service is refused offline.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fromBase64Url, toBase64Url } from "../../sdk/bytes.js";
import { decode, encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, keyId } from "../../sdk/keys.js";
import { signRequest } from "../../sdk/request.js";
import { HEADER_ANSWER_CHALLENGE, type SignedAnswer, verifySignedAnswer } from "../../sdk/signed-answer.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("signed answers for readonly calls", () => {
  let t: TestNode;
  before(async () => {
    t = await startTestNode();
  });
  after(() => t?.dispose());

  const invalid = (err: unknown) => isTreatyError(err, "ReceiptInvalid");

  it("the SDK verifies a signed answer naming the txid the read observed", async () => {
    const client = t.client();
    const { txid } = await client.call("log", "writePrivate", { id: 7, msg: "signed" });
    await client.waitForCommit(txid);
    const read = await client.call("log", "readPrivate", { id: 7 }, { signedAnswer: true });
    assert.deepEqual(read.result, { msg: "signed" });
    assert.equal(read.status, "Committed");
    const [view, seqno] = read.txid.split(".").map(Number) as [number, number];
    assert.ok(seqno >= Number(txid.split(".")[1]) && view >= 1, "the read observed the write");
    assert.equal(
      decode<{ nodeId: string }>(fromBase64Url(read.signedAnswer!.statement)).nodeId,
      t.node.identity.id,
    );
    const latest = await client.call(
      "log",
      "readPrivate",
      { id: 7 },
      { signedAnswer: true, consistency: "latest" },
    );
    assert.equal(
      decode<{ consistency: string }>(fromBase64Url(latest.signedAnswer!.statement)).consistency,
      "latest",
    );
  });

  it("offline verification refuses a changed answer, question, challenge or service", async () => {
    const path = "/app/log/readPrivate";
    const request = signRequest(t.user, keyId(t.serviceKey), path, { id: 7 });
    const challenge = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
    const raw = await t.post(path, request.body, {
      ...request.headers,
      [HEADER_ANSWER_CHALLENGE]: challenge,
    });
    assert.equal(raw.status, 200, JSON.stringify(raw.json));
    const signed = (raw.json as { signedAnswer: SignedAnswer }).signedAnswer;
    const expect = { serviceKey: t.serviceKey, path, body: request.body, challenge };
    assert.deepEqual(verifySignedAnswer(signed, expect).result, { msg: "signed" });
    const statement = decode<Record<string, unknown>>(fromBase64Url(signed.statement));
    const forged = { ...signed, statement: toBase64Url(encode({ ...statement, result: { msg: "forged" } })) };
    assert.throws(() => verifySignedAnswer(forged, expect), invalid);
    assert.throws(() => verifySignedAnswer({ ...signed, signature: signed.statement }, expect), invalid);
    const replayed = { ...expect, challenge: toBase64Url(new Uint8Array(32)) };
    assert.throws(() => verifySignedAnswer(signed, replayed), invalid);
    const otherBody = signRequest(t.user, keyId(t.serviceKey), path, { id: 9 }).body;
    assert.throws(() => verifySignedAnswer(signed, { ...expect, body: otherBody }), invalid);
    assert.throws(() => verifySignedAnswer(signed, { ...expect, path: "/app/log/readPublic" }), invalid);
    assert.throws(() => verifySignedAnswer(signed, { ...expect, serviceKey: generateKeyPair() }), invalid);
    const stretched = { ...signed, node: { ...signed.node, validToMs: signed.node.validToMs + 1 } };
    assert.throws(() => verifySignedAnswer(stretched, expect), invalid);
    assert.throws(() => verifySignedAnswer(signed, { ...expect, nowMs: signed.node.validToMs + 1 }), invalid);
    assert.throws(() => verifySignedAnswer("garbage", expect), invalid);
  });

  it("the node refuses a malformed challenge, and a challenge on a write before it runs", async () => {
    const before = await t.settled();
    const request = signRequest(t.user, keyId(t.serviceKey), "/app/log/readPublic", { id: 8 });
    for (const bad of ["short", "!!!!", toBase64Url(new Uint8Array(65))]) {
      const answer = await t.post("/app/log/readPublic", request.body, {
        ...request.headers,
        [HEADER_ANSWER_CHALLENGE]: bad,
      });
      assert.equal(answer.code, "MalformedRequest", bad);
    }
    await assert.rejects(
      t.client().call("log", "writePublic", { id: 9, msg: "x" }, { signedAnswer: true }),
      (err) => isTreatyError(err, "MalformedRequest"),
    );
    assert.equal(await t.settled(), before, "nothing was written");
  });
});
