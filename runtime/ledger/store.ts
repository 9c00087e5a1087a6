/**
 * The ledger store: the durable log of entry bytes, keyed by seqno, with the view of each entry.
 * It is the log consensus replicates (there is no second copy), so its operations are exactly
 * what a Raft-family log needs: append a batch after the last seqno, truncate a suffix, read by
 * seqno or range. Three implementations pass one conformance suite (test/ledger/store-conformance.ts):
 * `MemoryLedgerStore` here, `ChunkedLedgerStore` (chunk files: what a node uses) and
 * `LmdbLedgerStore` (one durable LMDB commit per `append` batch; data dirs from before chunks).
 * The two durable ones also implement `appendAsync` (group commit), which `Ledger.persistAsync`
 * uses when the store has it.
 *
 * Ownership: a store keeps the byte arrays it is given and hands out the ones it holds; neither
 * side may mutate them afterwards.
 */
import { assert } from "../../sdk/assert.js";

/** One log entry: its position, the view (term) it was created in, and its exact bytes. */
export interface LedgerRecord {
  readonly seqno: number;
  readonly view: number;
  readonly bytes: Uint8Array;
}

export interface LedgerStore {
  /** Highest stored seqno; 0 when empty. Seqnos start at 1 (at `baseSeqno + 1` after `rebase`). */
  readonly lastSeqno: number;
  /**
   * Seqno before the first entry this store can hold (0 unless `rebase`d): a node that installed
   * a snapshot at seqno S keeps only the entries after S.
   */
  readonly baseSeqno: number;
  /**
   * Drops every record and continues the log after `seqno` (a snapshot's), durably, in one commit.
   * While `appendAsync` writes are unresolved, the chunked store queues it behind them like
   * `truncate`; the LMDB store refuses (caller bug).
   */
  rebase(seqno: number): void;
  /**
   * Appends records with seqnos `lastSeqno + 1, + 2, ...`, durably, in one commit (all or none).
   * Out-of-order seqnos are a caller bug (assertion).
   */
  append(records: readonly LedgerRecord[]): void;
  /**
   * Optional group commit: appends like `append`, but commits off the calling thread (batched
   * with the other writes of the same moment) and resolves once the batch is durable; rejects on
   * a storage error. The records need not be readable (`get`, `range`) before it resolves.
   * Writes take effect in call order: a `truncate` after it is applied after it, and `lastSeqno`
   * counts it at once. `append` must not be called while one is unresolved (caller bug).
   */
  appendAsync?(records: readonly LedgerRecord[]): Promise<void>;
  /**
   * Removes every record with seqno ≥ `fromSeqno` (> `baseSeqno`), durably, in one commit. While
   * `appendAsync` writes are unresolved, the removal is queued behind them (durable once the next
   * `appendAsync` resolves).
   */
  truncate(fromSeqno: number): void;
  get(seqno: number): LedgerRecord | undefined;
  /**
   * Records with `fromSeqno ≤ seqno ≤ toSeqno` (default: to the end) in seqno order. A damaged
   * store may have gaps; they show as missing seqnos, which auditors report.
   */
  range(fromSeqno: number, toSeqno?: number): IterableIterator<LedgerRecord>;
  /**
   * Optional: tells the store that every entry up to `seqno` is committed (consensus will never
   * truncate it), so it may seal what holds them (the chunked store makes those chunks
   * immutable). Stores without the notion leave it out.
   */
  markCommitted?(seqno: number): void;
  /** Releases the store; no calls after this. */
  close(): Promise<void>;
}

/** Checks an append batch against the current end of the log. */
export function checkAppend(lastSeqno: number, records: readonly LedgerRecord[]): void {
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    assert(
      record.seqno === lastSeqno + 1 + i,
      `append must continue the log at seqno ${lastSeqno + 1 + i}, got ${record.seqno}`,
    );
    assert(
      Number.isSafeInteger(record.view) && record.view >= 0,
      "a record's view is a non-negative integer",
    );
    assert(record.bytes instanceof Uint8Array, "a record's bytes are a Uint8Array");
  }
}

/** In-memory twin of the LMDB store, for tests and simulation. Not durable. */
export class MemoryLedgerStore implements LedgerStore {
  readonly #records: LedgerRecord[] = [];
  #base = 0;
  #closed = false;

  get lastSeqno(): number {
    return this.#base + this.#records.length;
  }

  get baseSeqno(): number {
    return this.#base;
  }

  rebase(seqno: number): void {
    assert(!this.#closed, "store is closed");
    assert(Number.isSafeInteger(seqno) && seqno >= 0, "rebase at a seqno ≥ 0");
    this.#records.length = 0;
    this.#base = seqno;
  }

  append(records: readonly LedgerRecord[]): void {
    assert(!this.#closed, "store is closed");
    checkAppend(this.lastSeqno, records);
    for (const record of records)
      this.#records.push({ seqno: record.seqno, view: record.view, bytes: record.bytes });
  }

  truncate(fromSeqno: number): void {
    assert(!this.#closed, "store is closed");
    assert(Number.isSafeInteger(fromSeqno) && fromSeqno > this.#base, "truncate after the base");
    if (fromSeqno <= this.lastSeqno) this.#records.length = fromSeqno - 1 - this.#base;
  }

  get(seqno: number): LedgerRecord | undefined {
    assert(!this.#closed, "store is closed");
    return Number.isSafeInteger(seqno) && seqno > this.#base
      ? this.#records[seqno - 1 - this.#base]
      : undefined;
  }

  *range(fromSeqno: number, toSeqno: number = Number.MAX_SAFE_INTEGER): IterableIterator<LedgerRecord> {
    assert(!this.#closed, "store is closed");
    const end = Math.min(toSeqno, this.lastSeqno);
    for (let seqno = Math.max(this.#base + 1, fromSeqno); seqno <= end; seqno++) {
      const record = this.#records[seqno - 1 - this.#base];
      if (record === undefined) return; // truncated while iterating
      yield record;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
