/**
 * Reading an LMDB data file's pages in tests, to damage one below the root pages (the ones the
 * start-up check, runtime/lmdb-check.ts, does not read). Layout of lmdb-js 3.x's LMDB (64-bit,
 * as test/kv/lmdb-check.test.ts reads it): a page header of 24 bytes (page number at 0, flags at
 * 18: 1 branch, 2 leaf; `lower` at 20: 2 bytes per node pointer), the node pointers after it,
 * each an offset from the end of the header; a node is `lo` (2), `hi` (2), flags (2), key size (2),
 * the key, then (leaf) the data or (branch) nothing: a branch node's child page is `lo | hi << 16`
 * (the low 32 bits, enough for test files). A named database is a node of the main database's
 * root leaf whose data is an MDB_db record, its root page at byte 40.
 */
import { readFileSync } from "node:fs";

const HEADER = 24;
const META = 24;
const PAGE_SIZE_AT = META + 24;
const MAIN_ROOT_AT = META + 112;
const TXNID_AT = META + 128;

export interface LmdbPages {
  readonly data: Buffer;
  readonly pageSize: number;
  /** Page flags: 1 branch, 2 leaf. */
  flags(page: number): number;
  /** The number of nodes on `page`. */
  count(page: number): number;
  /** Node `index` of `page`: its byte offset in the file, key and (branch) child page. */
  node(
    page: number,
    index: number,
  ): { readonly offset: number; readonly key: Buffer; readonly child: number };
  /** The root page of named database `name` (a node of the main root leaf). */
  namedRoot(name: string): number;
  /** The leaf pages under `root`, left to right. */
  leaves(root: number): number[];
}

export function lmdbPages(file: string): LmdbPages {
  const data = readFileSync(file);
  const pageSize = data.readUInt32LE(PAGE_SIZE_AT);
  const newer = data.readBigUInt64LE(TXNID_AT) > data.readBigUInt64LE(pageSize + TXNID_AT) ? 0 : pageSize;
  const mainRoot = Number(data.readBigUInt64LE(newer + MAIN_ROOT_AT));
  const pages: LmdbPages = {
    data,
    pageSize,
    flags: (page) => data.readUInt16LE(page * pageSize + 18),
    count: (page) => data.readUInt16LE(page * pageSize + 20) / 2,
    node(page, index) {
      const at = page * pageSize;
      const offset = at + HEADER + data.readUInt16LE(at + HEADER + 2 * index);
      const keySize = data.readUInt16LE(offset + 6);
      return {
        offset,
        key: data.subarray(offset + 8, offset + 8 + keySize),
        child: data.readUInt16LE(offset) | (data.readUInt16LE(offset + 2) << 16),
      };
    },
    namedRoot(name) {
      for (let i = 0; i < pages.count(mainRoot); i++) {
        const { key, offset } = pages.node(mainRoot, i);
        if (key.toString("utf8").replace(/\0$/, "") === name)
          return Number(data.readBigUInt64LE(offset + 8 + key.length + 40));
      }
      throw new Error(`${file}: no named database ${name}`);
    },
    leaves(root) {
      if (pages.flags(root) & 2) return [root];
      const out: number[] = [];
      for (let i = 0; i < pages.count(root); i++) out.push(...pages.leaves(pages.node(root, i).child));
      return out;
    },
  };
  return pages;
}
