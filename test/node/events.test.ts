/**
 * A call's `emit()` events come back with its result: over HTTP (readwrite, forwarded or not,
 * and readonly), through the SDK's CallResult, and not at all when the call fails.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type bankContract from "../../contracts/examples/bank/index.js";
import type { Client } from "../../sdk/client.js";
import { TreatyError } from "../../sdk/errors.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("events delivered with a call's result", () => {
  let net: TestNode;
  let user: Client;
  let member: Client;
  before(async () => {
    net = await startTestNode();
    user = net.client();
    member = net.client(net.member);
  });
  after(() => net?.dispose());

  it("returns the events a readwrite call emitted, in order, through the SDK", async () => {
    const opened = await user.contract<typeof bankContract>("bank").openAccount({});
    assert.deepEqual(opened.events, [{ name: "accountOpened", data: { id: net.user.id } }]);
    assert.match(opened.txid!, /^[0-9]+\.[0-9]+$/);
    const minted = await member.call("bank", "mint", { to: net.user.id, amount: 70 });
    assert.deepEqual(minted.events, [{ name: "minted", data: { to: net.user.id, amount: 70 } }]);
  });

  it("returns an empty list when nothing was emitted, and nothing for a failed call", async () => {
    const read = await user.call("bank", "balance", {});
    assert.deepEqual(read.events, []);
    await assert.rejects(
      user.call("bank", "openAccount", {}),
      (err: unknown) => err instanceof TreatyError && err.code === "AccountExists",
    );
  });
});
