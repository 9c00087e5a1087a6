/**
 * `GET /gov/...` answers from the committed governance state only (docs/http.md): a member must
 * never act on a proposal, a ballot count or a table row that a view change could still roll
 * back. A single node with a long signature interval holds a governance write executed but not
 * committed; the reads do not show it until a signature commits it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseTxId } from "../../sdk/receipt.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair, keyId } from "../../sdk/keys.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("governance reads serve committed state", () => {
  let t: TestNode;
  before(async () => {
    // No signature comes by itself during the test: the leader's first one is at election.
    t = await startTestNode({ signatureIntervalMs: 10 * 60_000, signWhenIdle: false });
  });
  after(() => t?.dispose());

  it("a proposal executed but not committed is not read back until it commits", async () => {
    await t.settled();
    const gov = new Governance(t.client(t.member), t.member);
    const app = generateKeyPair("ed25519");
    const proposed = await gov.propose([actions.setUser(app, { name: "App" })]);
    const { view, seqno } = parseTxId(proposed.txid);
    assert.equal(t.node.replica.consensus.txStatus(view, seqno), "Pending", "the write is not committed yet");

    // The applied state has it (on the leader); the governance reads do not.
    await assert.rejects(gov.proposal(proposed.proposalId), (e) => isTreatyError(e, "UnknownProposal"));
    assert.ok(!(await gov.proposals()).some((p) => p.proposalId === proposed.proposalId));
    assert.ok(!(await gov.users()).some((u) => u.id === keyId(app)));
    assert.equal(t.node.replica.consensus.txStatus(view, seqno), "Pending", "still not committed");

    // A signature now (as at an election) commits it: the reads show it.
    t.node.sequencer.onBecameLeader();
    await t.node.sequencer.maybeSign();
    await t.client().waitForCommit(proposed.txid);
    const detail = await gov.proposal(proposed.proposalId);
    assert.equal(detail.state, proposed.state);
    assert.equal(
      (await gov.users()).some((u) => u.id === keyId(app)),
      proposed.state === "Accepted",
    );
  });
});
