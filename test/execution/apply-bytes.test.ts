/**
 * A follower's KV apply from the entries' own bytes (`Ledger.writeSetAt` → `packItems` → a
 * transferred message → `unpackItems` → `KvStore.apply` owned) leaves the KV in exactly the
 * state the write sets decoded from the same entries leave it in (`entryWriteSet`, applied with
 * a copy each, as the follower applied them before it handed over bytes): the same digest of
 * every map's rows at every version.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MessageChannel } from "node:worker_threads";
import { describe, it } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { KvStore } from "../../runtime/kv/store.js";
import type { MapWrites, WriteSet } from "../../runtime/kv/types.js";
import { decodeEntry, entryWriteSet } from "../../runtime/ledger/entry.js";
import { Ledger, type TransactionInput } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { type PackedItems, packItems, unpackItems } from "../../node/execution/pack.js";
import type { VersionedWriteSet } from "../../node/execution/protocol.js";
import { SERVICE, signerFor, testRandom, testSecrets, txFor, VALID_FROM_MS } from "../ledger/fixtures.js";

const b = (text: string) => utf8.encode(text);

/**
 * The i-th transaction: the fixture's (public rows and a delete, private rows in two of three,
 * kinds rotating), plus rows written again and deleted by later entries, non-ASCII map names
 * (the codec's path on both sides) and, now and then, nothing written at all.
 */
function tx(i: number): TransactionInput {
  const base = txFor(i);
  if (i % 13 === 12) return { ...base, writeSet: { public: [], private: [] } };
  const shared: MapWrites = {
    map: "public:bank.shared",
    writes: [
      [b("counter"), b(`${i}`)],
      [b(`gone-${i % 4}`), i % 2 === 0 ? null : b(`back ${i}`)],
    ].sort((x, y) => Buffer.compare(x[0]!, y[0]!)) as [Uint8Array, Uint8Array | null][],
  };
  const privateShared: MapWrites = { map: "bank.secret", writes: [[b("last"), b(`${i}`)]] };
  const odd: MapWrites = { map: "bank.ünïcode", writes: [[b(`k${i % 3}`), i % 6 === 5 ? null : b("v")]] };
  const oddPublic: MapWrites = { map: "public:bank.é", writes: [[b(`k${i % 3}`), b(`${i}`)]] };
  const writeSet: WriteSet = {
    public: [...base.writeSet.public, shared, ...(i % 5 === 4 ? [oddPublic] : [])],
    private: [...base.writeSet.private, privateShared, ...(i % 5 === 4 ? [odd] : [])],
  };
  return { ...base, writeSet, seed: i % 4 === 1 ? null : base.seed };
}

/** SHA-256 over every map's name and rows at `version` (maps by name, rows bytewise). */
function stateDigest(kv: KvStore, version: number): string {
  const hash = createHash("sha256");
  const tx = kv.beginAt(version);
  for (const map of [...kv.maps()].sort()) {
    hash.update(`${map}\u0000`);
    for (const [key, value] of tx.range(map, {})) {
      hash.update(`${key.length}:`).update(key).update(`${value.length}:`).update(value);
    }
  }
  return hash.digest("hex");
}

/** `packed` after a postMessage with its buffers transferred, as the execution worker gets it. */
async function crossed(packed: PackedItems, transfer: ArrayBuffer[]): Promise<PackedItems> {
  const { port1, port2 } = new MessageChannel();
  try {
    const arrived = new Promise<PackedItems>((resolve) => port2.once("message", resolve));
    port1.postMessage(packed, transfer);
    return await arrived;
  } finally {
    port1.close();
    port2.close();
  }
}

describe("a follower's KV apply from the entries' bytes", () => {
  it("leaves the same state at every version as the decoded write sets", async () => {
    const leader = Ledger.open({
      store: new MemoryLedgerStore(),
      secrets: testSecrets(),
      random: testRandom(),
      serviceKey: SERVICE,
    });
    const signer = signerFor();
    for (let i = 0; i < 80; i++) {
      leader.appendTransaction(2, tx(i));
      if (i % 10 === 9) leader.appendSignature(2, signer, VALID_FROM_MS + 2000 + i);
    }
    const records = [...Array(leader.lastSeqno).keys()].map((i) => leader.get(i + 1)!);

    // As before: each entry decoded into objects, applied with a copy of every key and value.
    const before = KvStore.open(null);
    for (const record of records)
      before.apply(record.seqno, entryWriteSet(decodeEntry(record.bytes, record.seqno), testSecrets()));

    // Now: staged as a follower stages them, handed to the worker as the entries' bytes.
    const follower = Ledger.open({
      store: new MemoryLedgerStore(),
      secrets: testSecrets(),
      serviceKey: SERVICE,
    });
    const now = KvStore.open(null);
    for (let at = 0; at < records.length; at += 9) {
      const slice = records.slice(at, at + 9);
      follower.appendReplicated(slice);
      const items: VersionedWriteSet[] = slice.map((r) => ({
        version: r.seqno,
        writeSet: follower.writeSetAt(r.seqno),
      }));
      const { items: packed, transfer } = packItems(items);
      for (const item of unpackItems(await crossed(packed, transfer)))
        now.apply(item.version, item.writeSet, true);
      follower.persist();
    }

    assert.deepEqual(now.maps().sort(), before.maps().sort());
    assert.ok(before.maps().includes("bank.ünïcode") && before.maps().includes("public:bank.é"));
    for (let version = 1; version <= records.length; version++)
      assert.equal(stateDigest(now, version), stateDigest(before, version), `state at version ${version}`);
    assert.notEqual(stateDigest(before, 1), stateDigest(before, records.length), "the state moves");
  });
});
