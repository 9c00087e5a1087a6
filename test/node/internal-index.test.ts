/**
 * The ledger's internal-entry index on a running node (real chunk files, LMDB, QuickJS): with a
 * snapshot every 150 entries, the snapshot evidence entries pile up in the ledger but leave the
 * in-memory index as the commit checkpoints compact it; the configuration in force stays known,
 * so snapshots written after compaction still carry it, and a restart from one serves.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { decodeEntry } from "../../runtime/ledger/entry.js";
import { configOf } from "../../node/replica.js";
import { verifySnapshot } from "../../node/snapshot/verify.js";
import { startTestNode, type TestNode } from "../support/node.js";

/** More than two commit checkpoints (COMMIT_CHECKPOINT_ENTRIES = 4096): the index is compacted. */
const WRITES = 9000;
const LANES = 16;

describe("the internal index on a running node", () => {
  let net: TestNode;
  let internalInLedger = 0;
  /** Internal entries of the last two checkpoints (compaction runs one checkpoint behind) and configurations. */
  let mayStay = 0;
  let residentInternal = 0;

  before(async () => {
    net = await startTestNode({ snapshots: { everyEntries: 150, everyMs: 3_600_000 } });
    const log = net.client().contract<typeof logContract>("log");
    let next = 0;
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        for (let i = next++; i < WRITES; i = next++) await log.writePublic({ id: i % 500, msg: `m${i}` });
      }),
    );
    const last = await net.settled();
    const { ledger } = net.node;
    for (let seqno = (ledger.base?.seqno ?? 0) + 1; seqno <= last; seqno++) {
      const record = ledger.get(seqno)!;
      if (decodeEntry(record.bytes, seqno).header.kind !== "internal") continue;
      internalInLedger++;
      if (seqno > last - 2 * (4096 + 512) || configOf(record) !== undefined) mayStay++;
    }
    residentInternal = ledger.resident.internal;
  });
  after(() => net?.dispose());

  it("keeps only recent internal entries and the configurations in memory", () => {
    assert.ok(internalInLedger >= 50, `snapshot evidence entries in the ledger: ${internalInLedger}`);
    assert.ok(residentInternal < internalInLedger, `index ${residentInternal} of ${internalInLedger}`);
    assert.ok(residentInternal <= mayStay, `index ${residentInternal}, at most ${mayStay}`);
  });

  it("still finds the configuration in force, and snapshots after compaction carry it", () => {
    const { ledger } = net.node;
    const config = net.node.replica.consensus.status().config;
    let found: string[] | undefined;
    for (const seqno of ledger.internalSeqnosDownFrom(ledger.lastSeqno)) {
      found = configOf(ledger.get(seqno)!);
      if (found !== undefined) break;
    }
    assert.deepEqual(found, config ? [...config] : undefined);
    const latest = net.node.snapshots.latest()!;
    assert.ok(latest.seqno > 8192, `latest snapshot at ${latest.seqno}`);
    assert.deepEqual(verifySnapshot(latest.bytes, [net.serviceKey]).body.config?.nodes, config);
  });

  it("restarts from that snapshot and serves", async () => {
    await net.restart();
    const log = net.client().contract<typeof logContract>("log");
    const { txid } = await log.writePublic({ id: 1, msg: "after" });
    await net.client().waitForCommit(txid!);
    assert.deepEqual((await log.readPublic({ id: 1 })).result, { msg: "after" });
    assert.deepEqual(net.node.replica.consensus.status().config, net.node.ledger.base?.config?.nodes);
  });
});
