/**
 * How `treaty status` (and every command reading through `fetchJson`: receipt, the governance
 * reads, recovery share's status) reports a node's failed answer, against a scripted fetch:
 * stdout `{"error": {code, message, details?}}`, a line on stderr, exit 1. The real-node cases
 * (refused connection, a node that never answers) are in test/cli/node-cli.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EXIT_FAILED } from "../../node/cli/command.js";
import { runStatus } from "../../node/cli/status.js";
import { captureIo } from "../support/cli.js";
import { fakeFetch, type FakeAnswer } from "../support/fake-node.js";

const NODE = "http://node.invalid:1";

async function status(
  fetchImpl: typeof fetch,
): Promise<{ code: number; error: { code: string; message: string; details?: unknown }; stderr: string }> {
  const captured = captureIo(fetchImpl);
  const code = await runStatus(["--node", NODE, "--timeout", "250"], captured.io);
  const { error } = JSON.parse(captured.out()) as {
    error: { code: string; message: string; details?: unknown };
  };
  return { code, error, stderr: captured.err() };
}

const answering = (answer: FakeAnswer) => fakeFetch(() => answer).fetch;
const throwing = (err: unknown) => async (): Promise<Response> => {
  throw err;
};

describe("treaty status: a node's failed answer", () => {
  it("an error answer keeps its code, message and details", async () => {
    const details = { retryAfterMs: 100 };
    const run = await status(
      answering({ status: 503, json: { error: { code: "ServiceNotOpen", message: "opening", details } } }),
    );
    assert.equal(run.code, EXIT_FAILED);
    assert.deepEqual(run.error, { code: "ServiceNotOpen", message: "opening", details });
    assert.match(run.stderr, /^treaty status: ServiceNotOpen: opening\n$/);
  });

  it("an error status without an error body is Internal", async () => {
    const run = await status(answering({ status: 502, json: {} }));
    assert.deepEqual(run.error, { code: "Internal", message: "HTTP 502" });
  });

  it("an error answer that is not JSON (a proxy's page) is MalformedEncoding", async () => {
    const run = await status(answering({ status: 502, text: "<html>bad gateway</html>" }));
    assert.equal(run.error.code, "MalformedEncoding");
    assert.match(run.error.message, /^http:\/\/node\.invalid:1\/node\/status \(HTTP 502\): not valid JSON$/);
  });

  it("a timeout is worded with --timeout's value, an AbortError as one too", async () => {
    for (const err of [
      new DOMException("The operation was aborted due to timeout", "TimeoutError"),
      new DOMException("This operation was aborted", "AbortError"),
    ]) {
      const run = await status(throwing(err));
      assert.deepEqual(run.error, { code: "Timeout", message: `${NODE}: no answer within 250 ms` }, err.name);
    }
  });

  it("no answer otherwise is Unavailable, in the words of its cause", async () => {
    const refused = new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:1") });
    const run = await status(throwing(refused));
    assert.deepEqual(run.error, {
      code: "Unavailable",
      message: `${NODE}: connect ECONNREFUSED 127.0.0.1:1`,
    });
  });
});
