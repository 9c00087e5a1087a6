/**
 * KV store throughput on this machine (`node dist/bench/kv.js` after a build). Prints one JSON
 * object (for tracking) and a short table.
 *
 * - tx: a typical transfer (2 gets, 2 sets of ~100-byte values, write set, apply) per second,
 *   committed every `--batch` versions: in memory, and on LMDB with one durable commit per batch;
 * - get: point reads per second from committed LMDB state and from the overlay;
 * - as-of reads: point reads of a hot key written by each of 1000 pending (applied, uncommitted)
 *   versions, at the applied head (`latest` reads) and at the committed version below them
 *   (`committed` reads: what the node serves by default);
 * - range: entries per second through a merged range over committed LMDB state;
 * - codec: write sets encoded and decoded per second.
 *
 * Options: `--txs N` (default 20000), `--batch N` (default 100), `--keys N` (default 10000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KvStore } from "../runtime/kv/store.js";
import { decodeWriteSet, encodeWriteSet } from "../runtime/kv/write-set.js";

const { values } = parseArgs({
  options: {
    txs: { type: "string", default: "20000" },
    batch: { type: "string", default: "100" },
    keys: { type: "string", default: "10000" },
  },
});
const TXS = Number(values.txs);
const BATCH = Number(values.batch);
const KEYS = Number(values.keys);
const MAP = "bank.balances";
const encoder = new TextEncoder();

function key(i: number): Uint8Array {
  return encoder.encode(`account-${String(i % KEYS).padStart(6, "0")}`);
}

function value(i: number): Uint8Array {
  return encoder.encode(`{"balance":${i},"owner":"user-${i % 977}","memo":"${"x".repeat(60)}"}`);
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Runs TXS transfers, committing every BATCH versions; returns tx/s and durable commits/s. */
async function transfers(store: KvStore): Promise<{ txPerSec: number; commitsPerSec: number }> {
  let commits = 0;
  const start = process.hrtime.bigint();
  for (let i = 1; i <= TXS; i++) {
    const tx = store.begin();
    const from = key(i * 7);
    const to = key(i * 13 + 1);
    tx.get(MAP, from);
    tx.get(MAP, to);
    tx.set(MAP, from, value(i));
    tx.set(MAP, to, value(i + 1));
    store.apply(store.appliedVersion + 1, tx.writeSet());
    if (i % BATCH === 0) {
      await store.commit(store.appliedVersion);
      commits++;
    }
  }
  await store.commit(store.appliedVersion);
  const elapsed = seconds(start);
  return { txPerSec: TXS / elapsed, commitsPerSec: commits / elapsed };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "treaty-bench-kv-"));
  try {
    const memory = KvStore.open(null);
    const memoryTx = await transfers(memory);
    await memory.close();

    const lmdb = KvStore.open(join(dir, "state"));
    const lmdbTx = await transfers(lmdb);

    let start = process.hrtime.bigint();
    const reader = lmdb.begin();
    for (let i = 0; i < TXS; i++) reader.get(MAP, key(i * 31));
    const committedGetPerSec = TXS / seconds(start);

    // Leave one uncommitted batch in the overlay and read it.
    const tx = lmdb.begin();
    for (let i = 0; i < BATCH; i++) tx.set(MAP, key(i), value(i));
    lmdb.apply(lmdb.appliedVersion + 1, tx.writeSet());
    start = process.hrtime.bigint();
    const overlayReader = lmdb.begin();
    for (let i = 0; i < TXS; i++) overlayReader.get(MAP, key(i % BATCH));
    const overlayGetPerSec = TXS / seconds(start);

    // A hot key written by each of PENDING uncommitted versions: read it at the head and as of
    // the committed version below them all.
    const PENDING = 1000;
    const hot = key(KEYS + 1);
    for (let i = 0; i < PENDING; i++) {
      const w = lmdb.begin();
      w.set(MAP, hot, value(i));
      lmdb.apply(lmdb.appliedVersion + 1, w.writeSet());
    }
    start = process.hrtime.bigint();
    const head = lmdb.begin();
    for (let i = 0; i < TXS; i++) head.get(MAP, hot);
    const headHotGetPerSec = TXS / seconds(start);
    start = process.hrtime.bigint();
    const asOf = lmdb.beginAt(lmdb.committedVersion);
    for (let i = 0; i < TXS; i++) asOf.get(MAP, hot);
    const committedHotGetPerSec = TXS / seconds(start);

    start = process.hrtime.bigint();
    let entries = 0;
    for (const _ of lmdb.begin().range(MAP)) entries++;
    const rangeEntriesPerSec = entries / seconds(start);
    await lmdb.close();

    const ws = tx.writeSet();
    const rounds = 2000;
    start = process.hrtime.bigint();
    let bytes: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < rounds; i++) bytes = encodeWriteSet(ws);
    const encodePerSec = rounds / seconds(start);
    start = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) decodeWriteSet(bytes);
    const decodePerSec = rounds / seconds(start);

    const result = {
      txs: TXS,
      batch: BATCH,
      keys: KEYS,
      memoryTxPerSec: Math.round(memoryTx.txPerSec),
      lmdbTxPerSec: Math.round(lmdbTx.txPerSec),
      lmdbDurableCommitsPerSec: Math.round(lmdbTx.commitsPerSec),
      committedGetPerSec: Math.round(committedGetPerSec),
      overlayGetPerSec: Math.round(overlayGetPerSec),
      pendingVersionsOfHotKey: PENDING,
      headHotGetPerSec: Math.round(headHotGetPerSec),
      committedHotGetPerSec: Math.round(committedHotGetPerSec),
      rangeEntriesPerSec: Math.round(rangeEntriesPerSec),
      rangeEntries: entries,
      writeSetWrites: BATCH,
      writeSetBytes: bytes.length,
      writeSetEncodePerSec: Math.round(encodePerSec),
      writeSetDecodePerSec: Math.round(decodePerSec),
    };
    console.log(JSON.stringify(result));
    console.log(
      [
        `transfers (2 get + 2 set + apply), commit every ${BATCH}:`,
        `  memory ${result.memoryTxPerSec} tx/s`,
        `  LMDB   ${result.lmdbTxPerSec} tx/s (${result.lmdbDurableCommitsPerSec} durable commits/s)`,
        `point get: committed LMDB ${result.committedGetPerSec}/s, overlay ${result.overlayGetPerSec}/s`,
        `hot key under ${PENDING} pending versions: at the head ${result.headHotGetPerSec}/s, as of the committed version ${result.committedHotGetPerSec}/s`,
        `range over ${entries} committed entries: ${result.rangeEntriesPerSec} entries/s`,
        `write set of ${BATCH} writes (${bytes.length} B): encode ${result.writeSetEncodePerSec}/s, decode ${result.writeSetDecodePerSec}/s`,
      ].join("\n"),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
