/**
 * The consensus payloads a replica sends (encodeConsensusMessages, node/replica.ts): messages
 * travel without `from`/`to` (the receiver takes both from the authenticated frame), so a
 * leader's appends to followers at the same position are encoded once and share one payload,
 * while anything that differs (position, commit point, read round, entry objects) is encoded on
 * its own; and a follower core answers the shared payload as it answers the message it stands for.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AppendMessage, Entry, Message } from "../../node/consensus/types.js";
import { mergeAppends } from "../../node/replica-batch.js";
import type { ConsensusNode } from "../../node/consensus/node.js";
import { encodeConsensusMessages, WIRE_CONSENSUS } from "../../node/replica.js";
import { decode, encode } from "../../sdk/codec.js";
import { TestCluster, text } from "../consensus/harness.js";
import { stubReplica } from "./stub-replica.js";

function entry(seqno: number): Entry {
  return { view: 2, seqno, signature: false, payload: text(`e${seqno}`) };
}

function append(
  to: string,
  prevSeqno: number,
  entries: readonly Entry[],
  extra: Partial<AppendMessage> = {},
) {
  return {
    type: "append",
    from: "l",
    to,
    view: 2,
    prevSeqno,
    prevView: 2,
    entries,
    commitSeqno: 3,
    ...extra,
  } satisfies AppendMessage;
}

/** What a receiver decodes from a payload, before it adds the frame's sender and receiver. */
function unwrap(payload: Uint8Array): unknown {
  const wire = decode<{ t: unknown; m: unknown }>(payload, "test payload");
  assert.equal(wire.t, WIRE_CONSENSUS);
  return wire.m;
}

/** Asserts that `payload` is `m` without `from` and `to`, as its own encoding would be. */
function assertCarries(payload: Uint8Array, m: Message): void {
  const { from: _from, to: _to, ...rest } = m;
  assert.deepEqual(unwrap(payload), decode(encode(rest)));
  assert.deepEqual(new Uint8Array(payload), new Uint8Array(encode({ t: WIRE_CONSENSUS, m: rest })));
}

describe("encodeConsensusMessages", () => {
  test("appends to followers at the same position share one payload, without from and to", () => {
    const entries = [entry(4), entry(5)];
    const messages = ["a", "b", "c", "d"].map((to) => append(to, 3, entries));
    const payloads = encodeConsensusMessages(messages);
    assert.equal(payloads.length, 4);
    for (const p of payloads) assert.equal(p, payloads[0], "one Uint8Array for every follower");
    assertCarries(payloads[0]!, messages[0]!);
  });

  test("whatever differs is encoded on its own, and each payload says its own message", () => {
    const entries = [entry(4), entry(5)];
    const base = append("a", 3, entries);
    const others: Message[] = [
      append("b", 4, [entries[1]!]), // another position
      append("c", 3, entries, { commitSeqno: 4 }),
      append("d", 3, entries, { readRound: 7 }),
      append("e", 3, [entry(4), entry(5)]), // equal-looking entries, other objects
      append("f", 3, entries, { view: 3 }),
      { type: "voteResponse", from: "l", to: "g", view: 2, preVote: false, granted: true },
      { type: "voteResponse", from: "l", to: "h", view: 2, preVote: false, granted: true },
    ];
    const messages = [base, ...others];
    const payloads = encodeConsensusMessages(messages);
    assert.equal(new Set(payloads).size, messages.length);
    for (const [i, m] of messages.entries()) assertCarries(payloads[i]!, m);
  });

  test("a follower core answers the shared payload as it answers the message itself", () => {
    const run = (shared: boolean) => {
      const cluster = new TestCluster(["l", "f", "g", "h", "i"]);
      cluster.electAndSign("l");
      const leader = cluster.core("l");
      leader.propose([{ signature: false, payload: text("one") }]);
      leader.propose([{ signature: true, payload: new Uint8Array() }]);
      const sent = mergeAppends(leader.ready().messages, leader.limits);
      const appends = sent.filter((m) => m.type === "append");
      assert.equal(appends.length, 4, "one append to each follower");
      const payloads = encodeConsensusMessages(sent);
      if (shared) assert.equal(new Set(payloads.filter((_, i) => sent[i]!.type === "append")).size, 1);
      const i = sent.findIndex((m) => m.to === "f");
      // As node/replica.ts receives it: the frame's sender and receiver replace the payload's.
      const message = shared
        ? ({ ...(unwrap(payloads[i]!) as Message), from: "l", to: "f" } as Message)
        : sent[i]!;
      const follower = cluster.core("f");
      follower.step(message);
      const answer = follower.ready();
      const last = answer.entries.at(-1)!;
      follower.ackPersisted(last.seqno, last.view);
      return {
        entries: answer.entries.map((e) => [e.view, e.seqno, e.signature, [...e.payload]]),
        commit: follower.status().commitSeqno,
        acks: [...answer.messages, ...follower.ready().messages].filter((m) => m.type === "appendResponse"),
      };
    };
    assert.deepEqual(run(true), run(false));
  });
});

describe("Replica.receive", () => {
  test("a message is stepped with the frame's sender and this node as receiver, whatever its payload claims", async () => {
    const stepped: Message[] = [];
    // Only what receiving one message touches: the core's id, step, status and Readys.
    const consensus = {
      id: "me",
      step: (m: Message) => stepped.push(m),
      status: () => ({ leader: null }),
      hasReady: () => false,
    } as unknown as ConsensusNode;
    const replica = stubReplica(consensus);
    const claimed = { type: "appendResponse", from: "mallory", to: "someone-else", view: 2, success: true };
    replica.receive("peer", encode({ t: WIRE_CONSENSUS, m: claimed }));
    await new Promise((resolve) => setImmediate(resolve)); // received messages are handled in a later task
    assert.equal(stepped.length, 1);
    assert.equal(stepped[0]!.from, "peer");
    assert.equal(stepped[0]!.to, "me");
    assert.equal(stepped[0]!.type, "appendResponse");
    assert.equal(stepped[0]!.view, 2);
    replica.close();
  });

  test("the messages received in one turn are all stepped before the replica takes a Ready", async () => {
    const calls: string[] = [];
    const consensus = {
      id: "me",
      step: (m: Message) => calls.push(`step ${m.view}`),
      currentLeader: () => null,
      hasReady: () => {
        calls.push("hasReady");
        return false;
      },
    } as unknown as ConsensusNode;
    const replica = stubReplica(consensus);
    for (const view of [2, 3, 4])
      replica.receive(
        "peer",
        encode({ t: WIRE_CONSENSUS, m: { type: "appendResponse", view, success: true } }),
      );
    await new Promise((resolve) => setImmediate(resolve));
    // One Ready for the slice (a follower persists and acknowledges its appends together).
    assert.deepEqual(calls, ["step 2", "step 3", "step 4", "hasReady"]);
    replica.close();
  });

  test("the ticks whose time has come run before a slice's messages are stepped, once per slice", async () => {
    const calls: string[] = [];
    const consensus = {
      id: "me",
      step: (m: Message) => calls.push(`step ${m.view}`),
      currentLeader: () => null,
      hasReady: () => {
        calls.push("hasReady");
        return false;
      },
    } as unknown as ConsensusNode;
    // The driver's catch-up (TickTimer.catchUp): a message that resets the election count must
    // come after the ticks that were due before it, however seldom the timer fires.
    const replica = stubReplica(consensus, {}, { beforeSlice: () => calls.push("ticks") });
    const send = (view: number) =>
      replica.receive(
        "peer",
        encode({ t: WIRE_CONSENSUS, m: { type: "appendResponse", view, success: true } }),
      );
    send(2);
    send(3);
    await new Promise((resolve) => setImmediate(resolve));
    send(4);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(calls, ["ticks", "step 2", "step 3", "hasReady", "ticks", "step 4", "hasReady"]);
    replica.close();
  });
});
