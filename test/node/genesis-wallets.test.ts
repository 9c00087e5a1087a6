/**
 * Ethereum wallets in the genesis config: a wallet user and a wallet member recorded by address
 * from the first entry on, as `set_user {address}` / `set_member {address}` would record them;
 * the user calls with EIP-191 signatures (ethers), the member votes. An identity listed twice, or
 * as both member and user, is refused before anything is written.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Wallet } from "ethers";
import { toHex } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { identityRows } from "../../node/genesis-identities.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("genesis identities", () => {
  const key = generateKeyPair();
  const keyEntry = { curve: key.curve, publicKey: toHex(key.publicKey) };
  const address = `0x${"ab".repeat(20)}`;

  it("records wallets by address, keys by key id, with set_member's and set_user's records", () => {
    const rows = identityRows(
      [keyEntry, { address, data: { name: "dao" } }],
      [{ address: `0x${"cd".repeat(20)}` }],
    );
    assert.deepEqual(rows.members, [
      [key.id, { ...keyEntry, status: "active" }],
      [address, { address, data: { name: "dao" }, status: "active" }],
    ]);
    assert.deepEqual(rows.users, [[`0x${"cd".repeat(20)}`, { address: `0x${"cd".repeat(20)}` }]]);
  });

  it("refuses an identity listed twice or in both roles, naming the entry", () => {
    const refused = (members: unknown[], users: unknown[], message: RegExp) =>
      assert.throws(
        () => identityRows(members as never, users as never),
        (e) => isTreatyError(e, "MalformedRequest") && message.test(e.message),
      );
    refused([keyEntry], [keyEntry], /^genesis\.users\[0\]: .* is already genesis\.members\[0\]/);
    refused([{ address }], [{ address }], /^genesis\.users\[0\]: 0xabab.* is already genesis\.members\[0\]/);
    refused([keyEntry, keyEntry], [], /^genesis\.members\[1\]: .* is already genesis\.members\[0\]/);
  });
});

describe("a service founded with wallet members and users", () => {
  const member = Wallet.createRandom();
  const user = Wallet.createRandom();
  let t: TestNode;

  before(async () => {
    t = await startTestNode({
      extraGenesis: {
        members: [{ address: member.address, data: { name: "dao" } }],
        users: [{ address: user.address }],
      },
    });
  });
  after(() => t?.dispose());

  it("the wallet user calls contracts as its address", async () => {
    const client = t.client(null, {
      wallet: { address: user.address, signText: (text) => user.signMessage(text) },
    });
    const { txid } = await client.call("log", "writePrivate", { id: 1, msg: "founded" });
    await client.waitForCommit(txid);
    assert.deepEqual((await client.call("log", "readPrivate", { id: 1 })).result, { msg: "founded" });
  });

  it("the wallet member is listed by address and its ballot counts", async () => {
    const keyMember = new Governance(t.client(t.member), t.member);
    const listed = (await keyMember.members()).find((m) => m.id === member.address.toLowerCase());
    assert.ok(listed !== undefined && "address" in listed, "listed by address");
    assert.equal(listed.name, "dao");
    // Two members: a strict majority is both, so the wallet's ballot decides.
    const { proposalId } = await keyMember.propose([actions.setUser(generateKeyPair())]);
    assert.equal((await keyMember.vote(proposalId, "for")).state, "Open");
    const wallet = new Governance(t.client(null), {
      address: member.address,
      signText: (text) => member.signMessage(text),
    });
    assert.equal((await wallet.vote(proposalId, "for")).state, "Accepted");
  });
});
