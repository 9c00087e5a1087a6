/**
 * Which ledger store a directory holds. A node's ledger is a chunked store (chunk-store.ts); a
 * directory that already holds an LMDB ledger (`ledger.mdb`, written by Treaty before chunked
 * ledgers) keeps being opened as one, so existing data dirs start as they are.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ChunkedLedgerStore, hasChunkStore } from "./chunk-store.js";
import { LEDGER_FILE, LmdbLedgerStore } from "./lmdb-store.js";
import type { LedgerStore } from "./store.js";

export interface OpenLedgerStoreOptions {
  readonly readOnly?: boolean;
  /** Chunk size of a chunked store (see ChunkedLedgerStoreOptions). */
  readonly maxChunkBytes?: number;
}

/**
 * Opens the ledger store in `dir`: LMDB when `dir/ledger.mdb` exists, chunk files otherwise
 * (created unless read-only). Throws TreatyError NotFound for a read-only store that does not
 * exist, LedgerCorrupt for chunk files that do not fit together.
 */
export function openLedgerStore(dir: string, options: OpenLedgerStoreOptions = {}): LedgerStore {
  const readOnly = options.readOnly ?? false;
  if (existsSync(join(dir, LEDGER_FILE))) return LmdbLedgerStore.open(dir, { readOnly });
  return ChunkedLedgerStore.open(dir, {
    readOnly,
    ...(options.maxChunkBytes !== undefined && { maxChunkBytes: options.maxChunkBytes }),
  });
}

/** True when `dir` holds a ledger store of either kind. */
export function isLedgerStoreDir(dir: string): boolean {
  return existsSync(join(dir, LEDGER_FILE)) || hasChunkStore(dir);
}

/** The ledger store inside `path` (a node data dir, whose store is `ledger/`, or a store dir itself). */
export function findLedgerStoreDir(path: string): string | undefined {
  if (isLedgerStoreDir(join(path, "ledger"))) return join(path, "ledger");
  return isLedgerStoreDir(path) ? path : undefined;
}
