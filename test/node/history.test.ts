/**
 * Historical queries (issue 14): a readonly method run at the state as of a committed txid
 * returns the old value with that txid's receipt (which verifies); states older than the
 * node's history window are refused with HistoryUnavailable; hostile `at` values get coded
 * errors; the CLI's `--at` does the same.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Client } from "../../sdk/client.js";
import { TreatyError } from "../../sdk/errors.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { runCall } from "../../node/cli/call.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { toKeyFile } from "../../sdk/keys.js";
import { startTestNode, type TestNode } from "../support/node.js";

const WINDOW = 40;

describe("historical queries", () => {
  let net: TestNode;
  let user: Client;
  const writes: string[] = [];
  before(async () => {
    net = await startTestNode({ history: { windowEntries: WINDOW } });
    user = net.client();
    for (let i = 0; i < 3; i++) {
      const { txid } = await user.call("log", "writePrivate", { id: 1, msg: `version ${i}` });
      await user.waitForCommit(txid);
      writes.push(txid);
    }
    await net.settled();
  });
  after(() => net?.dispose());

  it("reads the old value at a committed txid, with a receipt of that txid that verifies", async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await user.call<{ msg: string }>("log", "readPrivate", { id: 1 }, { at: writes[i]! });
      assert.deepEqual(answer.result, { msg: `version ${i}` });
      assert.equal(answer.txid, writes[i]);
      const proved = verifyReceipt(answer.receipt, net.serviceKey, { txid: writes[i]! });
      assert.equal(proved.txid, writes[i]);
    }
    const now = await user.call<{ msg: string }>("log", "readPrivate", { id: 1 });
    assert.deepEqual(now.result, { msg: "version 2" });
  });

  it("supports --at in treaty call", async () => {
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: () => undefined, fetch: globalThis.fetch };
    const keyFile = join(net.dir, "user.key.json");
    writeFileSync(keyFile, JSON.stringify(toKeyFile(net.user)));
    const code = await runCall(
      ["log", "readPrivate", "--args", '{"id": 1}', "--at", writes[0]!, "--node", net.url, "--key", keyFile],
      io,
    );
    assert.equal(code, 0);
    const printed = JSON.parse(out.join("")) as { result: unknown; txid: string; receipt: unknown };
    assert.deepEqual(printed.result, { msg: "version 0" });
    assert.equal(printed.txid, writes[0]);
    verifyReceipt(printed.receipt, net.serviceKey, { txid: writes[0]! });
  });

  it("refuses states older than the window, writes at a txid, and hostile txids, with codes", async () => {
    for (let i = 0; i < WINDOW; i++) {
      const { txid } = await user.call("log", "writePublic", { id: 2, msg: `filler ${i}` });
      if (i === WINDOW - 1) await user.waitForCommit(txid);
    }
    await net.settled();
    // Sent one at a time: a refusal that arrived while an earlier one was awaited would have no
    // handler yet (an unhandled rejection fails the test file).
    const refusals: [() => Promise<unknown>, string][] = [
      [() => user.call("log", "readPrivate", { id: 1 }, { at: writes[0]! }), "HistoryUnavailable"],
      [() => user.call("log", "writePublic", { id: 3, msg: "x" }, { at: writes[0]! }), "InvalidArgs"],
      [() => user.call("log", "readPrivate", { id: 1 }, { at: "banana" }), "InvalidArgs"],
      [() => user.call("log", "readPrivate", { id: 1 }, { at: "1.999999" }), "TxNotCommitted"],
      [
        () => user.call("log", "readPrivate", { id: 1 }, { at: `77.${writes[2]!.split(".")[1]}` }),
        "TxNotFound",
      ],
    ];
    for (const [call, code] of refusals) {
      await assert.rejects(call(), (err: unknown) => err instanceof TreatyError && err.code === code, code);
    }
  });
});
