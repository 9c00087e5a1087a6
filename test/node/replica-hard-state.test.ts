/**
 * The replica holds its hard states (the durable one, the latest one) as `HeldHardState`s: one
 * hidden class whatever object a copy was made from (the core's Ready literal, the state file's
 * JSON, a snapshot install's literal, an earlier copy), so the checkpoint check that runs in every
 * Ready (inlined into `Replica.#handle`) reads them monomorphically and stays optimized
 * (docs/performance.md, "A follower's CPU per write, session 22"). The file's text is unchanged.
 *
 * Whether copies share a map and code stays optimized is only visible with
 * `--allow-natives-syntax`, so that check runs in a child process.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HeldHardState } from "../../node/replica.js";
import { runWithNatives } from "../support/natives.js";

const replicaUrl = new URL("../../node/replica.js", import.meta.url).href;

describe("the replica's held hard states", () => {
  it("copy the view and vote, take the commit point given, and serialize as the hard state did", () => {
    const hard = { view: 3, votedFor: "n1", commitSeqno: 40 };
    const copy = HeldHardState.of(hard);
    assert.deepEqual({ ...copy }, hard);
    const moved = HeldHardState.of(copy, 4136);
    assert.deepEqual({ ...moved }, { view: 3, votedFor: "n1", commitSeqno: 4136 });
    assert.equal(copy.commitSeqno, 40, "the source is not changed");
    // The hard state file holds this text (node/hard-state-file.ts): the same as the literal's.
    assert.equal(JSON.stringify(moved), JSON.stringify({ view: 3, votedFor: "n1", commitSeqno: 4136 }));
    assert.equal(
      JSON.stringify(HeldHardState.of({ view: 0, votedFor: null, commitSeqno: 0 })),
      '{"view":0,"votedFor":null,"commitSeqno":0}',
    );
  });

  it("share one hidden class whatever they were copied from, so a reader optimized on one stays optimized", () => {
    const body = `
      import { HeldHardState } from ${JSON.stringify(replicaUrl)};
      // The sources a replica copies: the core's Ready literal (no vote, then a vote), the state
      // file's JSON, a snapshot install's literal with other field order, and copies of copies.
      const ready = (view, votedFor, commitSeqno) => ({ view, votedFor, commitSeqno });
      const fromFile = JSON.parse('{"commitSeqno":7,"votedFor":null,"view":2}');
      const installed = { commitSeqno: 9, view: 4, votedFor: "n2" };
      let held = HeldHardState.of(ready(1, null, 1));
      const ahead = (hard, durable, min) => hard.commitSeqno - durable.commitSeqno >= min;
      %PrepareFunctionForOptimization(ahead);
      for (let i = 2; i < 40; i++) {
        held = HeldHardState.of(held, i);
        ahead(held, held, 1);
      }
      %OptimizeFunctionOnNextCall(ahead);
      ahead(held, held, 1);
      const copies = [
        HeldHardState.of(ready(2, "n1", 50)),
        HeldHardState.of(fromFile),
        HeldHardState.of(installed, 60),
        HeldHardState.of(HeldHardState.of(installed), 70),
      ];
      const sameMap = copies.every((c) => %HaveSameMap(c, held));
      let sum = 0;
      for (const c of copies) if (ahead(c, held, 0)) sum += c.commitSeqno;
      console.log(JSON.stringify({ sameMap, optimized: %ActiveTierIsTurbofan(ahead), sum }));
    `;
    assert.deepEqual(runWithNatives(body), { sameMap: true, optimized: true, sum: 50 + 60 + 70 });
  });
});
