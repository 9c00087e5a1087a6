/**
 * sdk/recovery.ts `submitRecoveryShare` reports every failure to reach a node as a TreatyError
 * with the code the SDK's Client gives it (docs/recovery.md): no answer is Unavailable, a fetch
 * that gave up at its deadline Timeout, an answer that is not JSON MalformedEncoding, an error
 * answer its own code (Internal without an error body). Apps calling it get a code, never a bare
 * TypeError or SyntaxError.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TreatyError } from "../../sdk/errors.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { generateEncryptionKeyPair, submitRecoveryShare } from "../../sdk/recovery.js";

const NODE = "http://node.invalid:1";

function submit(fetchImpl: typeof fetch) {
  const member = generateKeyPair();
  return submitRecoveryShare({
    node: NODE,
    member,
    encryption: generateEncryptionKeyPair(),
    serviceKey: generateKeyPair(),
    fetch: fetchImpl,
  });
}

async function refusedWith(fetchImpl: typeof fetch, code: string, message: RegExp): Promise<void> {
  await assert.rejects(submit(fetchImpl), (err: unknown) => {
    assert.ok(err instanceof TreatyError, `a TreatyError, not ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe("submitRecoveryShare's failures", () => {
  it("no answer (connection refused) is Unavailable", async () => {
    await refusedWith(
      async () => {
        throw new TypeError("fetch failed");
      },
      "Unavailable",
      /^http:\/\/node\.invalid:1: fetch failed$/,
    );
  });

  it("a fetch past its deadline is Timeout", async () => {
    await refusedWith(
      async () => {
        throw new DOMException("no answer within 300 ms", "TimeoutError");
      },
      "Timeout",
      /no answer within 300 ms/,
    );
  });

  it("an answer that is not JSON (a proxy's error page) is MalformedEncoding", async () => {
    await refusedWith(
      async () => new Response("<html>bad gateway</html>", { status: 502 }),
      "MalformedEncoding",
      /\/node\/status \(HTTP 502\): not valid JSON/,
    );
  });

  it("a body cut off while it is read is Unavailable", async () => {
    const cut = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"state":'));
        controller.error(new TypeError("terminated"));
      },
    });
    await refusedWith(async () => new Response(cut), "Unavailable", /terminated/);
  });

  it("an error answer keeps its code; a node not recovering is Conflict", async () => {
    await refusedWith(
      async () => Response.json({ error: { code: "Forbidden", message: "no" } }, { status: 403 }),
      "Forbidden",
      /^no$/,
    );
    await refusedWith(async () => Response.json({ state: "PartOfNetwork" }), "Conflict", /not waiting/);
  });

  it("an error status without an error body is Internal, never read as the node's answer", async () => {
    // A proxy's `{}` 502 was the status of a node "not waiting" (Conflict), and on the submission
    // a share count of undefined: the status now decides.
    await refusedWith(async () => Response.json({}, { status: 502 }), "Internal", /^HTTP 502$/);
  });
});
