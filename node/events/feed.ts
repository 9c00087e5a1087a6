/**
 * The committed event feed of one node: public events in commit order, read from the node's own
 * committed ledger entries (node/events/record.ts), so leaders and followers serve the same
 * sequence up to their own commit point. A bounded ring keeps the most recent events for live
 * readers; older positions are read back from the ledger, a bounded number of entries per read.
 *
 * Positions: an event is at (seqno, index); a reader's cursor is the last position it has seen,
 * with index `WHOLE_TX` when it has seen every event of that seqno (`?after=<txid>`).
 */
import { assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import type { Ledger } from "../../runtime/ledger/ledger.js";
import { type CommittedEvent, eventsOfEntry } from "./record.js";

/** Cursor index meaning "every event of this seqno has been seen". */
export const WHOLE_TX = Number.MAX_SAFE_INTEGER;

export interface EventCursor {
  readonly seqno: number;
  readonly index: number;
}

export interface EventFilter {
  readonly contract?: string;
  /** Event names to keep; empty or absent keeps every name. */
  readonly names?: readonly string[];
}

export interface EventFeedOptions {
  readonly ledger: Ledger;
  /** Most events the ring keeps (default 8192). */
  readonly ringEvents?: number;
  /** Most ledger entries one read scans below the ring (default 4096). */
  readonly scanEntries?: number;
  /** Most entries read back into the ring at start (default 10,000); older ones come from scans. */
  readonly warmEntries?: number;
}

export class EventFeed {
  readonly #ledger: Ledger;
  readonly #ringEvents: number;
  readonly #scanEntries: number;
  readonly #warmEntries: number;
  #ring: CommittedEvent[] = [];
  /** Every event of a seqno in [#ringFrom, #fed] is in the ring. */
  #ringFrom = 1;
  /** Committed seqno the feed has read through; -1 before the first commit reached it. */
  #fed = -1;
  /** Readers waiting for the next commit; one that times out leaves (idle services commit nothing). */
  #waiters = new Set<() => void>();
  /** Called with each batch of newly committed events, in order (the JetStream export listens). */
  onEvents: ((events: readonly CommittedEvent[]) => void) | undefined;

  constructor(options: EventFeedOptions) {
    this.#ledger = options.ledger;
    this.#ringEvents = options.ringEvents ?? 8192;
    this.#scanEntries = options.scanEntries ?? 4096;
    this.#warmEntries = options.warmEntries ?? 10_000;
  }

  /** The committed seqno the feed has read through (0 before any commit). */
  get committedSeqno(): number {
    return Math.max(this.#fed, 0);
  }

  /** Reads committed entries through `toSeqno` (the node calls this on every commit). */
  onCommit(toSeqno: number): void {
    // A node that installed a snapshot holds no entry at or before its base: its feed starts after.
    const base = this.#ledger.base?.seqno ?? 0;
    if (this.#fed < base) {
      this.#fed = Math.max(base, toSeqno - this.#warmEntries);
      this.#ring = [];
      this.#ringFrom = this.#fed + 1;
    }
    if (this.#fed === -1) {
      this.#fed = Math.max(0, toSeqno - this.#warmEntries);
      this.#ringFrom = this.#fed + 1;
    }
    if (toSeqno <= this.#fed) return;
    const added: CommittedEvent[] = [];
    for (let seqno = this.#fed + 1; seqno <= toSeqno; seqno++) {
      const record = this.#ledger.get(seqno);
      assert(record !== undefined, "a committed entry is in the ledger");
      // A recent entry's public writes when decoded already (a follower's apply read them); a
      // leader's own entries are not decoded: the byte search skips those without events.
      const events = eventsOfEntry(record.bytes, seqno, record.view, this.#ledger.recentPublicWrites(seqno));
      for (let i = 0; i < events.length; i++) added.push(events[i]!);
    }
    this.#fed = toSeqno;
    if (added.length > 0) {
      this.#ring.push(...added);
      if (this.#ring.length > this.#ringEvents) {
        // Drop whole transactions only, so a seqno is either entirely in the ring or not at all.
        let cut = this.#ring.length - this.#ringEvents;
        const last = this.#ring[cut - 1]!.seqno;
        while (cut < this.#ring.length && this.#ring[cut]!.seqno === last) cut++;
        this.#ring = this.#ring.slice(cut);
        this.#ringFrom = last + 1;
      }
      this.onEvents?.(added);
    }
    this.#wakeAll();
  }

  /** Resolves at the next commit the feed reads, or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }

  /** Readers waiting now (each open stream or export loop between commits): for tests. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Up to `max` events after `after` that pass `filter`, in commit order, and the cursor to read
   * on from (it moves past filtered-out events and event-less entries too). Positions below the
   * ring are read from the ledger (at most `scanEntries` entries per call); a position below what
   * this node's ledger holds is TxNotFound.
   */
  read(
    after: EventCursor,
    max: number,
    filter: EventFilter = {},
  ): { events: CommittedEvent[]; cursor: EventCursor } {
    const fed = this.committedSeqno;
    const firstSeqno = after.index === WHOLE_TX ? after.seqno + 1 : after.seqno;
    if (firstSeqno > fed) return { events: [], cursor: after };
    const events: CommittedEvent[] = [];
    let cursor = after;
    const take = (event: CommittedEvent): boolean => {
      if (event.seqno === after.seqno && event.index <= after.index) return true;
      cursor = { seqno: event.seqno, index: event.index };
      if (matches(event, filter)) events.push(event);
      return events.length < max;
    };
    if (firstSeqno < this.#ringFrom) {
      const last = Math.min(fed, this.#ringFrom - 1, firstSeqno + this.#scanEntries - 1);
      for (let seqno = firstSeqno; seqno <= last; seqno++) {
        const record = this.#ledger.get(seqno);
        if (record === undefined) {
          throw new TreatyError(
            "TxNotFound",
            `events at seqno ${seqno} are no longer in this node's ledger (it starts at ${this.#ledger.openedFromSeqno})`,
          );
        }
        for (const event of eventsOfEntry(record.bytes, seqno, record.view))
          if (!take(event)) return { events, cursor };
        cursor = { seqno, index: WHOLE_TX };
      }
      return { events, cursor };
    }
    let lo = 0;
    let hi = this.#ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ring[mid]!.seqno < firstSeqno) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.#ring.length; i++) if (!take(this.#ring[i]!)) return { events, cursor };
    return { events, cursor: { seqno: fed, index: WHOLE_TX } };
  }

  /** Wakes every waiting reader (the node stops). */
  close(): void {
    this.#wakeAll();
  }

  #wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = new Set();
    for (const wake of waiters) wake();
  }
}

function matches(event: CommittedEvent, filter: EventFilter): boolean {
  if (filter.contract !== undefined && event.contract !== filter.contract) return false;
  return filter.names === undefined || filter.names.length === 0 || filter.names.includes(event.name);
}
