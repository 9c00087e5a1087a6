/**
 * Ledger records for store tests: deterministic bytes made from seqno and view, so a record read
 * back can be compared with the one written. They are not real entries (no envelope, no hash).
 * Also the small chunked store the chunk tests share.
 */
import { ChunkedLedgerStore } from "../../runtime/ledger/chunk-store.js";
import type { LedgerRecord } from "../../runtime/ledger/store.js";

/** Record `seqno` of `view`, `size` bytes long. */
export function record(seqno: number, view = 1, size = 100): LedgerRecord {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (seqno * 31 + i * 7 + view) & 0xff;
  return { seqno, view, bytes };
}

/** `count` consecutive records from seqno `from`, all of `view`. */
export function batch(from: number, count: number, view = 1): LedgerRecord[] {
  return Array.from({ length: count }, (_, i) => record(from + i, view));
}

/** The chunk tests' signature rule: every third seqno is a "signature". */
export const everyThird = (r: LedgerRecord): boolean => r.seqno % 3 === 0;

/** A store that closes a chunk at every third seqno once it holds 300 bytes (~3 records). */
export function openSmall(dir: string, readOnly = false): ChunkedLedgerStore {
  return ChunkedLedgerStore.open(dir, { maxChunkBytes: 300, isSignature: everyThird, readOnly });
}
