/**
 * The start-up phase machine (node/lifecycle.ts) on a fake clock: replay progress and its
 * pacing, and when a node that runs starts serving.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Lifecycle, type Progress } from "../../node/lifecycle.js";
import { createLogger } from "../../node/log.js";

function fixture(hook?: (p: Progress) => void) {
  let nowMs = 0;
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) });
  const lifecycle = new Lifecycle({
    logger,
    now: () => nowMs,
    ...(hook !== undefined && { hook }),
  });
  return {
    lifecycle,
    lines,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

describe("node lifecycle", () => {
  it("reports replay progress and yields only after enough uninterrupted work", async () => {
    const { lifecycle, lines, advance } = fixture();
    const pace = lifecycle.replay("ledger", 1000);
    assert.deepEqual(lifecycle.progress, { phase: "replaying", step: "ledger", done: 0, total: 1000 });
    assert.equal(pace(256), undefined, "no yield before 50 ms of work");
    assert.deepEqual(lifecycle.progress, { phase: "replaying", step: "ledger", done: 256, total: 1000 });
    assert.equal(pace(300), undefined, "the clock is read every 256 entries only");
    advance(60);
    const wait = pace(512);
    assert.ok(wait instanceof Promise, "yields after 50 ms of work");
    await wait;
    advance(2000);
    await pace(768);
    assert.ok(
      lines.some((l) => l.msg === "replaying" && l.step === "ledger" && l.done === 768 && l.total === 1000),
      "a progress line every 2 s",
    );
    pace(1000);
    assert.deepEqual(lifecycle.progress, { phase: "replaying", step: "ledger", done: 1000, total: 1000 });
    assert.ok(lines.some((l) => l.msg === "replayed" && l.step === "ledger" && l.total === 1000));
  });

  it("awaits the replay hook at every yield point", async () => {
    const seen: Progress[] = [];
    const { lifecycle } = fixture((p) => {
      seen.push(p);
    });
    const pace = lifecycle.replay("log", 300);
    await pace(256);
    await pace(300);
    assert.deepEqual(
      seen.map((p) => p.done),
      [256, 300],
    );
  });

  it("a follower serves once its commit point reaches the leader's first reported one", () => {
    const { lifecycle } = fixture();
    lifecycle.enter("catching_up");
    lifecycle.observe({ isLeader: false, commitSeqno: 5, leaderCommitSeqno: null });
    assert.equal(lifecycle.progress.phase, "catching_up", "no leader heard yet");
    lifecycle.observe({ isLeader: false, commitSeqno: 5, leaderCommitSeqno: 100 });
    assert.deepEqual(lifecycle.progress, { phase: "catching_up", done: 5, total: 100 });
    // The leader moves on; the target stays the first commit point it reported.
    lifecycle.observe({ isLeader: false, commitSeqno: 100, leaderCommitSeqno: 180 });
    assert.equal(lifecycle.serving, true);
    lifecycle.observe({ isLeader: false, commitSeqno: 1, leaderCommitSeqno: 500 });
    assert.equal(lifecycle.serving, true, "serving is final: later lag is ordinary replication");
  });

  it("a leader serves at once; pending carries what the node waits for", () => {
    const { lifecycle } = fixture();
    lifecycle.pending("waiting for members to trust node ab (proposal trust_node)");
    assert.deepEqual(lifecycle.progress, {
      phase: "pending",
      waitingFor: "waiting for members to trust node ab (proposal trust_node)",
    });
    lifecycle.enter("catching_up");
    lifecycle.observe({ isLeader: true, commitSeqno: 0, leaderCommitSeqno: null });
    assert.deepEqual(lifecycle.progress, { phase: "serving" });
  });

  it("catching_up says why it may wait for good until a leader reports its commit point", () => {
    const { lifecycle } = fixture();
    lifecycle.waiting("nobody to ask");
    assert.deepEqual(lifecycle.progress, { phase: "starting" }, "only while catching up");
    lifecycle.enter("catching_up");
    lifecycle.waiting("nobody to ask");
    lifecycle.observe({ isLeader: false, commitSeqno: 5, leaderCommitSeqno: null });
    assert.deepEqual(lifecycle.progress, { phase: "catching_up", waitingFor: "nobody to ask" });
    lifecycle.observe({ isLeader: false, commitSeqno: 5, leaderCommitSeqno: 100 });
    assert.deepEqual(lifecycle.progress, { phase: "catching_up", done: 5, total: 100 });
  });
});
