/**
 * The simulator's safety oracle. The cluster reports what it observes after every step; the
 * checker keeps the global truth (the one committed log, the leader of each view, what clients
 * were told) and throws `SafetyViolation` the moment an observation contradicts it:
 * - at most one leader per view;
 * - committed prefixes never diverge (every node's committed entries equal the global ones);
 * - commit never goes backwards (per node lifetime in memory; across restarts for what the driver
 *   applied, which is exactly what it made durable);
 * - every transaction acknowledged to a client as committed is in every later leader's log;
 * - a snapshot a node installs is a prefix of the committed log, ahead of what it applied.
 */
import { equalBytes } from "../../sdk/bytes.js";
import {
  type CommittedRange,
  describeEntry,
  type Entry,
  type NodeId,
  type TxId,
} from "../../node/consensus/index.js";

/** A broken safety property; the message says which and where. */
export class SafetyViolation extends Error {
  override readonly name = "SafetyViolation";
}

/** Whether two entries are the same entry (id, kind, payload and configuration). */
export function sameEntry(a: Entry, b: Entry): boolean {
  if (a.view !== b.view || a.seqno !== b.seqno || a.signature !== b.signature) return false;
  if (!equalBytes(a.payload, b.payload)) return false;
  if ((a.config === undefined) !== (b.config === undefined)) return false;
  if (a.config !== undefined && b.config !== undefined) {
    if (a.config.length !== b.config.length) return false;
    for (let i = 0; i < a.config.length; i++) if (a.config[i] !== b.config[i]) return false;
  }
  return true;
}

/** Read access to one node's log. */
export type EntryLookup = (seqno: number) => Entry | undefined;

/** See the module comment. One checker per simulated run. */
export class SafetyChecker {
  private readonly leaders = new Map<number, NodeId>();
  private readonly committed: Entry[] = [];
  /** In-memory commit seen per node, since its last (re)start. */
  private readonly commitSeen = new Map<NodeId, number>();
  /** Commit applied by each node's driver (equal to its durable commit), across restarts. */
  private readonly applied = new Map<NodeId, number>();
  private readonly acked: TxId[] = [];
  private readonly ackedSet = new Set<string>();

  /** Length of the global committed log. */
  committedLength(): number {
    return this.committed.length;
  }

  /** The globally committed entry at `seqno`, if any node has committed that far. */
  committedEntry(seqno: number): Entry | undefined {
    return this.committed[seqno - 1];
  }

  /** Transactions acknowledged to clients so far. */
  acknowledged(): readonly TxId[] {
    return this.acked;
  }

  /** `node` is leader in `view`. Returns true the first time this (view, node) is seen. */
  observeLeader(view: number, node: NodeId): boolean {
    const known = this.leaders.get(view);
    if (known === undefined) {
      this.leaders.set(view, node);
      return true;
    }
    if (known !== node) throw new SafetyViolation(`two leaders in view ${view}: ${known} and ${node}`);
    return false;
  }

  /** `node` reports commit point `commitSeqno`; its log is `entryAt`. */
  observeCommit(node: NodeId, commitSeqno: number, entryAt: EntryLookup): void {
    const seen = this.commitSeen.get(node) ?? 0;
    if (commitSeqno < seen) {
      throw new SafetyViolation(`${node}: commit went backwards from ${seen} to ${commitSeqno}`);
    }
    for (let s = seen + 1; s <= commitSeqno; s++) {
      const entry = entryAt(s);
      if (entry === undefined)
        throw new SafetyViolation(`${node}: committed seqno ${s} is missing from its log`);
      this.agree(node, entry, "committed");
    }
    if (commitSeqno > 0 && entryAt(commitSeqno)?.signature !== true) {
      throw new SafetyViolation(`${node}: commit ${commitSeqno} is not a signature entry`);
    }
    this.commitSeen.set(node, commitSeqno);
  }

  /** `node`'s driver applies `range` (after making it durable). */
  observeApplied(node: NodeId, range: CommittedRange): void {
    const before = this.applied.get(node) ?? 0;
    if (range.fromSeqno !== before + 1 || range.toSeqno < range.fromSeqno) {
      throw new SafetyViolation(
        `${node}: applied ${range.fromSeqno}..${range.toSeqno} after ${before} (gap or going backwards)`,
      );
    }
    if (range.entries.length !== range.toSeqno - range.fromSeqno + 1) {
      throw new SafetyViolation(
        `${node}: committed range ${range.fromSeqno}..${range.toSeqno} has wrong length`,
      );
    }
    for (const entry of range.entries) this.agree(node, entry, "applied");
    this.applied.set(node, range.toSeqno);
  }

  /**
   * `node`'s driver installed a snapshot holding the committed prefix `range` (1..seqno): never
   * behind what it applied, and every entry in it the committed one.
   */
  observeSnapshotInstalled(node: NodeId, range: CommittedRange): void {
    const before = this.applied.get(node) ?? 0;
    if (range.toSeqno <= before)
      throw new SafetyViolation(
        `${node}: installed snapshot ${range.toSeqno} behind what it applied (${before})`,
      );
    if (range.fromSeqno !== 1 || range.entries.length !== range.toSeqno)
      throw new SafetyViolation(`${node}: snapshot ${range.toSeqno} is not a whole prefix`);
    for (const entry of range.entries) this.agree(node, entry, "snapshot");
    if (range.entries[range.entries.length - 1]?.signature !== true)
      throw new SafetyViolation(`${node}: snapshot ${range.toSeqno} does not end at a signature`);
    this.applied.set(node, range.toSeqno);
  }

  /**
   * `node` restarted from durable state whose commit is `durableCommit` and whose log is
   * `entryAt`: the durable commit must be what it applied, over the committed entries.
   */
  observeRestart(node: NodeId, durableCommit: number, entryAt: EntryLookup): void {
    const applied = this.applied.get(node) ?? 0;
    if (durableCommit !== applied) {
      throw new SafetyViolation(
        `${node}: restarted with durable commit ${durableCommit} but had applied ${applied}`,
      );
    }
    for (let s = 1; s <= durableCommit; s++) {
      const entry = entryAt(s);
      if (entry === undefined)
        throw new SafetyViolation(`${node}: committed seqno ${s} missing after restart`);
      this.agree(node, entry, "restored");
    }
    this.commitSeen.set(node, durableCommit);
  }

  /** A client was told `tx` committed. It must be in the global committed log. */
  acknowledge(tx: TxId): void {
    const entry = this.committed[tx.seqno - 1];
    if (entry === undefined || entry.view !== tx.view) {
      throw new SafetyViolation(`acknowledged ${tx.view}.${tx.seqno} is not in the committed log`);
    }
    const key = `${tx.view}.${tx.seqno}`;
    if (this.ackedSet.has(key)) return;
    this.ackedSet.add(key);
    this.acked.push(tx);
  }

  /** A new leader's log must hold every acknowledged transaction. */
  checkLeaderLog(node: NodeId, view: number, entryAt: EntryLookup): void {
    for (const tx of this.acked) {
      if (entryAt(tx.seqno)?.view !== tx.view) {
        throw new SafetyViolation(
          `leader ${node} of view ${view} lacks acknowledged transaction ${tx.view}.${tx.seqno}`,
        );
      }
    }
  }

  private agree(node: NodeId, entry: Entry, what: string): void {
    const global = this.committed[entry.seqno - 1];
    if (global === undefined) {
      if (entry.seqno !== this.committed.length + 1) {
        throw new SafetyViolation(`${node}: ${what} seqno ${entry.seqno} beyond the committed log`);
      }
      this.committed.push(entry);
      return;
    }
    if (!sameEntry(global, entry)) {
      throw new SafetyViolation(
        `${node}: ${what} entry ${describeEntry(entry)} diverges from committed ${describeEntry(global)}`,
      );
    }
  }
}
