/**
 * The bounded in-memory log: compaction behind the commit point, compacted entries read back from
 * storage (for lagging followers, status queries), restarts that load only the entries after a
 * base, and the checks a restored base gets.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AssertionFailure } from "../../sdk/assert.js";
import { baseOf, ConsensusNode, type Entry, type Message } from "../../node/consensus/index.js";
import { ConsensusLog } from "../../node/consensus/log.js";
import { TEST_LIMITS, TestCluster, text, ZERO_RNG } from "./harness.js";

const TAIL = 4;
const LIMITS = { ...TEST_LIMITS, logTailEntries: TAIL };

function entry(view: number, seqno: number, signature = false, config?: string[]): Entry {
  return { view, seqno, signature, payload: text(`${view}.${seqno}`), ...(config && { config }) };
}

/** A log of views 1 (1..4), 2 (5..9), 3 (10..12); signatures at 3, 6, 9, 12; configs at 1 and 7. */
function sampleEntries(): Entry[] {
  const out: Entry[] = [];
  for (let s = 1; s <= 12; s++) {
    const view = s <= 4 ? 1 : s <= 9 ? 2 : 3;
    out.push(entry(view, s, s % 3 === 0, s === 1 ? ["a", "b"] : s === 7 ? ["a", "b", "c"] : undefined));
  }
  return out;
}

test("a compacted log answers views, entries, signatures and configs as the whole log did", () => {
  const all = sampleEntries();
  const full = new ConsensusLog();
  full.append(all);
  full.markAllPersisted();
  const window = new ConsensusLog({ entryAt: (s) => all[s - 1] });
  window.append(all);
  window.markAllPersisted();
  window.compact(8);
  window.checkConsistency();
  assert.equal(window.baseSeqno, 8);
  assert.equal(window.residentEntries, 4);
  for (let s = 0; s <= 13; s++) {
    assert.equal(window.viewAt(s), full.viewAt(s), `viewAt(${s})`);
    assert.deepEqual(window.entryAt(s), full.entryAt(s), `entryAt(${s})`);
    assert.equal(window.isSignature(s), full.isSignature(s), `isSignature(${s})`);
    assert.equal(window.lastSeqnoWithViewAtMost(s, 1), full.lastSeqnoWithViewAtMost(s, 1));
  }
  for (let s = 8; s <= 12; s++) {
    assert.equal(window.lastSignatureAtOrBefore(s), full.lastSignatureAtOrBefore(s));
    assert.deepEqual(window.configAt(s), full.configAt(s));
    assert.deepEqual(window.configsSince(s), full.configsSince(s));
  }
  assert.deepEqual(window.viewHistory(), full.viewHistory());
  assert.deepEqual(window.slice(2, 5, 1 << 20), full.slice(2, 5, 1 << 20), "old entries come from storage");
  assert.deepEqual(window.range(9, 12), full.range(9, 12));
  assert.throws(() => window.range(8, 9), AssertionFailure, "range is for the window only");
  assert.throws(() => window.truncateFrom(8), AssertionFailure, "compacted entries are never truncated");
  window.truncateFrom(11);
  full.truncateFrom(11);
  window.checkConsistency();
  assert.equal(window.lastSeqno, 10);
  assert.equal(window.lastView, 3);
});

test("compaction stops at the persisted point, and a log without storage never compacts", () => {
  const all = sampleEntries();
  const log = new ConsensusLog({ entryAt: (s) => all[s - 1] });
  log.append(all);
  log.markPersisted(5, 2);
  log.compact(10);
  assert.equal(log.baseSeqno, 5);
  assert.equal(new ConsensusLog().compactable, false);
  assert.throws(() => new ConsensusLog().compact(1), AssertionFailure);
});

test("a log restored at a base holds only the entries after it and matches the whole log", () => {
  const all = sampleEntries();
  const full = new ConsensusLog();
  full.append(all);
  for (const at of [0, 1, 4, 5, 7, 12]) {
    const log = new ConsensusLog({ entryAt: (s) => all[s - 1] });
    log.restore(baseOf(all, at));
    log.append(all.slice(at));
    log.markAllPersisted();
    log.checkConsistency();
    assert.equal(log.residentEntries, 12 - at);
    for (let s = 0; s <= 12; s++) assert.equal(log.viewAt(s), full.viewAt(s), `base ${at}: viewAt(${s})`);
    assert.deepEqual(log.latestConfig(), full.latestConfig());
    assert.deepEqual(log.configsSince(Math.max(at, 1)), full.configsSince(Math.max(at, 1)));
    assert.equal(log.lastSignatureAtOrBefore(12), 12);
  }
});

/** Cluster a,b,c with storage on every disk; `c` hears nothing while `count` entries commit. */
function laggingFollower(count: number): TestCluster {
  const cluster = new TestCluster(["a", "b", "c"], LIMITS, { storage: true });
  cluster.electAndSign("a");
  const cut = (m: Message) => m.to !== "c" && m.from !== "c";
  const a = cluster.core("a");
  for (let i = 0; i < count; i += 5) {
    a.propose([
      { signature: false, payload: text(`tx${i}`) },
      { signature: false, payload: text(`tx${i + 1}`) },
      { signature: false, payload: text(`tx${i + 2}`) },
      { signature: false, payload: text(`tx${i + 3}`) },
      { signature: true, payload: text(`sig${i}`) },
    ]);
    cluster.stabilize(cut);
    cluster.queue = cluster.queue.filter(cut);
  }
  a.tick();
  cluster.stabilize(cut);
  cluster.queue = cluster.queue.filter(cut);
  return cluster;
}

test("the leader keeps a bounded window and feeds a lagging follower from storage", () => {
  const cluster = laggingFollower(200);
  const a = cluster.core("a");
  const status = a.status();
  assert.ok(status.commitSeqno >= 200, `commit ${status.commitSeqno}`);
  const window = a.logWindow();
  assert.ok(window.baseSeqno > 150, `compacted through ${window.baseSeqno}`);
  assert.ok(window.residentEntries <= TAIL + TAIL / 4 + 5, `window of ${window.residentEntries}`);
  assert.deepEqual(a.entry(2), cluster.node("a").disk[1], "compacted entries read back from storage");
  assert.ok(cluster.core("c").status().lastSeqno <= 2, "c missed everything after the first signature");
  // c comes back: every entry it lacks is older than a's window.
  for (let i = 0; i < 200 && cluster.core("c").status().commitSeqno < status.commitSeqno; i++)
    cluster.heartbeat("a");
  assert.deepEqual(cluster.node("c").disk, cluster.node("a").disk, "c ends with the identical log");
  assert.equal(cluster.core("c").status().commitSeqno, status.commitSeqno);
  assert.ok(cluster.core("c").logWindow().baseSeqno > 150, "c compacts its own log too");
  for (const id of ["a", "b", "c"]) cluster.core(id).checkInvariants(true);
});

test("a node restarted from a base loads only the tail and carries on as before", () => {
  const cluster = laggingFollower(60);
  const b = cluster.node("b");
  const before = b.core.status();
  const base = baseOf(b.disk, b.hardState.commitSeqno);
  const restarted = cluster.add(
    "b",
    { hardState: b.hardState, base, entries: b.disk.slice(base.seqno) },
    b.disk,
  );
  assert.deepEqual(restarted.core.status(), { ...before, leader: null, role: "Follower" });
  assert.equal(restarted.core.logWindow().residentEntries, b.disk.length - base.seqno);
  assert.deepEqual(restarted.core.viewHistory(), b.core.viewHistory());
  cluster.core("a").propose([{ signature: true, payload: text("after") }]);
  cluster.stabilize((m) => m.to !== "c" && m.from !== "c");
  cluster.heartbeat("a");
  assert.equal(restarted.core.status().commitSeqno, cluster.core("a").status().commitSeqno);
  restarted.core.checkInvariants(true);
});

test("a restored base is checked: storage required, commit at or after it, well-formed history", () => {
  const all = sampleEntries();
  const storage = { entryAt: (s: number) => all[s - 1] };
  const hardState = { view: 3, votedFor: null, commitSeqno: 9 };
  const make = (base: ReturnType<typeof baseOf>, withStorage = true, commitSeqno = 9) =>
    new ConsensusNode(
      { id: "a", rng: ZERO_RNG, limits: LIMITS, ...(withStorage && { storage }) },
      { hardState: { ...hardState, commitSeqno }, base, entries: all.slice(base.seqno) },
    );
  const good = baseOf(all, 9);
  assert.equal(make(good).status().commitSeqno, 9);
  const code = (f: () => unknown, field: RegExp) =>
    assert.throws(
      f,
      (err: Error & { code?: string }) => err.code === "LedgerCorrupt" && field.test(err.message),
    );
  code(() => make(good, false), /^base/);
  code(() => make(good, true, 6), /commitSeqno/);
  code(() => make({ ...good, lastSignature: 10 }), /base\.lastSignature/);
  code(() => make({ ...good, views: [...good.views].reverse() }), /base\.views/);
  code(() => make({ ...good, view: 1 }), /base\.view/);
  code(() => make({ ...good, config: { seqno: 7, nodes: ["b", "a"] } }), /base\.config/);
});

test("a base with 200,000 view starts restores and installs (a long election history)", () => {
  const views = Array.from({ length: 200_000 }, (_, i) => ({ view: i + 1, startSeqno: i + 1 }));
  const base = {
    seqno: 200_000,
    view: 200_000,
    views,
    lastSignature: 200_000,
    config: { seqno: 1, nodes: ["a"] },
  };
  const restored = new ConsensusLog({ entryAt: () => undefined });
  restored.restore(base);
  assert.equal(restored.viewAt(150_000), 150_000);
  const installed = new ConsensusLog({ entryAt: () => undefined });
  installed.installBase(base);
  assert.equal(installed.viewAt(200_000), 200_000);
});
