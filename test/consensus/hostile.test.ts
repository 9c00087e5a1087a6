/**
 * Hostile input: every row steps one bad message into a node of a healthy 3-node cluster (a
 * leads view 2, entries 1..4 committed everywhere). None may throw, none may change what is
 * committed, and each is counted under the expected reason.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { ConsensusNode, Entry, Message, RejectReason } from "../../node/consensus/index.js";
import { TEST_LIMITS, TestCluster, text } from "./harness.js";

function healthyCluster(checkQuorum = true): TestCluster {
  const cluster = new TestCluster(["a", "b", "c"], { ...TEST_LIMITS, checkQuorum });
  cluster.electAndSign("a");
  cluster.core("a").propose([
    { signature: false, payload: text("x") },
    { signature: true, payload: new Uint8Array() },
  ]);
  cluster.stabilize();
  cluster.heartbeat("a");
  for (const id of ["a", "b", "c"]) assert.equal(cluster.core(id).status().commitSeqno, 4);
  return cluster;
}

function committedPrefix(core: ConsensusNode): Entry[] {
  const out: Entry[] = [];
  for (let s = 1; s <= core.status().commitSeqno; s++) out.push(core.entry(s)!);
  return out;
}

const entry = (view: number, seqno: number, extra: Partial<Entry> = {}): Entry => ({
  view,
  seqno,
  signature: false,
  payload: text("e"),
  ...extra,
});

const append = (fields: Partial<Record<string, unknown>> = {}): Record<string, unknown> => ({
  type: "append",
  from: "a",
  to: "b",
  view: 2,
  prevSeqno: 4,
  prevView: 2,
  entries: [],
  commitSeqno: 4,
  ...fields,
});

/** b's answer to a's append (success at seqno 4, view 2); `fields` override. */
const appendResponse = (fields: Partial<Record<string, unknown>> = {}): Record<string, unknown> => ({
  type: "appendResponse",
  from: "b",
  to: "a",
  view: 2,
  success: true,
  seqno: 4,
  hintSeqno: 4,
  hintView: 2,
  ...fields,
});

/** c asks b for its vote in view 9 with a log shorter than b's (up to 1 in view 1). */
const requestVote = (fields: Partial<Record<string, unknown>> = {}): Record<string, unknown> => ({
  type: "requestVote",
  from: "c",
  to: "b",
  view: 9,
  lastSeqno: 1,
  lastView: 1,
  preVote: false,
  transfer: false,
  ...fields,
});

const snapshotOffer = (snapshot: Partial<Record<string, unknown>> = {}): Record<string, unknown> => ({
  type: "installSnapshot",
  from: "a",
  to: "b",
  view: 2,
  snapshot: {
    seqno: 4,
    view: 2,
    views: [
      { view: 1, startSeqno: 1 },
      { view: 2, startSeqno: 2 },
    ],
    lastSignature: 4,
    config: { seqno: 1, nodes: ["a", "b", "c"] },
    ...snapshot,
  },
});

interface Row {
  readonly name: string;
  readonly to: "a" | "b";
  readonly message: unknown;
  readonly reason: RejectReason | null;
  readonly checkQuorum?: boolean;
}

const ROWS: readonly Row[] = [
  // Install-snapshot offers: metadata checked field by field; one already held is acknowledged.
  {
    name: "snapshot without metadata",
    to: "b",
    message: { ...snapshotOffer(), snapshot: null },
    reason: "malformed",
  },
  {
    name: "snapshot at seqno 0",
    to: "b",
    message: snapshotOffer({ seqno: 0, lastSignature: 0 }),
    reason: "malformed",
  },
  {
    name: "snapshot not at a signature",
    to: "b",
    message: snapshotOffer({ lastSignature: 3 }),
    reason: "malformed",
  },
  { name: "snapshot from a later view", to: "b", message: snapshotOffer({ view: 3 }), reason: "malformed" },
  {
    name: "snapshot without configuration",
    to: "b",
    message: snapshotOffer({ config: undefined }),
    reason: "malformed",
  },
  {
    name: "snapshot with an unsorted configuration",
    to: "b",
    message: snapshotOffer({ config: { seqno: 1, nodes: ["c", "a"] } }),
    reason: "malformed",
  },
  {
    name: "snapshot whose configuration is after it",
    to: "b",
    message: snapshotOffer({ config: { seqno: 5, nodes: ["a", "b", "c"] } }),
    reason: "malformed",
  },
  {
    name: "snapshot with an empty view history",
    to: "b",
    message: snapshotOffer({ views: [] }),
    reason: "malformed",
  },
  {
    name: "snapshot whose history ends in another view",
    to: "b",
    message: snapshotOffer({ views: [{ view: 1, startSeqno: 1 }] }),
    reason: "malformed",
  },
  {
    name: "snapshot with a descending view history",
    to: "b",
    message: snapshotOffer({
      views: [
        { view: 2, startSeqno: 1 },
        { view: 1, startSeqno: 2 },
        { view: 2, startSeqno: 3 },
      ],
    }),
    reason: "malformed",
  },
  {
    name: "snapshot offered by a follower to the leader",
    to: "a",
    message: { ...snapshotOffer(), from: "b", to: "a" },
    reason: "conflictingLeader",
  },
  {
    name: "snapshot from a node other than the leader",
    to: "b",
    message: { ...snapshotOffer(), from: "c" },
    reason: "conflictingLeader",
  },
  {
    name: "snapshot from an older view",
    to: "b",
    message: {
      ...snapshotOffer({ seqno: 1, view: 1, lastSignature: 1, views: [{ view: 1, startSeqno: 1 }] }),
      view: 1,
    },
    reason: "staleView",
  },
  { name: "snapshot already held (at commit)", to: "b", message: snapshotOffer(), reason: null },
  {
    name: "snapshot behind commit",
    to: "b",
    message: snapshotOffer({ seqno: 2, lastSignature: 2 }),
    reason: null,
  },
  // Shapes the transport should never pass on, checked anyway.
  { name: "null", to: "b", message: null, reason: "malformed" },
  { name: "a number", to: "b", message: 42, reason: "malformed" },
  { name: "unknown type", to: "b", message: append({ type: "snapshot" }), reason: "malformed" },
  { name: "missing from", to: "b", message: append({ from: undefined }), reason: "malformed" },
  { name: "empty from", to: "b", message: append({ from: "" }), reason: "malformed" },
  { name: "huge node id", to: "b", message: append({ from: "x".repeat(10_000) }), reason: "malformed" },
  { name: "negative view", to: "b", message: append({ view: -1 }), reason: "malformed" },
  { name: "NaN view", to: "b", message: append({ view: Number.NaN }), reason: "malformed" },
  { name: "fractional seqno", to: "b", message: append({ prevSeqno: 1.5 }), reason: "malformed" },
  { name: "unsafe integer", to: "b", message: append({ commitSeqno: 2 ** 60 }), reason: "malformed" },
  { name: "negative read round", to: "b", message: append({ readRound: -1 }), reason: "malformed" },
  { name: "text read round", to: "b", message: append({ readRound: "1" }), reason: "malformed" },
  {
    name: "ack with a fractional read round",
    to: "a",
    message: appendResponse({ readRound: 0.5 }),
    reason: "malformed",
  },
  { name: "view as string", to: "b", message: append({ view: "2" }), reason: "malformed" },
  { name: "entries not an array", to: "b", message: append({ entries: {} }), reason: "malformed" },
  { name: "entry not an object", to: "b", message: append({ entries: [7] }), reason: "malformed" },
  {
    name: "payload as string",
    to: "b",
    message: append({ entries: [{ ...entry(2, 5), payload: "e" }] }),
    reason: "malformed",
  },
  {
    name: "config entry flagged as signature",
    to: "b",
    message: append({ entries: [entry(2, 5, { signature: true, config: ["a", "b"] })] }),
    reason: "malformed",
  },
  {
    name: "unsorted configuration",
    to: "b",
    message: append({ entries: [entry(2, 5, { config: ["b", "a"] })] }),
    reason: "malformed",
  },
  {
    name: "empty configuration",
    to: "b",
    message: append({ entries: [entry(2, 5, { config: [] })] }),
    reason: "malformed",
  },
  {
    name: "batch above maxBatchEntries",
    to: "b",
    message: append({ entries: Array.from({ length: 17 }, (_, i) => entry(2, 5 + i)) }),
    reason: "batchTooLarge",
  },
  {
    name: "batch above maxBatchBytes",
    to: "b",
    message: append({ entries: [entry(2, 5, { payload: new Uint8Array(1025) })] }),
    reason: "batchTooLarge",
  },
  { name: "seqno gap in batch", to: "b", message: append({ entries: [entry(2, 6)] }), reason: "badEntries" },
  {
    name: "views decreasing in batch",
    to: "b",
    message: append({ view: 3, entries: [entry(3, 5), entry(2, 6)] }),
    reason: "badEntries",
  },
  {
    name: "entry from a future view",
    to: "b",
    message: append({ entries: [entry(3, 5)] }),
    reason: "badEntries",
  },
  { name: "prevView above the view", to: "b", message: append({ prevView: 3 }), reason: "badEntries" },
  {
    name: "prevSeqno 0 with a view",
    to: "b",
    message: append({ prevSeqno: 0, prevView: 1 }),
    reason: "badEntries",
  },
  // Misrouted or impersonating.
  { name: "addressed to another node", to: "b", message: append({ to: "c" }), reason: "wrongRecipient" },
  { name: "claims to come from the receiver", to: "b", message: append({ from: "b" }), reason: "fromSelf" },
  // Unknown nodes.
  {
    name: "vote answer from an unknown node",
    to: "a",
    message: { type: "voteResponse", from: "zz", to: "a", view: 2, preVote: false, granted: true },
    reason: "unknownSender",
  },
  {
    name: "ack from an unknown node",
    to: "a",
    message: appendResponse({ from: "zz" }),
    reason: "unknownSender",
  },
  {
    name: "timeout-now from an unknown node",
    to: "b",
    message: { type: "timeoutNow", from: "zz", to: "b", view: 2 },
    reason: "unknownSender",
  },
  {
    name: "vote request from an unknown node while the leader is alive",
    to: "b",
    message: requestVote({ from: "zz", view: 3, lastSeqno: 9, lastView: 2 }),
    reason: "voteInLease",
  },
  // Old views.
  {
    name: "append from an old view",
    to: "b",
    message: append({ view: 1, prevSeqno: 1, prevView: 1 }),
    reason: "staleView",
  },
  {
    name: "vote request from an old view",
    to: "b",
    message: requestVote({ view: 1 }),
    reason: "staleView",
  },
  {
    name: "ack from an old view",
    to: "a",
    message: appendResponse({ view: 1 }),
    reason: "staleView",
  },
  // Out of range.
  { name: "prevSeqno far beyond the log", to: "b", message: append({ prevSeqno: 1_000_000 }), reason: null },
  {
    name: "commit point far beyond the entries",
    to: "b",
    message: append({ entries: [entry(2, 5)], commitSeqno: 1_000_000 }),
    reason: null,
  },
  {
    name: "ack beyond the leader's log",
    to: "a",
    message: appendResponse({ seqno: 99, hintSeqno: 99 }),
    reason: "ackBeyondLog",
  },
  {
    name: "NACK with an absurd hint",
    to: "a",
    message: appendResponse({ success: false, hintSeqno: 2 ** 40, hintView: 2 ** 40 }),
    reason: "staleResponse",
  },
  {
    name: "NACK below the known match",
    to: "a",
    message: appendResponse({ success: false, seqno: 2, hintSeqno: 0, hintView: 0 }),
    reason: "staleResponse",
  },
  // Conflicting claims.
  {
    name: "a second leader in the same view",
    to: "b",
    message: append({ from: "c" }),
    reason: "conflictingLeader",
  },
  {
    name: "append to the leader in its own view",
    to: "a",
    message: append({ from: "b", to: "a" }),
    reason: "conflictingLeader",
  },
  {
    name: "overwrite of committed entries",
    to: "b",
    message: append({ prevSeqno: 1, prevView: 1, entries: [entry(1, 2)] }),
    reason: "wouldTruncateCommitted",
  },
  {
    name: "mismatch claimed inside the committed prefix",
    to: "b",
    message: append({ prevSeqno: 3, prevView: 1 }),
    reason: "wouldTruncateCommitted",
  },
  {
    name: "timeout-now from a follower",
    to: "b",
    message: { type: "timeoutNow", from: "c", to: "b", view: 2 },
    reason: "unexpected",
  },
  {
    name: "vote answer to a node that is not campaigning",
    to: "b",
    message: { type: "voteResponse", from: "c", to: "b", view: 2, preVote: false, granted: true },
    reason: "staleResponse",
  },
  // A node claiming a higher view with a shorter log: ignored during the lease, refused after.
  {
    name: "higher view, shorter log, leader alive",
    to: "b",
    message: requestVote(),
    reason: "voteInLease",
  },
  {
    name: "higher view, shorter log, no lease",
    to: "b",
    message: requestVote(),
    reason: null,
    checkQuorum: false,
  },
  {
    name: "higher view pre-vote with a shorter log, no lease",
    to: "b",
    message: requestVote({ preVote: true }),
    reason: null,
    checkQuorum: false,
  },
];

for (const row of ROWS) {
  test(`hostile: ${row.name}`, () => {
    const cluster = healthyCluster(row.checkQuorum ?? true);
    const core = cluster.core(row.to);
    const before = core.status();
    const prefix = committedPrefix(core);
    const rejectedBefore = core.stats().rejected;
    core.step(row.message as Message);
    const rd = core.ready();
    core.checkInvariants(true);
    const after = core.status();
    assert.ok(after.commitSeqno >= before.commitSeqno, "commit never goes backwards");
    assert.deepEqual(committedPrefix(core).slice(0, prefix.length), prefix, "committed entries unchanged");
    assert.equal(rd.truncateFromSeqno, null, "no durable entry removed");
    const rejected = core.stats().rejected;
    for (const [reason, count] of Object.entries(rejected)) {
      const expected = rejectedBefore[reason as RejectReason] + (reason === row.reason ? 1 : 0);
      assert.equal(count, expected, `counter ${reason}`);
    }
    if (row.reason === null) {
      // Accepted as protocol traffic: any effect must be one the protocol allows.
      if (row.name.startsWith("higher view, shorter log")) {
        assert.equal(after.view, 9, "moves to the higher view");
        assert.equal(after.votedFor, null, "but does not vote for the shorter log");
        assert.ok(rd.messages.every((m) => m.type !== "voteResponse" || !m.granted));
      }
      if (row.name.startsWith("higher view pre-vote")) {
        assert.equal(after.view, before.view, "a pre-vote changes nothing");
        assert.ok(rd.messages.every((m) => m.type !== "voteResponse" || !m.granted));
      }
      if (row.name === "commit point far beyond the entries") assert.equal(after.commitSeqno, 4);
      if (row.name.startsWith("snapshot")) {
        assert.equal(rd.installSnapshot, null, "a snapshot at or behind commit is never installed");
        assert.deepEqual(after, before, "nothing changes");
      }
      if (row.name === "prevSeqno far beyond the log") {
        assert.deepEqual(
          rd.messages.map((m) => m.type === "appendResponse" && !m.success && m.hintSeqno),
          [4],
        );
      }
    }
  });
}

test("hostile: a duplicated append changes nothing the second time", () => {
  const cluster = healthyCluster();
  const b = cluster.core("b");
  const message = append({ entries: [entry(2, 5)] }) as unknown as Message;
  b.step(message);
  const first = b.ready();
  assert.equal(first.entries.length, 1);
  b.step(message);
  const second = b.ready();
  assert.deepEqual(second.entries, []);
  assert.equal(second.truncateFromSeqno, null);
  assert.equal(b.status().lastSeqno, 5);
});

test("hostile: random messages never throw, never shrink or rewrite the committed prefix", () => {
  const ids = ["a", "b", "c", "zz", ""];
  const entryArb = fc.record({
    view: fc.integer({ min: 0, max: 5 }),
    seqno: fc.integer({ min: 0, max: 8 }),
    signature: fc.boolean(),
    payload: fc.oneof(fc.uint8Array({ maxLength: 4 }), fc.constant("x")),
  });
  const messageArb = fc.record({
    type: fc.constantFrom(
      "append",
      "appendResponse",
      "requestVote",
      "voteResponse",
      "timeoutNow",
      "installSnapshot",
      "other",
    ),
    from: fc.constantFrom(...ids),
    to: fc.constantFrom("a", "b"),
    view: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constant(-1), fc.constant(Number.NaN)),
    prevSeqno: fc.integer({ min: 0, max: 8 }),
    prevView: fc.integer({ min: 0, max: 5 }),
    entries: fc.array(entryArb, { maxLength: 4 }),
    commitSeqno: fc.integer({ min: 0, max: 10 }),
    success: fc.boolean(),
    seqno: fc.integer({ min: 0, max: 10 }),
    hintSeqno: fc.integer({ min: 0, max: 10 }),
    hintView: fc.integer({ min: 0, max: 6 }),
    lastSeqno: fc.integer({ min: 0, max: 10 }),
    lastView: fc.integer({ min: 0, max: 6 }),
    preVote: fc.boolean(),
    transfer: fc.boolean(),
    granted: fc.boolean(),
    snapshot: fc.record({
      seqno: fc.integer({ min: 0, max: 8 }),
      view: fc.integer({ min: 0, max: 6 }),
      views: fc.array(
        fc.record({ view: fc.integer({ min: 0, max: 6 }), startSeqno: fc.integer({ min: 0, max: 8 }) }),
        { maxLength: 3 },
      ),
      lastSignature: fc.integer({ min: 0, max: 8 }),
      config: fc.record({
        seqno: fc.integer({ min: 0, max: 8 }),
        nodes: fc.constantFrom(["a", "b", "c"], ["b"], []),
      }),
    }),
  });
  fc.assert(
    fc.property(fc.array(messageArb, { minLength: 1, maxLength: 12 }), (messages) => {
      const cluster = healthyCluster();
      const prefixes = new Map(["a", "b"].map((id) => [id, committedPrefix(cluster.core(id))]));
      for (const m of messages) {
        const core = cluster.core(m.to);
        core.step(m as unknown as Message);
        core.ready();
        core.tick();
        core.ready();
        core.checkInvariants();
      }
      for (const id of ["a", "b"]) {
        const prefix = prefixes.get(id)!;
        assert.deepEqual(committedPrefix(cluster.core(id)).slice(0, prefix.length), prefix);
      }
    }),
    { numRuns: 150 },
  );
});
