/**
 * sdk/json-exchange.ts `exchangeJson`, the one JSON request of `submitRecoveryShare` and the CLI's
 * remote commands: each failure is a TreatyError with the code the SDK's Client gives it, and the
 * caller's `noAnswer` (the CLI's) decides how a request without an answer is worded.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TreatyError } from "../../sdk/errors.js";
import { exchangeJson } from "../../sdk/json-exchange.js";
import { fakeFetch } from "../support/fake-node.js";

const NODE = "http://node.invalid:1";

async function failsWith(
  answer: Promise<unknown>,
  expected: { code: string; message: RegExp; details?: Record<string, unknown> },
): Promise<void> {
  await assert.rejects(answer, (err: unknown) => {
    assert.ok(err instanceof TreatyError, `a TreatyError, not ${String(err)}`);
    assert.equal(err.code, expected.code);
    assert.match(err.message, expected.message);
    assert.deepEqual(err.details, expected.details);
    return true;
  });
}

const throwing = (err: unknown) => async (): Promise<Response> => {
  throw err;
};

describe("exchangeJson", () => {
  it("answers the JSON of a 2xx answer, asking for JSON and sending the request as given", async () => {
    const node = fakeFetch(() => ({ json: { received: 1 } }));
    const body = new Uint8Array([1, 2, 3]);
    const answer = await exchangeJson(node.fetch, NODE, "/gov/recovery/shares", {
      method: "POST",
      body,
      headers: { "x-treaty-caller": "m1" },
    });
    assert.deepEqual(answer, { received: 1 });
    assert.equal(node.sent[0]!.method, "POST");
    assert.equal(node.sent[0]!.path, "/gov/recovery/shares");
    assert.deepEqual(node.sent[0]!.headers, { accept: "application/json", "x-treaty-caller": "m1" });
    assert.deepEqual(node.sent[0]!.body, body);
  });

  it("an error answer is its code, message and details", async () => {
    const details = { txid: "2.7" };
    const node = fakeFetch(() => ({
      status: 409,
      json: { error: { code: "Conflict", message: "no", details } },
    }));
    await failsWith(exchangeJson(node.fetch, NODE, "/x"), { code: "Conflict", message: /^no$/, details });
  });

  it("a non-2xx JSON answer without an error body is Internal, never a value", async () => {
    const node = fakeFetch(() => ({ status: 500, json: { received: 3 } }));
    await failsWith(exchangeJson(node.fetch, NODE, "/x"), { code: "Internal", message: /^HTTP 500$/ });
  });

  it("an answer that is not JSON is MalformedEncoding, an error status or not", async () => {
    for (const status of [200, 502]) {
      const node = fakeFetch(() => ({ status, text: "<html>bad gateway</html>" }));
      await failsWith(exchangeJson(node.fetch, NODE, "/node/status"), {
        code: "MalformedEncoding",
        message: new RegExp(`/node/status \\(HTTP ${status}\\): not valid JSON`),
      });
    }
  });

  it("no answer: Timeout for a TimeoutError, Unavailable for anything else (an AbortError too)", async () => {
    await failsWith(
      exchangeJson(throwing(new DOMException("no answer within 5 ms", "TimeoutError")), NODE, "/x"),
      {
        code: "Timeout",
        message: /^http:\/\/node\.invalid:1: no answer within 5 ms$/,
      },
    );
    await failsWith(exchangeJson(throwing(new DOMException("aborted", "AbortError")), NODE, "/x"), {
      code: "Unavailable",
      message: /: aborted$/,
    });
  });

  it("no answer goes through the caller's noAnswer when given", async () => {
    const aborted = new DOMException("aborted", "AbortError");
    let seen: unknown;
    await failsWith(
      exchangeJson(
        throwing(aborted),
        NODE,
        "/x",
        {},
        {
          noAnswer: (err) => {
            seen = err;
            return new TreatyError("Timeout", "past --timeout");
          },
        },
      ),
      { code: "Timeout", message: /^past --timeout$/ },
    );
    assert.equal(seen, aborted);
  });
});
