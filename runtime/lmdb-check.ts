/**
 * A cheap start-up check of an LMDB data file, run on the opening thread before lmdb-js maps it.
 *
 * LMDB keeps no checksums and lmdb-js maps the file into memory, so a data file whose meta pages
 * or root page pointers are garbage does not fail its open: the process dies with SIGSEGV or
 * SIGBUS inside LMDB (measured with lmdb 3.5.6: a garbage file, a file cut to 10 bytes or to half
 * its length, either meta page overwritten, a last-page number of 2^40). An empty data file is no
 * crash but worse: LMDB takes it for a new environment and the store opens empty. This module
 * reads the two meta pages (and the pages their roots name) with a few `pread`s and refuses what
 * LMDB could not safely use, as TreatyError `LedgerCorrupt` naming the file and the fault.
 *
 * Format (mdb.c as bundled by lmdb-js 3.5.6, `MDB_DATA_VERSION` 2, 64-bit build): every page
 * starts with a 24-byte header (u64 page number, u64 txnid, u16 pad, u16 flags, u16 lower, u16
 * upper); pages 0 and 1 are meta pages (flag P_META) holding `MDB_meta` right after the header:
 * magic 0xBEEFC0DE, version, address, map size, the free-list and main database records (48 bytes
 * each: page size in the free record's pad, depth, page counts, entries, root page), the last page
 * number and the txnid of the commit that wrote it. Commit N writes meta page N % 2; an
 * environment opened with overlappingSync (lmdb-js's default on Linux, so the KV) also keeps the
 * last synced meta half a page into page 0 and, as LMDB's "previous snapshot" mode, may start
 * from the older meta after a reboot.
 *
 * Checked, for each meta LMDB may start from (both meta pages, and the half-page one when the
 * environment uses it and it was written): what mdb_env_read_header checks on page 0 (P_META,
 * magic, version), which LMDB does not check on page 1 at all; the page number of each meta page;
 * a page size LMDB accepts (a power of two, 256 to 65,536) and equal in every meta; the file long
 * enough for both meta pages; the txnid parity of each meta page; each root page (free list,
 * main database) P_INVALID or a page after the metas, at most the last page and inside the file;
 * the depth agreeing with the root; the last page number inside the map size the meta records.
 * Then each root page itself: its stored page number, a branch or leaf flag, its free-space
 * bounds, every node inside the page, and every child page number (branch) or named database
 * record (leaf of the main database: the KV's `kv.state`, `kv.meta`) held to the same bounds as
 * the roots, one level down (those records' root pages are read and checked too).
 *
 * Not checked (a check would read the whole file: ~1 GB for a 1 GB store): pages below the root
 * pages and their children. LMDB itself refuses a page number past the last page
 * (MDB_PAGE_NOTFOUND) and a leaf where a branch should be (MDB_CORRUPTED), and those errors
 * reach the caller as errors, but an interior page whose node offsets or sizes are garbage, or a
 * page number inside the last page but past the end of the file, can still crash the process.
 *
 * The last page number is bounded by the map size, not by the file length: LMDB does not write a
 * page that a commit allocated and freed again (mdb_page_flush skips P_LOOSE pages), so a valid
 * file may end before its last page; only pages named by a tree are read, and those are checked
 * against the file length.
 *
 * Both meta pages must pass, even when the newer one alone would do: LMDB reads both at every
 * open, does not check page 1, and in previous-snapshot mode may choose the older one; and a
 * commit rewrites only the fields after the map size, never a meta page's header, magic or
 * version, so a damaged meta page stays damaged. A store with one bad meta page is refused with a
 * message naming the page, rather than opened on a guess.
 *
 * Reads the little-endian 64-bit layout (x64 and arm64, the platforms lmdb-js ships for Treaty);
 * a file written on a big-endian machine fails the magic check.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { TreatyError } from "../sdk/errors.js";

const MAGIC = 0xbeefc0de;
const DATA_VERSION = 2;
const PAGE_HEADER = 24;
/** sizeof(MDB_meta) on a 64-bit build. */
const META_BYTES = 144;
const MIN_PAGE = 256;
const MAX_PAGE = 0x10000;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
const P_OVERFLOW = 0x04;
const P_META = 0x08;
const P_LEAF2 = 0x20;
const F_BIGDATA = 0x01;
const F_SUBDATA = 0x02;
/** Node header: u16 lo, u16 hi (data size or child page number), u16 flags, u16 key size. */
const NODE_HEADER = 8;
const DB_RECORD = 48;
/** The data of an F_BIGDATA leaf node: MDB_ovpage (u64 page, u64 txnid, u64 pages). */
const OVERFLOW_REF = 24;
/** LMDB's cursor stack (CURSOR_STACK): no tree it can read is deeper. */
const MAX_DEPTH = 32;
const P_INVALID = 0xffff_ffff_ffff_ffffn;
const NUM_METAS = 2n;

/** One MDB_db record (a tree: the free list, the main database or a named database). */
interface DbRecord {
  readonly depth: number;
  readonly root: bigint;
}

interface Meta {
  /** Where this meta was read ("meta page 0", ...), for messages. */
  readonly where: string;
  readonly mapSize: bigint;
  readonly pageSize: number;
  readonly free: DbRecord;
  readonly main: DbRecord;
  readonly lastPage: bigint;
  readonly txnid: bigint;
}

export interface LmdbCheckOptions {
  /**
   * Whether the environment is opened with lmdb-js's `overlappingSync`, so LMDB also reads the
   * synced meta half a page into page 0 (and may start from it).
   */
  readonly overlappingSync: boolean;
}

/** What the check found (for tests and logs). */
export interface LmdbFileInfo {
  readonly pageSize: number;
  /** The txnid of the newest meta. */
  readonly txnid: bigint;
  /** Root pages whose contents were read and checked. */
  readonly pagesChecked: number;
}

/**
 * Checks LMDB data file `file` (see the module comment). Returns undefined when it does not exist
 * (LMDB will create it). Throws TreatyError `LedgerCorrupt` "`label`: LMDB file `file`: ..." when
 * it fails, `Unavailable` when it cannot be read.
 */
export function checkLmdbFile(
  file: string,
  label: string,
  options: LmdbCheckOptions,
): LmdbFileInfo | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new TreatyError("Unavailable", `${label}: cannot read LMDB file ${file} (${message(err)})`);
  }
  try {
    return new FileCheck(fd, file, label).run(options);
  } finally {
    closeSync(fd);
  }
}

/**
 * LMDB's own error codes for a file it found damaged while reading (lmdb.h): MDB_PAGE_NOTFOUND
 * (a page number past the last page), MDB_CORRUPTED (a page of the wrong type), MDB_INVALID (not
 * an LMDB file), MDB_VERSION_MISMATCH (another data format). lmdb-js puts them on `error.code`.
 */
const LMDB_CORRUPTION_CODES: ReadonlySet<number> = new Set([-30797, -30796, -30793, -30794]);

/**
 * The message of `err` when it is LMDB reporting damage it found in the file (a fault below the
 * pages the start-up check reads, which LMDB happened to notice), else undefined.
 */
export function lmdbCorruption(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" && LMDB_CORRUPTION_CODES.has(code) ? err.message : undefined;
}

class FileCheck {
  #size = 0;
  #pagesChecked = 0;

  constructor(
    private readonly fd: number,
    private readonly file: string,
    private readonly label: string,
  ) {}

  run(options: LmdbCheckOptions): LmdbFileInfo {
    try {
      this.#size = fstatSync(this.fd).size;
    } catch (err) {
      throw new TreatyError(
        "Unavailable",
        `${this.label}: cannot read LMDB file ${this.file} (${message(err)})`,
      );
    }
    if (this.#size === 0) {
      throw this.corrupt(
        "the file is empty (LMDB writes both meta pages when it creates one; LMDB would start an empty store over it)",
      );
    }
    const first = this.metaPage(0, 0);
    const pageSize = first.pageSize;
    if (this.#size < 2 * pageSize) {
      throw this.corrupt(`${this.#size} bytes, shorter than its two meta pages of ${pageSize} bytes`);
    }
    const second = this.metaPage(1, pageSize);
    const metas = [first, second];
    const newest = newer(first.txnid, second.txnid);
    if (options.overlappingSync) {
      const synced = this.syncedMeta(pageSize);
      if (synced !== undefined) {
        if (synced.txnid > newest) {
          throw this.corrupt(
            `${synced.where}: txnid ${synced.txnid} is newer than both meta pages (${first.txnid}, ${second.txnid})`,
          );
        }
        metas.push(synced);
      }
    }
    for (const meta of metas) this.checkMeta(meta, pageSize);
    return {
      pageSize,
      txnid: newest,
      pagesChecked: this.#pagesChecked,
    };
  }

  /** Meta page `index` at byte `offset`: its header, magic, version and page size. */
  private metaPage(index: 0 | 1, offset: number): Meta {
    const where = `meta page ${index}`;
    const bytes = this.read(offset, PAGE_HEADER + META_BYTES, where);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const pageNumber = view.getBigUint64(0, true);
    const flags = view.getUint16(18, true);
    const magic = view.getUint32(PAGE_HEADER, true);
    const version = view.getUint32(PAGE_HEADER + 4, true);
    if ((flags & P_META) === 0) throw this.corrupt(`${where}: not a meta page (flags 0x${hex(flags)})`);
    if (magic !== MAGIC) throw this.corrupt(`${where}: bad magic 0x${hex(magic)} (expected 0x${hex(MAGIC)})`);
    if ((version & 0xffff) !== DATA_VERSION) {
      throw this.corrupt(`${where}: data format version ${version & 0xffff} (expected ${DATA_VERSION})`);
    }
    if (pageNumber !== BigInt(index)) throw this.corrupt(`${where}: it records page number ${pageNumber}`);
    const meta = parseMeta(view, PAGE_HEADER, where);
    if (!validPageSize(meta.pageSize)) {
      throw this.corrupt(
        `${where}: page size ${meta.pageSize} (LMDB uses a power of two from ${MIN_PAGE} to ${MAX_PAGE})`,
      );
    }
    if (index === 1 && meta.pageSize !== offset) {
      throw this.corrupt(`${where}: page size ${meta.pageSize}, but meta page 0 says ${offset}`);
    }
    if (meta.txnid !== 0n && meta.txnid % 2n !== BigInt(index)) {
      throw this.corrupt(`${where}: txnid ${meta.txnid} (commit N writes meta page N % 2)`);
    }
    return meta;
  }

  /** The synced meta of an overlappingSync environment, or undefined when none was written. */
  private syncedMeta(pageSize: number): Meta | undefined {
    const where = "synced meta (half a page into page 0)";
    const offset = pageSize / 2;
    const bytes = this.read(offset, PAGE_HEADER + META_BYTES, where);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const meta = parseMeta(view, PAGE_HEADER, where);
    // LMDB skips it while its txnid is 0 (mdb_pick_meta); only the fields from the map size on are written.
    if (meta.txnid === 0n) return undefined;
    if (meta.pageSize !== pageSize) {
      throw this.corrupt(`${where}: page size ${meta.pageSize}, but meta page 0 says ${pageSize}`);
    }
    return meta;
  }

  private checkMeta(meta: Meta, pageSize: number): void {
    const { where } = meta;
    if (meta.lastPage < NUM_METAS - 1n) throw this.corrupt(`${where}: last page ${meta.lastPage}`);
    // Committed pages fit the map (LMDB allocates below map size / page size and records the map size).
    if ((meta.lastPage + 1n) * BigInt(pageSize) > meta.mapSize) {
      throw this.corrupt(
        `${where}: last page ${meta.lastPage} lies beyond its map size of ${meta.mapSize} bytes`,
      );
    }
    this.checkTree(meta, meta.free, "free-list", pageSize, false);
    this.checkTree(meta, meta.main, "main database", pageSize, true);
  }

  /** Tree `db` of `meta`: its root pointer, then the root page (and, for the main database, named databases). */
  private checkTree(meta: Meta, db: DbRecord, name: string, pageSize: number, named: boolean): void {
    const where = `${meta.where}: ${name}`;
    if (db.root === P_INVALID) {
      if (db.depth !== 0) throw this.corrupt(`${where}: depth ${db.depth} without a root page`);
      return;
    }
    this.checkPageNumber(meta, db.root, `${where} root`, pageSize);
    if (db.depth < 1 || db.depth > MAX_DEPTH) throw this.corrupt(`${where}: depth ${db.depth}`);
    const records = this.checkPage(meta, db.root, db.depth, `${where} root`, pageSize, named);
    for (const [key, record] of records) {
      const sub = `${where}, named database "${key}"`;
      if (record.root === P_INVALID) {
        if (record.depth !== 0) throw this.corrupt(`${sub}: depth ${record.depth} without a root page`);
        continue;
      }
      this.checkPageNumber(meta, record.root, `${sub} root`, pageSize);
      if (record.depth < 1 || record.depth > MAX_DEPTH) throw this.corrupt(`${sub}: depth ${record.depth}`);
      this.checkPage(meta, record.root, record.depth, `${sub} root`, pageSize, false);
    }
  }

  /** A page a tree names: after the meta pages, at most the last page, inside the file. */
  private checkPageNumber(meta: Meta, page: bigint, where: string, pageSize: number): void {
    if (page < NUM_METAS || page > meta.lastPage) {
      throw this.corrupt(`${where} is page ${page}, outside pages ${NUM_METAS}..${meta.lastPage}`);
    }
    if ((page + 1n) * BigInt(pageSize) > BigInt(this.#size)) {
      throw this.corrupt(`${where} is page ${page}, past the end of the file (${this.#size} bytes)`);
    }
  }

  /**
   * Root page `page` of a tree of depth `depth`: header, bounds, nodes, and the child page numbers
   * of a branch. Returns the named database records of a leaf of the main database (`named`).
   */
  private checkPage(
    meta: Meta,
    page: bigint,
    depth: number,
    where: string,
    pageSize: number,
    named: boolean,
  ): Array<[string, DbRecord]> {
    this.#pagesChecked++;
    const bytes = this.read(Number(page) * pageSize, pageSize, where);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const stored = view.getBigUint64(0, true);
    if (stored !== page) throw this.corrupt(`${where} (page ${page}) records page number ${stored}`);
    const flags = view.getUint16(18, true);
    const kind = flags & (P_BRANCH | P_LEAF | P_OVERFLOW | P_META);
    const branch = kind === P_BRANCH;
    if (!branch && kind !== P_LEAF) {
      throw this.corrupt(
        `${where} (page ${page}) is neither a branch nor a leaf page (flags 0x${hex(flags)})`,
      );
    }
    if (branch !== depth > 1) {
      throw this.corrupt(
        `${where} (page ${page}) is a ${branch ? "branch" : "leaf"} page in a tree of depth ${depth}`,
      );
    }
    const records: Array<[string, DbRecord]> = [];
    if ((flags & P_LEAF2) !== 0) return records; // fixed-size keys without node headers (DUPFIXED)
    const lower = view.getUint16(20, true);
    const upper = view.getUint16(22, true);
    const body = pageSize - PAGE_HEADER;
    if (lower % 2 !== 0 || lower > upper || upper > body) {
      throw this.corrupt(`${where} (page ${page}): free space ${lower}..${upper} does not fit the page`);
    }
    const keys = lower / 2;
    for (let i = 0; i < keys; i++) {
      const offset = view.getUint16(PAGE_HEADER + 2 * i, true);
      const node = PAGE_HEADER + offset;
      if (offset < upper || node + NODE_HEADER > pageSize) {
        throw this.corrupt(
          `${where} (page ${page}): node ${i} at offset ${offset} lies outside the page's nodes`,
        );
      }
      const lo = view.getUint16(node, true);
      const hi = view.getUint16(node + 2, true);
      const nodeFlags = view.getUint16(node + 4, true);
      const keySize = view.getUint16(node + 6, true);
      const keyEnd = node + NODE_HEADER + keySize;
      if (branch) {
        if (keyEnd > pageSize) throw this.corrupt(`${where} (page ${page}): node ${i} runs past the page`);
        const child = BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n);
        this.checkPageNumber(meta, child, `${where} (page ${page}) child ${i}`, pageSize);
        continue;
      }
      const dataSize = (nodeFlags & F_BIGDATA) !== 0 ? OVERFLOW_REF : lo | (hi << 16);
      if (keyEnd + dataSize > pageSize)
        throw this.corrupt(`${where} (page ${page}): node ${i} runs past the page`);
      if (named && (nodeFlags & F_SUBDATA) !== 0) {
        if (dataSize !== DB_RECORD) {
          throw this.corrupt(`${where} (page ${page}): named database node ${i} holds ${dataSize} bytes`);
        }
        const key = new TextDecoder().decode(bytes.subarray(node + NODE_HEADER, keyEnd)).replace(/\0$/, "");
        records.push([key, parseDb(view, keyEnd)]);
      }
    }
    return records;
  }

  private read(offset: number, length: number, where: string): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    try {
      while (done < length) {
        const got = readSync(this.fd, out, done, length - done, offset + done);
        if (got === 0) break;
        done += got;
      }
    } catch (err) {
      throw new TreatyError(
        "Unavailable",
        `${this.label}: cannot read LMDB file ${this.file} (${message(err)})`,
      );
    }
    if (done < length) {
      throw this.corrupt(
        `${this.#size} bytes, too short to hold ${where} (bytes ${offset}..${offset + length})`,
      );
    }
    return out;
  }

  private corrupt(what: string): TreatyError {
    return new TreatyError("LedgerCorrupt", `${this.label}: LMDB file ${this.file}: ${what}`);
  }
}

function parseMeta(view: DataView, at: number, where: string): Meta {
  return {
    where,
    mapSize: view.getBigUint64(at + 16, true),
    pageSize: view.getUint32(at + 24, true),
    free: parseDb(view, at + 24),
    main: parseDb(view, at + 24 + DB_RECORD),
    lastPage: view.getBigUint64(at + 24 + 2 * DB_RECORD, true),
    txnid: view.getBigUint64(at + 32 + 2 * DB_RECORD, true),
  };
}

/** MDB_db at `at`: u32 pad, u16 flags, u16 depth, u64 branch/leaf/overflow pages, u64 entries, u64 root. */
function parseDb(view: DataView, at: number): DbRecord {
  return { depth: view.getUint16(at + 6, true), root: view.getBigUint64(at + 40, true) };
}

/** The larger txnid (Math.max takes no bigint). */
function newer(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

function validPageSize(size: number): boolean {
  return size >= MIN_PAGE && size <= MAX_PAGE && (size & (size - 1)) === 0;
}

function hex(value: number): string {
  return value.toString(16);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
