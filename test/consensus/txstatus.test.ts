import assert from "node:assert/strict";
import { test } from "node:test";
import { evaluateTxStatus, type TxStatus } from "../../node/consensus/index.js";

// [target view, target seqno, local view at seqno (0 = none), committed seqno, committed view, expected]
const CASES: readonly [number, number, number, number, number, TxStatus][] = [
  // Never seen, nothing rules it out.
  [3, 10, 0, 0, 0, "Unknown"],
  [3, 10, 0, 5, 2, "Unknown"],
  [3, 10, 0, 5, 3, "Unknown"],
  // Held locally in its view.
  [3, 10, 3, 5, 3, "Pending"],
  [3, 10, 3, 10, 3, "Committed"],
  [3, 10, 3, 12, 4, "Committed"],
  // Held locally in another view: undecided until a commit covers it.
  [3, 10, 2, 5, 2, "Unknown"],
  [3, 10, 4, 5, 3, "Unknown"],
  [3, 10, 4, 10, 4, "Invalid"],
  [3, 10, 2, 11, 3, "Invalid"],
  // A later view committed below the seqno: the earlier view can never reach it.
  [3, 10, 0, 5, 4, "Invalid"],
];

test("evaluateTxStatus follows CCF's rules", () => {
  for (const [view, seqno, localView, committedSeqno, committedView, expected] of CASES) {
    const got = evaluateTxStatus(view, seqno, { localView, committedSeqno, committedView });
    assert.equal(
      got,
      expected,
      `${view}.${seqno} local=${localView} commit=${committedView}.${committedSeqno}`,
    );
  }
});

test("status only moves forward: Unknown -> Pending -> Committed, or to Invalid", () => {
  const order: Record<TxStatus, number> = { Unknown: 0, Pending: 1, Committed: 2, Invalid: 2 };
  // One node's knowledge of 3.10 over time: it receives it, then sees commits pass it.
  const timeline = [
    { localView: 0, committedSeqno: 4, committedView: 3 },
    { localView: 3, committedSeqno: 4, committedView: 3 },
    { localView: 3, committedSeqno: 9, committedView: 3 },
    { localView: 3, committedSeqno: 12, committedView: 3 },
  ];
  let previous = -1;
  for (const known of timeline) {
    const rank = order[evaluateTxStatus(3, 10, known)];
    assert.ok(rank >= previous);
    previous = rank;
  }
  assert.equal(evaluateTxStatus(3, 10, timeline.at(-1)!), "Committed");
});
