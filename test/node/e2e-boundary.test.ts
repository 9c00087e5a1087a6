/**
 * The trust boundary against a real node (issue 9): for every class of hostile call (deep, wide,
 * huge, slow, forged, state-filling), the call fails with its coded error and status, nothing is
 * written, the execution worker is never restarted, and the next honest call succeeds at once.
 * Hostile contracts are the fixtures of test/fixtures/contracts, deployed at genesis.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import type { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { CONTENT_JSON, CONTENT_MSGPACK } from "../../sdk/request.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { DEFAULT_LIMITS } from "../../runtime/sandbox/limits.js";
import { startTestNode, type TestNode } from "../support/node.js";

const FIXTURES = join(findPackageRoot(), "test", "fixtures", "contracts");

describe("hostile calls against one node: the next honest call succeeds at once", () => {
  let net: TestNode;
  let user: Client;
  let anonymous: Client;
  let nextId = 5000;

  before(async () => {
    net = await startTestNode({
      extraContracts: [
        { name: "forged", path: join(FIXTURES, "forged-output") },
        { name: "abuse", path: join(FIXTURES, "api-abuse") },
        { name: "natives", path: join(FIXTURES, "native-builtins") },
      ],
    });
    user = net.client(undefined, { retries: 1 });
    anonymous = net.client(null, { retries: 1 });
  });
  after(async () => {
    await net?.dispose();
  });

  /** The error code `promise` rejects with (fails the test when it resolves). */
  async function codeOf(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
    } catch (err) {
      assert.ok(isTreatyError(err), String(err));
      return err.code;
    }
    assert.fail("the hostile call succeeded");
  }

  /**
   * Runs one hostile call and checks the whole contract: its code is one of `codes`, nothing was
   * appended, no worker restart, the node did not stop, and honest calls (a write, an anonymous
   * read) succeed right after.
   */
  async function hostile(call: () => Promise<unknown>, codes: readonly string[]): Promise<void> {
    const lastSeqno = await net.settled();
    const restarts = net.node.execution.stats().restarts;
    const code = await codeOf(call());
    assert.ok(codes.includes(code), `got ${code}, expected ${codes.join(" or ")}`);
    assert.equal(net.node.ledger.lastSeqno, lastSeqno, "nothing was appended");
    assert.equal(net.node.execution.stats().restarts, restarts, "the execution worker was not restarted");
    assert.equal(net.node.failed, false, "the node keeps running");
    const write = await user.call("log", "writePublic", { id: nextId++, msg: "honest" });
    assert.ok(write.txid !== undefined);
    assert.equal((await anonymous.call("forged", "ok")).result, "ok");
  }

  it("deep: a 10k-deep result of an anonymous read, a 200k-deep event, a deep KV value", async () => {
    await hostile(() => anonymous.call("forged", "deepResult", { depth: 10_000 }), ["ValueTooDeep"]);
    await hostile(() => user.call("forged", "deepEvent", { depth: 200_000 }), ["ValueTooDeep"]);
    await hostile(() => user.call("forged", "deepValue", { depth: 1000 }), ["ValueTooDeep"]);
  });

  it("wide and huge: too many values, too many keys, a result over the cap", async () => {
    await hostile(() => anonymous.call("forged", "wideResult", { count: 300_000 }), ["ValueTooLarge"]);
    await hostile(() => anonymous.call("forged", "hugeResult", { bytes: 2 << 20 }), ["PayloadTooLarge"]);
    // Each value is under the cap, together they would not fit one ledger entry.
    await hostile(() => user.call("forged", "manyValues", { count: 3, bytes: 400_000 }), ["PayloadTooLarge"]);
  });

  it("slow: native builtins over large inputs stop within the call's budget", async () => {
    for (const method of [
      "stringIncludes",
      "copyWithin",
      "sort",
      "padStart",
      "typedArrays",
      "jsonStringify",
    ]) {
      await hostile(() => anonymous.call("natives", method), ["ExecutionLimit", "MemoryLimit"]);
    }
    await hostile(() => anonymous.call("natives", "bigint"), ["ContractFault"]);
  });

  it("forged: reserved codes from any route become InvalidErrorCode (422), sent once, never retried", async () => {
    let requests = 0;
    const counting = net.client(null, {
      retries: 5,
      fetch: (input, init) => {
        requests++;
        return fetch(input, init);
      },
    });
    for (const code of [
      "Unavailable",
      "NotLeader",
      "ServiceNotOpen",
      "OutcomeUnknown",
      "Replay",
      "Timeout",
      "LedgerCorrupt",
    ]) {
      requests = 0;
      await hostile(() => counting.call("forged", "forge", { code }), ["InvalidErrorCode"]);
      assert.equal(requests, 1, "a contract's error is never retried");
      await hostile(() => counting.call("abuse", "apiError", { code }), ["InvalidErrorCode"]);
      await hostile(() => user.call("abuse", "reassignCode", { code }), ["InvalidErrorCode"]);
      await hostile(() => user.call("forged", "forgeWrite", { code }), ["InvalidErrorCode"]);
    }
    const answer = await net.post("/app/forged/forge", utf8.encode('{"args":{"code":"Unavailable"}}'), {
      "content-type": CONTENT_JSON,
    });
    assert.equal(answer.status, 422);
    assert.equal(answer.code, "InvalidErrorCode");
  });

  it("state: anonymous calls cannot fill the API's memory for later calls", async () => {
    const body = "a".repeat(40_000);
    for (let i = 0; i < 120; i++) {
      const { result } = await anonymous.call("abuse", "match", {
        pattern: `^(?:${i}|${body})$`,
        value: "x",
      });
      assert.equal(result, false);
    }
    const { txid } = await user.call("abuse", "keep", { value: "after" });
    assert.ok(txid !== undefined);
  });

  it("envelope: a malformed path escape is 400, a key twice (JSON or MessagePack) is MalformedEncoding, a value at the cap commits", async () => {
    const bad = await net.post("/app/log/%", utf8.encode("{}"), { "content-type": CONTENT_JSON });
    assert.equal(bad.status, 400);
    assert.equal(bad.code, "MalformedRequest");
    const twice = await net.post("/app/forged/ok", utf8.encode('{"args":{},"args":{"x":1}}'), {
      "content-type": CONTENT_JSON,
    });
    assert.equal(twice.status, 400);
    assert.equal(twice.code, "MalformedEncoding");
    // The same in MessagePack: {args: {}, args: {x: 1}} (plain decoding would keep the last one).
    const args = [0xa4, ...utf8.encode("args")];
    const packed = new Uint8Array([0x82, ...args, 0x80, ...args, 0x81, 0xa1, 0x78, 0x01]);
    const twicePacked = await net.post("/app/forged/ok", packed, { "content-type": CONTENT_MSGPACK });
    assert.equal(twicePacked.status, 400);
    assert.equal(twicePacked.code, "MalformedEncoding");
    // The value's JSON ("..." with its quotes) is exactly the documented maxValueBytes.
    const value = "x".repeat(DEFAULT_LIMITS.maxValueBytes - 2);
    const { result, txid } = await user.call("abuse", "keep", { value });
    assert.equal(result, value.length);
    assert.ok(txid !== undefined);
    const over = await codeOf(user.call("abuse", "keep", { value: `${value}x` }));
    assert.equal(over, "ValueTooLarge");
  });
});
