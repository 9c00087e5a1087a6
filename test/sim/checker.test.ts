import assert from "node:assert/strict";
import { test } from "node:test";
import type { Entry } from "../../node/consensus/index.js";
import { SafetyChecker, SafetyViolation, sameEntry } from "./checker.js";
import { SimCluster, Trace } from "./cluster.js";
import { bootstrapState } from "../../node/consensus/index.js";
import { Prng } from "./prng.js";
import { SIM_LIMITS } from "./simulate.js";

const e = (view: number, seqno: number, signature = true, payload = "p"): Entry => ({
  view,
  seqno,
  signature,
  payload: new TextEncoder().encode(payload),
});

function logOf(entries: Entry[]): (seqno: number) => Entry | undefined {
  return (seqno) => entries[seqno - 1];
}

test("sameEntry compares ids, kinds, payloads and configurations", () => {
  assert.ok(sameEntry(e(1, 1), e(1, 1)));
  assert.ok(!sameEntry(e(1, 1), e(2, 1)));
  assert.ok(!sameEntry(e(1, 1), e(1, 1, false)));
  assert.ok(!sameEntry(e(1, 1, true, "p"), e(1, 1, true, "q")));
  assert.ok(!sameEntry({ ...e(1, 1, false), config: ["a"] }, { ...e(1, 1, false), config: ["b"] }));
  assert.ok(!sameEntry({ ...e(1, 1, false), config: ["a"] }, e(1, 1, false)));
});

test("two leaders in one view are a violation; the same leader twice is not", () => {
  const checker = new SafetyChecker();
  assert.equal(checker.observeLeader(2, "a"), true);
  assert.equal(checker.observeLeader(2, "a"), false);
  assert.throws(() => checker.observeLeader(2, "b"), SafetyViolation);
});

test("diverging committed prefixes are a violation", () => {
  const checker = new SafetyChecker();
  checker.observeCommit("a", 2, logOf([e(1, 1), e(2, 2)]));
  checker.observeCommit("b", 1, logOf([e(1, 1)]));
  assert.throws(() => checker.observeCommit("c", 2, logOf([e(1, 1), e(3, 2)])), SafetyViolation);
});

test("commit going backwards, or landing off a signature, is a violation", () => {
  const checker = new SafetyChecker();
  checker.observeCommit("a", 2, logOf([e(1, 1), e(1, 2)]));
  assert.throws(() => checker.observeCommit("a", 1, logOf([e(1, 1), e(1, 2)])), /backwards/);
  assert.throws(() => new SafetyChecker().observeCommit("a", 1, logOf([e(1, 1, false)])), /not a signature/);
});

test("applied ranges must be contiguous, and restarts must restore what was applied", () => {
  const checker = new SafetyChecker();
  checker.observeApplied("a", { fromSeqno: 1, toSeqno: 2, entries: [e(1, 1), e(1, 2)] });
  assert.throws(
    () => checker.observeApplied("a", { fromSeqno: 4, toSeqno: 4, entries: [e(1, 4)] }),
    SafetyViolation,
  );
  assert.throws(() => checker.observeRestart("a", 1, logOf([e(1, 1)])), /durable commit 1 but had applied 2/);
  assert.throws(() => checker.observeRestart("a", 2, logOf([e(1, 1), e(9, 2)])), /diverges/);
  checker.observeRestart("a", 2, logOf([e(1, 1), e(1, 2)]));
});

test("an acknowledged transaction missing from a new leader's log is a violation", () => {
  const checker = new SafetyChecker();
  checker.observeCommit("a", 2, logOf([e(1, 1), e(2, 2)]));
  assert.throws(() => checker.acknowledge({ view: 3, seqno: 2 }), SafetyViolation);
  checker.acknowledge({ view: 2, seqno: 2 });
  checker.checkLeaderLog("a", 3, logOf([e(1, 1), e(2, 2), e(3, 3)]));
  assert.throws(() => checker.checkLeaderLog("b", 4, logOf([e(1, 1)])), /lacks acknowledged/);
});

test("the cluster catches a committed entry corrupted on a node's disk at restart", () => {
  const cluster = new SimCluster(new Prng(1), SIM_LIMITS, new Trace(false));
  const ids = ["n1", "n2", "n3"];
  for (const id of ids) cluster.addNode(id, bootstrapState(ids));
  for (let t = 0; t < 200; t++) {
    const leader = cluster.leader();
    if (leader !== undefined && t % 5 === 0) cluster.propose(leader, 1, true);
    cluster.step();
  }
  const victim = [...cluster.nodes.values()].find((n) => n.core!.status().role !== "Leader")!;
  assert.ok(victim.hardState.commitSeqno >= 3, "some entries committed and applied");
  cluster.crash(victim);
  victim.disk[1] = { ...victim.disk[1]!, payload: new TextEncoder().encode("tampered") };
  assert.throws(() => cluster.restart(victim), SafetyViolation);
});
