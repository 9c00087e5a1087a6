/**
 * The in-memory consensus log of one node: a bounded window of entries plus the indexes the
 * protocol needs in O(log n): the view history (first seqno of each view, as CCF keeps it), the
 * seqnos of signature entries (commit only lands on those) and the configuration entries
 * (membership is the latest configuration in the log). Owned by exactly one `ConsensusNode`;
 * callers outside the core only read it through the node's accessors.
 *
 * Bounded window. Entries up to the *base* seqno are not held in memory once compacted
 * (`compact`): they are committed and durable, and a `LogStorage` the driver hands in (a
 * synchronous read-only view of its durable log: the ledger, or the simulator's disk) serves
 * them when a lagging follower needs them. The window holds every uncommitted entry and a tail
 * of committed ones. The view history is kept whole (one record per view: it answers `viewAt`
 * for compacted seqnos); signature and configuration indexes keep only what is in force at the
 * base and after. A node restarted from durable state starts with its base already set
 * (`restore`), so a restart reads only the window, not the whole log.
 */
import { assert } from "../../sdk/assert.js";
import type { Entry, LogBase, NodeId, ViewStart } from "./types.js";

/** A configuration entry's position and its voting set. */
export interface ConfigRecord {
  readonly seqno: number;
  readonly nodes: readonly NodeId[];
}

/** Synchronous reads of the durable log, for compacted (committed) entries. */
export interface LogStorage {
  /** The durable entry at `seqno` (1 ≤ seqno ≤ the log's base), or undefined if it has none. */
  entryAt(seqno: number): Entry | undefined;
  /**
   * The lowest seqno `entryAt` serves (default 1). A node that installed a snapshot, or pruned
   * its ledger, serves only what follows; a follower that needs less gets a snapshot instead.
   */
  firstSeqno?(): number;
}

/** Largest index i with `key(sorted[i]) <= value`, or -1. */
function floorIndex<T>(sorted: readonly T[], value: number, key: (item: T) => number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (key(sorted[mid]!) <= value) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

const bySeqno = (n: number) => n;
const byStart = (v: ViewStart) => v.startSeqno;
const byConfigSeqno = (c: ConfigRecord) => c.seqno;

/** Computes the `LogBase` of `entries` (a log from seqno 1) through `seqno`. Tests, simulator. */
export function baseOf(entries: readonly Entry[], seqno: number): LogBase {
  assert(seqno >= 0 && seqno <= entries.length, "the base is within the entries");
  const views: ViewStart[] = [];
  let lastSignature = 0;
  let config: ConfigRecord | undefined;
  for (let i = 0; i < seqno; i++) {
    const entry = entries[i]!;
    if (entry.view !== views[views.length - 1]?.view)
      views.push({ view: entry.view, startSeqno: entry.seqno });
    if (entry.signature) lastSignature = entry.seqno;
    if (entry.config !== undefined) config = { seqno: entry.seqno, nodes: entry.config };
  }
  return {
    seqno,
    view: seqno === 0 ? 0 : entries[seqno - 1]!.view,
    views,
    lastSignature,
    ...(config !== undefined && { config }),
  };
}

/** See the module comment. All seqnos are 1-based; seqno 0 is the empty prefix (view 0). */
export class ConsensusLog {
  readonly #storage: LogStorage | undefined;
  /** Entries base+1 .. lastSeqno. */
  #entries: Entry[];
  #base: number;
  #baseView: number;
  readonly #views: ViewStart[] = [];
  #signatures: number[];
  #configs: ConfigRecord[];
  private persisted = 0;

  /** `storage` serves compacted entries; without it the log is never compacted. */
  constructor(storage?: LogStorage) {
    this.#storage = storage;
    // The fields `compact` (and restore/installBase) reassign are declared without a value and
    // set here, so each has been changed once (undefined, then this) before any code is
    // optimized. Initialized in their declarations, V8 would track them as constant until the
    // first compaction, whose stores then deoptimize every optimized function that read them
    // (`entryAt`, `viewAt`, `get lastSeqno`... and whatever inlined them): docs/performance.md,
    // "Steady-state TurboFan on the write path".
    this.#entries = [];
    this.#base = 0;
    this.#baseView = 0;
    this.#signatures = [];
    this.#configs = [];
  }

  /** Whether compacted entries can be read back (the log may be compacted). */
  get compactable(): boolean {
    return this.#storage !== undefined;
  }

  /** Last seqno not held in memory (0: the whole log is in memory). */
  get baseSeqno(): number {
    return this.#base;
  }

  /** Seqno of the last entry, 0 when empty. */
  get lastSeqno(): number {
    return this.#base + this.#entries.length;
  }

  /** View of the last entry, 0 when empty. */
  get lastView(): number {
    return this.#entries.length === 0 ? this.#baseView : this.#entries[this.#entries.length - 1]!.view;
  }

  /** Highest seqno the driver reported durable (and still in the log). */
  get persistedSeqno(): number {
    return this.persisted;
  }

  /** Entries held in memory now (the window). */
  get residentEntries(): number {
    return this.#entries.length;
  }

  /**
   * Starts a log whose prefix through `base.seqno` is durable and not held in memory. Only on an
   * empty log; the entries after the base come through `append` (then `markAllPersisted`).
   */
  restore(base: LogBase): void {
    assert(this.lastSeqno === 0 && this.#views.length === 0, "restore starts an empty log");
    assert(base.seqno === 0 || this.#storage !== undefined, "a restored prefix needs storage");
    assert(base.lastSignature <= base.seqno, "the base signature is within the prefix");
    this.#base = base.seqno;
    this.#baseView = base.view;
    for (const v of base.views) this.#views.push({ view: v.view, startSeqno: v.startSeqno }); // no push(...spread): a long history overflows the stack
    assert(
      base.seqno === 0 || this.#views[this.#views.length - 1]?.view === base.view,
      "the base view is the last view of the history",
    );
    this.#signatures = base.lastSignature > 0 ? [base.lastSignature] : [];
    this.#configs = base.config === undefined ? [] : [{ seqno: base.config.seqno, nodes: base.config.nodes }];
    this.persisted = base.seqno;
  }

  /**
   * Replaces the whole log with a snapshot's prefix (install-snapshot): every entry, in memory or
   * not, is dropped; the log continues after `base.seqno`, which is durable (the driver loaded
   * the snapshot). Without storage the prefix is simply not readable.
   */
  installBase(base: LogBase): void {
    assert(base.seqno >= 1 && base.lastSignature === base.seqno, "a snapshot sits at a signature");
    this.#entries = [];
    this.#base = base.seqno;
    this.#baseView = base.view;
    this.#views.length = 0;
    for (const v of base.views) this.#views.push({ view: v.view, startSeqno: v.startSeqno }); // no push(...spread): a long history overflows the stack
    assert(this.#views[this.#views.length - 1]?.view === base.view, "the snapshot view ends its history");
    this.#signatures = [base.seqno];
    this.#configs = base.config === undefined ? [] : [{ seqno: base.config.seqno, nodes: base.config.nodes }];
    this.persisted = base.seqno;
  }

  /** The lowest seqno this log can hand out: the window's first without storage. */
  firstServable(): number {
    if (this.#storage === undefined) return this.#base + 1;
    return Math.min(this.#storage.firstSeqno?.() ?? 1, this.#base + 1);
  }

  /** The view of the entry at `seqno`, 0 for seqno 0, undefined beyond the log. */
  viewAt(seqno: number): number | undefined {
    if (seqno === 0) return 0;
    if (seqno > this.lastSeqno || seqno < 0) return undefined;
    if (seqno > this.#base) return this.#entries[seqno - this.#base - 1]!.view;
    const i = floorIndex(this.#views, seqno, byStart);
    return i < 0 ? undefined : this.#views[i]!.view;
  }

  /** The entry at `seqno`, or undefined (compacted entries come from storage). */
  entryAt(seqno: number): Entry | undefined {
    if (seqno < 1 || seqno > this.lastSeqno) return undefined;
    if (seqno > this.#base) return this.#entries[seqno - this.#base - 1];
    return this.#storage?.entryAt(seqno);
  }

  /**
   * Entries from `fromSeqno` on, at most `maxEntries` and at most `maxBytes` of payload (but
   * always at least one entry when any exists, so an entry at the byte limit still moves).
   * Compacted entries are read from storage.
   */
  slice(fromSeqno: number, maxEntries: number, maxBytes: number): Entry[] {
    assert(fromSeqno >= 1, "slice starts at seqno 1 or later");
    const out: Entry[] = [];
    let bytes = 0;
    for (let s = fromSeqno; s <= this.lastSeqno && out.length < maxEntries; s++) {
      const entry = this.entryAt(s);
      assert(entry?.seqno === s, "storage holds every compacted entry");
      if (out.length > 0 && bytes + entry.payload.length > maxBytes) break;
      bytes += entry.payload.length;
      out.push(entry);
    }
    return out;
  }

  /** Entries `fromSeqno..toSeqno` inclusive, all within the in-memory window. */
  range(fromSeqno: number, toSeqno: number): Entry[] {
    assert(fromSeqno > this.#base && toSeqno <= this.lastSeqno, "range within the window");
    return this.#entries.slice(fromSeqno - this.#base - 1, toSeqno - this.#base);
  }

  /** Appends entries that continue the log exactly; the caller has validated them. */
  append(entries: readonly Entry[]): void {
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      assert(entry.seqno === this.lastSeqno + 1, "appended seqnos are contiguous");
      assert(entry.view >= this.lastView, "views never decrease along the log");
      assert(entry.view >= 1, "entries have a view of at least 1");
      this.#entries.push(entry);
      if (entry.view !== this.#views[this.#views.length - 1]?.view) {
        this.#views.push({ view: entry.view, startSeqno: entry.seqno });
      }
      if (entry.signature) this.#signatures.push(entry.seqno);
      if (entry.config !== undefined) this.#configs.push({ seqno: entry.seqno, nodes: entry.config });
    }
  }

  /** Drops every entry with seqno >= `fromSeqno` (the caller checks it is above commit). */
  truncateFrom(fromSeqno: number): void {
    assert(fromSeqno >= 1, "truncation keeps seqno 0");
    assert(fromSeqno > this.#base, "compacted entries are committed: never truncated");
    if (fromSeqno > this.lastSeqno) return;
    this.#entries.length = fromSeqno - this.#base - 1;
    while (this.#views.length > 0 && this.#views[this.#views.length - 1]!.startSeqno >= fromSeqno)
      this.#views.pop();
    while (this.#signatures.length > 0 && this.#signatures[this.#signatures.length - 1]! >= fromSeqno) {
      this.#signatures.pop();
    }
    while (this.#configs.length > 0 && this.#configs[this.#configs.length - 1]!.seqno >= fromSeqno)
      this.#configs.pop();
    if (this.persisted >= fromSeqno) this.persisted = fromSeqno - 1;
  }

  /**
   * Drops entries through `upTo` from memory (they stay readable through storage). Only durable
   * entries are compacted: `upTo` is capped at the persisted point. The caller guarantees they are
   * committed (never truncated again) and reported to the driver.
   */
  compact(upTo: number): void {
    assert(this.#storage !== undefined, "only a log with storage is compacted");
    const target = Math.min(upTo, this.persisted);
    if (target <= this.#base) return;
    this.#baseView = this.#entries[target - this.#base - 1]!.view;
    this.#entries = this.#entries.slice(target - this.#base);
    this.#base = target;
    const sig = floorIndex(this.#signatures, target, bySeqno);
    if (sig > 0) this.#signatures = this.#signatures.slice(sig);
    const config = floorIndex(this.#configs, target, byConfigSeqno);
    if (config > 0) this.#configs = this.#configs.slice(config);
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
    this.persisted = this.lastSeqno;
  }

  /**
   * The highest signature seqno <= `seqno`, or 0. Exact from the base's last signature on; below
   * it (compacted history) the answer may be lower, which only ever holds commit back.
   */
  lastSignatureAtOrBefore(seqno: number): number {
    const i = floorIndex(this.#signatures, seqno, bySeqno);
    return i < 0 ? 0 : this.#signatures[i]!;
  }

  /** Whether the entry at `seqno` exists and is a signature. */
  isSignature(seqno: number): boolean {
    if (seqno > this.#base) return this.entryAt(seqno)?.signature === true;
    if (seqno >= 1 && this.#signatures.includes(seqno)) return true;
    return this.entryAt(seqno)?.signature === true;
  }

  /** The view history: first seqno of each view present in the log, ascending. */
  viewHistory(): readonly ViewStart[] {
    return this.#views;
  }

  /**
   * Highest seqno s <= `seqno` whose view is <= `view` (0 if none). A follower that does not match
   * the leader at `(view, seqno)` cannot match it anywhere its own views are larger, so the leader
   * may skip straight back to s (the NACK hint).
   */
  lastSeqnoWithViewAtMost(seqno: number, view: number): number {
    const upTo = Math.min(seqno, this.lastSeqno);
    let i = this.#views.length - 1;
    while (i >= 0 && (this.#views[i]!.startSeqno > upTo || this.#views[i]!.view > view)) i--;
    if (i < 0) return 0;
    const next = this.#views[i + 1];
    const end = next === undefined ? this.lastSeqno : next.startSeqno - 1;
    return Math.min(upTo, end);
  }

  /** The latest configuration in the log, or undefined for a node that has none yet (a joiner). */
  latestConfig(): ConfigRecord | undefined {
    return this.#configs[this.#configs.length - 1];
  }

  /** The latest configuration at or before `seqno` (from the one in force at the base on). */
  configAt(seqno: number): ConfigRecord | undefined {
    let i = this.#configs.length - 1;
    while (i >= 0 && this.#configs[i]!.seqno > seqno) i--;
    return i < 0 ? undefined : this.#configs[i];
  }

  /** Configurations from the one in force at `seqno` through the latest (at most a few). */
  configsSince(seqno: number): readonly ConfigRecord[] {
    let i = this.#configs.length - 1;
    while (i > 0 && this.#configs[i]!.seqno > seqno) i--;
    return this.#configs.slice(Math.max(i, 0));
  }

  /** Expensive full self-check of the window for tests and the simulator. */
  checkConsistency(): void {
    const firstNewView = this.#views.findIndex((v) => v.startSeqno > this.#base);
    let views = firstNewView < 0 ? this.#views.length : firstNewView;
    let previousView = this.#baseView;
    let signatures = this.#signatures.findIndex((s) => s > this.#base);
    if (signatures < 0) signatures = this.#signatures.length;
    let configs = this.#configs.findIndex((c) => c.seqno > this.#base);
    if (configs < 0) configs = this.#configs.length;
    assert(signatures <= 1 && configs <= 1, "at most one signature and config record below the window");
    for (let i = 0; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      assert(entry.seqno === this.#base + i + 1, "entry seqnos match their positions");
      if (entry.view !== previousView) {
        assert(this.#views[views]?.startSeqno === entry.seqno, "view history records each view start");
        assert(this.#views[views]?.view === entry.view, "view history records the view");
        views++;
      }
      previousView = entry.view;
      if (entry.signature) {
        assert(this.#signatures[signatures] === entry.seqno, "signature index is complete");
        signatures++;
      }
      if (entry.config !== undefined) {
        assert(this.#configs[configs]?.seqno === entry.seqno, "config index is complete");
        configs++;
      }
    }
    assert(views === this.#views.length, "no stale view history records");
    assert(signatures === this.#signatures.length, "no stale signature records");
    assert(configs === this.#configs.length, "no stale config records");
    assert(
      this.persisted <= this.lastSeqno && this.persisted >= this.#base,
      "persisted point within the log",
    );
  }
}
