/**
 * The install-snapshot path of the core: when a leader offers a snapshot instead of appends, what
 * a follower asks its driver, what it refuses while installing, and the rules `offerSnapshot`
 * and `snapshotInstalled` enforce. Scenario files show the same steps message by message
 * (test/scenarios/consensus/snapshot-*.txt); the simulator runs them under faults.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { emptyState } from "../../node/consensus/index.js";
import { TEST_LIMITS, TestCluster, text } from "./harness.js";

/** a leads view 2 with `count` committed data entries and a signature after them. */
function cluster(count: number, limits = TEST_LIMITS): TestCluster {
  const c = new TestCluster(["a", "b", "c"], limits);
  c.electAndSign("a");
  for (let i = 0; i < count; i++) c.core("a").propose([{ signature: false, payload: text(`t${i}`) }]);
  c.core("a").propose([{ signature: true, payload: new Uint8Array() }]);
  c.stabilize();
  c.heartbeat("a");
  return c;
}

test("snapshot: offerSnapshot accepts only a committed signature of this log", () => {
  const c = cluster(3);
  const a = c.core("a");
  const commit = a.status().commitSeqno;
  assert.equal(commit, 6);
  assert.equal(a.offerSnapshot(commit + 1, 2), false, "beyond commit");
  assert.equal(a.offerSnapshot(commit, 1), false, "wrong view");
  assert.equal(a.offerSnapshot(commit - 1, 2), false, "not a signature");
  assert.equal(a.offerSnapshot(0, 0), false, "seqno 0");
  assert.equal(a.offerSnapshot(Number.NaN, 2), false, "not a number");
  assert.equal(a.offeredSnapshot(), undefined);
  assert.equal(a.offerSnapshot(2, 2), true);
  assert.equal(a.offerSnapshot(commit, 2), true);
  assert.equal(a.offerSnapshot(2, 2), false, "never goes back to an older snapshot");
  assert.equal(a.offerSnapshot(commit, 2), true, "the same one again is fine");
  assert.deepEqual(a.offeredSnapshot(), {
    seqno: 6,
    view: 2,
    views: [
      { view: 1, startSeqno: 1 },
      { view: 2, startSeqno: 2 },
    ],
    lastSignature: 6,
    config: { seqno: 1, nodes: ["a", "b", "c"] },
  });
});

test("snapshot: a joiner installs, drops appends meanwhile, then replicates the rest", () => {
  const c = cluster(3);
  const a = c.core("a");
  assert.ok(a.offerSnapshot(6, 2));
  const d = c.add("d", emptyState());
  startLearner(a, "d");
  c.stabilize();
  c.heartbeat("a");
  assert.equal(d.core.stats().snapshotInstallsRequested, 1);
  // The driver is installing: offers and appends are dropped, the node never campaigns.
  const before = d.core.stats().rejected.installing;
  c.heartbeat("a");
  assert.ok(d.core.stats().rejected.installing > before, "repeated offers are dropped while installing");
  for (let i = 0; i < 50; i++) d.core.tick();
  assert.equal(d.core.status().role, "Follower");
  assert.throws(() => d.core.snapshotInstalled(5, 2), { code: "InvalidArgs" });
  assert.throws(() => d.core.snapshotInstalled(6, 1), { code: "InvalidArgs" });
  d.disk.splice(0, d.disk.length, ...c.node("a").disk.slice(0, 6));
  d.core.snapshotInstalled(6, 2);
  assert.equal(d.core.status().commitSeqno, 6);
  assert.throws(() => d.core.snapshotInstalled(6, 2), { code: "InvalidArgs" }, "only once");
  c.stabilize();
  c.heartbeat("a");
  a.changeMembership({ add: "d" }); // caught up: the learner becomes a voter
  a.propose([{ signature: true, payload: new Uint8Array() }]); // which ships with a signature
  c.stabilize();
  c.heartbeat("a");
  const status = d.core.status();
  assert.equal(status.lastSeqno, a.status().lastSeqno);
  assert.equal(status.commitSeqno, a.status().commitSeqno);
  assert.deepEqual(status.config, ["a", "b", "c", "d"]);
  assert.equal(d.core.txStatus(2, 3), "Committed", "the view history came with the snapshot");
  assert.ok(
    d.applied.every((e) => e.seqno > 6),
    "entries inside the snapshot are never re-applied",
  );
  d.core.checkInvariants(true);
});

test("snapshot: an aborted install lets appends in again and the next offer starts over", () => {
  const c = cluster(2);
  const a = c.core("a");
  assert.ok(a.offerSnapshot(5, 2));
  const d = c.add("d", emptyState());
  startLearner(a, "d");
  c.stabilize();
  c.heartbeat("a");
  assert.equal(d.core.stats().snapshotInstallsRequested, 1);
  d.core.snapshotAborted(4); // another seqno: ignored
  d.core.snapshotAborted(5);
  assert.equal(d.core.stats().snapshotsAborted, 1);
  c.heartbeat("a");
  assert.equal(d.core.stats().snapshotInstallsRequested, 2, "the leader's next offer asks again");
});

test("snapshot: no snapshot, or one older than what the follower needs: appends as before", () => {
  const c = cluster(2);
  const d = c.add("d", emptyState());
  startLearner(c.core("a"), "d");
  c.stabilize();
  c.heartbeat("a");
  assert.equal(d.core.stats().snapshotInstallsRequested, 0);
  assert.equal(d.core.status().lastSeqno, c.core("a").status().lastSeqno, "replayed from seqno 1");
});

test("snapshot: a follower below the leader's window gets the snapshot, not old entries", () => {
  const c = new TestCluster(["a", "b", "c"], { ...TEST_LIMITS, logTailEntries: 2 }, { storage: true });
  c.electAndSign("a");
  const a = c.core("a");
  // c misses everything from here on.
  for (let i = 0; i < 6; i++) {
    a.propose([
      { signature: false, payload: text(`t${i}`) },
      { signature: true, payload: new Uint8Array() },
    ]);
    c.stabilize((m) => m.to !== "c" && m.from !== "c");
    c.queue = [];
  }
  a.tick();
  c.stabilize((m) => m.to !== "c" && m.from !== "c");
  c.queue = [];
  const commit = a.status().commitSeqno;
  assert.ok(a.logWindow().baseSeqno > 3, "the leader compacted its log");
  assert.ok(a.offerSnapshot(commit, 2));
  c.heartbeat("a");
  const node = c.node("c");
  assert.equal(node.core.stats().snapshotInstallsRequested, 1);
  node.disk.splice(0, node.disk.length, ...c.node("a").disk.slice(0, commit));
  node.core.snapshotInstalled(commit, 2);
  c.stabilize();
  assert.equal(node.core.status().commitSeqno, commit);
  assert.equal(a.stats().snapshotsOffered >= 1, true);
});

/** The first `add` of a node makes it a learner (refused with Unavailable until it caught up). */
function startLearner(leader: { changeMembership(change: { add: string }): unknown }, id: string): void {
  assert.throws(() => leader.changeMembership({ add: id }), { code: "Unavailable" });
}
