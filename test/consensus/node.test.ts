import assert from "node:assert/strict";
import { test } from "node:test";
import {
  bootstrapState,
  ConsensusNode,
  emptyState,
  type Entry,
  type Message,
  type PersistedState,
} from "../../node/consensus/index.js";
import { isTreatyError } from "../../sdk/errors.js";
import { TEST_LIMITS, TestCluster, text, ZERO_RNG } from "./harness.js";

function throwsCode(fn: () => unknown, code: string, field?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isTreatyError(err, code), `expected TreatyError ${code}, got ${String(err)}`);
    if (field !== undefined)
      assert.match((err as Error).message, new RegExp(`^${field.replace(/[.[\]]/g, "\\$&")}`));
    return true;
  });
}

const sig = { signature: true, payload: new Uint8Array() };

test("constructor rejects bad options, naming the field", () => {
  const state = bootstrapState(["a"]);
  throwsCode(() => new ConsensusNode({ id: "", rng: ZERO_RNG }, state), "InvalidArgs", "id");
  throwsCode(() => new ConsensusNode({ id: "a", rng: {} as never }, state), "InvalidArgs", "rng");
  throwsCode(
    () => new ConsensusNode({ id: "a", rng: ZERO_RNG, limits: { heartbeatTicks: 20 } }, state),
    "InvalidArgs",
    "heartbeatTicks",
  );
  throwsCode(
    () =>
      new ConsensusNode(
        { id: "a", rng: ZERO_RNG, limits: { electionTimeoutTicks: { min: 9, max: 3 } } },
        state,
      ),
    "InvalidArgs",
    "electionTimeoutTicks.max",
  );
  throwsCode(
    () => new ConsensusNode({ id: "a", rng: ZERO_RNG, limits: { maxBatchEntries: 0 } }, state),
    "InvalidArgs",
    "maxBatchEntries",
  );
});

test("constructor refuses inconsistent persisted state as LedgerCorrupt", () => {
  const good = bootstrapState(["a", "b", "c"]);
  const e = (view: number, seqno: number, signature = false): Entry => ({
    view,
    seqno,
    signature,
    payload: new Uint8Array(),
  });
  const cases: [string, PersistedState][] = [
    ["hardState.view", { hardState: { view: -1, votedFor: null, commitSeqno: 0 }, entries: [] }],
    ["hardState.votedFor", { hardState: { view: 1, votedFor: "", commitSeqno: 0 }, entries: [] }],
    [
      "hardState.commitSeqno",
      { hardState: { view: 1, votedFor: null, commitSeqno: 2 }, entries: good.entries },
    ],
    [
      "hardState.commitSeqno",
      { hardState: { view: 1, votedFor: null, commitSeqno: 1 }, entries: good.entries },
    ],
    ["entries[1].seqno", { hardState: good.hardState, entries: [...good.entries, e(1, 3)] }],
    ["entries[1].view", { hardState: good.hardState, entries: [...good.entries, e(2, 2)] }],
    ["entries[0]", { hardState: good.hardState, entries: [{ ...e(1, 1), payload: "x" as never }] }],
  ];
  for (const [field, state] of cases) {
    throwsCode(() => new ConsensusNode({ id: "a", rng: ZERO_RNG }, state), "LedgerCorrupt", field);
  }
});

test("bootstrapState sorts the founders and refuses empty or duplicate sets", () => {
  assert.deepEqual(bootstrapState(["c", "a", "b"]).entries[0]!.config, ["a", "b", "c"]);
  throwsCode(() => bootstrapState([]), "InvalidArgs", "nodes");
  throwsCode(() => bootstrapState(["a", "a"]), "InvalidArgs", "nodes");
});

test("a single node elects itself and commits only what its disk acknowledged", () => {
  const cluster = new TestCluster(["solo"]);
  cluster.elect("solo");
  const node = cluster.node("solo");
  node.holdDisk = true;
  node.core.propose([{ signature: false, payload: text("x") }, sig]);
  cluster.process();
  assert.equal(node.core.status().commitSeqno, 0, "nothing durable yet: no commit");
  cluster.flush(node);
  assert.equal(node.core.status().commitSeqno, 3);
  assert.deepEqual(
    node.applied.map((e) => e.seqno),
    [1, 2, 3],
  );
});

test("the only voter campaigns on its first tick; a voter among others waits out its timeout", () => {
  const solo = new TestCluster(["solo"]);
  solo.core("solo").tick();
  solo.process();
  assert.equal(solo.core("solo").status().role, "Leader", "nobody to wait for");
  const three = new TestCluster(["a", "b", "c"]);
  for (let i = 1; i < (TEST_LIMITS.electionTimeoutTicks?.min ?? 0); i++) three.core("a").tick();
  assert.equal(three.core("a").status().role, "Follower", "below its election timeout");
});

test("a sole voter that hears a leader (one retiring itself) waits for it, not for its first tick", () => {
  const cluster = new TestCluster(["a", "b"]);
  cluster.electAndSign("a");
  cluster.core("a").changeMembership({ retire: "a" });
  cluster.core("a").propose([sig]); // the signature that ships the change
  // b gets the configuration [b] but its acknowledgement is lost: the change does not commit.
  cluster.stabilize((m) => m.from === "a");
  assert.deepEqual(cluster.core("b").status().config, ["b"]);
  cluster.core("b").tick();
  cluster.process();
  assert.equal(cluster.core("b").status().role, "Follower", "b does not depose the leader it hears");
  assert.equal(cluster.core("a").status().role, "Leader");
});

test("a leader counts its own copy only once its disk acknowledged it", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  const leader = cluster.node("a");
  leader.holdDisk = true;
  leader.core.propose([sig]);
  cluster.process();
  // Leader disk stalled, but the leader's messages wait for its disk too (persist, then send).
  assert.equal(cluster.queue.length, 0, "messages wait for the Ready's writes");
  cluster.flush(leader);
  // Now c is cut off: b alone plus the leader's durable copy make the majority.
  cluster.stabilize((m) => m.to !== "c" && m.from !== "c");
  assert.equal(leader.core.status().commitSeqno, 3);
});

test("commit needs the leader's durable copy or another follower", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  const leader = cluster.core("a");
  // Send first, persist later: the leader's entries go out before its own disk finishes (legal
  // in Raft), but the leader must not count itself until the ack arrives.
  leader.propose([sig]);
  const rd = leader.ready();
  cluster.queue.push(...rd.messages);
  cluster.stabilize((m) => m.to === "b" || m.from === "b");
  assert.equal(leader.status().commitSeqno, 2, "b alone is not a majority of a, b, c");
  const last = rd.entries.at(-1)!;
  leader.ackPersisted(last.seqno, last.view);
  assert.equal(leader.status().commitSeqno, 3);
});

test("a granted vote reaches the disk before the answer leaves, even within the same view", () => {
  const state = bootstrapState(["a", "b", "c"]);
  const b = new ConsensusNode(
    { id: "b", rng: ZERO_RNG, limits: TEST_LIMITS },
    { hardState: { view: 2, votedFor: null, commitSeqno: 0 }, entries: state.entries },
  );
  const vote = (from: string): Message => ({
    type: "requestVote",
    from,
    to: "b",
    view: 2,
    lastSeqno: 1,
    lastView: 1,
    preVote: false,
    transfer: false,
  });
  b.step(vote("c"));
  const rd = b.ready();
  assert.deepEqual(rd.hardState, { view: 2, votedFor: "c", commitSeqno: 0 });
  assert.deepEqual(
    rd.messages.map((m) => m.type === "voteResponse" && m.granted),
    [true],
  );
  // After a restart from that hard state, b cannot vote for anyone else in view 2.
  const restarted = new ConsensusNode(
    { id: "b", rng: ZERO_RNG, limits: TEST_LIMITS },
    { hardState: rd.hardState!, entries: state.entries },
  );
  restarted.step(vote("a"));
  assert.deepEqual(
    restarted.ready().messages.map((m) => m.type === "voteResponse" && m.granted),
    [false],
  );
});

function append(from: string, view: number, prev: [number, number], entries: [number, number][]): Message {
  return {
    type: "append",
    from,
    to: "b",
    view,
    prevView: prev[0],
    prevSeqno: prev[1],
    entries: entries.map(([v, s]) => ({ view: v, seqno: s, signature: false, payload: text(`${v}.${s}`) })),
    commitSeqno: 0,
  };
}

test("Ready hands out each entry once and reports truncations of handed-out entries only", () => {
  const b = new ConsensusNode(
    { id: "b", rng: ZERO_RNG, limits: TEST_LIMITS },
    bootstrapState(["a", "b", "c"]),
  );
  // A fresh copy each time, as the network delivers a duplicate.
  const twoEntries = () =>
    append(
      "a",
      2,
      [1, 1],
      [
        [2, 2],
        [2, 3],
      ],
    );
  b.step(twoEntries());
  let rd = b.ready();
  assert.equal(rd.truncateFromSeqno, null);
  assert.deepEqual(
    rd.entries.map((e) => e.seqno),
    [2, 3],
  );
  assert.equal(b.hasReady(), false);
  b.step(twoEntries());
  rd = b.ready();
  assert.deepEqual(rd.entries, [], "a duplicate append persists nothing new");
  // c leads view 3 with a different entry at seqno 2: the driver must delete 2.. first.
  b.step(append("c", 3, [1, 1], [[3, 2]]));
  rd = b.ready();
  assert.equal(rd.truncateFromSeqno, 2);
  assert.deepEqual(
    rd.entries.map((e) => `${e.view}.${e.seqno}`),
    ["3.2"],
  );
  // Entries replaced before any Ready saw them need no truncation on disk.
  b.step(
    append(
      "c",
      3,
      [3, 2],
      [
        [3, 3],
        [3, 4],
      ],
    ),
  );
  b.step(append("a", 4, [3, 2], [[4, 3]]));
  rd = b.ready();
  assert.equal(rd.truncateFromSeqno, null);
  assert.deepEqual(
    rd.entries.map((e) => `${e.view}.${e.seqno}`),
    ["4.3"],
  );
  b.checkInvariants(true);
});

test("proposals are refused with stable codes", () => {
  const cluster = new TestCluster(["a", "b", "c"], { ...TEST_LIMITS, maxUncommittedEntries: 3 });
  const follower = cluster.core("b");
  assert.throws(
    () => follower.propose([sig]),
    (err: unknown) => isTreatyError(err, "NotLeader") && err.details?.leader === null,
  );
  cluster.electAndSign("a");
  assert.equal(cluster.core("b").status().leader, "a");
  assert.throws(
    () => follower.propose([sig]),
    (err: unknown) => isTreatyError(err, "NotLeader") && err.details?.leader === "a",
  );
  const leader = cluster.core("a");
  throwsCode(() => leader.propose([]), "InvalidArgs", "entries");
  throwsCode(
    () => leader.propose([{ signature: "yes", payload: new Uint8Array() } as never]),
    "InvalidArgs",
    "entries[0].signature",
  );
  throwsCode(
    () => leader.propose([{ signature: false, payload: "x" } as never]),
    "InvalidArgs",
    "entries[0].payload",
  );
  throwsCode(
    () => leader.propose([{ signature: false, payload: new Uint8Array(2000) }]),
    "PayloadTooLarge",
    "entries[0].payload",
  );
  throwsCode(() => leader.propose(Array.from({ length: 17 }, () => sig)), "PayloadTooLarge", "entries");
  // Backpressure: three uncommitted entries at most, but one lone signature may always follow.
  cluster.queue = [];
  leader.propose([1, 2, 3].map((i) => ({ signature: false, payload: text(`${i}`) })));
  throwsCode(() => leader.propose([{ signature: false, payload: text("4") }]), "Unavailable", "entries");
  assert.deepEqual(leader.propose([sig]), [{ view: 2, seqno: 6 }]);
  throwsCode(() => leader.propose([sig]), "Unavailable", "entries");
  assert.equal(leader.stats().proposalsRefused, 7);
});

test("membership changes: one at a time, after a commit in the leader's view, with named errors", () => {
  const cluster = new TestCluster(["a", "b", "c"], { ...TEST_LIMITS, maxConfigNodes: 4 });
  throwsCode(() => cluster.core("a").changeMembership({ add: "d" }), "NotLeader");
  cluster.elect("a");
  const leader = cluster.core("a");
  assert.equal(leader.committedInView(), false);
  throwsCode(() => leader.changeMembership({ add: "d" }), "Unavailable", "change");
  leader.propose([sig]);
  cluster.stabilize();
  assert.equal(leader.committedInView(), true);
  assert.equal(cluster.core("b").committedInView(), false, "only a leader");
  throwsCode(() => leader.changeMembership({ add: "" }), "InvalidArgs", "change.add");
  throwsCode(() => leader.changeMembership({ add: "a" }), "Conflict", "change.add");
  throwsCode(() => leader.changeMembership({ retire: "z" }), "Conflict", "change.retire");
  throwsCode(() => leader.changeMembership(null as never), "InvalidArgs", "change");
  throwsCode(() => leader.changeMembership({} as never), "InvalidArgs", "change");
  // d catches up as a learner first; the change goes through once it has.
  cluster.add("d", emptyState());
  throwsCode(() => leader.changeMembership({ add: "d" }), "Unavailable", "change.add");
  assert.deepEqual(leader.status().learners, ["d"]);
  cluster.stabilize();
  assert.deepEqual(leader.changeMembership({ add: "d" }), { view: 2, seqno: 3 });
  assert.deepEqual(leader.status().learners, []);
  throwsCode(() => leader.changeMembership({ retire: "b" }), "Conflict", "change");
  leader.propose([sig]);
  cluster.stabilize();
  cluster.heartbeat("a");
  assert.equal(cluster.core("d").status().commitSeqno, 4);
  throwsCode(() => leader.changeMembership({ add: "e" }), "InvalidArgs", "change.add");
  assert.deepEqual(cluster.core("d").status().config, ["a", "b", "c", "d"]);
});

test("checkMembershipChange refuses as changeMembership does and never appends", () => {
  const cluster = new TestCluster(["a", "b", "c"], TEST_LIMITS);
  throwsCode(() => cluster.core("a").checkMembershipChange({ add: "d" }), "NotLeader");
  cluster.electAndSign("a");
  const leader = cluster.core("a");
  const last = leader.status().lastSeqno;
  throwsCode(() => leader.checkMembershipChange({ add: "a" }), "Conflict", "change.add");
  throwsCode(() => leader.checkMembershipChange({ retire: "z" }), "Conflict", "change.retire");
  cluster.add("d", emptyState());
  throwsCode(() => leader.checkMembershipChange({ add: "d" }), "Unavailable", "change.add");
  assert.deepEqual(leader.status().learners, ["d"], "the first check makes the joiner a learner");
  cluster.stabilize();
  assert.deepEqual(leader.checkMembershipChange({ add: "d" }), ["a", "b", "c", "d"]);
  assert.deepEqual(leader.checkMembershipChange({ retire: "b" }), ["a", "c"]);
  assert.equal(leader.status().lastSeqno, last, "checks append nothing");
  assert.deepEqual(leader.status().config, ["a", "b", "c"]);
  assert.deepEqual(leader.changeMembership({ add: "d" }), { view: 2, seqno: last + 1 });
});

test("learner phase: a node being added never counts before it caught up, so commits go on", () => {
  const cluster = new TestCluster(["a", "b", "c"], {
    ...TEST_LIMITS,
    maxBatchEntries: 2,
    maxInflightAppends: 1,
    maxUncommittedEntries: 1000,
    learnerMaxLagEntries: 4,
  });
  cluster.electAndSign("a");
  const leader = cluster.core("a");
  // A loaded service: 60 entries the joiner has to fetch, two per round trip.
  for (let i = 0; i < 30; i++) leader.propose([{ signature: false, payload: text(`w${i}`) }, sig]);
  cluster.stabilize();
  cluster.add("d", emptyState());
  throwsCode(() => leader.changeMembership({ add: "d" }), "Unavailable", "change.add");
  assert.deepEqual(leader.status().config, ["a", "b", "c"], "the configuration is unchanged");
  assert.deepEqual(leader.status().learners, ["d"]);

  // c fails while d is still far behind: a and b are a majority of the configuration, so the
  // service keeps committing. (Had d voted at once, 3 of 4 would be needed and commits would
  // wait for d to fetch the whole log.)
  const notC = (m: Message) => m.to !== "c" && m.from !== "c";
  /** `n` delivery rounds among a, b and d (c's mail is lost), without waiting for quiet. */
  const deliver = (n: number) => {
    for (let i = 0; i < n; i++) {
      cluster.process();
      const batch = cluster.queue.filter(notC);
      cluster.queue = [];
      for (const m of batch) cluster.core(m.to).step(m);
    }
    cluster.process();
  };
  for (let round = 0; round < 3; round++) {
    const before = leader.status().commitSeqno;
    leader.propose([{ signature: false, payload: text(`during join ${round}`) }, sig]);
    // One round trip: a and b commit; d gets one small batch of the backlog.
    deliver(3);
    assert.ok(leader.status().commitSeqno > before, `commit advanced in round ${round} during the join`);
    throwsCode(() => leader.changeMembership({ add: "d" }), "Unavailable", "change.add");
  }
  assert.ok(
    cluster.core("d").status().lastSeqno < leader.status().lastSeqno - 4,
    "d is still a learner far behind",
  );
  assert.equal(cluster.core("d").status().member, false);
  // Let d catch up (c still down); then it is added, and 3 of 4 (a, b, d) commit.
  for (let i = 0; i < 200 && leader.status().lastSeqno - cluster.core("d").status().lastSeqno > 4; i++) {
    leader.tick();
    deliver(3);
  }
  const added = leader.changeMembership({ add: "d" });
  leader.propose([sig]);
  deliver(6);
  leader.tick();
  deliver(3);
  assert.ok(leader.status().commitSeqno >= added.seqno, "the change adding d committed without c");
  assert.deepEqual(cluster.core("d").status().config, ["a", "b", "c", "d"]);
  assert.equal(cluster.core("d").status().member, true);
  assert.equal(leader.stats().learnersAdded, 1);
});

test("learners are the leader's: a new leader starts without them, a deposed one drops them", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  cluster.add("d", emptyState());
  throwsCode(() => cluster.core("a").changeMembership({ add: "d" }), "Unavailable", "change.add");
  cluster.stabilize();
  assert.deepEqual(cluster.core("a").status().learners, ["d"]);
  // a is cut off; b or c takes over and knows nothing of d until d asks again.
  const notA = (m: Message) => m.to !== "a" && m.from !== "a";
  const leads = (id: string) => cluster.core(id).status().role === "Leader";
  // Out of step, so that one campaigns while the other has already lost its leader.
  for (let i = 0; i < 3; i++) cluster.core("c").tick();
  for (let i = 0; i < 100 && !leads("b") && !leads("c"); i++) {
    cluster.core("b").tick();
    cluster.core("c").tick();
    cluster.stabilize(notA);
    cluster.queue = cluster.queue.filter(notA);
  }
  const next = leads("b") ? "b" : "c";
  assert.ok(leads(next), "b or c leads");
  assert.deepEqual(cluster.core(next).status().learners, []);
  cluster.heartbeat(next);
  assert.deepEqual(cluster.core("a").status().learners, [], "the deposed leader dropped its learners");
});

test("a single remaining node cannot be retired", () => {
  const cluster = new TestCluster(["solo"]);
  cluster.elect("solo");
  const core = cluster.core("solo");
  core.propose([sig]);
  cluster.stabilize();
  throwsCode(() => core.changeMembership({ retire: "solo" }), "InvalidArgs", "change.retire");
});

test("a joiner without configuration never campaigns; a retired node neither", () => {
  const joiner = new ConsensusNode({ id: "j", rng: ZERO_RNG, limits: TEST_LIMITS }, emptyState());
  for (let i = 0; i < 100; i++) joiner.tick();
  assert.equal(joiner.status().role, "Follower");
  assert.equal(joiner.hasReady(), false);
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  cluster.core("a").changeMembership({ retire: "c" });
  cluster.core("a").propose([sig]);
  cluster.stabilize();
  const c = cluster.core("c");
  assert.equal(c.status().member, false);
  for (let i = 0; i < 100; i++) c.tick();
  assert.equal(c.status().role, "Follower");
  assert.equal(c.stats().preVotesStarted, 0);
});

test("txStatus validates its inputs", () => {
  const node = new ConsensusNode({ id: "a", rng: ZERO_RNG }, bootstrapState(["a"]));
  throwsCode(() => node.txStatus(0, 1), "InvalidArgs", "view");
  throwsCode(() => node.txStatus(1, 0), "InvalidArgs", "seqno");
  throwsCode(() => node.txStatus(1.5, 1), "InvalidArgs", "view");
  assert.equal(node.txStatus(1, 1), "Pending");
});

test("entries ship with the signature that can commit them, heartbeats included", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  const leader = cluster.core("a");
  const before = cluster.core("b").status().lastSeqno;
  leader.propose([{ signature: false, payload: text("x") }]);
  leader.propose([{ signature: false, payload: text("y") }]);
  cluster.stabilize();
  cluster.heartbeat("a");
  assert.equal(cluster.core("b").status().lastSeqno, before, "unsigned entries wait for a signature");
  const sent = new Set<Message>(); // stabilize asks its filter twice per message
  leader.propose([sig]);
  cluster.stabilize((m) => sent.add(m) !== undefined);
  const appendsToB = [...sent].filter((m) => m.type === "append" && m.to === "b");
  assert.deepEqual(
    appendsToB.map((m) => (m.type === "append" ? m.entries.length : -1)),
    [3],
    "one append carries both entries and their signature",
  );
  assert.equal(cluster.core("b").status().lastSeqno, leader.status().lastSeqno);
  assert.equal(leader.status().commitSeqno, leader.status().lastSeqno);
});

test("a learner's lag is counted to the leader's last signature, which is all it can be sent", () => {
  const cluster = new TestCluster(["a", "b", "c"], { ...TEST_LIMITS, learnerMaxLagEntries: 2 });
  cluster.electAndSign("a");
  const leader = cluster.core("a");
  cluster.add("d", emptyState());
  throwsCode(() => leader.changeMembership({ add: "d" }), "Unavailable", "change.add");
  cluster.heartbeat("a");
  // Five unsigned entries: the learner holds everything it can be sent, so it is caught up.
  for (let i = 0; i < 5; i++) leader.propose([{ signature: false, payload: text(`${i}`) }]);
  cluster.stabilize();
  assert.ok(leader.status().lastSeqno - cluster.core("d").status().lastSeqno > 2);
  assert.deepEqual(leader.changeMembership({ add: "d" }).seqno, leader.status().lastSeqno);
});

test("the pipelining window bounds appends in flight to each follower", () => {
  const cluster = new TestCluster(["a", "b", "c"], {
    ...TEST_LIMITS,
    maxBatchEntries: 1,
    maxInflightAppends: 2,
  });
  cluster.electAndSign("a");
  cluster.queue = [];
  const leader = cluster.core("a");
  for (let i = 0; i < 10; i++) leader.propose([{ signature: true, payload: text(`${i}`) }]);
  cluster.process();
  const toB = cluster.queue.filter((m) => m.to === "b" && m.type === "append" && m.entries.length > 0);
  assert.equal(toB.length, 2);
  cluster.stabilize();
  assert.equal(cluster.core("b").status().lastSeqno, 12, "acks reopen the window until b caught up");
});

test("a restarted node resumes from its disk", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  cluster.core("a").propose([{ signature: false, payload: text("x") }, sig]);
  cluster.stabilize();
  cluster.heartbeat("a");
  const b = cluster.node("b");
  const restarted = new ConsensusNode(
    { id: "b", rng: ZERO_RNG, limits: TEST_LIMITS },
    { hardState: b.hardState, entries: b.disk },
  );
  assert.deepEqual(restarted.status(), { ...b.core.status(), leader: null, persistedSeqno: 4 });
  assert.equal(restarted.hasReady(), false, "nothing to re-apply or re-persist");
  b.core = restarted;
  cluster.heartbeat("a");
  assert.equal(restarted.status().leader, "a");
  restarted.checkInvariants(true);
});

test("without check-quorum a cut-off leader keeps its role; with it, it steps down", () => {
  for (const checkQuorum of [false, true]) {
    const cluster = new TestCluster(["a", "b", "c"], { ...TEST_LIMITS, checkQuorum });
    cluster.electAndSign("a");
    cluster.queue = [];
    const leader = cluster.core("a");
    for (let i = 0; i < 12; i++) leader.tick();
    assert.equal(leader.status().role, checkQuorum ? "Follower" : "Leader");
    assert.equal(leader.stats().checkQuorumStepDowns, checkQuorum ? 1 : 0);
  }
});

test("followers of a healthy leader never start elections", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  for (let round = 0; round < 60; round++) {
    for (const id of ["a", "b", "c"]) cluster.core(id).tick();
    cluster.stabilize();
  }
  for (const id of ["b", "c"]) {
    assert.equal(cluster.core(id).stats().preVotesStarted, 0, `${id} never timed out`);
    assert.equal(cluster.core(id).status().view, 2);
  }
  assert.equal(cluster.core("a").status().role, "Leader");
});

test("read index: a lone node answers at once; an echo of a round never started confirms nothing", () => {
  const lone = new TestCluster(["a"]);
  lone.electAndSign("a");
  lone.core("a").readIndex(1);
  assert.deepEqual(lone.core("a").ready().reads, [{ id: 1, seqno: 2 }]);
  throwsCode(() => lone.core("a").readIndex(1.5), "InvalidArgs", "id");

  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.electAndSign("a");
  const a = cluster.core("a");
  a.readIndex(1); // round 1 starts
  a.readIndex(2); // waits for round 2
  cluster.process();
  cluster.queue = [];
  const forged: Message = {
    type: "appendResponse",
    from: "b",
    to: "a",
    view: 2,
    success: true,
    seqno: 2,
    hintSeqno: 2,
    hintView: 2,
    readRound: 2,
  };
  a.step(forged);
  const reads = a.ready().reads;
  assert.deepEqual(reads, [{ id: 1, seqno: 2 }], "round 1 confirmed, round 2 (never sent) not");
  throwsCode(() => cluster.core("b").readIndex(3), "NotLeader");
});

test("a heartbeat round skips a follower that was sent entries since the previous round", () => {
  const cluster = new TestCluster(["a", "b", "c"], TEST_LIMITS);
  cluster.electAndSign("a");
  const leader = cluster.core("a");
  const heartbeatsTo = () => {
    leader.tick();
    cluster.process();
    const appends = cluster.queue
      .filter((m) => m.type === "append" && m.entries.length === 0)
      .map((m) => m.to);
    cluster.stabilize();
    return appends.sort();
  };
  assert.deepEqual(heartbeatsTo(), ["b", "c"], "an idle round heartbeats everyone");

  // Entries went out and committed since the last round: this round skips both followers, which
  // still hold the commit point the entries carried; the next round (no entries since) tells them.
  leader.propose([{ signature: false, payload: text("w") }, sig]);
  cluster.stabilize();
  const committed = leader.status().commitSeqno;
  assert.ok(cluster.core("b").status().commitSeqno < committed);
  assert.deepEqual(heartbeatsTo(), []);
  assert.deepEqual(heartbeatsTo(), ["b", "c"]);
  assert.equal(cluster.core("b").status().commitSeqno, committed);
  assert.equal(cluster.core("c").status().commitSeqno, committed);

  // Entries just went out, but a read's round was lost: the round re-sends it to everyone.
  leader.propose([sig]);
  cluster.process();
  leader.readIndex(1);
  cluster.process();
  cluster.queue = cluster.queue.filter((m) => m.type !== "append" || m.entries.length > 0);
  assert.deepEqual(heartbeatsTo(), ["b", "c"]);
});

test("ticksUntilTimeout: a follower that knows its leader may have its counting ticks run together, up to its election timeout", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  assert.equal(cluster.core("b").ticksUntilTimeout(), 1, "a follower without a leader: every tick may act");
  cluster.electAndSign("a");
  assert.ok(cluster.core("a").ticksUntilTimeout() >= 1, "a leader: until its next heartbeat or quorum check");
  const b = cluster.core("b");
  assert.equal(b.status().leader, "a");
  const left = b.ticksUntilTimeout();
  // TEST_LIMITS: timeouts of 5-10 ticks (ZERO_RNG: 5); the leader's last heartbeat reset the count.
  assert.ok(left > 1 && left <= 5, `ticks left ${left}`);
  for (let i = 1; i < left; i++) {
    b.tick();
    assert.equal(b.status().role, "Follower", `tick ${i} of ${left} only counts`);
    assert.equal(b.ticksUntilTimeout(), left - i);
  }
  b.tick();
  assert.notEqual(b.status().role, "Follower", "the tick it named starts an election");
  assert.equal(b.ticksUntilTimeout(), 1, "a (pre-)candidate's ticks may act");
  // A message from the leader starts the count again.
  const c = cluster.core("c");
  for (let i = 0; i < 2; i++) c.tick();
  const before = c.ticksUntilTimeout();
  cluster.queue = cluster.queue.filter((m) => m.to !== "c");
  cluster.heartbeat("a");
  assert.ok(c.ticksUntilTimeout() > before, "a heartbeat resets the count");
});

test("ticksUntilTimeout: a leader's ticks only count until its next heartbeat round or quorum check", () => {
  const limits = { ...TEST_LIMITS, heartbeatTicks: 3, electionTimeoutTicks: { min: 7, max: 10 } };
  const cluster = new TestCluster(["a", "b", "c"], limits);
  cluster.electAndSign("a");
  const a = cluster.core("a");
  /** Ticks the leader once; what it sent in that tick (queued, not delivered). */
  const tick = (): number => {
    cluster.queue = [];
    a.tick();
    cluster.process();
    return cluster.queue.filter((m) => m.from === "a").length;
  };
  // One round first: a round skips followers that were sent entries since the last one.
  for (let i = 0; i < 3; i++) {
    tick();
    cluster.stabilize();
  }
  // Followers answer: over three quorum periods, every tick that sends is one the count named,
  // and every tick before it only counts.
  let rounds = 0;
  let counting = 0;
  for (let i = 0; i < 3 * 7; i++) {
    const left = a.ticksUntilTimeout();
    assert.ok(left >= 1 && left <= 3, `ticks left ${left}`);
    const sent = tick();
    if (left > 1) {
      counting++;
      assert.equal(sent, 0, `tick ${i}: counts only`);
      assert.equal(a.ticksUntilTimeout(), left - 1);
    } else if (sent > 0) rounds++;
    cluster.stabilize();
    assert.equal(a.status().role, "Leader");
  }
  assert.equal(rounds, 7, "a heartbeat round every 3 ticks");
  // 21 ticks: 7 heartbeat rounds, and 3 quorum checks every 7 ticks (one of them on a round's tick).
  assert.equal(counting, 21 - 7 - 2, "every other tick may run late");
  // Followers silent: the leader steps down at a quorum check, a tick the count named.
  let steppedDown = false;
  for (let i = 0; i < 3 * 7 && !steppedDown; i++) {
    const left = a.ticksUntilTimeout();
    tick();
    cluster.queue = [];
    steppedDown = a.status().role !== "Leader";
    assert.ok(!steppedDown || left === 1, `tick ${i}: stepped down on a tick that only counts`);
  }
  assert.ok(steppedDown, "check-quorum stepped the cut-off leader down");
});
