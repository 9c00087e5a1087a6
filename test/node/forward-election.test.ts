/**
 * A forward right after an election. A new leader's folded commit point can trail a follower's:
 * it learns the old leader's last commits only with its own first commit in its view (a leader
 * commits nothing, not even older entries, before one of its own view commits). A write
 * forwarded by a follower that folded further carries that point, and the new leader holds it
 * until its fold gets there. What releases it is the new leader's first commit in its view: the
 * point is within its log (a leader holds every committed entry) and it proposes a signature
 * as soon as it is elected (node/sequencer.ts `onBecameLeader`), so the wait lasts one
 * replication round, not the 2 s bound.
 *
 * Deterministic: the election is started by handing the successor the `timeoutNow` a retiring
 * leader sends (no node campaigns on its own: long election timeouts; the founder, alone in its
 * configuration, campaigns on its first tick), and its appends are held back by the
 * memory network until the test lets them go, so its first commit in its view comes exactly when
 * the test says.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import type { TreatyNode } from "../../node/service.js";
import { decodeFrame, FrameKind } from "../../node/transport/frame.js";
import { logNetwork, until } from "../support/memory-nodes.js";
import {
  answerCode,
  captureTransports,
  codeOf,
  forwardRaw,
  outcome,
  signedWrite,
} from "./forward-harness.js";

const net = logNetwork("treaty-forward-election-", {
  // No node campaigns on its own while the test holds the new leader's appends back (the
  // founder, alone in its configuration, campaigns on its first tick whatever the timeout).
  config: () => ({ consensus: { electionTimeoutMs: { min: 5_000, max: 6_000 } } }),
});
const { user } = net;
const { network } = net.nodes;

describe("a forward right after an election", () => {
  let oldLeader: TreatyNode;
  let forwarder: TreatyNode;
  let successor: TreatyNode;
  const transportsOf = captureTransports(network);
  const clientOf = (node: TreatyNode) => net.client(node);

  before(async () => {
    [oldLeader, forwarder, successor] = await net.start();
  });
  after(() => {
    network.setDropFilter(undefined);
    return net.stop();
  });

  it("is held until the new leader's first commit in its view, not the bound", async () => {
    const written = await clientOf(oldLeader)
      .contract<typeof logContract>("log")
      .writePublic({ id: 1, msg: "old" });
    await clientOf(successor).waitForCommit(written.txid!);

    // The new leader's appends (consensus messages, frame kind 0) do not reach anyone, so it
    // cannot commit in its view; its votes and its answers to requests still go out.
    const id = successor.identity.id;
    network.setDropFilter(
      (publisher, _to, frame) =>
        publisher === id &&
        successor.replica.consensus.status().role === "Leader" &&
        decodeFrame(frame)?.header.k === FrameKind.Message,
    );
    const commitReached = successor.reads.commitReached;
    const waits: { seqno: number; result?: "reached" | "timeout" | "busy" }[] = [];
    successor.reads.commitReached = async function (this: typeof successor.reads, seqno, timeoutMs) {
      const wait: (typeof waits)[number] = { seqno };
      waits.push(wait);
      wait.result = await commitReached.call(this, seqno, timeoutMs);
      return wait.result;
    };
    try {
      // The old leader hands over (as a retiring one does): the successor campaigns at once.
      successor.replica.consensus.step({
        type: "timeoutNow",
        from: oldLeader.identity.id,
        to: id,
        view: oldLeader.replica.consensus.status().view,
      });
      successor.replica.process();
      await until("the successor to lead", () =>
        successor.replica.consensus.status().role === "Leader" ? true : undefined,
      );
      // It proposed its first signature at once (node/sequencer.ts onBecameLeader).
      const status = await until("the new leader's first entry", () => {
        const now = successor.replica.consensus.status();
        return now.lastView === now.view ? now : undefined;
      });
      assert.equal(successor.replica.consensus.committedInView(), false);
      assert.ok(successor.committedSeqno < status.lastSeqno);

      // A forward whose point is in the new leader's log past its fold (a follower that folded
      // the old leader's last commits before the new leader learned them is such a point).
      const request = signedWrite(user, successor.serviceId, "/app/log/writePublic", { id: 2, msg: "new" });
      const answer = outcome(
        forwardRaw(transportsOf, forwarder, successor, { ...request, committed: status.lastSeqno }),
      );
      const wait = await until("the new leader to hold the forward", () => waits[0]);
      assert.equal(wait.seqno, status.lastSeqno);
      assert.equal(wait.result, undefined, "still held");

      // Its appends flow again: its first commit in its view folds past the point and releases it.
      network.setDropFilter(undefined);
      const settled = await answer;
      assert.ok("ok" in settled, `the forward failed: ${codeOf(settled)}`);
      assert.equal(answerCode(settled.ok), "ok");
      assert.equal(wait.result, "reached", "released by the new leader's commit, not the 2 s bound");
      assert.ok(successor.replica.consensus.committedInView());
      assert.ok(successor.committedSeqno >= status.lastSeqno);
    } finally {
      network.setDropFilter(undefined);
      successor.reads.commitReached = commitReached;
    }
  });
});
