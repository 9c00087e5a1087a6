/**
 * The ledger store: the durable log of entry bytes, keyed by seqno, with the view of each entry.
 * It is the log consensus replicates (there is no second copy), so its operations are exactly
 * what a Raft-family log needs: append a batch after the last seqno, truncate a suffix, read by
 * seqno or range. Three implementations pass one conformance suite (test/ledger/store-conformance.ts):
 * `MemoryLedgerStore` here, `ChunkedLedgerStore` (chunk files: what a node uses) and
 * `LmdbLedgerStore` (one durable LMDB commit per `append` batch; data dirs from before chunks).
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
  /** Highest stored seqno; 0 when empty. Seqnos start at 1. */
  readonly lastSeqno: number;
  /**
   * Appends records with seqnos `lastSeqno + 1, + 2, ...`, durably, in one commit (all or none).
   * Out-of-order seqnos are a caller bug (assertion).
   */
  append(records: readonly LedgerRecord[]): void;
  /** Removes every record with seqno ≥ `fromSeqno` (≥ 1), durably, in one commit. */
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
  #closed = false;

  get lastSeqno(): number {
    return this.#records.length;
  }

  append(records: readonly LedgerRecord[]): void {
    assert(!this.#closed, "store is closed");
    checkAppend(this.lastSeqno, records);
    for (const record of records)
      this.#records.push({ seqno: record.seqno, view: record.view, bytes: record.bytes });
  }

  truncate(fromSeqno: number): void {
    assert(!this.#closed, "store is closed");
    assert(Number.isSafeInteger(fromSeqno) && fromSeqno >= 1, "truncate from a seqno ≥ 1");
    if (fromSeqno <= this.#records.length) this.#records.length = fromSeqno - 1;
  }

  get(seqno: number): LedgerRecord | undefined {
    assert(!this.#closed, "store is closed");
    return Number.isSafeInteger(seqno) && seqno >= 1 ? this.#records[seqno - 1] : undefined;
  }

  *range(fromSeqno: number, toSeqno: number = Number.MAX_SAFE_INTEGER): IterableIterator<LedgerRecord> {
    assert(!this.#closed, "store is closed");
    const end = Math.min(toSeqno, this.#records.length);
    for (let seqno = Math.max(1, fromSeqno); seqno <= end; seqno++) {
      const record = this.#records[seqno - 1];
      if (record === undefined) return; // truncated while iterating
      yield record;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
