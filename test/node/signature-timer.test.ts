/**
 * The signature timer (`sequencer.maybeSign` every half signature interval) runs only on the
 * node that leads: a follower's would wake it a hundred times a second for a check that always
 * finds it does not lead. When the leader goes, the new leader starts its timer and signs.
 *
 * No timing assertion: the leader's own timer calls are the clock (a follower's timer, were it
 * running, would fire as often as the leader's).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TreatyNode } from "../../node/service.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { memoryNodes, startLogNetwork, until } from "../support/memory-nodes.js";

const member = generateKeyPair("ed25519");
const user = generateKeyPair("ed25519");
const nodes = memoryNodes({
  dir: () => dir,
  config: (index, dir) => ({
    identityFile: join(dir, `node${index}.identity.json`),
    sealing: { provider: "virtual", keyFile: join(dir, `node${index}.sealing.key`) },
  }),
});
let dir: string;

/** Counts the node's `sequencer.maybeSign` calls from now on (the timer's and the role change's). */
function countSignChecks(node: TreatyNode): { readonly calls: number } {
  const counter = { calls: 0 };
  const original = node.sequencer.maybeSign.bind(node.sequencer);
  node.sequencer.maybeSign = () => {
    counter.calls++;
    return original();
  };
  return counter;
}

describe("the signature timer runs on the leader only", () => {
  let leader: TreatyNode;
  let followers: [TreatyNode, TreatyNode];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-signature-timer-"));
    ({ leader, followers } = await startLogNetwork(nodes, member, user));
  });

  after(async () => {
    await nodes.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs on the leader and not on its followers", async () => {
    assert.equal(leader.signatureTimerRunning, true);
    for (const f of followers) assert.equal(f.signatureTimerRunning, false);
    const onLeader = countSignChecks(leader);
    const onFollowers = followers.map(countSignChecks);
    await until("ten signature checks on the leader", () => onLeader.calls >= 10);
    assert.deepEqual(
      onFollowers.map((c) => c.calls),
      [0, 0],
    );
  });

  it("moves to the next leader when the leader stops", async () => {
    await leader.stop();
    nodes.running.delete(leader);
    assert.equal(leader.signatureTimerRunning, false, "a stopped node runs no timer");
    const next = await until("a new leader", () =>
      followers.find((f) => f.replica.consensus.status().role === "Leader"),
    );
    const other = followers.find((f) => f !== next)!;
    assert.equal(next.signatureTimerRunning, true);
    assert.equal(other.signatureTimerRunning, false);
    const onNext = countSignChecks(next);
    const onOther = countSignChecks(other);
    // The new leader signs in its view (consensus commits only at such a signature).
    const view = next.replica.consensus.status().view;
    await until("a signature in the new view", () => next.ledger.lastSignature?.view === view);
    await until("ten signature checks on the new leader", () => onNext.calls >= 10);
    assert.equal(onOther.calls, 0);
  });
});
