/**
 * Committed state in LMDB (`lmdb` 3.5.6): one environment (a directory) with two named
 * databases, both with binary keys and values:
 *
 * - `kv.state`: every map in one keyspace, composite key `utf8(map) 0x00 key`. Map names contain
 *   no 0x00, so a map's keys are contiguous and in bytewise key order, and each map ends before
 *   `utf8(map) 0x01`. One keyspace rather than a database per map because maps are created by
 *   contracts without bound, while LMDB needs `maxDbs` fixed at open and makes each named
 *   database a root-level entry; and one commit covers every map without juggling handles.
 * - `kv.meta`: the format marker and the committed version, written in the same LMDB
 *   transaction as the data, so a crash leaves data and marker in agreement.
 *
 * Traps measured on this machine: lmdb-js's asynchronous
 * `transaction(callback)` never resolves here (it needs threadsafe N-API callbacks), so batches
 * use `batch(callback)`, which is one atomic LMDB transaction on the write thread; its promise
 * resolves when the transaction is visible, and `flushed` when it is on disk (overlappingSync).
 * A durable commit costs ~200 µs, so the store commits per batch of versions, never per tx.
 *
 * Free-list bound: lmdb-js keeps up to `maxFreeSpaceToLoad` free-page entries loaded (default
 * 50,000) and rewrites and re-checks that list in every commit, at a cost that grows faster than
 * its length. After a bulk load (1M nonce records, ~800 MB) a commit of 5 rows took ~0.7 s, all
 * of it in `mdb_freelist_save`; loading at most FREE_PAGES_LOADED entries it takes ~4 ms, with the
 * same file size (measured, docs/ARCHITECTURE.md "Group commit and a bounded LMDB free list").
 *
 * Damage found at run time: the start-up check (runtime/lmdb-check.ts) reads the meta pages and
 * the root pages, not the pages below them. A read or a write that LMDB fails because of a
 * damaged page below them (MDB_PAGE_NOTFOUND, MDB_CORRUPTED, MDB_PROBLEM, MDB_PANIC, and in a
 * write MDB_BAD_TXN: the batch's transaction was spoiled by such an error earlier in it) throws
 * TreatyError `LedgerCorrupt` "kv store <dir>: LMDB file <dir>/data.mdb: <LMDB's message> (while
 * reading|writing)"; the node stops on it (node/service.ts). Some damage never reaches JS: LMDB
 * aborts the process on an assertion (a range scan stepping onto a page that is not a leaf:
 * SIGABRT), or reads through garbage offsets (SIGSEGV), or returns wrong rows without an error
 * (garbage inside a leaf whose header is intact); docs/deploy.md, "Damaged LMDB files", lists
 * what was measured.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  type Database,
  type DatabaseOptions,
  open,
  type RootDatabase,
  type RootDatabaseOptionsWithPath,
  type Transaction,
} from "lmdb";
import { TreatyError } from "../../sdk/errors.js";
import { assert } from "../../sdk/assert.js";
import { checkLmdbFile, lmdbCorruption } from "../lmdb-check.js";
import type {
  BatchWrite,
  CommittedBackend,
  MapRef,
  PinnedState,
  Row,
  RowSink,
  ScanBounds,
} from "./backend.js";
import { copyBytes, joinBytes } from "./bytes.js";

/**
 * On-disk layout version; bump (and migrate) when the layout above changes. 2: the maps in
 * CLEAR_AT_REST (sealed-backend.ts) are stored unsealed; a format-1 store is migrated by the
 * sealing layer in its first write (SealedBackend), and older code refuses a format-2 store.
 */
export const LMDB_FORMAT = 2;
/** LMDB's data file inside the store directory (lmdb-js opens a directory as `data.mdb` + `lock.mdb`). */
export const DATA_FILE = "data.mdb";
/** Formats this code opens. */
const READABLE_FORMATS: ReadonlySet<number> = new Set([1, 2]);

/** Free-list entries lmdb-js loads for reuse per write, and keeps between writes (see above). */
const FREE_PAGES_LOADED = 5_000;
const FREE_PAGES_RETAINED = 7_500;

/**
 * lmdb-js's `batchStartThreshold` (write.js: writes counted 1 + value bytes / 4 KiB, default 1,000):
 * past it, lmdb-js hands a batch to its write thread (a libuv pool thread) while the batch's
 * callback is still adding writes, and that thread waits, holding LMDB's write transaction,
 * until the callback has added the rest. A thread ended inside the callback (`worker.terminate()`,
 * or `process.exit()`, which terminates every worker first) never adds it: the write thread waits
 * forever, the worker's teardown waits for that thread's work, and so does the process's exit
 * (measured: a node that logged `uncaught exception: stopping` stayed up, SIGTERM included, until
 * SIGKILL; docs/ARCHITECTURE.md, "A fail-stop that did not stop"). Never passed: a batch reaches
 * the write thread only whole, and a batch abandoned part-way is never begun.
 */
const BATCH_START_THRESHOLD = Number.POSITIVE_INFINITY;

/** Open options lmdb-js's native open and write.js read but its typings lack. */
interface UntypedOpenOptions {
  readonly maxFreeSpaceToLoad: number;
  readonly maxFreeSpaceToRetain: number;
  readonly batchStartThreshold: number;
}

/**
 * LMDB error codes (lmdb.h) that mean a damaged store when a read or write fails with them at
 * run time, beyond the ones the open maps (lmdbCorruption): MDB_PANIC (-30795, a fatal error in
 * the environment), MDB_BAD_TXN (-30782, the transaction hit an error earlier and must abort;
 * measured: a batch writing under a page LMDB found damaged), MDB_PROBLEM (-30779, "unexpected
 * problem - txn should abort"; measured: a scan through a zeroed branch page).
 */
const RUNTIME_DAMAGE_CODES: ReadonlySet<number> = new Set([-30795, -30782, -30779]);

/** LMDB's message for `err` when it reports a damaged store at run time, else undefined. */
function runtimeDamage(err: unknown): string | undefined {
  const damage = lmdbCorruption(err);
  if (damage !== undefined) return damage;
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" && RUNTIME_DAMAGE_CODES.has(code) ? err.message : undefined;
}

const FORMAT_KEY = Buffer.from("format");
const VERSION_KEY = Buffer.from("committedVersion");
const decoder = new TextDecoder("utf-8", { fatal: true });

type Db = Database<Uint8Array, Uint8Array>;

/**
 * Where the row a view scan reads last lies in lmdb-js's reused buffers: for each row of a range,
 * lmdb-js calls the key encoder's `readKey` on its key buffer, then the value decoder's `decode`
 * on its value buffer (read.js), and the next row overwrites both. ROW_VIEWS records the places
 * instead of copying, and `scanViews` hands them to the scan's RowSink right after each row is read.
 */
interface RowView {
  keySource: Uint8Array;
  keyStart: number;
  keyEnd: number;
  valueSource: Uint8Array;
  valueLength: number;
}

const ROW: RowView = {
  keySource: new Uint8Array(0),
  keyStart: 0,
  keyEnd: 0,
  valueSource: new Uint8Array(0),
  valueLength: 0,
};

/**
 * Key encoder and value codec of the view handle (documented lmdb-js options: `keyEncoder` with
 * writeKey/readKey, `encoder` with encode/decode; `decode` gets lmdb-js's own buffer, valid for
 * the call, since the codec does not set `needsStableBuffer`). Range bounds are written as raw
 * bytes, as with `keyEncoding: "binary"`. The handle is never written through.
 */
const ROW_VIEWS = {
  writeKey(key: Uint8Array, target: Uint8Array, start: number): number {
    target.set(key, start);
    return start + key.length;
  },
  readKey(source: Uint8Array, start: number, end: number): RowView {
    ROW.keySource = source;
    ROW.keyStart = start;
    ROW.keyEnd = end;
    return ROW;
  },
  encode(): never {
    throw new Error("the LMDB view handle is read-only");
  },
  decode(source: Uint8Array, length?: number): RowView {
    ROW.valueSource = source;
    ROW.valueLength = length ?? source.length;
    return ROW;
  },
};

type ViewDb = Database<RowView, Uint8Array>;

/**
 * Hands `sink` the rows of `range` (a range of the view handle) as places in lmdb-js's buffers:
 * the key without its first `skip` bytes (the map prefix) and the value, both valid until the
 * next row is read (no view or copy per row), until it returns false. Returns how many. The sink
 * runs outside lmdb-js's iterator step, so a throw ends the range cleanly (its cursor is closed
 * by the loop's return).
 */
function scanViews(range: Iterable<unknown>, skip: number, sink: RowSink): number {
  let rows = 0;
  for (const _ of range) {
    rows++;
    if (!sink.row(ROW.keySource, ROW.keyStart + skip, ROW.keyEnd, ROW.valueSource, 0, ROW.valueLength)) break;
  }
  return rows;
}

/**
 * Directories open in this process. lmdb-js shares one environment per path, so a second store
 * on the same directory would see the first one's close (and two overlays would fight over one
 * committed state): refuse it.
 */
const openPaths = new Set<string>();

/** LMDB-backed committed state; one per directory per process. */
export class LmdbBackend implements CommittedBackend {
  private version: number;
  /** The format marker found at open (0: a new store); every write marks LMDB_FORMAT. */
  readonly openedFormat: number;

  private constructor(
    private readonly path: string,
    private readonly absolutePath: string,
    private readonly root: RootDatabase<Uint8Array, Uint8Array>,
    private readonly state: Db,
    private readonly meta: Db,
    /** `kv.state` again, its rows left in lmdb-js's buffers (snapshot scans; see ROW_VIEWS). */
    private readonly views: ViewDb,
  ) {
    const marker = readMeta(path, meta);
    this.version = marker.version;
    this.openedFormat = marker.format;
  }

  /**
   * Opens or creates the store in directory `path` (created if missing). Throws TreatyError
   * Unavailable when LMDB cannot open it or this process already has it open, and LedgerCorrupt
   * when its data file fails the start-up check (runtime/lmdb-check.ts: empty, truncated, bad
   * meta pages or root pages; checked before lmdb-js maps it, where such a file crashes the
   * process), LMDB reports damage while opening (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, ...), or its
   * markers are unreadable.
   */
  static open(path: string): LmdbBackend {
    const absolutePath = resolve(path);
    if (openPaths.has(absolutePath)) {
      throw new TreatyError("Unavailable", `kv store ${path}: already open in this process`);
    }
    const file = join(path, DATA_FILE);
    // lmdb-js opens a directory environment with overlappingSync except on Windows (open.js).
    checkLmdbFile(file, `kv store ${path}`, { overlappingSync: process.platform !== "win32" });
    const failed = (err: unknown): TreatyError => {
      if (err instanceof TreatyError) return err;
      const damage = lmdbCorruption(err);
      if (damage !== undefined) return corrupt(path, `LMDB file ${file}: ${damage}`);
      return new TreatyError("Unavailable", `kv store ${path}: cannot open (${message(err)})`);
    };
    let root: RootDatabase<Uint8Array, Uint8Array>;
    try {
      mkdirSync(path, { recursive: true });
      // The free-list and batch options are read by lmdb-js but missing from its typings.
      const rootOptions: RootDatabaseOptionsWithPath & UntypedOpenOptions = {
        path,
        noSubdir: false,
        encoding: "binary",
        keyEncoding: "binary",
        maxDbs: 4,
        cache: false,
        compression: false,
        maxFreeSpaceToLoad: FREE_PAGES_LOADED,
        maxFreeSpaceToRetain: FREE_PAGES_RETAINED,
        batchStartThreshold: BATCH_START_THRESHOLD,
      };
      root = open<Uint8Array, Uint8Array>(rootOptions);
    } catch (err) {
      throw failed(err);
    }
    const options = { encoding: "binary", keyEncoding: "binary", cache: false, compression: false } as const;
    try {
      const state = root.openDB<Uint8Array, Uint8Array>({ name: "kv.state", ...options });
      const meta = root.openDB<Uint8Array, Uint8Array>({ name: "kv.meta", ...options });
      // `encoder` and `keyEncoder` are documented for openDB but typed only on the root options.
      const viewOptions: DatabaseOptions & { name: string; encoder: unknown; keyEncoder: unknown } = {
        name: "kv.state",
        cache: false,
        compression: false,
        encoder: ROW_VIEWS,
        keyEncoder: ROW_VIEWS,
      };
      const views = root.openDB<RowView, Uint8Array>(viewOptions);
      const backend = new LmdbBackend(path, absolutePath, root, state, meta, views);
      openPaths.add(absolutePath);
      return backend;
    } catch (err) {
      root.close().catch(() => undefined);
      throw failed(err);
    }
  }

  get committedVersion(): number {
    return this.version;
  }

  /**
   * Scratch space for the composite key of a point read or a write: lmdb-js copies a binary key
   * into its own buffer before `getBinary`, `put` or `remove` returns (keys.js writeBufferKey),
   * so one array serves every call instead of a fresh Buffer each (a pool slice, and a new 8 KiB
   * pool every ~200 keys).
   */
  private scratch = new Uint8Array(256);

  /** `map.prefix` followed by `key`, in the scratch array: valid until the next call. */
  private compositeKey(map: MapRef, key: Uint8Array): Uint8Array {
    const length = map.prefix.length + key.length;
    if (length > this.scratch.length)
      this.scratch = new Uint8Array(Math.max(length, 2 * this.scratch.length));
    this.scratch.set(map.prefix, 0);
    this.scratch.set(key, map.prefix.length);
    return this.scratch.subarray(0, length);
  }

  get(map: MapRef, key: Uint8Array): Uint8Array | undefined {
    let value: Uint8Array | undefined;
    try {
      value = this.state.getBinary(this.compositeKey(map, key));
    } catch (err) {
      throw this.damaged(err, "reading");
    }
    return value === undefined ? undefined : copyBytes(value);
  }

  /**
   * `err` as TreatyError `LedgerCorrupt` naming the data file when it is LMDB reporting a damaged
   * store (see the module comment), else `err` unchanged.
   */
  private damaged(err: unknown, doing: "reading" | "writing"): unknown {
    const damage = runtimeDamage(err);
    if (damage === undefined) return err;
    return corrupt(this.path, `LMDB file ${join(this.path, DATA_FILE)}: ${damage} (while ${doing})`);
  }

  scan(map: MapRef, bounds: ScanBounds, reverse: boolean, limit: number): Row[] {
    if (limit <= 0) return [];
    const lower = joinBytes(map.prefix, bounds.lower ?? new Uint8Array(0));
    const upper = bounds.upper === undefined ? mapEnd(map) : joinBytes(map.prefix, bounds.upper);
    const lowerExclusive = bounds.lowerExclusive === true && bounds.lower !== undefined;
    const range = reverse
      ? this.state.getRange({
          start: upper,
          exclusiveStart: true,
          end: bounds.lower === undefined ? map.bytes : lower,
          inclusiveEnd: bounds.lower !== undefined && !lowerExclusive,
          reverse: true,
          limit,
        })
      : this.state.getRange({ start: lower, exclusiveStart: lowerExclusive, end: upper, limit });
    const rows: Row[] = [];
    try {
      for (const { key, value } of range) {
        rows.push({ key: copyBytes(key.subarray(map.prefix.length)), value: copyBytes(value) });
      }
    } catch (err) {
      throw this.damaged(err, "reading");
    }
    return rows;
  }

  mapNames(): string[] {
    try {
      return mapNamesOf(this.path, this.state, undefined);
    } catch (err) {
      throw this.damaged(err, "reading");
    }
  }

  /** A read transaction at the last durable batch (persists complete before they resolve). */
  pin(): PinnedState {
    const transaction = this.root.useReadTransaction();
    let marker: Uint8Array | undefined;
    try {
      marker = this.meta.get(VERSION_KEY, { transaction });
    } catch (err) {
      transaction.done();
      throw this.damaged(err, "reading");
    }
    const version = marker === undefined ? 0 : Number(Buffer.from(marker).readBigUInt64BE(0));
    assert(version === this.version, "a pinned LMDB state is at the committed version");
    let released = false;
    const live = () => assert(!released, "a pinned LMDB state is used after release");
    return {
      version,
      mapNames: () => {
        live();
        try {
          return mapNamesOf(this.path, this.state, transaction);
        } catch (err) {
          throw this.damaged(err, "reading");
        }
      },
      scan: (map, after, limit, sink) => {
        live();
        if (limit <= 0) return 0;
        const start = after === undefined ? Buffer.from(map.prefix) : joinBytes(map.prefix, after);
        const range = this.views.getRange({
          start,
          exclusiveStart: after !== undefined,
          end: mapEnd(map),
          limit,
          transaction,
        });
        try {
          return scanViews(range, map.prefix.length, sink);
        } catch (err) {
          throw this.damaged(err, "reading");
        }
      },
      release: () => {
        if (released) return;
        released = true;
        transaction.done();
      },
    };
  }

  async persist(version: number, writes: readonly BatchWrite[]): Promise<void> {
    const marker = encodeVersion(version);
    try {
      // The loop is a method, the closure only calls it: a closure made per call and hot within
      // it loses its optimized code at every major GC
      // (docs/performance.md, "Hot closures recompiled after every major GC").
      await this.root.batch(() => this.#write(writes, marker));
      await this.root.flushed;
    } catch (err) {
      // lmdb-js may have made another promise for the same failed commit (its commit promise,
      // when a large batch starts writing before its callback ends; measured): unhandled, its
      // rejection would end the thread, so it is handled here (the batch's own reports it).
      void this.root.committed.then(ignore, ignore);
      throw this.damaged(await commitCause(err), "writing");
    }
    this.version = version;
  }

  /** Inside `persist`'s batch: `writes` and the version marker put. */
  #write(writes: readonly BatchWrite[], marker: Buffer): void {
    for (let i = 0; i < writes.length; i++) {
      const { map, key, value } = writes[i]!;
      const composite = this.compositeKey(map, key);
      if (value === null) this.state.remove(composite);
      else this.state.put(composite, value);
    }
    this.meta.put(FORMAT_KEY, Buffer.from([LMDB_FORMAT]));
    this.meta.put(VERSION_KEY, marker);
  }

  async close(): Promise<void> {
    try {
      await this.root.close();
    } finally {
      openPaths.delete(this.absolutePath);
    }
  }
}

/** Names of the maps with at least one key, read in `transaction` (the current state when undefined). */
function mapNamesOf(path: string, state: Db, transaction: Transaction | undefined): string[] {
  const names: string[] = [];
  let start: Uint8Array | undefined;
  for (;;) {
    let first: Uint8Array | undefined;
    const options = start === undefined ? { limit: 1 } : { start, limit: 1 };
    for (const { key } of state.getRange(transaction === undefined ? options : { ...options, transaction })) {
      first = key;
    }
    if (first === undefined) return names;
    const end = first.indexOf(0);
    if (end <= 0) throw corrupt(path, "a state key has no map prefix");
    let name: string;
    try {
      name = decoder.decode(first.subarray(0, end));
    } catch {
      throw corrupt(path, "a map name is not UTF-8");
    }
    names.push(name);
    start = mapEnd({ bytes: first.subarray(0, end) });
  }
}

/** The first composite key after every key of `map`: `utf8(map) 0x01`. */
function mapEnd(map: { readonly bytes: Uint8Array }): Buffer {
  return joinBytes(map.bytes, Uint8Array.of(1));
}

function readMeta(path: string, meta: Db): { version: number; format: number } {
  const format = meta.getBinary(FORMAT_KEY);
  const marker = meta.getBinary(VERSION_KEY);
  if (format === undefined && marker === undefined) return { version: 0, format: 0 };
  if (format === undefined || format.length !== 1 || !READABLE_FORMATS.has(format[0]!)) {
    throw corrupt(
      path,
      `unsupported or missing format marker (expected ${[...READABLE_FORMATS].join(" or ")})`,
    );
  }
  if (marker === undefined || marker.length !== 8)
    throw corrupt(path, "committed version marker is malformed");
  const version = Number(marker.readBigUInt64BE(0));
  if (!Number.isSafeInteger(version)) throw corrupt(path, "committed version marker is out of range");
  return { version, format: format[0]! };
}

/**
 * The error behind a failed batch: lmdb-js rejects it with "Commit failed (see commitError for
 * details)", whose `commitError` is a promise rejected with LMDB's error (its `code`). Awaiting it
 * here also handles that rejection (unhandled, it would end the thread).
 */
async function commitCause(err: unknown): Promise<unknown> {
  const commitError = (err as { commitError?: unknown } | null)?.commitError;
  if (!(commitError instanceof Promise)) return err;
  return commitError.then(
    () => err,
    (cause: unknown) => cause,
  );
}

function ignore(): void {}

function encodeVersion(version: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(version));
  return out;
}

function corrupt(path: string, why: string): TreatyError {
  return new TreatyError("LedgerCorrupt", `kv store ${path}: ${why}`);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
