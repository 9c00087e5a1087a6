/**
 * The in-memory consensus log of one node: entries 1..n plus the indexes the protocol needs in
 * O(log n): the view history (first seqno of each view, as CCF keeps it), the seqnos of signature
 * entries (commit only lands on those) and the configuration entries (membership is the latest
 * configuration in the log). Owned by exactly one `ConsensusNode`; callers outside the core only
 * read it through the node's accessors.
 */
import { assert } from "../../sdk/assert.js";
import type { Entry, NodeId, ViewStart } from "./types.js";

/** A configuration entry's position and its voting set. */
export interface ConfigRecord {
  readonly seqno: number;
  readonly nodes: readonly NodeId[];
}

/** Largest index i in `sorted` with `sorted[i] <= value`, or -1. */
function floorIndex(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** See the module comment. All seqnos are 1-based; seqno 0 is the empty prefix (view 0). */
export class ConsensusLog {
  private readonly entries: Entry[] = [];
  private readonly views: ViewStart[] = [];
  private readonly signatures: number[] = [];
  private readonly configs: ConfigRecord[] = [];
  private persisted = 0;

  /** Seqno of the last entry, 0 when empty. */
  get lastSeqno(): number {
    return this.entries.length;
  }

  /** View of the last entry, 0 when empty. */
  get lastView(): number {
    return this.entries.length === 0 ? 0 : this.entries[this.entries.length - 1]!.view;
  }

  /** Highest seqno the driver reported durable (and still in the log). */
  get persistedSeqno(): number {
    return this.persisted;
  }

  /** The view of the entry at `seqno`, 0 for seqno 0, undefined beyond the log. */
  viewAt(seqno: number): number | undefined {
    if (seqno === 0) return 0;
    return this.entries[seqno - 1]?.view;
  }

  /** The entry at `seqno`, or undefined. */
  entryAt(seqno: number): Entry | undefined {
    return seqno >= 1 ? this.entries[seqno - 1] : undefined;
  }

  /**
   * Entries from `fromSeqno` on, at most `maxEntries` and at most `maxBytes` of payload (but
   * always at least one entry when any exists, so an entry at the byte limit still moves).
   */
  slice(fromSeqno: number, maxEntries: number, maxBytes: number): Entry[] {
    assert(fromSeqno >= 1, "slice starts at seqno 1 or later");
    const out: Entry[] = [];
    let bytes = 0;
    for (let s = fromSeqno; s <= this.entries.length && out.length < maxEntries; s++) {
      const entry = this.entries[s - 1]!;
      if (out.length > 0 && bytes + entry.payload.length > maxBytes) break;
      bytes += entry.payload.length;
      out.push(entry);
    }
    return out;
  }

  /** Entries `fromSeqno..toSeqno` inclusive (both within the log). */
  range(fromSeqno: number, toSeqno: number): Entry[] {
    assert(fromSeqno >= 1 && toSeqno <= this.entries.length, "range within the log");
    return this.entries.slice(fromSeqno - 1, toSeqno);
  }

  /** Appends entries that continue the log exactly; the caller has validated them. */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(entry.seqno === this.entries.length + 1, "appended seqnos are contiguous");
      assert(entry.view >= this.lastView, "views never decrease along the log");
      assert(entry.view >= 1, "entries have a view of at least 1");
      this.entries.push(entry);
      if (entry.view !== this.views[this.views.length - 1]?.view) {
        this.views.push({ view: entry.view, startSeqno: entry.seqno });
      }
      if (entry.signature) this.signatures.push(entry.seqno);
      if (entry.config !== undefined) this.configs.push({ seqno: entry.seqno, nodes: entry.config });
    }
  }

  /** Drops every entry with seqno >= `fromSeqno` (the caller checks it is above commit). */
  truncateFrom(fromSeqno: number): void {
    assert(fromSeqno >= 1, "truncation keeps seqno 0");
    if (fromSeqno > this.entries.length) return;
    this.entries.length = fromSeqno - 1;
    while (this.views.length > 0 && this.views[this.views.length - 1]!.startSeqno >= fromSeqno)
      this.views.pop();
    while (this.signatures.length > 0 && this.signatures[this.signatures.length - 1]! >= fromSeqno) {
      this.signatures.pop();
    }
    while (this.configs.length > 0 && this.configs[this.configs.length - 1]!.seqno >= fromSeqno)
      this.configs.pop();
    if (this.persisted >= fromSeqno) this.persisted = fromSeqno - 1;
  }

  /**
   * Storage acknowledgement: everything up to `seqno` is durable, the last entry being in `view`.
   * Ignored when that entry has since been truncated or replaced (the ack is for an old write).
   * Returns whether the persisted point moved.
   */
  markPersisted(seqno: number, view: number): boolean {
    if (seqno <= this.persisted || this.viewAt(seqno) !== view) return false;
    this.persisted = seqno;
    return true;
  }

  /** Marks the whole current log durable (used when restoring from storage). */
  markAllPersisted(): void {
    this.persisted = this.entries.length;
  }

  /** The highest signature seqno <= `seqno`, or 0. */
  lastSignatureAtOrBefore(seqno: number): number {
    const i = floorIndex(this.signatures, seqno);
    return i < 0 ? 0 : this.signatures[i]!;
  }

  /** Whether the entry at `seqno` exists and is a signature. */
  isSignature(seqno: number): boolean {
    return this.entryAt(seqno)?.signature === true;
  }

  /** The view history: first seqno of each view present in the log, ascending. */
  viewHistory(): readonly ViewStart[] {
    return this.views;
  }

  /**
   * Highest seqno s <= `seqno` whose view is <= `view` (0 if none). A follower that does not match
   * the leader at `(view, seqno)` cannot match it anywhere its own views are larger, so the leader
   * may skip straight back to s (the NACK hint).
   */
  lastSeqnoWithViewAtMost(seqno: number, view: number): number {
    const upTo = Math.min(seqno, this.entries.length);
    let i = this.views.length - 1;
    while (i >= 0 && (this.views[i]!.startSeqno > upTo || this.views[i]!.view > view)) i--;
    if (i < 0) return 0;
    const next = this.views[i + 1];
    const end = next === undefined ? this.entries.length : next.startSeqno - 1;
    return Math.min(upTo, end);
  }

  /** The latest configuration in the log, or undefined for a node that has none yet (a joiner). */
  latestConfig(): ConfigRecord | undefined {
    return this.configs[this.configs.length - 1];
  }

  /** The latest configuration at or before `seqno`. */
  configAt(seqno: number): ConfigRecord | undefined {
    let i = this.configs.length - 1;
    while (i >= 0 && this.configs[i]!.seqno > seqno) i--;
    return i < 0 ? undefined : this.configs[i];
  }

  /** Configurations from the one in force at `seqno` through the latest (at most a few). */
  configsSince(seqno: number): readonly ConfigRecord[] {
    let i = this.configs.length - 1;
    while (i > 0 && this.configs[i]!.seqno > seqno) i--;
    return this.configs.slice(Math.max(i, 0));
  }

  /** Expensive full self-check for tests and the simulator. */
  checkConsistency(): void {
    let views = 0;
    let signatures = 0;
    let configs = 0;
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      assert(entry.seqno === i + 1, "entry seqnos match their positions");
      if (i === 0 || this.entries[i - 1]!.view !== entry.view) {
        assert(this.views[views]?.startSeqno === entry.seqno, "view history records each view start");
        assert(this.views[views]?.view === entry.view, "view history records the view");
        views++;
      }
      if (entry.signature) {
        assert(this.signatures[signatures] === entry.seqno, "signature index is complete");
        signatures++;
      }
      if (entry.config !== undefined) {
        assert(this.configs[configs]?.seqno === entry.seqno, "config index is complete");
        configs++;
      }
    }
    assert(views === this.views.length, "no stale view history records");
    assert(signatures === this.signatures.length, "no stale signature records");
    assert(configs === this.configs.length, "no stale config records");
    assert(this.persisted <= this.entries.length, "persisted point within the log");
  }
}
