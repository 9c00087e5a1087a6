/**
 * Elections after a leader's crash (issue 13): the pre-candidates' tie-breaker, which keeps two
 * survivors that time out together from splitting the vote, and the short retry of a pre-vote
 * or an election that did not win (`electionRetryTicks`), which the lease still bounds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bootstrapState, ConsensusNode, type Message, resolveLimits } from "../../node/consensus/index.js";
import { TEST_LIMITS, TestCluster, text, ZERO_RNG } from "./harness.js";

const withoutA = (m: Message) => m.to !== "a" && m.from !== "a";

/** a leads view 2 with a committed signature, then crashes (its messages are dropped from now on). */
function clusterWithDeadLeader(limits = TEST_LIMITS): TestCluster {
  const cluster = new TestCluster(["a", "b", "c"], limits);
  cluster.electAndSign("a");
  cluster.queue = [];
  return cluster;
}

function elections(cluster: TestCluster): number {
  return ["b", "c"].reduce((sum, id) => sum + cluster.core(id).stats().electionsStarted, 0);
}

test("two survivors that time out in the same tick elect one leader in one election", () => {
  const cluster = clusterWithDeadLeader();
  // Same timeout, same tick: both become pre-candidates before either hears the other.
  for (let i = 0; i < 20 && cluster.core("b").status().role === "Follower"; i++) {
    cluster.core("b").tick();
    cluster.core("c").tick();
  }
  assert.equal(cluster.core("b").status().role, "PreCandidate");
  assert.equal(cluster.core("c").status().role, "PreCandidate");
  cluster.stabilize(withoutA);
  cluster.queue = [];
  // Without the tie-breaker each granted the other's pre-vote, both became candidates of view 3
  // and voted for themselves: a split. With it b (same log, smaller id) yields to c.
  assert.equal(cluster.core("c").status().role, "Leader");
  assert.equal(cluster.core("b").status().role, "Follower");
  assert.equal(cluster.core("b").status().votedFor, "c");
  assert.equal(elections(cluster), 1);
  assert.equal(cluster.core("c").status().view, 3);
});

test("the tie-breaker puts the more up-to-date log first, whatever the ids", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  // b holds two more entries than c when a crashes.
  cluster.core("a").propose([
    { signature: false, payload: text("x") },
    { signature: true, payload: new Uint8Array() },
  ]);
  cluster.stabilize((m) => m.to !== "c");
  cluster.queue = [];
  assert.ok(cluster.core("b").status().lastSeqno > cluster.core("c").status().lastSeqno);
  for (let i = 0; i < 20 && cluster.core("b").status().role === "Follower"; i++) {
    cluster.core("b").tick();
    cluster.core("c").tick();
  }
  cluster.stabilize(withoutA);
  // c (greater id) grants b's pre-vote: b's log is more up to date. Ordered by id alone, c
  // would refuse b, b would refuse c (its log is behind), and neither could win.
  assert.equal(cluster.core("b").status().role, "Leader");
  assert.equal(elections(cluster), 1);
});

test("a pre-candidate whose round is older than a heartbeat grants as any node would", () => {
  const limits = { ...TEST_LIMITS, heartbeatTicks: 2, electionRetryTicks: { min: 8, max: 8 } };
  const cluster = clusterWithDeadLeader(limits);
  const [b, c] = [cluster.core("b"), cluster.core("c")];
  for (let i = 0; i < 20 && c.status().role === "Follower"; i++) c.tick();
  assert.equal(c.status().role, "PreCandidate");
  cluster.process();
  cluster.queue = []; // c's pre-votes are lost: its round cannot win
  c.tick();
  c.tick();
  for (let i = 0; i < 20 && b.status().role === "Follower"; i++) b.tick();
  cluster.stabilize(withoutA);
  // c's round is two ticks old (a heartbeat): it no longer refuses b, whose id is smaller. A
  // node that cannot win (cut off one way, say) must not block one that can.
  assert.equal(b.status().role, "Leader");
  assert.equal(c.status().leader, "b");
});

test("a pre-vote that does not win is retried after electionRetryTicks, not a whole election timeout", () => {
  const limits = { ...TEST_LIMITS, electionRetryTicks: { min: 2, max: 2 } };
  const cluster = clusterWithDeadLeader(limits);
  const b = cluster.core("b");
  for (let i = 0; i < 20 && b.status().role === "Follower"; i++) b.tick();
  assert.equal(b.status().role, "PreCandidate");
  const preVotes = b.stats().preVotesStarted;
  // c, still in its lease (it heard a a moment ago), ignores b's pre-vote.
  cluster.stabilize(withoutA);
  assert.equal(b.status().role, "PreCandidate");
  b.tick();
  assert.equal(b.stats().preVotesStarted, preVotes, "not after one tick");
  b.tick();
  assert.equal(b.stats().preVotesStarted, preVotes + 1, "again after electionRetryTicks.min");
});

test("an election that does not win is retried after electionRetryTicks", () => {
  const limits = { ...TEST_LIMITS, electionRetryTicks: { min: 2, max: 2 } };
  const cluster = clusterWithDeadLeader(limits);
  const [b, c] = [cluster.core("b"), cluster.core("c")];
  for (let i = 0; i < 20 && c.status().role === "Follower"; i++) {
    b.tick();
    c.tick();
  }
  // c's pre-vote wins (b yields to it), but its vote request is lost: a split's shape.
  cluster.stabilize((m) => withoutA(m) && !(m.type === "requestVote" && !m.preVote));
  cluster.queue = [];
  assert.equal(c.status().role, "Candidate");
  const view = c.status().view;
  c.tick();
  assert.equal(c.status().role, "Candidate", "not after one tick");
  c.tick();
  assert.equal(c.status().role, "PreCandidate", "a new pre-vote after electionRetryTicks.min");
  cluster.stabilize(withoutA);
  assert.equal(c.status().role, "Leader");
  assert.equal(c.status().view, view + 1);
});

test("a retrying node cannot unseat a leader its voters hear from (the lease), and backs off", () => {
  const limits = { ...TEST_LIMITS, electionRetryTicks: { min: 1, max: 1 } };
  const cluster = new TestCluster(["a", "b", "c"], limits);
  cluster.electAndSign("a");
  // b hears nothing from a (a one-way cut); a and c are healthy.
  const cut = (m: Message) => !(m.from === "a" && m.to === "b");
  cluster.queue = cluster.queue.filter(cut);
  /** The ticks at which b started a pre-vote round. */
  const rounds: number[] = [];
  for (let i = 0; i < 50; i++) {
    const before = cluster.core("b").stats().preVotesStarted;
    cluster.core("a").tick();
    cluster.core("b").tick();
    cluster.core("c").tick();
    cluster.stabilize(cut);
    cluster.queue = cluster.queue.filter(cut);
    if (cluster.core("b").stats().preVotesStarted > before) rounds.push(i);
  }
  const gaps = rounds.slice(1).map((t, i) => t - rounds[i]!);
  // b retries a failed round after one tick three times in a row, then backs off to the election
  // timeout (5-10 ticks) until it hears from a leader: a cut-off node does not keep asking every
  // peer for votes at the retry rate.
  assert.deepEqual(gaps.slice(0, 3), [1, 1, 1], `b retried fast: ${gaps}`);
  assert.ok(gaps.length >= 5, `b kept trying: ${gaps}`);
  assert.ok(
    gaps.slice(3).every((g) => g >= 5),
    `then b waited election timeouts: ${gaps}`,
  );
  assert.equal(cluster.core("b").stats().electionsStarted, 0, "never with a majority");
  assert.equal(cluster.core("c").stats().rejected.voteInLease, rounds.length, "c refused every round");
  assert.equal(cluster.core("a").status().role, "Leader");
  assert.equal(cluster.core("a").status().view, 2);
  assert.equal(cluster.core("c").status().leader, "a");
});

test("without pre-vote a lost election waits a whole election timeout (no fast retry raising views)", () => {
  const limits = { ...TEST_LIMITS, preVote: false, electionRetryTicks: { min: 1, max: 1 } };
  const cluster = clusterWithDeadLeader(limits);
  const b = cluster.core("b");
  for (let i = 0; i < 20 && b.status().role === "Follower"; i++) b.tick();
  assert.equal(b.status().role, "Candidate");
  const view = b.status().view;
  cluster.queue = [];
  for (let i = 1; i < TEST_LIMITS.electionTimeoutTicks!.min; i++) b.tick();
  assert.equal(b.status().view, view, "no new view before the election timeout");
  b.tick();
  assert.equal(b.status().view, view + 1);
});

test("electionRetryTicks: defaults to one to three heartbeats; bad ranges are refused, naming the field", () => {
  assert.deepEqual(
    resolveLimits({ heartbeatTicks: 5, electionTimeoutTicks: { min: 50, max: 75 } }).electionRetryTicks,
    {
      min: 5,
      max: 15,
    },
  );
  assert.deepEqual(
    resolveLimits({ heartbeatTicks: 4, electionTimeoutTicks: { min: 5, max: 10 } }).electionRetryTicks,
    {
      min: 4,
      max: 10,
    },
  );
  const state = bootstrapState(["a"]);
  for (const [retry, field] of [
    [{ min: 4, max: 3 }, "electionRetryTicks.max"],
    [{ min: 2, max: 41 }, "electionRetryTicks.max"],
    [{ min: 0, max: 3 }, "electionRetryTicks.min"],
    [null, "electionRetryTicks"],
  ] as const) {
    assert.throws(
      () =>
        new ConsensusNode({ id: "a", rng: ZERO_RNG, limits: { electionRetryTicks: retry as never } }, state),
      (e: Error & { code?: string }) => e.code === "InvalidArgs" && e.message.startsWith(field),
      JSON.stringify(retry),
    );
  }
});
