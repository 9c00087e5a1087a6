/**
 * Restart state from the ledger: `loadPersistedState` loads only the entries after the last
 * signature at or before the durable commit point, and a core started from it (with the
 * ledger as its storage) knows exactly what a core given the whole log knows.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { utf8 } from "../../sdk/bytes.js";
import { ConsensusNode } from "../../node/consensus/index.js";
import { CONFIG_KEY, CONFIG_MAP, entryOf, ledgerLogStorage, loadPersistedState } from "../../node/replica.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { signerFor, testRandom, testSecrets, txFor, VALID_FROM_MS } from "../ledger/fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "treaty-persisted-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function configTx(nodes: string[]) {
  return {
    kind: "internal" as const,
    writeSet: {
      public: [
        { map: CONFIG_MAP, writes: [[utf8.encode(CONFIG_KEY), utf8.encode(JSON.stringify(nodes))]] as const },
      ],
      private: [],
    },
    meta: { timeMs: VALID_FROM_MS, contract: null, method: "add_node", callerId: null },
  };
}

/** View 1: config [a] at 1, txs, signature at 6; view 2: txs, config [a,b] at 9, signatures at 12 and 16; uncommitted tail. */
function buildLedger(): Ledger {
  const ledger = Ledger.open({
    store: new MemoryLedgerStore(),
    secrets: testSecrets(),
    random: testRandom(),
  });
  const signer = signerFor();
  ledger.appendTransaction(1, configTx(["a"]));
  for (let i = 0; i < 4; i++) ledger.appendTransaction(1, txFor(i * 5));
  ledger.appendSignature(1, signer, VALID_FROM_MS + 1); // 6
  ledger.appendTransaction(2, txFor(5));
  ledger.appendTransaction(2, txFor(6));
  ledger.appendTransaction(2, configTx(["a", "b"])); // 9
  ledger.appendTransaction(2, txFor(7));
  ledger.appendTransaction(2, txFor(8));
  ledger.appendSignature(2, signer, VALID_FROM_MS + 2); // 12
  for (let i = 0; i < 3; i++) ledger.appendTransaction(2, txFor(10 + i * 5));
  ledger.appendSignature(2, signer, VALID_FROM_MS + 3); // 16
  ledger.appendTransaction(2, txFor(30));
  ledger.appendTransaction(2, txFor(35));
  ledger.persist();
  return ledger;
}

test("a restart loads the entries after the durable commit's signature, and nothing is lost", () => {
  const ledger = buildLedger();
  const path = join(dir, "consensus.json");
  writeFileSync(path, JSON.stringify({ view: 2, votedFor: "a", commitSeqno: 14 }));
  const state = loadPersistedState(ledger, path);
  assert.equal(state.hardState.commitSeqno, 12, "the commit point falls back to its signature");
  assert.deepEqual(state.base, {
    seqno: 12,
    view: 2,
    views: [
      { view: 1, startSeqno: 1 },
      { view: 2, startSeqno: 7 },
    ],
    lastSignature: 12,
    config: { seqno: 9, nodes: ["a", "b"] },
  });
  assert.deepEqual(
    state.entries.map((e) => e.seqno),
    [13, 14, 15, 16, 17, 18],
  );
  const all = Array.from({ length: ledger.lastSeqno }, (_, i) => entryOf(ledger.get(i + 1)!));
  const windowed = new ConsensusNode(
    { id: "a", rng: { nextInt: () => 0 }, storage: ledgerLogStorage(ledger) },
    state,
  );
  const whole = new ConsensusNode(
    { id: "a", rng: { nextInt: () => 0 } },
    { hardState: state.hardState, entries: all },
  );
  assert.deepEqual(windowed.status(), whole.status());
  assert.deepEqual(windowed.viewHistory(), whole.viewHistory());
  for (let s = 1; s <= ledger.lastSeqno; s++) {
    assert.deepEqual(windowed.entry(s), whole.entry(s), `entry ${s}`);
    assert.deepEqual(windowed.txStatus(2, s), whole.txStatus(2, s), `status 2.${s}`);
  }
  assert.equal(windowed.logWindow().residentEntries, 6);
  windowed.checkInvariants(true);
});

test("without a hard state the whole ledger is uncommitted: nothing is compacted", () => {
  const ledger = buildLedger();
  const state = loadPersistedState(ledger, join(dir, "missing.json"));
  assert.equal(state.base?.seqno, 0);
  assert.equal(state.entries.length, ledger.lastSeqno);
  assert.deepEqual(state.entries[0]?.config, ["a"]);
  assert.deepEqual(state.entries[8]?.config, ["a", "b"]);
});
