/**
 * The live ledger store as chunk files, as CCF keeps its ledger: one directory holding
 *
 *   ledger_<first>-<last>.chunk        committed: complete header, fsynced, read-only (0444);
 *                                      never written again, so an operator may archive it
 *   ledger_<first>-<last>.uncommitted  closed at a signature, not yet known committed
 *   ledger_<first>.open                the tail being appended to (at most one, always last)
 *
 * in the format of chunk-format.ts. A chunk closes at the first signature entry that brings it
 * to `maxChunkBytes` or more, so every chunk ends on a signature and audits on its own given the
 * ones before it. `markCommitted(seqno)` turns closed chunks wholly at or below `seqno` into
 * committed ones (header count written and fsynced, mode 0444, renamed).
 *
 * Durability: `append` writes each file's part of the batch with one `write` and one
 * `fdatasync` before returning; new, renamed and removed files are followed by an fsync of the
 * directory. `appendAsync` (group commit: what a node uses) issues the same operations to a
 * queue (chunk-io.ts) whose syncs run on libuv's threadpool, batches that arrive while one is on
 * disk sharing the next write and sync; it resolves in call order once the batch is durable, and
 * serves its records from memory until then. `truncate`, `rebase` and `markCommitted` called
 * while such writes are in flight queue behind them, as does chunk rotation (a chunk is renamed
 * `.uncommitted` only once its bytes are synced). A crash mid-append leaves whole records of a
 * prefix of the batch plus possibly one torn record, which `open` cuts (CRC or length check) from the `.open` tail: what consensus
 * never acknowledged. Anything wrong elsewhere (a closed chunk short of its name, a gap between
 * files, a bad header) is TreatyError LedgerCorrupt naming the seqno and file.
 *
 * Memory and descriptors do not grow with the ledger: open keeps one small record per file
 * (names only: committed chunks are not read at open), record offsets for the uncommitted files,
 * and offsets of at most `INDEX_CACHE_CHUNKS` committed chunks, built on first read. One file
 * descriptor stays open (the tail); reads of other files open and close their own.
 *
 * Entries before the first local file (archived away) are not available: `get` and `range` of
 * such a seqno throw TreatyError LedgerArchived. A node past them needs a snapshot, not them.
 *
 * A store `rebase`d at a snapshot's seqno S holds only entries after S: `ledger.base` (the
 * decimal seqno, written atomically) records S, so an empty store reopens continuing after it.
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { assert } from "../../sdk/assert.js";
import { concatBytes } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import {
  CHUNK_COUNT_OFFSET,
  CHUNK_HEADER_BYTES,
  encodeChunkHeader,
  encodeRecords,
  type ParsedChunk,
  parseChunkHeader,
  parseChunkRecords,
  recordAt,
  setU64,
} from "./chunk-format.js";
import { ChunkFileIo, type DiskFile, type FileOp } from "./chunk-io.js";
import { BASE_FILE, chunkFileName, DEFAULT_CHUNK_BYTES, parseChunkFileName } from "./chunks.js";
import { corrupt, storedLeafFields } from "./entry.js";
import { checkAppend, type LedgerRecord, type LedgerStore } from "./store.js";

/** Committed chunks whose record offsets stay cached (LRU). */
export const INDEX_CACHE_CHUNKS = 8;

export type ChunkState = "committed" | "closed" | "open";

/** One file of the store, as `files()` reports it. */
export interface ChunkInfo {
  readonly name: string;
  readonly firstSeqno: number;
  /** Last seqno in the file (firstSeqno - 1 for an empty open file). */
  readonly lastSeqno: number;
  readonly state: ChunkState;
}

export interface ChunkedLedgerStoreOptions {
  /** Open for reading only: nothing is created, cut, renamed or written. */
  readonly readOnly?: boolean;
  /** Close a chunk at the first signature once it holds this many bytes. Default 4 MiB. */
  readonly maxChunkBytes?: number;
  /**
   * Whether a record is a signature entry (where chunks may close). Default: decodes the entry's
   * header; bytes that are not an entry count as no signature.
   */
  readonly isSignature?: (record: LedgerRecord) => boolean;
}

interface FileState {
  firstSeqno: number;
  lastSeqno: number;
  state: ChunkState;
  /** Record offsets (length = records + 1) for open and closed files; committed ones use the cache. */
  offsets: number[] | undefined;
  version: number;
  /** The file as the disk holds it now (its name and state lag behind while operations queue). */
  disk: DiskFile;
}

export { BASE_FILE };

/** `ledger_<first>.open`. */
export function openChunkName(firstSeqno: number): string {
  return `ledger_${firstSeqno}.open`;
}

/** `ledger_<first>-<last>.uncommitted`. */
export function closedChunkName(firstSeqno: number, lastSeqno: number): string {
  return `ledger_${firstSeqno}-${lastSeqno}.uncommitted`;
}

/** True when `dir` holds any file of a chunked ledger store. */
export function hasChunkStore(dir: string): boolean {
  try {
    return readdirSync(dir).some((name) => parseStoreFileName(name) !== undefined);
  } catch {
    return false;
  }
}

function parseStoreFileName(
  name: string,
): { firstSeqno: number; lastSeqno: number | undefined; state: ChunkState } | undefined {
  const committed = parseChunkFileName(name);
  if (committed !== undefined && name === chunkFileName(committed.firstSeqno, committed.lastSeqno))
    return { ...committed, state: "committed" };
  const closed = /^ledger_([1-9][0-9]{0,15})-([1-9][0-9]{0,15})\.uncommitted$/.exec(name);
  if (closed) {
    const firstSeqno = Number(closed[1]);
    const lastSeqno = Number(closed[2]);
    return Number.isSafeInteger(lastSeqno) && firstSeqno <= lastSeqno
      ? { firstSeqno, lastSeqno, state: "closed" }
      : undefined;
  }
  const open = /^ledger_([1-9][0-9]{0,15})\.open$/.exec(name);
  if (open && Number.isSafeInteger(Number(open[1])))
    return { firstSeqno: Number(open[1]), lastSeqno: undefined, state: "open" };
  return undefined;
}

/** The base a `rebase` recorded in `dir` (0 when none). */
function readBase(dir: string): number {
  let text: string;
  try {
    text = readFileSync(join(dir, BASE_FILE), "utf8");
  } catch {
    return 0;
  }
  const base = Number(text);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || !Number.isSafeInteger(base)) {
    throw new TreatyError("LedgerCorrupt", `ledger store ${dir}: ${BASE_FILE} does not hold a seqno`, {
      field: BASE_FILE,
    });
  }
  return base;
}

function defaultIsSignature(record: LedgerRecord): boolean {
  try {
    return storedLeafFields(record.bytes, record.seqno).kind === "signature";
  } catch {
    return false;
  }
}

export class ChunkedLedgerStore implements LedgerStore {
  readonly #dir: string;
  readonly #readOnly: boolean;
  readonly #maxChunkBytes: number;
  readonly #isSignature: (record: LedgerRecord) => boolean;
  /** Every local file, ascending and contiguous. */
  readonly #files: FileState[];
  /** Offsets of recently read committed chunks, by first seqno (Map order = LRU order). */
  readonly #indexCache = new Map<number, { offsets: number[]; version: number }>();
  #closed = false;
  /** The seqno this store continues after (a snapshot's; 0 when never rebased). */
  #base: number;
  /** Runs the file operations: at once, or queued behind `appendAsync`'s (chunk-io.ts). */
  readonly #io: ChunkFileIo;
  /** True while `appendAsync` issues its operations (they queue even when the queue is empty). */
  #deferring = false;
  /**
   * Records of `appendAsync` batches not yet durable: always the last ones of the log, served
   * from here because their bytes may not be in the files yet.
   */
  #unsynced: LedgerRecord[] = [];
  /** `appendAsync` batches in flight, oldest first: their last seqno, lowered by a truncation. */
  readonly #flights: Array<{ last: number }> = [];

  private constructor(dir: string, options: ChunkedLedgerStoreOptions, files: FileState[], base: number) {
    this.#dir = dir;
    this.#base = base;
    this.#readOnly = options.readOnly ?? false;
    this.#maxChunkBytes = options.maxChunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.#isSignature = options.isSignature ?? defaultIsSignature;
    this.#files = files;
    this.#io = new ChunkFileIo(dir);
    const tail = files.at(-1);
    if (!this.#readOnly && tail?.state === "open") tail.disk.fd = openSync(this.#path(tail), "r+");
  }

  /**
   * Opens (creating unless read-only) the store in `dir`: lists the files, reads the uncommitted
   * ones (the tail: a torn last record of the `.open` file is cut, unless read-only) and trusts
   * committed chunks' names until they are read. Throws TreatyError NotFound when a read-only
   * store does not exist, LedgerCorrupt for files that do not fit together.
   */
  static open(dir: string, options: ChunkedLedgerStoreOptions = {}): ChunkedLedgerStore {
    const readOnly = options.readOnly ?? false;
    assert(
      options.maxChunkBytes === undefined ||
        (Number.isSafeInteger(options.maxChunkBytes) && options.maxChunkBytes > 0),
      "maxChunkBytes is a positive integer",
    );
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      if (readOnly) throw new TreatyError("NotFound", `ledger store: no directory ${dir}`);
      mkdirSync(dir, { recursive: true });
      names = [];
    }
    const found = names
      .map((name) => ({ name, parsed: parseStoreFileName(name) }))
      .filter((f) => f.parsed !== undefined)
      .map((f) => ({ name: f.name, ...f.parsed! }))
      .sort((a, b) => a.firstSeqno - b.firstSeqno);
    const files: FileState[] = [];
    for (let i = 0; i < found.length; i++) {
      const file = found[i]!;
      const isLast = i === found.length - 1;
      const previous = files.at(-1);
      if (previous !== undefined && file.firstSeqno !== previous.lastSeqno + 1) {
        const missing = previous.lastSeqno + 1;
        throw new TreatyError(
          "LedgerCorrupt",
          `ledger store ${dir}: ${file.name} follows a file ending at seqno ${previous.lastSeqno}: ` +
            (file.firstSeqno > missing
              ? `seqnos ${missing}..${file.firstSeqno - 1} are missing (restore the chunk from the archive)`
              : "the files overlap"),
          { seqno: missing, field: "chunk", chunk: file.name },
        );
      }
      if (file.state === "open" && !isLast) {
        throw new TreatyError("LedgerCorrupt", `ledger store ${dir}: ${file.name} is not the last file`, {
          seqno: file.firstSeqno,
          field: "chunk",
          chunk: file.name,
        });
      }
      if (file.state === "committed") {
        files.push({
          firstSeqno: file.firstSeqno,
          lastSeqno: file.lastSeqno!,
          state: "committed",
          offsets: undefined,
          version: 0,
          disk: { name: file.name, fd: undefined },
        });
        continue;
      }
      files.push(readUncommitted(dir, file.name, file.firstSeqno, file.lastSeqno, readOnly));
    }
    const base = readBase(dir);
    if (files.length > 0 && files[0]!.firstSeqno <= base) {
      throw new TreatyError(
        "LedgerCorrupt",
        `ledger store ${dir}: ${BASE_FILE} says the log continues after seqno ${base}, but a file starts at ${files[0]!.firstSeqno}`,
        { seqno: files[0]!.firstSeqno, field: "chunk" },
      );
    }
    const store = new ChunkedLedgerStore(dir, options, files, base);
    // An open tail left empty (a crash between creating it and writing, or every record torn).
    const tail = files.at(-1);
    if (!readOnly && tail?.state === "open" && tail.lastSeqno < tail.firstSeqno) store.#removeTail();
    return store;
  }

  /** First seqno held locally (lastSeqno + 1 when the store holds nothing). */
  get firstSeqno(): number {
    return this.#files[0]?.firstSeqno ?? this.lastSeqno + 1;
  }

  get lastSeqno(): number {
    return this.#files.at(-1)?.lastSeqno ?? this.#base;
  }

  get baseSeqno(): number {
    return this.#base;
  }

  /**
   * Drops every file (newest first) and continues after `seqno`, recorded in `ledger.base`.
   * While `appendAsync` writes are unresolved, this queues behind them like `truncate`.
   */
  rebase(seqno: number): void {
    this.#checkWritable();
    assert(Number.isSafeInteger(seqno) && seqno >= 0, "rebase at a seqno ≥ 0");
    for (const flight of this.#flights) flight.last = 0;
    this.#unsynced = [];
    while (this.#files.length > 0) this.#do({ kind: "unlink", file: this.#files.pop()!.disk });
    this.#indexCache.clear();
    this.#do({ kind: "syncDir" });
    const temp: DiskFile = { name: undefined, fd: undefined };
    this.#do({ kind: "open", file: temp, name: `${BASE_FILE}.tmp`, flags: "w+" });
    this.#do({ kind: "write", file: temp, position: 0, bytes: new TextEncoder().encode(String(seqno)) });
    this.#do({ kind: "datasync", file: temp });
    this.#do({ kind: "close", file: temp });
    this.#do({ kind: "rename", file: temp, name: BASE_FILE });
    this.#do({ kind: "syncDir" });
    this.#base = seqno;
  }

  /** Last seqno in a committed chunk (0 when none). */
  get committedSeqno(): number {
    let last = 0;
    for (const file of this.#files) if (file.state === "committed") last = file.lastSeqno;
    return last;
  }

  /** The local files, in seqno order. */
  files(): ChunkInfo[] {
    return this.#files.map((f) => ({
      name: this.#name(f),
      firstSeqno: f.firstSeqno,
      lastSeqno: f.lastSeqno,
      state: f.state,
    }));
  }

  append(records: readonly LedgerRecord[]): void {
    this.#checkWritable();
    assert(!this.#io.busy, "a synchronous append while asynchronous writes are pending");
    checkAppend(this.lastSeqno, records);
    this.#appendRecords(records);
  }

  /**
   * Group commit (see `LedgerStore.appendAsync`): the same files and bytes as `append`, written
   * and fdatasynced (on libuv's threadpool) behind every earlier operation; batches that arrive
   * while a write is on disk share the next write and sync. Resolves, in call order, once the
   * batch and everything before it are durable; until then its records are served from memory.
   */
  appendAsync(records: readonly LedgerRecord[]): Promise<void> {
    this.#checkOpen();
    assert(!this.#readOnly, "write to a read-only ledger store");
    if (this.#io.failure !== undefined) return Promise.reject(this.#io.failure);
    checkAppend(this.lastSeqno, records);
    this.#deferring = true;
    try {
      this.#appendRecords(records);
    } finally {
      this.#deferring = false;
    }
    for (let i = 0; i < records.length; i++) this.#unsynced.push(records[i]!);
    const flight = { last: this.lastSeqno };
    this.#flights.push(flight);
    return new Promise((resolve, reject) => {
      const settle = () => {
        assert(this.#flights[0] === flight, "asynchronous appends complete in order");
        this.#flights.shift();
      };
      this.#io.enqueue({
        kind: "done",
        resolve: () => {
          settle();
          this.#synced(flight.last);
          resolve();
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
    });
  }

  /** Records up to `seqno` are durable: reads go to the files from now on. */
  #synced(seqno: number): void {
    const first = this.#firstUnsynced();
    const count = Math.min(seqno, this.lastSeqno) - first + 1;
    if (count > 0) this.#unsynced.splice(0, count);
  }

  #firstUnsynced(): number {
    return this.lastSeqno - this.#unsynced.length + 1;
  }

  #appendRecords(records: readonly LedgerRecord[]): void {
    const tail = this.#files.at(-1);
    // Bytes the open chunk holds once records[from..i] are written.
    let chunkBytes = tail?.state === "open" ? tail.offsets!.at(-1)! : CHUNK_HEADER_BYTES;
    let from = 0;
    for (let i = 0; i < records.length; i++) {
      chunkBytes += 16 + records[i]!.bytes.length;
      if (chunkBytes >= this.#maxChunkBytes && this.#isSignature(records[i]!)) {
        this.#writeTail(records.slice(from, i + 1));
        this.#closeTail();
        from = i + 1;
        chunkBytes = CHUNK_HEADER_BYTES;
      }
    }
    if (from < records.length) this.#writeTail(records.slice(from));
  }

  truncate(fromSeqno: number): void {
    this.#checkWritable();
    assert(Number.isSafeInteger(fromSeqno) && fromSeqno > this.#base, "truncate after the base");
    if (fromSeqno > this.lastSeqno) return;
    if (fromSeqno < this.firstSeqno) this.#unavailable(fromSeqno);
    for (const flight of this.#flights) flight.last = Math.min(flight.last, fromSeqno - 1);
    this.#unsynced.length = Math.max(0, Math.min(this.#unsynced.length, fromSeqno - this.#firstUnsynced()));
    // Newest first, so a crash part-way leaves a prefix of the log (all of it being dropped anyway).
    while (this.#files.length > 0 && this.#files.at(-1)!.firstSeqno >= fromSeqno) {
      if (this.#files.at(-1)!.state === "open") this.#removeTail();
      else {
        const file = this.#files.pop()!;
        this.#do({ kind: "unlink", file: file.disk });
        this.#indexCache.delete(file.firstSeqno);
      }
    }
    const file = this.#files.at(-1);
    if (file !== undefined && file.lastSeqno >= fromSeqno) {
      const offsets = this.#offsets(file);
      const keep = fromSeqno - file.firstSeqno;
      if (file.state !== "open") {
        assert(file.version === 2, "only chunks this version wrote are reopened for writing");
        // Reopen a closed (or, in recovery, committed) chunk as the tail.
        const openName = openChunkName(file.firstSeqno);
        this.#do({ kind: "chmod", file: file.disk, mode: 0o644 });
        this.#do({ kind: "rename", file: file.disk, name: openName });
        this.#do({ kind: "open", file: file.disk, name: openName, flags: "r+" });
        this.#indexCache.delete(file.firstSeqno);
        file.state = "open";
        this.#do({
          kind: "write",
          file: file.disk,
          position: 0,
          bytes: encodeChunkHeader(file.firstSeqno, 0),
        });
      }
      this.#do({ kind: "truncate", file: file.disk, length: offsets[keep]! });
      this.#do({ kind: "datasync", file: file.disk });
      file.offsets = offsets.slice(0, keep + 1);
      file.lastSeqno = fromSeqno - 1;
      if (keep === 0) this.#removeTail();
    }
    this.#do({ kind: "syncDir" });
  }

  /**
   * Makes every closed chunk whose last seqno is ≤ `seqno` committed: writes its record count,
   * fsyncs it, makes it read-only and renames it `ledger_<first>-<last>.chunk`. The node calls it
   * as its commit point moves; a seqno beyond what is stored counts up to the stored end.
   */
  markCommitted(seqno: number): void {
    this.#checkWritable();
    let changed = false;
    for (const file of this.#files) {
      if (file.state !== "closed") continue;
      if (file.lastSeqno > seqno) break;
      const count = new Uint8Array(8);
      setU64(new DataView(count.buffer), 0, file.lastSeqno - file.firstSeqno + 1);
      this.#do({ kind: "open", file: file.disk, name: this.#name(file), flags: "r+" });
      this.#do({ kind: "write", file: file.disk, position: CHUNK_COUNT_OFFSET, bytes: count });
      this.#do({ kind: "datasync", file: file.disk });
      this.#do({ kind: "close", file: file.disk });
      this.#do({ kind: "chmod", file: file.disk, mode: 0o444 });
      file.state = "committed";
      this.#do({ kind: "rename", file: file.disk, name: this.#name(file) });
      // Offsets stay with the file until the disk holds the committed chunk (reads of it by its
      // committed name would find the header without its count until then).
      this.#do({
        kind: "then",
        run: () => {
          if (file.state !== "committed" || file.offsets === undefined || !this.#files.includes(file)) return;
          this.#cacheIndex(file.firstSeqno, file.offsets, file.version);
          file.offsets = undefined;
        },
      });
      changed = true;
    }
    if (changed) this.#do({ kind: "syncDir" });
  }

  get(seqno: number): LedgerRecord | undefined {
    assert(!this.#closed, "store is closed");
    if (!Number.isSafeInteger(seqno) || seqno <= this.#base || seqno > this.lastSeqno) return undefined;
    const firstUnsynced = this.#firstUnsynced();
    if (seqno >= firstUnsynced) return this.#unsynced[seqno - firstUnsynced];
    const file = this.#fileOf(seqno);
    const offsets = this.#offsets(file);
    const i = seqno - file.firstSeqno;
    const start = offsets[i]!;
    const bytes = this.#read(file, start, offsets[i + 1]! - start);
    const parsed: ParsedChunk = {
      version: file.version,
      firstSeqno: seqno,
      headerCount: 0,
      offsets: [0, bytes.length],
    };
    return recordAt(bytes, parsed, 0);
  }

  *range(fromSeqno: number, toSeqno: number = Number.MAX_SAFE_INTEGER): IterableIterator<LedgerRecord> {
    assert(!this.#closed, "store is closed");
    let seqno = Math.max(this.#base + 1, fromSeqno);
    while (seqno <= Math.min(toSeqno, this.lastSeqno)) {
      const firstUnsynced = this.#firstUnsynced();
      if (seqno >= firstUnsynced) {
        yield this.#unsynced[seqno - firstUnsynced]!;
        seqno++;
        continue;
      }
      const file = this.#fileOf(seqno);
      const offsets = this.#offsets(file);
      const lastHere = Math.min(file.lastSeqno, toSeqno, firstUnsynced - 1);
      const start = offsets[seqno - file.firstSeqno]!;
      const bytes = this.#read(file, start, offsets[lastHere - file.firstSeqno + 1]! - start);
      const parsed: ParsedChunk = {
        version: file.version,
        firstSeqno: seqno,
        headerCount: 0,
        offsets: offsets.slice(seqno - file.firstSeqno, lastHere - file.firstSeqno + 2).map((o) => o - start),
      };
      for (let i = 0; i <= lastHere - seqno; i++) {
        const record = recordAt(bytes, parsed, i);
        // A copy: the records outlive this file's buffer (the consensus log keeps some).
        yield { seqno: record.seqno, view: record.view, bytes: record.bytes.slice() };
      }
      seqno = lastHere + 1;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#io.whenIdle();
    const tail = this.#files.at(-1)?.disk;
    if (tail?.fd !== undefined) closeSync(tail.fd);
    if (tail !== undefined) tail.fd = undefined;
  }

  #checkOpen(): void {
    assert(!this.#closed, "store is closed");
  }

  /** Writable and not failed: a failed asynchronous write leaves the files behind the log. */
  #checkWritable(): void {
    this.#checkOpen();
    assert(!this.#readOnly, "write to a read-only ledger store");
    if (this.#io.failure !== undefined) throw this.#io.failure;
  }

  /** Runs a file operation now, or queues it behind pending ones (and all of `appendAsync`'s). */
  #do(op: FileOp): void {
    if (this.#deferring || this.#io.busy) this.#io.enqueue(op);
    else this.#io.runNow(op);
  }

  #name(file: FileState): string {
    if (file.state === "open") return openChunkName(file.firstSeqno);
    if (file.state === "closed") return closedChunkName(file.firstSeqno, file.lastSeqno);
    return chunkFileName(file.firstSeqno, file.lastSeqno);
  }

  #path(file: FileState): string {
    return join(this.#dir, this.#name(file));
  }

  #unavailable(seqno: number): never {
    throw new TreatyError(
      "LedgerArchived",
      `entry ${seqno}: not available on this node (its ledger starts at seqno ${this.firstSeqno}; older chunks were archived)`,
      { seqno, firstSeqno: this.firstSeqno },
    );
  }

  /** The file holding `seqno` (firstSeqno ≤ seqno ≤ lastSeqno); LedgerArchived below the first. */
  #fileOf(seqno: number): FileState {
    if (seqno < this.firstSeqno) this.#unavailable(seqno);
    let low = 0;
    let high = this.#files.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >>> 1;
      if (this.#files[mid]!.firstSeqno <= seqno) low = mid;
      else high = mid - 1;
    }
    const file = this.#files[low]!;
    assert(file.firstSeqno <= seqno && seqno <= file.lastSeqno, "seqno within the store's files");
    return file;
  }

  /** Record offsets of `file`, reading (and checking) a committed chunk on a cache miss. */
  #offsets(file: FileState): number[] {
    if (file.offsets !== undefined) return file.offsets;
    const cached = this.#indexCache.get(file.firstSeqno);
    if (cached !== undefined) {
      this.#indexCache.delete(file.firstSeqno);
      this.#indexCache.set(file.firstSeqno, cached);
      file.version = cached.version;
      return cached.offsets;
    }
    const name = file.disk.name ?? this.#name(file);
    const bytes = readFileOrCorrupt(join(this.#dir, name), file.firstSeqno, name);
    const count = file.lastSeqno - file.firstSeqno + 1;
    const header = parseChunkHeader(bytes);
    if (header === undefined || header.firstSeqno !== file.firstSeqno || header.count !== count)
      throw corruptChunk(file.firstSeqno, name, "the header does not match the file name");
    const parsed = parseChunkRecords(bytes, count);
    if (parsed.offsets.length - 1 < count || parsed.offsets[count] !== bytes.length) {
      const seqno = parsed.stop?.seqno ?? file.firstSeqno + parsed.offsets.length - 1;
      throw corruptChunk(seqno, name, parsed.stop?.why ?? "bytes after the last entry");
    }
    file.version = parsed.version;
    this.#cacheIndex(file.firstSeqno, [...parsed.offsets], parsed.version);
    return this.#indexCache.get(file.firstSeqno)!.offsets;
  }

  #cacheIndex(firstSeqno: number, offsets: number[], version: number): void {
    this.#indexCache.set(firstSeqno, { offsets, version });
    while (this.#indexCache.size > INDEX_CACHE_CHUNKS)
      this.#indexCache.delete(this.#indexCache.keys().next().value!);
  }

  /** `length` bytes of `file` at `position`. */
  #read(file: FileState, position: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    // The disk's view: a rename or close of this file may still wait in the queue.
    const { fd: openFd, name } = file.disk;
    assert(name !== undefined, "a durable record's file is on disk");
    const fd = openFd ?? openSync(join(this.#dir, name), "r");
    try {
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, position + done);
        if (n === 0) throw corruptChunk(file.firstSeqno, name, "the file is shorter than its index");
        done += n;
      }
    } finally {
      if (openFd === undefined) closeSync(fd);
    }
    return out;
  }

  /** Appends `records` to the open tail (creating it), durably. */
  #writeTail(records: readonly LedgerRecord[]): void {
    let tail = this.#files.at(-1);
    let body = encodeRecords(records);
    let position: number;
    const created = tail?.state !== "open";
    if (created) {
      tail = {
        firstSeqno: records[0]!.seqno,
        lastSeqno: records[0]!.seqno - 1,
        state: "open",
        offsets: [CHUNK_HEADER_BYTES],
        version: 2,
        disk: { name: undefined, fd: undefined },
      };
      this.#files.push(tail);
      this.#do({ kind: "open", file: tail.disk, name: this.#name(tail), flags: "w+" });
      body = concatBytes(encodeChunkHeader(tail.firstSeqno, 0), body);
      position = 0;
    } else {
      position = tail!.offsets!.at(-1)!;
    }
    this.#do({ kind: "write", file: tail!.disk, position, bytes: body });
    this.#do({ kind: "datasync", file: tail!.disk });
    if (created) this.#do({ kind: "syncDir" });
    let offset = tail!.offsets!.at(-1)!;
    for (let i = 0; i < records.length; i++) {
      offset += 16 + records[i]!.bytes.length;
      tail!.offsets!.push(offset);
    }
    tail!.lastSeqno = records.at(-1)!.seqno;
  }

  /** Closes the open tail after a signature: `.open` becomes `.uncommitted`. */
  #closeTail(): void {
    const tail = this.#files.at(-1)!;
    assert(tail.state === "open" && tail.lastSeqno >= tail.firstSeqno, "closing a non-empty open tail");
    this.#do({ kind: "close", file: tail.disk });
    tail.state = "closed";
    this.#do({ kind: "rename", file: tail.disk, name: this.#name(tail) });
    this.#do({ kind: "syncDir" });
  }

  /** Deletes the open tail file. */
  #removeTail(): void {
    const tail = this.#files.pop()!;
    assert(tail.state === "open", "removing the open tail");
    this.#do({ kind: "unlink", file: tail.disk });
    this.#do({ kind: "syncDir" });
  }
}

/**
 * Reads an uncommitted file (closed or open). An open tail's torn end is cut (the file is
 * truncated unless read-only); a closed file must hold exactly what its name says.
 */
function readUncommitted(
  dir: string,
  name: string,
  firstSeqno: number,
  lastSeqno: number | undefined,
  readOnly: boolean,
): FileState {
  const path = join(dir, name);
  const bytes = readFileOrCorrupt(path, firstSeqno, name);
  const header = parseChunkHeader(bytes);
  if (header === undefined || header.firstSeqno !== firstSeqno) {
    // An open file whose header never reached the disk holds nothing acknowledged.
    if (lastSeqno === undefined && bytes.length < CHUNK_HEADER_BYTES) {
      if (!readOnly) {
        const fd = openSync(path, "r+");
        try {
          writeAll(fd, encodeChunkHeader(firstSeqno, 0), 0);
          ftruncateSync(fd, CHUNK_HEADER_BYTES);
          fdatasyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
      return {
        firstSeqno,
        lastSeqno: firstSeqno - 1,
        state: "open",
        offsets: [CHUNK_HEADER_BYTES],
        version: 2,
        disk: { name, fd: undefined },
      };
    }
    throw corruptChunk(firstSeqno, name, "not a ledger chunk, or its header does not match its name");
  }
  const parsed = parseChunkRecords(bytes);
  const count = parsed.offsets.length - 1;
  if (lastSeqno !== undefined) {
    if (parsed.stop !== undefined) throw corruptChunk(parsed.stop.seqno, name, parsed.stop.why);
    if (firstSeqno + count - 1 !== lastSeqno)
      throw corruptChunk(firstSeqno + count, name, `holds seqnos ${firstSeqno}..${firstSeqno + count - 1}`);
    return {
      firstSeqno,
      lastSeqno,
      state: "closed",
      offsets: [...parsed.offsets],
      version: parsed.version,
      disk: { name, fd: undefined },
    };
  }
  const end = parsed.offsets.at(-1)!;
  if (end < bytes.length && !readOnly) {
    // A torn tail: the write was never acknowledged, so it is cut.
    const fd = openSync(path, "r+");
    try {
      ftruncateSync(fd, end);
      fdatasyncSync(fd);
      assert(fstatSync(fd).size === end, "tail cut");
    } finally {
      closeSync(fd);
    }
  }
  return {
    firstSeqno,
    lastSeqno: firstSeqno + count - 1,
    state: "open",
    offsets: [...parsed.offsets],
    version: parsed.version,
    disk: { name, fd: undefined },
  };
}

function readFileOrCorrupt(path: string, seqno: number, name: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    throw corruptChunk(seqno, name, `cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

function corruptChunk(seqno: number, name: string, why: string): TreatyError {
  const err = corrupt(seqno, "chunk", `${name}: ${why}`);
  return new TreatyError(err.code, err.message, { ...err.details, chunk: name });
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
