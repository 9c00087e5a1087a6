/**
 * `npm run bench:restart -- [--entries N] [--store chunks|lmdb]`: what a node restart costs in
 * the consensus layer, the old way and the bounded way, over one ledger of N entries (default
 * 50000; a signature every 100) in chunk files (the node's store, default) or LMDB, built through
 * the runtime (not HTTP) in a temp directory. Each mode runs in a fresh
 * child process, so RSS is its own:
 * - `whole`: Ledger.open, then every entry copied into a ConsensusNode (what restarts did before
 *   the bounded log);
 * - `window`: Ledger.open, then `loadPersistedState` (entries after the durable commit only)
 *   and a ConsensusNode reading older entries from the ledger;
 * - `base`: as `window`, with Ledger.open starting at a base at the commit point, as from a
 *   snapshot (node/snapshot/): the Merkle frontier there, only the entries after it read and hashed.
 * Prints, per mode: Ledger.open ms, consensus load ms, RSS and heap after, entries resident.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { utf8 } from "../sdk/bytes.js";
import { generateKeyPair, keyPairFromPrivate } from "../sdk/keys.js";
import { sha256 } from "../runtime/crypto.js";
import { Ledger, type LedgerBase, type TransactionInput } from "../runtime/ledger/ledger.js";
import { ChunkedLedgerStore } from "../runtime/ledger/chunk-store.js";
import { LmdbLedgerStore } from "../runtime/ledger/lmdb-store.js";
import type { LedgerStore } from "../runtime/ledger/store.js";
import { LedgerSecret, LedgerSecrets } from "../runtime/ledger/secrets.js";
import { endorseNode, nodeSigner } from "../runtime/ledger/signature.js";
import { ConsensusNode } from "../node/consensus/index.js";
import { entryOf, ledgerLogStorage, loadPersistedState } from "../node/replica.js";
import { decode, encode } from "../sdk/codec.js";
import { readFileSync } from "node:fs";

const { values } = parseArgs({
  options: {
    entries: { type: "string", default: "50000" },
    mode: { type: "string" },
    dir: { type: "string" },
    store: { type: "string", default: "chunks" },
  },
});
const SECRET = new LedgerSecret(1, new Uint8Array(32).fill(7));
const rng = { nextInt: () => 0 };

function transaction(i: number, now: number): TransactionInput {
  return {
    kind: "user",
    writeSet: {
      public: [
        { map: "public:bank.audit", writes: [[utf8.encode(`a-${i % 5000}`), utf8.encode(`{"n":${i}}`)]] },
      ],
      private: [
        { map: "bank.balances", writes: [[utf8.encode(`b-${i % 5000}`), utf8.encode(`{"balance":${i}}`)]] },
      ],
    },
    meta: { timeMs: now + i, contract: "bank", method: "transfer", callerId: "c".repeat(64) },
    seed: sha256(`seed ${i}`),
    requestDigest: sha256(`request ${i}`),
  };
}

function openStore(dir: string): LedgerStore {
  const path = join(dir, "ledger");
  return values.store === "lmdb" ? LmdbLedgerStore.open(path) : ChunkedLedgerStore.open(path);
}

function build(dir: string, entries: number): void {
  const service = generateKeyPair("ed25519");
  const node = keyPairFromPrivate("ed25519", sha256("bench node"));
  const now = Date.now();
  const signer = nodeSigner(node, endorseNode(service, node, now - 1000, now + 3600_000), service);
  const store = openStore(dir);
  const ledger = Ledger.open({
    store,
    secrets: new LedgerSecrets([SECRET]),
    random: (n) => new Uint8Array(n),
  });
  let i = 0;
  while (ledger.lastSeqno < entries) {
    if ((ledger.lastSeqno + 1) % 100 === 0) ledger.appendSignature(1, signer, now + i);
    else ledger.appendTransaction(1, transaction(i++, now));
    if (ledger.lastSeqno % 500 === 0) ledger.persist();
  }
  ledger.persist();
  const commit = ledger.lastSignatureAtOrBefore(ledger.lastSeqno);
  store.markCommitted?.(commit);
  writeFileSync(
    join(dir, "consensus.json"),
    JSON.stringify({ view: 1, votedFor: null, commitSeqno: commit }),
  );
  // What a snapshot at the commit point gives a restart.
  const base = {
    seqno: commit,
    view: ledger.get(commit)!.view,
    frontier: ledger.tree.frontier(commit),
    views: ledger.viewStarts().filter((v) => v.startSeqno <= commit),
  };
  writeFileSync(join(dir, "base.bin"), encode(base));
  void store.close();
}

function measure(dir: string, mode: string): void {
  const t0 = performance.now();
  const base = mode === "base" ? decode<LedgerBase>(readFileSync(join(dir, "base.bin"))) : undefined;
  const ledger = Ledger.open({
    store: openStore(dir),
    secrets: new LedgerSecrets([SECRET]),
    ...(base !== undefined && { base }),
  });
  const t1 = performance.now();
  let core: ConsensusNode;
  if (mode === "whole") {
    const state = loadPersistedState(ledger, join(dir, "consensus.json"));
    const entries = Array.from({ length: ledger.lastSeqno }, (_, i) => entryOf(ledger.get(i + 1)!));
    core = new ConsensusNode({ id: "n", rng }, { hardState: state.hardState, entries });
  } else {
    const state = loadPersistedState(ledger, join(dir, "consensus.json"));
    core = new ConsensusNode({ id: "n", rng, storage: ledgerLogStorage(ledger) }, state);
  }
  const t2 = performance.now();
  globalThis.gc?.();
  const memory = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({
      mode,
      entries: ledger.lastSeqno,
      openedFrom: ledger.openedFromSeqno,
      ledgerOpenMs: Math.round(t1 - t0),
      consensusLoadMs: Math.round(t2 - t1),
      rssMB: Math.round(memory.rss / 2 ** 20),
      heapMB: Math.round(memory.heapUsed / 2 ** 20),
      arrayBuffersMB: Math.round(memory.arrayBuffers / 2 ** 20),
      residentEntries: core.logWindow().residentEntries,
    })}\n`,
  );
}

if (values.mode !== undefined && values.dir !== undefined) {
  measure(values.dir, values.mode);
} else {
  const entries = Number(values.entries);
  const dir = mkdtempSync(join(tmpdir(), "treaty-bench-restart-"));
  try {
    const started = performance.now();
    build(dir, entries);
    process.stdout.write(`built ${entries} entries in ${Math.round(performance.now() - started)} ms\n`);
    const script = fileURLToPath(import.meta.url);
    for (const mode of ["whole", "window", "base"]) {
      process.stdout.write(
        execFileSync(
          process.execPath,
          ["--expose-gc", script, "--mode", mode, "--dir", dir, "--store", values.store!],
          {
            encoding: "utf8",
          },
        ),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
