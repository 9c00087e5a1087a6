/**
 * The bytes of a ledger chunk file, shared by the live chunk store (chunk-store.ts) and the
 * portable export (chunks.ts). docs/ledger-chunks.md describes the format for outside readers.
 *
 *   header  = "TREATYL" || u8 version || u64be firstSeqno || u64be count
 *   v2 record = u64be view || u32be length || u32be crc32(entry bytes) || entry bytes
 *   v1 record = u64be view || u32be length || entry bytes            (read only)
 *
 * A committed chunk's header holds its record count, which must agree with its name. A chunk
 * still being written (`.open`) or closed but not yet committed (`.uncommitted`) holds count 0
 * and is read to its end. The CRC-32 (IEEE, zlib's) lets a reader tell a record cut or garbled by
 * a crash from a complete one without decoding the entry; entry integrity proper is the entry's
 * own content digest and the signed Merkle roots. A record of length 0 is never an entry (zeros
 * would otherwise pass the CRC check): reading stops there, as at a torn record.
 */
import { crc32 } from "node:zlib";
import { concatBytes, equalBytes, getU64, utf8 } from "../../sdk/bytes.js";
import { corrupt } from "./entry.js";
import type { LedgerRecord } from "./store.js";

export const CHUNK_MAGIC_PREFIX = utf8.encode("TREATYL");
/** The version written; version 1 (no CRC) is still read. */
export const CHUNK_VERSION = 2;
export const CHUNK_MAGIC = concatBytes(CHUNK_MAGIC_PREFIX, new Uint8Array([CHUNK_VERSION]));
export const CHUNK_HEADER_BYTES = 8 + 8 + 8;
/** Offset of the u64be record count in the header. */
export const CHUNK_COUNT_OFFSET = 16;

/** Bytes of one record's framing (before its entry bytes) in `version`. */
export function recordHeaderBytes(version: number): number {
  return version === 1 ? 12 : 16;
}

/** The file header for a chunk starting at `firstSeqno` holding `count` records (0: open). */
export function encodeChunkHeader(firstSeqno: number, count: number): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES);
  const view = new DataView(out.buffer);
  out.set(CHUNK_MAGIC, 0);
  setU64(view, 8, firstSeqno);
  setU64(view, CHUNK_COUNT_OFFSET, count);
  return out;
}

/** Framed v2 records, back to back. */
export function encodeRecords(records: readonly LedgerRecord[]): Uint8Array {
  let size = 0;
  for (let i = 0; i < records.length; i++) size += 16 + records[i]!.bytes.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    setU64(view, offset, record.view);
    view.setUint32(offset + 8, record.bytes.length);
    view.setUint32(offset + 12, crc32(record.bytes));
    out.set(record.bytes, offset + 16);
    offset += 16 + record.bytes.length;
  }
  return out;
}

/** What a chunk file's bytes hold, as far as they parse. */
export interface ParsedChunk {
  readonly version: number;
  readonly firstSeqno: number;
  /** The header's count (0 for a chunk that is not committed). */
  readonly headerCount: number;
  /** Byte offset of each complete record, plus the end of the last one (length = records + 1). */
  readonly offsets: readonly number[];
  /**
   * Why parsing stopped before the end of the bytes (a record cut short, a CRC mismatch, a
   * record longer than the file), with the seqno it stopped at; undefined when every byte parsed.
   */
  readonly stop?: { readonly seqno: number; readonly why: string };
}

/** Parses the header; undefined when `bytes` do not start with a chunk header. */
export function parseChunkHeader(
  bytes: Uint8Array,
): { version: number; firstSeqno: number; count: number } | undefined {
  if (bytes.length < CHUNK_HEADER_BYTES || !equalBytes(bytes.subarray(0, 7), CHUNK_MAGIC_PREFIX))
    return undefined;
  const version = bytes[7]!;
  if (version !== 1 && version !== 2) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { version, firstSeqno: getU64(view, 8), count: getU64(view, CHUNK_COUNT_OFFSET) };
}

/**
 * Walks the records of a chunk's bytes (header already checked by `parseChunkHeader`), at most
 * `maxRecords` of them, checking each record's framing and (v2) CRC. Never throws.
 */
export function parseChunkRecords(bytes: Uint8Array, maxRecords = Number.MAX_SAFE_INTEGER): ParsedChunk {
  const header = parseChunkHeader(bytes);
  if (header === undefined) throw new Error("parseChunkRecords: not a chunk header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const framing = recordHeaderBytes(header.version);
  const offsets = [CHUNK_HEADER_BYTES];
  let offset = CHUNK_HEADER_BYTES;
  let stop: ParsedChunk["stop"];
  while (offset < bytes.length && offsets.length - 1 < maxRecords) {
    const seqno = header.firstSeqno + offsets.length - 1;
    if (offset + framing > bytes.length) {
      stop = { seqno, why: `the file ends at byte ${bytes.length}, inside entry ${seqno}` };
      break;
    }
    const length = view.getUint32(offset + 8);
    if (length === 0) {
      // No entry is empty, and zeros pass the CRC (crc32 of nothing is 0): a run of zeros is the
      // unwritten end of a file an OS crash extended before its data reached the disk.
      stop = { seqno, why: `entry ${seqno} is empty (zero bytes where a record should be)` };
      break;
    }
    const start = offset + framing;
    if (start + length > bytes.length) {
      stop = { seqno, why: `the file ends at byte ${bytes.length}, inside entry ${seqno}` };
      break;
    }
    if (
      header.version !== 1 &&
      view.getUint32(offset + 12) !== crc32(bytes.subarray(start, start + length))
    ) {
      stop = { seqno, why: `entry ${seqno} fails its CRC (bytes altered or torn)` };
      break;
    }
    offset = start + length;
    offsets.push(offset);
  }
  return {
    version: header.version,
    firstSeqno: header.firstSeqno,
    headerCount: header.count,
    offsets,
    ...(stop !== undefined && { stop }),
  };
}

/**
 * The record at index `i` of parsed chunk bytes (a view into `bytes`). Throws LedgerCorrupt when
 * its stored view is out of range.
 */
export function recordAt(bytes: Uint8Array, parsed: ParsedChunk, i: number): LedgerRecord {
  const offset = parsed.offsets[i]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const seqno = parsed.firstSeqno + i;
  const recordView = getU64(view, offset);
  if (!Number.isSafeInteger(recordView)) throw corrupt(seqno, "view", "stored view is out of range");
  return {
    seqno,
    view: recordView,
    bytes: bytes.subarray(offset + recordHeaderBytes(parsed.version), parsed.offsets[i + 1]!),
  };
}

export function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 4, value % 2 ** 32);
}
