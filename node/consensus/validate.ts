/**
 * Shape checks for messages entering the core. The transport hands the core decoded,
 * authenticated messages, but their contents are still untrusted: every field is checked here
 * before the protocol logic looks at it, so a hostile or buggy peer can only get its message
 * dropped (and counted), never crash the node or trip an assertion.
 */
import { MAX_NODE_ID_LENGTH } from "./options.js";
import type { Entry, LogBase, NodeId } from "./types.js";

/** Why a message was dropped. Counted per reason in `ConsensusStats.rejected`. */
export type RejectReason =
  | "malformed"
  | "wrongRecipient"
  | "fromSelf"
  | "unknownSender"
  | "staleView"
  | "batchTooLarge"
  | "badEntries"
  | "conflictingLeader"
  | "wouldTruncateCommitted"
  | "ackBeyondLog"
  | "staleResponse"
  | "unexpected"
  | "voteInLease"
  | "installing";

/** Every reject reason, for building counters. */
export const REJECT_REASONS: readonly RejectReason[] = [
  "malformed",
  "wrongRecipient",
  "fromSelf",
  "unknownSender",
  "staleView",
  "batchTooLarge",
  "badEntries",
  "conflictingLeader",
  "wouldTruncateCommitted",
  "ackBeyondLog",
  "staleResponse",
  "unexpected",
  "voteInLease",
  "installing",
];

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** A well-formed node id: a non-empty string of bounded length. */
export function isNodeId(value: unknown): value is NodeId {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_NODE_ID_LENGTH;
}

/** A configuration: non-empty, sorted, duplicate-free node ids, at most `maxNodes`. */
export function isConfig(value: unknown, maxNodes: number): value is readonly NodeId[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > maxNodes) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isNodeId(value[i])) return false;
    if (i > 0 && !(value[i - 1] < value[i])) return false;
  }
  return true;
}

/** One entry's shape (not its position): positive view and seqno, bytes, flags, config. */
export function isEntry(value: unknown, maxConfigNodes: number): value is Entry {
  if (typeof value !== "object" || value === null) return false;
  const e = value as Record<string, unknown>;
  if (!isCount(e.view) || e.view < 1 || !isCount(e.seqno) || e.seqno < 1) return false;
  if (typeof e.signature !== "boolean" || !(e.payload instanceof Uint8Array)) return false;
  if (e.config !== undefined && (e.signature || !isConfig(e.config, maxConfigNodes))) return false;
  return true;
}

/** Most view-history records an install-snapshot message may carry. */
export const MAX_SNAPSHOT_VIEWS = 1_000_000;

/**
 * The metadata of an offered snapshot: a positive seqno at a signature (`lastSignature`), its
 * view (at most the message's), an ascending view history through it ending in that view, and
 * the configuration in force there.
 */
export function isSnapshotBase(
  value: unknown,
  messageView: number,
  maxConfigNodes: number,
): value is LogBase {
  if (typeof value !== "object" || value === null) return false;
  const b = value as Record<string, unknown>;
  if (!isCount(b.seqno) || b.seqno < 1 || !isCount(b.view) || b.view < 1 || b.view > messageView)
    return false;
  if (b.lastSignature !== b.seqno) return false;
  const config = b.config as Record<string, unknown> | undefined;
  if (typeof config !== "object" || config === null) return false;
  if (!isCount(config.seqno) || config.seqno < 1 || config.seqno > b.seqno) return false;
  if (!isConfig(config.nodes, maxConfigNodes)) return false;
  const views = b.views;
  if (!Array.isArray(views) || views.length === 0 || views.length > MAX_SNAPSHOT_VIEWS) return false;
  let previous: { view: number; startSeqno: number } | undefined;
  for (const v of views as unknown[]) {
    if (typeof v !== "object" || v === null) return false;
    const { view, startSeqno } = v as Record<string, unknown>;
    if (!isCount(view) || view < 1 || !isCount(startSeqno) || startSeqno < 1 || startSeqno > b.seqno)
      return false;
    if (previous !== undefined && (view <= previous.view || startSeqno <= previous.startSeqno)) return false;
    previous = { view, startSeqno };
  }
  return previous!.view === b.view;
}

/** Bounds a follower enforces on one append. */
export interface BatchBounds {
  readonly maxBatchEntries: number;
  readonly maxBatchBytes: number;
  readonly maxConfigNodes: number;
}

/**
 * Checks the shape of `value` as a Message and, for appends, the internal consistency of the
 * batch: contiguous seqnos after `prevSeqno`, views never decreasing, never below `prevView` and
 * never above the message view. Returns null when acceptable, else why not.
 */
export function checkMessage(value: unknown, bounds: BatchBounds): RejectReason | null {
  if (typeof value !== "object" || value === null) return "malformed";
  const m = value as Record<string, unknown>;
  if (!isNodeId(m.from) || !isNodeId(m.to) || !isCount(m.view)) return "malformed";
  switch (m.type) {
    case "append": {
      if (!isCount(m.prevSeqno) || !isCount(m.prevView) || !isCount(m.commitSeqno)) return "malformed";
      if (!Array.isArray(m.entries)) return "malformed";
      if (m.readRound !== undefined && !isCount(m.readRound)) return "malformed";
      if (m.prevView > m.view || (m.prevSeqno === 0) !== (m.prevView === 0)) return "badEntries";
      if (m.entries.length > bounds.maxBatchEntries) return "batchTooLarge";
      let bytes = 0;
      let previousView = m.prevView;
      for (let i = 0; i < m.entries.length; i++) {
        const entry: unknown = m.entries[i];
        if (!isEntry(entry, bounds.maxConfigNodes)) return "malformed";
        if (entry.seqno !== m.prevSeqno + 1 + i) return "badEntries";
        if (entry.view < previousView || entry.view > m.view) return "badEntries";
        previousView = entry.view;
        bytes += entry.payload.length;
      }
      if (bytes > bounds.maxBatchBytes) return "batchTooLarge";
      return null;
    }
    case "appendResponse":
      if (typeof m.success !== "boolean" || !isCount(m.seqno) || !isCount(m.hintSeqno)) return "malformed";
      if (!isCount(m.hintView)) return "malformed";
      if (m.readRound !== undefined && !isCount(m.readRound)) return "malformed";
      return null;
    case "requestVote":
      if (!isCount(m.lastSeqno) || !isCount(m.lastView)) return "malformed";
      if (typeof m.preVote !== "boolean" || typeof m.transfer !== "boolean") return "malformed";
      if (m.lastView > m.view || (m.lastSeqno === 0) !== (m.lastView === 0)) return "badEntries";
      return null;
    case "voteResponse":
      if (typeof m.preVote !== "boolean" || typeof m.granted !== "boolean") return "malformed";
      return null;
    case "timeoutNow":
      return null;
    case "installSnapshot":
      return isSnapshotBase(m.snapshot, m.view, bounds.maxConfigNodes) ? null : "malformed";
    default:
      return "malformed";
  }
}
