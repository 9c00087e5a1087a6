/**
 * The durable ledger store on LMDB. One LMDB environment file, `<dir>/ledger.mdb`; keys are the
 * seqno as 8 bytes big-endian (so LMDB's byte order is seqno order), values are
 * `u64be view || entry bytes`. Every `append` and `truncate` is one synchronous LMDB write
 * transaction, flushed to disk before it returns, so a batch is durable and atomic: what the
 * consensus driver needs before it acknowledges entries.
 *
 * Nodes now keep chunk files (chunk-store.ts); a data dir whose `<data-dir>/ledger/`
 * (`ledgerStoreDir`) already holds `ledger.mdb` keeps using this store (`openLedgerStore`). Stored values are
 * untrusted on read (disks can be edited): a value too short to hold a view, or a key that is not
 * 8 bytes, is a TreatyError LedgerCorrupt naming the seqno.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { open, type RootDatabase } from "lmdb";
import { assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
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

  private constructor(db: RootDatabase<Uint8Array, Uint8Array>, readOnly: boolean) {
    this.#db = db;
    this.#readOnly = readOnly;
    this.#lastSeqno = 0;
    for (const key of db.getKeys({ reverse: true, limit: 1 }))
      this.#lastSeqno = seqnoOfKey(key as Uint8Array);
  }

  /**
   * Opens (creating unless read-only) the store in directory `dir`. Throws TreatyError NotFound
   * when a read-only store does not exist.
   */
  static open(dir: string, options: LmdbLedgerStoreOptions = {}): LmdbLedgerStore {
    const readOnly = options.readOnly ?? false;
    const path = join(dir, LEDGER_FILE);
    if (readOnly && !existsSync(path))
      throw new TreatyError("NotFound", `ledger store: no ${LEDGER_FILE} in ${dir}`);
    if (!readOnly) mkdirSync(dir, { recursive: true });
    const db = open<Uint8Array, Uint8Array>({
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
    return new LmdbLedgerStore(db, readOnly);
  }

  get lastSeqno(): number {
    return this.#lastSeqno;
  }

  append(records: readonly LedgerRecord[]): void {
    assert(!this.#readOnly, "append on a read-only ledger store");
    checkAppend(this.#lastSeqno, records);
    if (records.length === 0) return;
    this.#db.transactionSync(() => {
      for (const record of records) {
        const value = new Uint8Array(8 + record.bytes.length);
        writeU64(value, 0, record.view);
        value.set(record.bytes, 8);
        this.#db.putSync(keyOf(record.seqno), value);
      }
    });
    this.#lastSeqno = records[records.length - 1]!.seqno;
  }

  truncate(fromSeqno: number): void {
    assert(!this.#readOnly, "truncate on a read-only ledger store");
    assert(Number.isSafeInteger(fromSeqno) && fromSeqno >= 1, "truncate from a seqno ≥ 1");
    if (fromSeqno > this.#lastSeqno) return;
    this.#db.transactionSync(() => {
      for (const key of [...this.#db.getKeys({ start: keyOf(fromSeqno) })])
        this.#db.removeSync(key as Uint8Array);
    });
    this.#lastSeqno = 0;
    for (const key of this.#db.getKeys({ reverse: true, limit: 1 }))
      this.#lastSeqno = seqnoOfKey(key as Uint8Array);
  }

  get(seqno: number): LedgerRecord | undefined {
    if (!Number.isSafeInteger(seqno) || seqno < 1) return undefined;
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
    await this.#db.close();
  }
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
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 4, value % 2 ** 32);
}

function readU64(bytes: Uint8Array, offset: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.getUint32(offset) * 2 ** 32 + view.getUint32(offset + 4);
}
