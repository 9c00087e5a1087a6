/**
 * `npm run bench:ledger`: ledger throughput on this machine. Prints one JSON object (for
 * tracking) and a short table.
 *
 * - append: entries per second through `Ledger.appendTransaction` (entry encoding, AES-256-GCM
 *   of the private part, content digest, Merkle append), a signature every 100 transactions,
 *   persisted in batches of 100: in memory, and on LMDB with one durable commit per batch;
 * - receipts produced per second (random and recent committed txids, default memory bound), and verified
 *   per second with the SDK's portable noble path and with node:crypto injected;
 * - audit speed of `verifyLedger` over the LMDB store in MB/s, with and without decryption.
 *
 * Options: `--txs N` (default 20000), `--receipts N` (default 2000).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { utf8 } from "../sdk/bytes.js";
import { generateKeyPair } from "../sdk/keys.js";
import { verifyReceipt } from "../sdk/receipt.js";
import { secureRandomBytes, sha256, verifySignature } from "../runtime/crypto.js";
import type { WriteSet } from "../runtime/kv/types.js";
import { compareBytes } from "../runtime/ledger/entry.js";
import { Ledger, type TransactionInput } from "../runtime/ledger/ledger.js";
import { LmdbLedgerStore } from "../runtime/ledger/lmdb-store.js";
import { generateLedgerSecret, LedgerSecrets } from "../runtime/ledger/secrets.js";
import { endorseNode, type NodeSigner, nodeSigner } from "../runtime/ledger/signature.js";
import { type LedgerStore, MemoryLedgerStore } from "../runtime/ledger/store.js";
import { verifyLedger } from "../runtime/ledger/verify.js";

const { values } = parseArgs({
  options: { txs: { type: "string", default: "20000" }, receipts: { type: "string", default: "2000" } },
});
const TXS = Number(values.txs);
const RECEIPTS = Number(values.receipts);
const SIGN_EVERY = 100;
const BATCH = 100;

const service = generateKeyPair("ed25519");
const node = generateKeyPair("ed25519");
const now = Date.now();
const signer: NodeSigner = nodeSigner(node, endorseNode(service, node, now - 1000, now + 3600_000), service);
const secrets = new LedgerSecrets([generateLedgerSecret(1, secureRandomBytes)]);

/** A typical transfer: two public writes, one private balance, a seed; ~300 bytes of entry. */
function transaction(i: number): TransactionInput {
  const key = utf8.encode(`account-${i % 5000}`);
  const writeSet: WriteSet = {
    public: [
      {
        map: "public:bank.accounts",
        // The KV hands over keys in bytewise order.
        writes: (
          [
            [key, utf8.encode(`{"owner":"user-${i % 977}","updated":${i}}`)],
            [utf8.encode(`account-${(i + 1) % 5000}`), utf8.encode(`{"owner":"user-${(i + 1) % 977}"}`)],
          ] as [Uint8Array, Uint8Array][]
        ).sort(([a], [b]) => compareBytes(a, b)),
      },
    ],
    private: [{ map: "bank.balances", writes: [[key, utf8.encode(`{"balance":${i * 37}}`)]] }],
  };
  return {
    kind: "user",
    writeSet,
    meta: { timeMs: now + i, contract: "bank", method: "transfer", callerId: "c".repeat(64) },
    seed: sha256(`seed ${i}`),
    requestDigest: sha256(`request ${i}`),
  };
}

function fill(store: LedgerStore): { ledger: Ledger; seconds: number; bytes: number } {
  const ledger = Ledger.open({ store, secrets, random: secureRandomBytes, serviceKey: service });
  const inputs = Array.from({ length: TXS }, (_, i) => transaction(i));
  let bytes = 0;
  const started = performance.now();
  for (let i = 0; i < TXS; i++) {
    bytes += ledger.appendTransaction(1, inputs[i]!).bytes.length;
    if ((i + 1) % SIGN_EVERY === 0) ledger.appendSignature(1, signer, now + i);
    if ((i + 1) % BATCH === 0) ledger.persist();
  }
  ledger.appendSignature(1, signer, now + TXS);
  ledger.persist();
  return { ledger, seconds: (performance.now() - started) / 1000, bytes };
}

function rate(count: number, seconds: number): number {
  return Math.round(count / seconds);
}

function time(body: () => void): number {
  const started = performance.now();
  body();
  return (performance.now() - started) / 1000;
}

const memory = fill(new MemoryLedgerStore());
const dir = mkdtempSync(join(tmpdir(), "treaty-bench-ledger-"));
try {
  const lmdbStore = LmdbLedgerStore.open(dir);
  const lmdb = fill(lmdbStore);
  const { ledger } = lmdb;
  const committed = ledger.lastSeqno;

  // Receipts for random committed txids anywhere in the ledger (old chunks are recomputed from
  // the store), and for recent ones (the in-memory tail and cached chunks), as apps usually ask.
  const txidAt = (seqno: number) =>
    `1.${ledger.entry(seqno)!.header.kind === "signature" ? seqno - 1 : seqno}`;
  const randomTxids = Array.from({ length: RECEIPTS }, (_, i) => txidAt(1 + ((i * 7919) % (committed - 1))));
  const recentTxids = Array.from({ length: RECEIPTS }, (_, i) => txidAt(committed - 1 - (i % 1000)));
  const receipts: ReturnType<Ledger["receipt"]>[] = [];
  const produceSeconds = time(() => {
    for (const txid of randomTxids) receipts.push(ledger.receipt(txid, committed));
  });
  const produceRecentSeconds = time(() => {
    for (const txid of recentTxids) ledger.receipt(txid, committed);
  });
  const nobleCount = Math.min(receipts.length, 300);
  const nobleSeconds = time(() => {
    for (const receipt of receipts.slice(0, nobleCount)) verifyReceipt(receipt, service);
  });
  const nodeSeconds = time(() => {
    for (const receipt of receipts) verifyReceipt(receipt, service, { verify: verifySignature });
  });

  const auditBytes = lmdb.bytes;
  let report: ReturnType<typeof verifyLedger> | undefined;
  const auditSeconds = time(() => {
    report = verifyLedger(lmdbStore.range(1), { serviceKey: service });
  });
  const auditDecryptSeconds = time(() => {
    verifyLedger(lmdbStore.range(1), { serviceKey: service, secrets });
  });
  await lmdbStore.close();

  const results = {
    machine: { node: process.version, cpus: (await import("node:os")).cpus().length },
    transactions: TXS,
    entries: committed,
    meanEntryBytes: Math.round(auditBytes / TXS),
    appendPerSecond: { memory: rate(TXS, memory.seconds), lmdbDurableBatchesOf100: rate(TXS, lmdb.seconds) },
    receiptsProducedPerSecond: {
      randomTxids: rate(receipts.length, produceSeconds),
      recentTxids: rate(RECEIPTS, produceRecentSeconds),
    },
    merkleTreeBytes: ledger.tree.memoryBytes(),
    receiptsVerifiedPerSecond: {
      noble: rate(nobleCount, nobleSeconds),
      nodeCrypto: rate(receipts.length, nodeSeconds),
    },
    auditMBPerSecond: {
      withoutSecrets: Number((report!.bytes / 1e6 / auditSeconds).toFixed(1)),
      decryptingAll: Number((report!.bytes / 1e6 / auditDecryptSeconds).toFixed(1)),
    },
  };
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n\n`);
  const rows: [string, string][] = [
    ["append, in memory (entries/s)", String(results.appendPerSecond.memory)],
    ["append, LMDB durable, 100/commit (entries/s)", String(results.appendPerSecond.lmdbDurableBatchesOf100)],
    ["receipts produced, random txids (/s)", String(results.receiptsProducedPerSecond.randomTxids)],
    ["receipts produced, recent txids (/s)", String(results.receiptsProducedPerSecond.recentTxids)],
    ["receipts verified, noble / browser (/s)", String(results.receiptsVerifiedPerSecond.noble)],
    ["receipts verified, node:crypto (/s)", String(results.receiptsVerifiedPerSecond.nodeCrypto)],
    ["audit (MB/s)", String(results.auditMBPerSecond.withoutSecrets)],
    ["audit with decryption (MB/s)", String(results.auditMBPerSecond.decryptingAll)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) process.stdout.write(`${label.padEnd(width)}  ${value.padStart(9)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
