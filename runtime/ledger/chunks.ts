/**
 * Portable ledger chunk files, as CCF exports its ledger: a run of consecutive entries that ends
 * on a signature entry, so every file can be audited (and every entry in it receipted) with only
 * the files before it. `treaty ledger export` writes them; `treaty ledger verify` reads them.
 *
 * File `ledger_<first>-<last>.chunk`:
 *   "TREATYL" 0x01 (8 bytes) || u64be firstSeqno || u64be count
 *   count × ( u64be view || u32be length || entry bytes )
 * The name and the header must agree, so a file cut short or with entries dropped from its end
 * is reported at the first missing seqno.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, join } from "node:path";
import { concatBytes } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import {
  encodeChunkHeader,
  encodeRecords,
  parseChunkHeader,
  parseChunkRecords,
  recordAt,
} from "./chunk-format.js";
import { corrupt as entryCorrupt, decodeEntry } from "./entry.js";
import type { LedgerRecord, LedgerStore } from "./store.js";
import type { AuditRecord } from "./verify.js";

export { CHUNK_MAGIC } from "./chunk-format.js";
export const CHUNK_SUFFIX = ".chunk";
/** Default target size of one chunk (a chunk closes at the first signature past it). */
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

/** One written chunk file. */
export interface ChunkFile {
  readonly name: string;
  readonly path: string;
  readonly firstSeqno: number;
  readonly lastSeqno: number;
  readonly bytes: number;
}

export interface ExportOptions {
  /** Close a chunk at the first signature once it holds this many bytes. Default 4 MiB. */
  readonly maxChunkBytes?: number;
  /** Export no entry beyond this seqno (e.g. the commit index). Default: the whole store. */
  readonly upToSeqno?: number;
  /** Called after each entry is read. */
  readonly onProgress?: (seqno: number, bytes: number) => void;
}

export interface ExportResult {
  readonly files: readonly ChunkFile[];
  /** Last seqno written (0 when nothing was signed yet). */
  readonly lastExportedSeqno: number;
  /** Entries after the last signature, not exported because no signature covers them yet. */
  readonly unsignedTail: number;
}

/**
 * The file recording the seqno a store that starts after a snapshot continues after: written by
 * the chunked store's `rebase` and by `exportChunks` for such a store, read when a chunk folder
 * is opened (chunk-store.ts).
 */
export const BASE_FILE = "ledger.base";

/** `ledger_<first>-<last>.chunk`. */
export function chunkFileName(firstSeqno: number, lastSeqno: number): string {
  return `ledger_${firstSeqno}-${lastSeqno}${CHUNK_SUFFIX}`;
}

/** Parses a chunk file name; undefined when it is not one. */
export function parseChunkFileName(name: string): { firstSeqno: number; lastSeqno: number } | undefined {
  const match = /^ledger_([1-9][0-9]{0,15})-([1-9][0-9]{0,15})\.chunk$/.exec(basename(name));
  if (!match) return undefined;
  const firstSeqno = Number(match[1]);
  const lastSeqno = Number(match[2]);
  return Number.isSafeInteger(lastSeqno) && firstSeqno <= lastSeqno ? { firstSeqno, lastSeqno } : undefined;
}

/** The bytes of one committed chunk file holding `records` (consecutive seqnos). */
export function encodeChunk(records: readonly LedgerRecord[]): Uint8Array {
  return concatBytes(encodeChunkHeader(records[0]?.seqno ?? 0, records.length), encodeRecords(records));
}

/**
 * Writes the signed prefix of `store` (up to `upToSeqno`) into chunk files in `outDir`, each
 * written to a temporary name, fsynced, then renamed. Entries are decoded on the way (to find the
 * signatures), so a corrupt store fails with TreatyError LedgerCorrupt instead of exporting it.
 * A store that starts after a snapshot (`baseSeqno`: a node that joined or caught up from one)
 * is exported from `baseSeqno + 1`, with `ledger.base` naming that seqno: the entries before it
 * are not there to export, and `treaty ledger verify` then checks the archive from the snapshot
 * it starts after (found in the `snapshots/` folder beside `outDir`, as in a data folder).
 */
export function exportChunks(store: LedgerStore, outDir: string, options: ExportOptions = {}): ExportResult {
  const maxChunkBytes = options.maxChunkBytes ?? DEFAULT_CHUNK_BYTES;
  mkdirSync(outDir, { recursive: true });
  const files: ChunkFile[] = [];
  let pending: LedgerRecord[] = [];
  let pendingBytes = 0;
  let signedCount = 0;
  let expected = store.baseSeqno + 1;
  let readBytes = 0;
  const flush = (count: number): void => {
    const records = pending.slice(0, count);
    const name = chunkFileName(records[0]!.seqno, records[records.length - 1]!.seqno);
    const bytes = encodeChunk(records);
    writeDurably(join(outDir, name), bytes);
    files.push({
      name,
      path: join(outDir, name),
      firstSeqno: records[0]!.seqno,
      lastSeqno: records.at(-1)!.seqno,
      bytes: bytes.length,
    });
    pending = pending.slice(count);
    pendingBytes = pending.reduce((sum, r) => sum + r.bytes.length, 0);
    signedCount = 0;
  };
  for (const record of store.range(expected, options.upToSeqno)) {
    if (record.seqno !== expected)
      throw entryCorrupt(expected, "entry", `missing from the store (next stored seqno is ${record.seqno})`);
    const entry = decodeEntry(record.bytes, record.seqno);
    pending.push(record);
    pendingBytes += record.bytes.length;
    readBytes += record.bytes.length;
    expected++;
    if (entry.header.kind === "signature") {
      signedCount = pending.length;
      if (pendingBytes >= maxChunkBytes) flush(signedCount);
    }
    options.onProgress?.(record.seqno, readBytes);
  }
  if (signedCount > 0) flush(signedCount);
  // A base file left by an earlier export into the same folder must not outlive it.
  if (store.baseSeqno > 0)
    writeDurably(join(outDir, BASE_FILE), new TextEncoder().encode(String(store.baseSeqno)));
  else rmSync(join(outDir, BASE_FILE), { force: true });
  return { files, lastExportedSeqno: files.at(-1)?.lastSeqno ?? 0, unsignedTail: pending.length };
}

/** Chunk files in `dir`, in seqno order. */
export function listChunkFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => parseChunkFileName(name) !== undefined)
    .sort((a, b) => parseChunkFileName(a)!.firstSeqno - parseChunkFileName(b)!.firstSeqno)
    .map((name) => join(dir, name));
}

/**
 * Reads chunk files (sorted by their names' first seqno) as one stream of records for
 * `verifyLedger`. The last record of each file is marked `endsChunk`. Throws TreatyError
 * LedgerCorrupt at the first seqno that a file cannot supply (bad magic, a name that disagrees
 * with the header, a record cut short, trailing bytes).
 */
export function* readChunkFiles(paths: readonly string[]): Generator<AuditRecord> {
  const named = paths.map((path) => {
    const range = parseChunkFileName(path);
    if (range === undefined)
      throw new TreatyError(
        "MalformedRequest",
        `${path}: not a chunk file name (ledger_<first>-<last>.chunk)`,
      );
    return { path, ...range };
  });
  named.sort((a, b) => a.firstSeqno - b.firstSeqno);
  for (const file of named) {
    const name = basename(file.path);
    const bytes = new Uint8Array(readFileSync(file.path));
    const header = parseChunkHeader(bytes);
    if (header === undefined) {
      throw corrupt(file.firstSeqno, "chunk", `${name}: not a Treaty ledger chunk (bad magic)`, name);
    }
    const { firstSeqno: first, count } = header;
    if (first !== file.firstSeqno || first + count - 1 !== file.lastSeqno) {
      // Report the first seqno the file fails to supply as its name promises.
      throw corrupt(
        first !== file.firstSeqno ? file.firstSeqno : Math.min(first + count, file.lastSeqno + 1),
        "chunk",
        `${name}: the file holds seqnos ${first}..${first + count - 1}, its name says ${file.firstSeqno}..${file.lastSeqno}`,
        name,
      );
    }
    const parsed = parseChunkRecords(bytes, count);
    const found = parsed.offsets.length - 1;
    for (let i = 0; i < found; i++) {
      const record = recordAt(bytes, parsed, i);
      yield { ...record, ...(i === count - 1 ? { endsChunk: name } : {}) };
    }
    if (found < count) {
      const stop = parsed.stop ?? {
        seqno: first + found,
        why: `the file ends at byte ${bytes.length}, inside entry ${first + found}`,
      };
      throw corrupt(stop.seqno, "chunk", `${name}: ${stop.why}`, name);
    }
    const end = parsed.offsets[count]!;
    if (end !== bytes.length)
      throw corrupt(
        first + count - 1,
        "chunk",
        `${name}: ${bytes.length - end} bytes after the last entry`,
        name,
      );
  }
}

/** True when `path` is a directory holding chunk files. */
export function isChunkDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory() && listChunkFiles(path).length > 0;
  } catch {
    return false;
  }
}

function writeDurably(path: string, bytes: Uint8Array): void {
  const temporary = `${path}.tmp`;
  const fd = openSync(temporary, "w");
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/** LedgerCorrupt at `seqno`, naming the chunk file (`details.chunk`) that failed to supply it. */
function corrupt(seqno: number, field: string, why: string, chunk: string): TreatyError {
  const err = entryCorrupt(seqno, field, why);
  return new TreatyError(err.code, err.message, { ...err.details, chunk });
}
