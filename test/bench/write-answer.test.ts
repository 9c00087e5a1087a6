/**
 * bench/write-answer.ts: which answers to a signed write bench:network sends again (by code),
 * which give the write's txid (a Replay only to a resend), and which end the run. Bodies are the
 * node's own error bodies (TreatyError.toJSON); resentCode, which reads use too.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyWriteAnswer, resentCode } from "../../bench/write-answer.js";
import { httpStatus } from "../../node/http/status.js";
import { TreatyError } from "../../sdk/errors.js";

/** The node's answer to a request that failed with `code` (status and JSON body). */
function refusal(code: string, details?: Record<string, unknown>): [number, string] {
  const error = new TreatyError(code, `${code} happened`, details);
  return [httpStatus(error.code), JSON.stringify(error.toJSON())];
}

describe("classifyWriteAnswer", () => {
  it("takes the txid of a 200", () => {
    assert.deepEqual(classifyWriteAnswer(200, JSON.stringify({ result: null, txid: "2.17" }), 1), {
      kind: "txid",
      txid: "2.17",
      replayed: false,
    });
  });

  it("sends NotLeader, OutcomeUnknown and Unavailable again, by code", () => {
    for (const code of ["NotLeader", "OutcomeUnknown", "Unavailable"] as const) {
      const [status, text] = refusal(code);
      assert.equal(status, 503);
      assert.deepEqual(classifyWriteAnswer(status, text, 1), { kind: "resend", code });
      assert.deepEqual(classifyWriteAnswer(status, text, 7), { kind: "resend", code });
    }
  });

  it("takes the named txid of a Replay answering a resend", () => {
    const [status, text] = refusal("Replay", { txid: "3.40" });
    assert.equal(status, 409);
    assert.deepEqual(classifyWriteAnswer(status, text, 2), { kind: "txid", txid: "3.40", replayed: true });
  });

  it("fails a Replay of a first send, or one naming no txid", () => {
    const [status, text] = refusal("Replay", { txid: "3.40" });
    assert.equal(classifyWriteAnswer(status, text, 1).kind, "failed");
    const [bareStatus, bare] = refusal("Replay");
    assert.equal(classifyWriteAnswer(bareStatus, bare, 2).kind, "failed");
  });

  it("fails other refusals, a 503 of another code, a 200 without a txid and a body that is not JSON", () => {
    for (const code of ["BadSignature", "Forbidden", "ServiceNotOpen", "Internal", "Conflict"]) {
      const [status, text] = refusal(code);
      const answer = classifyWriteAnswer(status, text, 2);
      assert.equal(answer.kind, "failed", code);
      assert.match((answer as { message: string }).message, new RegExp(code));
    }
    assert.equal(classifyWriteAnswer(200, JSON.stringify({ result: 1 }), 1).kind, "failed");
    assert.equal(classifyWriteAnswer(503, "<html>Service Unavailable</html>", 1).kind, "failed");
  });
});

describe("resentCode", () => {
  it("names the resent codes of a 503, from the text or the parsed error", () => {
    const [status, text] = refusal("Unavailable");
    assert.equal(resentCode(status, text), "Unavailable");
    assert.equal(resentCode(503, { code: "NotLeader", message: "moved" }), "NotLeader");
  });

  it("is undefined for other statuses and codes, and for bodies that are not Treaty's", () => {
    assert.equal(resentCode(200, JSON.stringify({ result: 1, txid: "2.3" })), undefined);
    assert.equal(resentCode(...refusal("ServiceNotOpen")), undefined);
    assert.equal(resentCode(500, JSON.stringify({ error: { code: "Unavailable", message: "" } })), undefined);
    assert.equal(resentCode(503, "upstream unavailable"), undefined);
    assert.equal(
      resentCode(503, JSON.stringify({ error: "etcdserver: leader changed", code: 14 })),
      undefined,
    );
  });
});
