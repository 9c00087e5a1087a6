/**
 * Offline ledger comparison for integration tests: opens each STOPPED node's ledger read-only
 * (`LmdbLedgerStore` + `Ledger.open`, which checks every entry's digest, the view order and each
 * signature's Merkle root), and checks that the ledgers are identical and hold every committed
 * write. Nothing here needs a running node or any secret: public writes are in clear. A ledger
 * that starts at a snapshot (its node joined or caught up from one) opens at the snapshot its
 * data dir holds, verified, and is compared from there.
 */
import assert from "node:assert/strict";
import { equalBytes, toHex, utf8 } from "../../sdk/bytes.js";
import type { PublicKey } from "../../sdk/keys.js";
import { parseTxId } from "../../sdk/receipt.js";
import { decodeEntry, decodePublicWrites } from "../../runtime/ledger/entry.js";
import { Ledger, type LedgerBase } from "../../runtime/ledger/ledger.js";
import { SnapshotFiles, snapshotDir } from "../../node/snapshot/files.js";
import { baseOf } from "../../node/snapshot/restart.js";
import { verifySnapshot } from "../../node/snapshot/verify.js";
import { ledgerStoreDir } from "../../runtime/ledger/lmdb-store.js";
import { openLedgerStore } from "../../runtime/ledger/open-store.js";
import type { LedgerStore } from "../../runtime/ledger/store.js";
import type { Cluster } from "../support/cluster.js";
import { type CommittedWrite, readBack } from "./load.js";

/** What one node's ledger looks like. */
export interface LedgerSummary {
  readonly dataDir: string;
  readonly lastSeqno: number;
  /** Merkle root over every entry, hex. */
  readonly root: string;
  readonly lastSignature: { readonly seqno: number; readonly view: number } | undefined;
}

/**
 * Compares the ledgers in `dataDirs` (their nodes must be stopped) and looks for every write of
 * `writes` in each. Resolves with one summary per ledger and the problems found (empty when the
 * ledgers are identical, entry for entry, and every write is in each at its txid with its
 * message). With `prefixes`, the other ledgers may be shorter than the first (nodes retired
 * earlier): each must then be a prefix of it and hold the writes up to its own end. Throws
 * LedgerCorrupt when a ledger does not verify.
 */
export async function compareLedgers(
  dataDirs: readonly string[],
  serviceKey: PublicKey,
  writes: readonly CommittedWrite[],
  options: { prefixes?: boolean } = {},
): Promise<{ summaries: LedgerSummary[]; problems: string[] }> {
  const stores = dataDirs.map((dir) => openLedgerStore(ledgerStoreDir(dir), { readOnly: true }));
  try {
    const bases = stores.map((store, i) => snapshotBase(dataDirs[i]!, store, serviceKey));
    const ledgers = stores.map((store, i) =>
      Ledger.open({ store, serviceKey, ...(bases[i] !== undefined && { base: bases[i] }) }),
    );
    // A node that joined or caught up from a snapshot holds entries only after it: compare from there.
    const baseSeqnos = bases.map((base) => base?.seqno ?? 0);
    const from = Math.max(...baseSeqnos) + 1;
    const summaries = ledgers.map((ledger, i) => ({
      dataDir: dataDirs[i]!,
      lastSeqno: ledger.lastSeqno,
      root: toHex(ledger.root()),
      lastSignature: ledger.lastSignature,
    }));
    const problems: string[] = [];
    const reference = ledgers[0]!;
    ledgers.forEach((ledger, i) => {
      const shorterAllowed = options.prefixes === true && ledger.lastSeqno <= reference.lastSeqno;
      if (ledger.lastSeqno !== reference.lastSeqno && !shorterAllowed)
        problems.push(`ledger ${i}: last seqno ${ledger.lastSeqno}, ledger 0: ${reference.lastSeqno}`);
      const common = Math.min(ledger.lastSeqno, reference.lastSeqno);
      for (let seqno = from; seqno <= common; seqno++) {
        const a = reference.get(seqno)!;
        const b = ledger.get(seqno)!;
        if (a.view !== b.view || !equalBytes(a.bytes, b.bytes)) {
          problems.push(`ledger ${i}: entry ${seqno} differs from ledger 0`);
          break;
        }
      }
      for (const write of writes) {
        if (shorterAllowed && parseTxId(write.txid).seqno > ledger.lastSeqno) continue;
        if (parseTxId(write.txid).seqno <= baseSeqnos[i]!) continue; // in its (verified) snapshot
        const problem = findWrite(ledger, write);
        if (problem !== undefined) problems.push(`ledger ${i}: ${problem}`);
      }
    });
    return { summaries, problems };
  } finally {
    await Promise.all(stores.map((store) => store.close()));
  }
}

/**
 * For a store that starts at a snapshot (`baseSeqno` > 0): the base of the newest committed
 * snapshot file in its data dir that it reaches (verified), as a restarting node picks it.
 */
function snapshotBase(dataDir: string, store: LedgerStore, serviceKey: PublicKey): LedgerBase | undefined {
  if (store.baseSeqno === 0) return undefined;
  const files = new SnapshotFiles(snapshotDir(dataDir), 1);
  const seqno = files
    .list("committed")
    .filter((s) => s >= store.baseSeqno && s <= store.lastSeqno)
    .at(-1);
  assert.ok(
    seqno !== undefined,
    `${dataDir}: the ledger starts at ${store.baseSeqno}, no snapshot it reaches`,
  );
  return baseOf(verifySnapshot(files.read(seqno, "committed")!, [serviceKey]).body);
}

/** Undefined when `write` is at its txid in `ledger`, with its message; else what is wrong. */
function findWrite(ledger: Ledger, write: CommittedWrite): string | undefined {
  const { view, seqno } = parseTxId(write.txid);
  const record = ledger.get(seqno);
  if (record === undefined) return `committed write ${write.id} (txid ${write.txid}) is missing`;
  if (record.view !== view) return `txid ${write.txid} holds an entry of view ${record.view}`;
  const expected = JSON.stringify(write.msg);
  const found = decodePublicWrites(decodeEntry(record.bytes, seqno)).some((map) =>
    map.writes.some(([, value]) => value !== null && utf8.decode(value) === expected),
  );
  return found ? undefined : `txid ${write.txid} does not write message ${expected}`;
}

/**
 * The closing check of a cluster test: the nodes converge, every committed write reads back on
 * every node, every node stops cleanly and none crashed, and the stopped ledgers are identical
 * (one Merkle root, ending where the nodes converged) and hold every write. Returns the last
 * seqno the nodes converged on.
 */
export async function assertConvergedAndIdentical(
  cluster: Cluster,
  committed: readonly CommittedWrite[],
): Promise<number> {
  const last = await cluster.waitForConvergence({ nodes: cluster.nodes });
  for (const node of cluster.nodes) {
    assert.deepEqual(await readBack(cluster, node, committed), [], `read back on node ${node.index}`);
  }
  // The leader last: once it stopped, the others would elect a new leader (within an election
  // timeout, half a second) whose first signature lands in their ledgers and not in the stopped
  // leader's. Stopped after its followers, it loses its quorum and appends nothing.
  const roles = await Promise.all(cluster.nodes.map((n) => n.status().then((s) => s.role)));
  const order = cluster.nodes
    .filter((_, i) => roles[i] !== "leader")
    .concat(cluster.nodes.filter((_, i) => roles[i] === "leader"));
  for (const node of order) assert.equal(await node.stop(), 0, `node ${node.index} stops cleanly`);
  assert.deepEqual(cluster.crashes(), []);
  const { summaries, problems } = await compareLedgers(
    cluster.nodes.map((n) => n.dataDir),
    cluster.serviceKey,
    committed,
  );
  assert.deepEqual(problems, []);
  assert.equal(new Set(summaries.map((s) => s.root)).size, 1, "one Merkle root");
  assert.equal(summaries[0]!.lastSeqno, last);
  return last;
}
