/**
 * `ApplyJournal`: the main thread's record of what the execution worker's KV holds above its
 * committed version, as of the last request sent: the write sets of applies (recorded when sent)
 * and of batches' successful calls (when answered), cut back by rollbacks and pruned as commits
 * become durable. A restarted worker replays exactly this, so it holds the state the next request
 * (or the one retried) was queued against. The ledger cannot serve that replay: it runs ahead of
 * the request queue (entries appended, or truncated, whose KV apply or rollback is still queued).
 *
 * Bounded by the uncommitted window plus what a held-back KV commit covers: the replica asks for
 * a KV commit as its consensus commit point moves, at most 100 ms or 1,024 entries apart
 * (node/replica-batch.ts), and the leader stops executing beyond `maxUncommittedEntries`.
 */
import { assert } from "../../sdk/assert.js";
import type { VersionedWriteSet } from "./protocol.js";

/** See the module comment. Pure bookkeeping: it never talks to the worker. */
export class ApplyJournal {
  /** Highest version known durable in the KV: every version at or below it is committed. */
  #committed: number;
  /**
   * Applied versions above #committed, increasing. Committed ones are spliced off at once: held
   * behind a moving index they stayed reachable for up to ~2,000 more entries, each write set's
   * views pinning the replicated message it came in.
   */
  #items: VersionedWriteSet[] = [];

  constructor(committed: number) {
    this.#committed = committed;
  }

  /** The KV's applied version once every request sent so far has run. */
  get head(): number {
    return this.#items.length > 0 ? this.#items[this.#items.length - 1]!.version : this.#committed;
  }

  /** Highest version known durable. */
  get committed(): number {
    return this.#committed;
  }

  /** The recorded versions above `version`, in order (what a worker opened at `version` lacks). */
  above(version: number): VersionedWriteSet[] {
    return this.#items.filter((item) => item.version > version);
  }

  /** Records applied versions; they increase above the head (assert). */
  record(items: readonly VersionedWriteSet[]): void {
    let previous = this.head;
    for (const item of items) {
      assert(
        Number.isSafeInteger(item.version) && item.version > previous,
        "journal: applied versions increase above the applied version",
      );
      previous = item.version;
    }
    for (const item of items) this.#items.push(item);
  }

  /** Forgets the given recorded items (an apply the worker refused part of). */
  forget(items: readonly VersionedWriteSet[]): void {
    if (items.length === 0) return;
    const gone = new Set(items);
    this.#items = this.#items.filter((item) => !gone.has(item));
  }

  /** Drops versions above `version` (a rollback the worker performed). */
  rollback(version: number): void {
    while (this.#items.length > 0 && this.#items[this.#items.length - 1]!.version > version)
      this.#items.pop();
  }

  /** Versions at or below `version` are durable: they are no longer needed for a replay. */
  committedUpTo(version: number): void {
    if (version <= this.#committed) return;
    this.#committed = version;
    let pruned = 0;
    while (pruned < this.#items.length && this.#items[pruned]!.version <= version) pruned++;
    if (pruned === this.#items.length) this.#items = [];
    else if (pruned > 0) this.#items.splice(0, pruned);
  }

  /** The KV holds nothing above `committed` (a state install, or a fresh start's replay follows). */
  reset(committed: number): void {
    this.#committed = committed;
    this.#items = [];
  }
}
