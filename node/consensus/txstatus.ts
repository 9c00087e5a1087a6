/**
 * Transaction status from one node's knowledge, following CCF's rules. Pure: the node supplies
 * what it knows (the view of its own entry at the target seqno, and its commit point).
 */
import { assert } from "../../sdk/assert.js";
import type { TxStatus } from "./types.js";

/** What one node knows that bears on a transaction id's status. */
export interface TxKnowledge {
  /** View of this node's entry at the target seqno, or 0 when it has no entry there. */
  readonly localView: number;
  /** This node's commit point and the view of the entry there (0/0 before the first commit). */
  readonly committedSeqno: number;
  readonly committedView: number;
}

/**
 * The status of `view.seqno` given `known`.
 *
 * Why "Invalid" when a later view has committed: a commit at `committedSeqno` in view
 * `committedView` means every future leader's log holds that entry, so its entries after it are
 * all in views >= `committedView`. A transaction in an earlier view and a later seqno can
 * therefore never commit.
 */
export function evaluateTxStatus(view: number, seqno: number, known: TxKnowledge): TxStatus {
  const isCommitted = known.committedSeqno >= seqno;
  const viewsMatch = known.localView === view && view !== 0;
  assert(!isCommitted || known.localView !== 0, "a node knows the view of every committed seqno");
  if (isCommitted) return viewsMatch ? "Committed" : "Invalid";
  if (viewsMatch) return "Pending";
  if (known.committedView > view) return "Invalid";
  return "Unknown";
}
