/**
 * The durable ledger store on LMDB. One LMDB environment file, `<dir>/ledger.mdb`; keys are the
 * seqno as 8 bytes big-endian (so LMDB's byte order is seqno order), values are
 * `u64be view || entry bytes`. Every `append` and `truncate` is one synchronous LMDB write
 * transaction, flushed to disk before it returns, so a batch is durable and atomic: what the
 * consensus driver needs before it acknowledges entries. `appendAsync` is the group commit:
 * lmdb-js queues the puts, commits everything queued at that moment in one transaction on its
 * own write thread and syncs it before the promise resolves (many batches, one fsync; the
 * calling thread never waits for the disk).
 *
 * Nodes now keep chunk files (chunk-store.ts); a data dir whose `<data-dir>/ledger/`
 * (`ledgerStoreDir`) already holds `ledger.mdb` keeps using this store (`openLedgerStore`). Stored values are
 * untrusted on read (disks can be edited): a value too short to hold a view, or a key that is not
 * 8 bytes, is a TreatyError LedgerCorrupt naming the seqno. Key 0 (never a seqno) holds the base
 * (u64be) of a store `rebase`d at a snapshot.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { open, type RootDatabase } from "lmdb";
import { assert } from "../../sdk/assert.js";
import { getU64 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { checkLmdbFile, lmdbCorruption } from "../lmdb-check.js";
import { setU64 } from "./chunk-format.js";
import { checkAppend, type LedgerRecord, type LedgerStore } from "./store.js";

/** File name of the LMDB environment inside the store directory. */
export const LEDGER_FILE = "ledger.mdb";

/** Where a node keeps its ledger store inside its data dir. */
export function ledgerStoreDir(dataDir: string): string {
  return join(dataDir, "ledger");
}

export interface LmdbLedgerStoreOptions {
  /** Open an existing store for reading only (audits, receipts from a stopped node). */
  readonly readOnly?: boolean;
}

export class LmdbLedgerStore implements LedgerStore {
  readonly #db: RootDatabase<Uint8Array, Uint8Array>;
  readonly #readOnly: boolean;
  #lastSeqno: number;
  #base: number;
  /** `appendAsync` batches not yet durable, and the last one's promise (for ordering and close). */
  #pending = 0;
  #lastPending: Promise<unknown> = Promise.resolve();

  private constructor(db: RootDatabase<Uint8Array, Uint8Array>, readOnly: boolean) {
    this.#db = db;
    this.#readOnly = readOnly;
    const base = db.getBinary(keyOf(0));
    this.#base = base !== undefined && base.length === 8 ? readU64(base, 0) : 0;
    this.#lastSeqno = this.#readLast();
  }

  #readLast(): number {
    let last = 0;
    for (const key of this.#db.getKeys({ reverse: true, limit: 1 })) last = seqnoOfKey(key as Uint8Array);
    return Math.max(last, this.#base);
  }

  get baseSeqno(): number {
    return this.#base;
  }

  rebase(seqno: number): void {
    assert(!this.#readOnly, "rebase on a read-only ledger store");
    assert(Number.isSafeInteger(seqno) && seqno >= 0, "rebase at a seqno ≥ 0");
    assert(this.#pending === 0, "a rebase while asynchronous appends are pending");
    this.#db.transactionSync(() => {
      for (const key of [...this.#db.getKeys({})]) this.#db.removeSync(key as Uint8Array);
      this.#db.putSync(keyOf(0), keyOf(seqno));
    });
    this.#base = seqno;
    this.#lastSeqno = seqno;
  }

  /**
   * Opens (creating unless read-only) the store in directory `dir`. Throws TreatyError NotFound
   * when a read-only store does not exist, LedgerCorrupt when `ledger.mdb` fails the start-up
   * check (runtime/lmdb-check.ts: empty, truncated, bad meta pages or root pages; checked before
   * lmdb-js maps it, where such a file crashes the process) or LMDB reports damage while reading
   * its base and last seqno (MDB_CORRUPTED, MDB_PAGE_NOTFOUND, ...).
   */
  static open(dir: string, options: LmdbLedgerStoreOptions = {}): LmdbLedgerStore {
    const readOnly = options.readOnly ?? false;
    const path = join(dir, LEDGER_FILE);
    if (readOnly && !existsSync(path))
      throw new TreatyError("NotFound", `ledger store: no ${LEDGER_FILE} in ${dir}`);
    // Opened without overlappingSync (below), so LMDB reads only the two meta pages.
    checkLmdbFile(path, "ledger store", { overlappingSync: false });
    if (!readOnly) mkdirSync(dir, { recursive: true });
    const damaged = (err: unknown): unknown => {
      const damage = lmdbCorruption(err);
      return damage === undefined
        ? err
        : new TreatyError("LedgerCorrupt", `ledger store: LMDB file ${path}: ${damage}`);
    };
    let db: RootDatabase<Uint8Array, Uint8Array>;
    try {
      db = open<Uint8Array, Uint8Array>({
        path,
        readOnly,
        encoding: "binary",
        keyEncoding: "binary",
        compression: false,
        useVersions: false,
        // Durability is the point of this store: sync every commit before returning.
        noSync: false,
        overlappingSync: false,
      });
    } catch (err) {
      throw damaged(err);
    }
    try {
      return new LmdbLedgerStore(db, readOnly);
    } catch (err) {
      db.close().catch(() => undefined);
      throw damaged(err);
    }
  }

  get lastSeqno(): number {
    return this.#lastSeqno;
  }

  append(records: readonly LedgerRecord[]): void {
    assert(!this.#readOnly, "append on a read-only ledger store");
    assert(this.#pending === 0, "a synchronous append while asynchronous appends are pending");
    checkAppend(this.#lastSeqno, records);
    if (records.length === 0) return;
    this.#db.transactionSync(() => {
      for (const record of records) this.#db.putSync(keyOf(record.seqno), storedValue(record));
    });
    this.#lastSeqno = records[records.length - 1]!.seqno;
  }

  appendAsync(records: readonly LedgerRecord[]): Promise<void> {
    assert(!this.#readOnly, "append on a read-only ledger store");
    checkAppend(this.#lastSeqno, records);
    if (records.length === 0) return this.#lastPending.then(() => undefined);
    let last: Promise<boolean> | undefined;
    for (const record of records) last = this.#db.put(keyOf(record.seqno), storedValue(record));
    this.#lastSeqno = records[records.length - 1]!.seqno;
    this.#pending++;
    const done = last!.then(
      (ok) => {
        this.#pending--;
        assert(ok, "an unconditional put reports success");
      },
      (err: unknown) => {
        this.#pending--;
        throw err;
      },
    );
    this.#lastPending = done.catch(() => undefined);
    return done;
  }

  truncate(fromSeqno: number): void {
    assert(!this.#readOnly, "truncate on a read-only ledger store");
    assert(Number.isSafeInteger(fromSeqno) && fromSeqno > this.#base, "truncate after the base");
    if (fromSeqno > this.#lastSeqno) return;
    if (this.#pending > 0) {
      // Queued behind the pending puts (same write queue, same order); keys are dense seqnos.
      for (let seqno = fromSeqno; seqno <= this.#lastSeqno; seqno++) void this.#db.remove(keyOf(seqno));
      this.#lastSeqno = fromSeqno - 1;
      return;
    }
    this.#db.transactionSync(() => {
      for (const key of [...this.#db.getKeys({ start: keyOf(fromSeqno) })])
        this.#db.removeSync(key as Uint8Array);
    });
    this.#lastSeqno = this.#readLast();
  }

  get(seqno: number): LedgerRecord | undefined {
    if (!Number.isSafeInteger(seqno) || seqno < 1 || seqno <= this.#base) return undefined;
    const value = this.#db.getBinary(keyOf(seqno));
    return value === undefined ? undefined : recordOf(seqno, value);
  }

  *range(fromSeqno: number, toSeqno?: number): IterableIterator<LedgerRecord> {
    const options =
      toSeqno === undefined
        ? { start: keyOf(Math.max(1, fromSeqno)) }
        : { start: keyOf(Math.max(1, fromSeqno)), end: keyOf(toSeqno + 1) };
    for (const { key, value } of this.#db.getRange(options)) {
      yield recordOf(seqnoOfKey(key as Uint8Array), value);
    }
  }

  async close(): Promise<void> {
    await this.#lastPending;
    await this.#db.close();
  }
}

function storedValue(record: LedgerRecord): Uint8Array {
  const value = new Uint8Array(8 + record.bytes.length);
  writeU64(value, 0, record.view);
  value.set(record.bytes, 8);
  return value;
}

function keyOf(seqno: number): Uint8Array {
  const key = new Uint8Array(8);
  writeU64(key, 0, seqno);
  return key;
}

function seqnoOfKey(key: Uint8Array): number {
  if (key.length !== 8) {
    throw new TreatyError("LedgerCorrupt", `ledger store: a key of ${key.length} bytes is not a seqno`, {
      seqno: 0,
    });
  }
  return readU64(key, 0);
}

function recordOf(seqno: number, value: Uint8Array): LedgerRecord {
  if (value.length < 8) {
    throw new TreatyError(
      "LedgerCorrupt",
      `entry ${seqno}: store value of ${value.length} bytes has no view`,
      { seqno, field: "view" },
    );
  }
  const view = readU64(value, 0);
  if (!Number.isSafeInteger(view)) {
    throw new TreatyError("LedgerCorrupt", `entry ${seqno}: stored view is out of range`, {
      seqno,
      field: "view",
    });
  }
  // Copy into a plain Uint8Array (Buffer#slice would share memory with LMDB's buffer).
  return { seqno, view, bytes: new Uint8Array(value.subarray(8)) };
}

function writeU64(out: Uint8Array, offset: number, value: number): void {
  setU64(new DataView(out.buffer, out.byteOffset, out.byteLength), offset, value);
}

function readU64(bytes: Uint8Array, offset: number): number {
  return getU64(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset);
}
