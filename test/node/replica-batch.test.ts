/**
 * The replica's per-turn batch (node/replica-batch.ts): which append responses merge, and that a
 * turn's applies, commit and messages are handed on once, in order (apply before commit, both
 * before the messages), with nothing handed on after the replica stopped.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AppendResponseMessage, Message } from "../../node/consensus/types.js";
import type { ExecutionService, VersionedWriteSet } from "../../node/execution/service.js";
import { mergeAppendAcks, ReplicaBatch } from "../../node/replica-batch.js";

function ack(to: string, seqno: number, extra: Partial<AppendResponseMessage> = {}): AppendResponseMessage {
  return {
    type: "appendResponse",
    from: "f",
    to,
    view: 2,
    success: true,
    seqno,
    hintSeqno: seqno,
    hintView: 2,
    ...extra,
  };
}

const vote: Message = { type: "voteResponse", from: "f", to: "l", view: 2, preVote: false, granted: true };

describe("mergeAppendAcks", () => {
  test("keeps only the highest of consecutive successful acks to one leader", () => {
    assert.deepEqual(mergeAppendAcks([ack("l", 5), ack("l", 9), ack("l", 12)]), [ack("l", 12)]);
  });

  test("keeps acks to different nodes apart", () => {
    const out = mergeAppendAcks([ack("a", 5), ack("b", 6), ack("a", 7), ack("b", 8)]);
    assert.deepEqual(out, [ack("a", 7), ack("b", 8)]);
  });

  test("never merges across views, NACKs, other messages, or a lower read round", () => {
    const cases: Message[][] = [
      [ack("l", 5), ack("l", 9, { view: 3, hintView: 3 })],
      [ack("l", 5), ack("l", 4, { success: false }), ack("l", 9)],
      [ack("l", 5), vote, ack("l", 9)],
      [ack("l", 5, { readRound: 4 }), ack("l", 9, { readRound: 3 })],
      [ack("l", 5, { readRound: 4 }), ack("l", 9)],
      [ack("l", 9), ack("l", 5)],
    ];
    for (const messages of cases) assert.deepEqual(mergeAppendAcks(messages), messages);
  });

  test("a later read round supersedes an earlier one", () => {
    const later = ack("l", 9, { readRound: 4 });
    assert.deepEqual(mergeAppendAcks([ack("l", 5, { readRound: 3 }), later]), [later]);
    assert.deepEqual(mergeAppendAcks([ack("l", 5), later]), [later]);
  });
});

/** Records what the batch hands on, in order. */
function recorder() {
  const calls: string[] = [];
  const execution = {
    apply: async (items: readonly VersionedWriteSet[]) => {
      calls.push(`apply ${items.map((i) => i.version).join(",")}`);
    },
    commit: async (version: number) => {
      calls.push(`commit ${version}`);
    },
  } as unknown as ExecutionService;
  let stopped = false;
  const failures: unknown[] = [];
  const batch = new ReplicaBatch({
    execution,
    send: (messages) =>
      calls.push(`send ${messages.map((m) => (m.type === "appendResponse" ? m.seqno : m.type)).join(",")}`),
    fail: (err) => failures.push(err),
    stopped: () => stopped,
  });
  return { batch, calls, failures, stop: () => (stopped = true) };
}

const empty = { public: [], private: [] };
const items = (...versions: number[]) => versions.map((version) => ({ version, writeSet: empty }));

describe("ReplicaBatch", () => {
  test("hands on a turn's applies, highest commit and merged acks once, after the turn", async () => {
    const { batch, calls } = recorder();
    batch.apply(items(1, 2));
    batch.send([ack("l", 2)]);
    batch.apply(items(3));
    batch.commit(2);
    batch.send([ack("l", 3)]);
    batch.commit(1);
    assert.deepEqual(calls, [], "nothing within the turn");
    await new Promise((resolve) => process.nextTick(resolve));
    assert.deepEqual(calls, ["apply 1,2,3", "commit 2", "send 3"]);
  });

  test("flushApplies hands on only the applies; flush everything, at once", () => {
    const { batch, calls } = recorder();
    batch.apply(items(4));
    batch.commit(4);
    batch.send([vote]);
    batch.flushApplies();
    assert.deepEqual(calls, ["apply 4"]);
    batch.flush();
    assert.deepEqual(calls, ["apply 4", "commit 4", "send voteResponse"]);
    batch.flush();
    assert.equal(calls.length, 3, "nothing twice");
  });

  test("a stopped replica hands nothing on", async () => {
    const { batch, calls, stop } = recorder();
    batch.apply(items(1));
    batch.send([ack("l", 1)]);
    stop();
    await new Promise((resolve) => process.nextTick(resolve));
    assert.deepEqual(calls, []);
  });

  test("a failed apply or commit reaches fail", async () => {
    const failures: unknown[] = [];
    const execution = {
      apply: () => Promise.reject(new Error("apply broke")),
      commit: () => Promise.reject(new Error("commit broke")),
    } as unknown as ExecutionService;
    const batch = new ReplicaBatch({
      execution,
      send: () => {},
      fail: (e) => failures.push(e),
      stopped: () => false,
    });
    batch.apply(items(1));
    batch.commit(1);
    batch.flush();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      failures.map((e) => (e as Error).message),
      ["apply broke", "commit broke"],
    );
  });
});
