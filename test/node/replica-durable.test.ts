/**
 * A Ready's steps 2-5 (send, acknowledge, commit, reads) wait for its entries to be durable
 * (node/replica.ts `#afterDurable`): they run in Ready order whatever order the writes finish in,
 * never before their own write and every earlier one, and the Readys one write completion made
 * runnable run together, followed by one drain of the core.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConsensusNode } from "../../node/consensus/node.js";
import type { Entry, Ready } from "../../node/consensus/types.js";
import type { Ledger } from "../../runtime/ledger/ledger.js";
import { text } from "../consensus/harness.js";
import { stubReplica } from "./stub-replica.js";

function entry(seqno: number): Entry {
  return { view: 2, seqno, signature: false, payload: text(`e${seqno}`) };
}

function readyWith(entries: readonly Entry[]): Ready {
  return {
    softState: null,
    hardState: null,
    truncateFromSeqno: null,
    entries,
    messages: [],
    committed: null,
    reads: [],
    installSnapshot: null,
  };
}

/** Lets every pending promise reaction run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test("deferred Readys run in Ready order once durable, then the core is drained once", async () => {
  const readys = [readyWith([entry(1)]), readyWith([entry(2)]), readyWith([entry(3)])];
  const writes: Array<() => void> = [];
  const acked: number[] = [];
  let drains = 0;
  // A leader's Readys: its entries are already staged, so the replica only persists them.
  const consensus = {
    id: "me",
    currentRole: () => "Leader",
    limits: { maxBatchEntries: 64, maxBatchBytes: 1 << 20 },
    hasReady: () => {
      drains++;
      return readys.length > 0;
    },
    ready: () => readys.shift()!,
    ackPersisted: (seqno: number) => acked.push(seqno),
  } as unknown as ConsensusNode;
  const ledger = {
    lastSeqno: 3,
    get: (seqno: number) => ({ seqno, view: 2, bytes: text(`e${seqno}`) }),
    persistAsync: () => new Promise<void>((resolve) => writes.push(resolve)),
  } as unknown as Ledger;
  const replica = stubReplica(consensus, ledger);
  replica.process();
  assert.equal(writes.length, 3, "one durable write per Ready");
  drains = 0;

  writes[2]!();
  writes[1]!();
  await settle();
  assert.deepEqual(acked, [], "nothing runs before the first Ready's write is durable");
  assert.equal(drains, 0);

  writes[0]!();
  await settle();
  assert.deepEqual(acked, [1, 2, 3], "in Ready order, each after its own write");
  assert.equal(drains, 1, "one drain of the core after the Readys one completion made runnable");
  replica.close();
});
