/**
 * "Committed" means this node can act on it: a node answers Committed (for `/node/tx`, its long
 * poll, and the commit point its committed reads use) only up to the commit point it has folded
 * into its governance view, not the consensus core's, which can run ahead of it.
 *
 * Deterministic: a follower's durable step is held (its `ledger.persistAsync` resolves only
 * when the test says so; the write itself goes ahead), so its consensus core learns the leader's
 * commit point from the appends while the node cannot fold that commit (the replica folds a
 * Ready's commit once its entries are durable, node/replica.ts).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import type { TreatyNode } from "../../node/service.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { holdDurable, logNetwork, until } from "../support/memory-nodes.js";

const net = logNetwork("treaty-committed-folded-");
const { member, user } = net;

const seqnoOf = (txid: string) => Number(txid.split(".")[1]);

describe("Committed is what the node has folded", () => {
  let leader: TreatyNode;
  let follower: TreatyNode;
  const clientOf = (node: TreatyNode, key = member) => net.client(node, key);

  before(async () => {
    [leader, follower] = await net.start();
  });
  after(() => net.stop());

  it("a follower whose core learned a commit it has not folded answers Pending, then Committed once folded", async () => {
    const held = holdDurable(follower);
    try {
      const gov = new Governance(clientOf(leader), member);
      const { proposalId, txid } = await gov.propose([actions.setUser(generateKeyPair())]);
      const written = await clientOf(leader, user)
        .contract<typeof logContract>("log")
        .writePublic({ id: 1, msg: "one" });
      const last = Math.max(seqnoOf(txid), seqnoOf(written.txid!));
      await clientOf(leader).waitForCommit(written.txid!);
      await until("the follower's consensus core to learn the commit", () =>
        follower.replica.consensus.status().commitSeqno >= last ? true : undefined,
      );
      // The node has not folded it: its governance view lacks the proposal...
      assert.equal(follower.gov.proposal(proposalId), undefined);
      assert.ok(follower.committedSeqno < seqnoOf(txid), "the fold is held");
      // ...so it must not call it Committed, neither at once nor after a (short) long poll.
      const answer = clientOf(follower);
      assert.equal(await answer.txStatus(txid), "Pending");
      assert.equal(await answer.txStatus(txid, { waitMs: 50 }), "Pending");
      // A committed read reads at the folded commit point: the write is not there yet.
      const read = await clientOf(follower, user)
        .contract<typeof logContract>("log")
        .readPublic({ id: 1 })
        .then(
          (r) => r,
          (err: unknown) => err,
        );
      assert.ok(isTreatyError(read, "MessageNotFound"), `expected MessageNotFound, got ${String(read)}`);

      // A long poll started while held answers Committed once the node folded the commit.
      const polled = answer.txStatus(txid, { waitMs: 10_000 });
      held.release();
      assert.equal(await polled, "Committed");
      assert.ok(follower.gov.proposal(proposalId) !== undefined, "folded when answered Committed");
      await answer.waitForCommit(written.txid!);
      const after = await clientOf(follower, user).contract<typeof logContract>("log").readPublic({ id: 1 });
      assert.deepEqual(after.result, { msg: "one" });
    } finally {
      held.release();
    }
  });

  it("a write forwarded by a follower that answered Committed is admitted once the leader folded as far", async () => {
    const held = holdDurable(leader);
    const commitReached = leader.reads.commitReached;
    try {
      // The followers commit without the leader's disk; the leader cannot fold meanwhile.
      const gov = new Governance(clientOf(leader), member);
      const newcomer = generateKeyPair("ed25519");
      const { proposalId } = await gov.propose([actions.setUser(newcomer)]);
      const decided = await gov.vote(proposalId, "for");
      assert.equal(decided.state, "Accepted");
      await clientOf(follower).waitForCommit(decided.txid);
      assert.ok(follower.gov.user(newcomer.id) !== undefined, "the follower folded the new user");
      assert.ok(leader.committedSeqno < seqnoOf(decided.txid), "the leader's fold is held");
      assert.equal(leader.gov.user(newcomer.id), undefined);

      // The newcomer's first write, to the node that answered Committed: forwarded to the leader,
      // which holds it until its fold reaches the follower's (then the test lets it fold).
      let holding!: () => void;
      const held_ = new Promise<void>((resolve) => {
        holding = resolve;
      });
      leader.reads.commitReached = function (this: typeof leader.reads, seqno, timeoutMs) {
        holding();
        return commitReached.call(this, seqno, timeoutMs);
      };
      const outcome = clientOf(follower, newcomer)
        .contract<typeof logContract>("log")
        .writePublic({ id: 2, msg: "two" })
        .then(
          (answer) => answer,
          (err: unknown) => err,
        );
      await Promise.race([held_, outcome]);
      held.release();
      const answer = await outcome;
      assert.ok(!(answer instanceof Error), `the newcomer was refused: ${String(answer)}`);
      assert.ok(typeof (answer as { txid?: unknown }).txid === "string");
    } finally {
      leader.reads.commitReached = commitReached;
      held.release();
    }
  });
});
