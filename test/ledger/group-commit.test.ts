/**
 * Group commit: `LmdbLedgerStore.appendAsync` and `Ledger.persistAsync` over LMDB and chunk files (the replica's persistence
 * path). Entries stay readable while their write is in flight, become durable in order, and a
 * truncation that cuts writes still in flight wins over them once they land.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AssertionFailure } from "../../sdk/assert.js";
import { toHex } from "../../sdk/bytes.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { LmdbLedgerStore } from "../../runtime/ledger/lmdb-store.js";
import { ChunkedLedgerStore } from "../../runtime/ledger/chunk-store.js";
import { type LedgerStore, MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { signerFor, testRandom, testSecrets, txFor, VALID_FROM_MS } from "./fixtures.js";
import { withTempDir } from "../support/temp-dir.js";

const withDir = (body: (dir: string) => Promise<void>) => () => withTempDir("treaty-group-commit-", body);

const record = (seqno: number, view: number) => ({ seqno, view, bytes: new Uint8Array([seqno, view]) });

describe("LmdbLedgerStore.appendAsync", () => {
  it(
    "commits batches in order, counts them at once, and queues a truncation behind them",
    withDir(async (dir) => {
      const store = LmdbLedgerStore.open(dir);
      const first = store.appendAsync([1, 2, 3].map((s) => record(s, 1)));
      const second = store.appendAsync([4, 5].map((s) => record(s, 1)));
      assert.equal(store.lastSeqno, 5);
      assert.throws(() => store.append([record(6, 1)]), AssertionFailure);
      store.truncate(4); // cuts the second batch while it is still queued
      assert.equal(store.lastSeqno, 3);
      const third = store.appendAsync([4, 5, 6].map((s) => record(s, 2)));
      await Promise.all([first, second, third]);
      await store.close();
      const reopened = LmdbLedgerStore.open(dir, { readOnly: true });
      try {
        assert.equal(reopened.lastSeqno, 6);
        assert.deepEqual(
          [...reopened.range(1)].map((r) => [r.seqno, r.view]),
          [
            [1, 1],
            [2, 1],
            [3, 1],
            [4, 2],
            [5, 2],
            [6, 2],
          ],
        );
      } finally {
        await reopened.close();
      }
    }),
  );

  it(
    "truncating into a batch in flight leaves no cut entry behind",
    withDir(async (dir) => {
      const store = LmdbLedgerStore.open(dir);
      store.append([record(1, 1)]);
      const pending = store.appendAsync([2, 3, 4].map((s) => record(s, 1)));
      store.truncate(2);
      await pending;
      assert.equal(store.lastSeqno, 1);
      await store.close();
      const reopened = LmdbLedgerStore.open(dir, { readOnly: true });
      try {
        assert.equal(reopened.lastSeqno, 1);
        assert.equal(reopened.get(2), undefined);
      } finally {
        await reopened.close();
      }
    }),
  );
});

const stores: Array<{ name: string; open: (dir: string, readOnly?: boolean) => LedgerStore }> = [
  { name: "LMDB", open: (dir, readOnly = false) => LmdbLedgerStore.open(dir, { readOnly }) },
  { name: "chunk files", open: (dir, readOnly = false) => ChunkedLedgerStore.open(dir, { readOnly }) },
];

for (const kind of stores)
  describe(`Ledger.persistAsync (${kind.name})`, () => {
    it(
      "keeps entries readable while in flight and advances persistedSeqno once durable",
      withDir(async (dir) => {
        const store = kind.open(dir);
        const ledger = Ledger.open({ store, secrets: testSecrets(), random: testRandom() });
        ledger.appendTransaction(1, txFor(0));
        ledger.appendTransaction(1, txFor(1));
        const first = ledger.persistAsync();
        ledger.appendTransaction(1, txFor(2));
        ledger.appendSignature(1, signerFor(), VALID_FROM_MS + 1_000);
        const second = ledger.persistAsync();
        assert.equal(ledger.persistedSeqno, 0);
        assert.equal(ledger.get(1)?.seqno, 1);
        assert.throws(() => ledger.persist(), AssertionFailure);
        await first; // the second batch may share its commit
        assert.ok(ledger.persistedSeqno >= 2);
        await second;
        assert.equal(ledger.persistedSeqno, 4);
        const root = toHex(ledger.root());
        await store.close();
        const reopened = Ledger.open({ store: kind.open(dir, true) });
        assert.equal(reopened.lastSeqno, 4);
        assert.equal(toHex(reopened.root()), root);
      }),
    );

    it(
      "a truncation during a write in flight wins: the cut entries are not durable, the new ones are",
      withDir(async (dir) => {
        const store = kind.open(dir);
        const ledger = Ledger.open({ store, secrets: testSecrets(), random: testRandom() });
        for (let i = 0; i < 3; i++) ledger.appendTransaction(1, txFor(i));
        ledger.persist();
        for (let i = 3; i < 6; i++) ledger.appendTransaction(1, txFor(i));
        const cut = ledger.persistAsync(); // seqnos 4-6, view 1
        ledger.truncate(5);
        ledger.truncate(3); // into the durable part too
        assert.equal(ledger.lastSeqno, 2);
        ledger.appendTransaction(2, txFor(10));
        ledger.appendTransaction(2, txFor(11));
        const replacement = ledger.persistAsync(); // seqnos 3-4, view 2
        await cut; // never counts the cut entries; the replacement may share its commit
        assert.ok([2, 4].includes(ledger.persistedSeqno));
        await replacement;
        assert.equal(ledger.persistedSeqno, 4);
        const root = toHex(ledger.root());
        await store.close();
        const reopened = Ledger.open({ store: kind.open(dir, true) });
        assert.equal(reopened.lastSeqno, 4);
        assert.equal(reopened.get(3)?.view, 2);
        assert.equal(toHex(reopened.root()), root);
      }),
    );
  });

describe("Ledger.persistAsync (no appendAsync)", () => {
  it("with a store without appendAsync, persists synchronously", async () => {
    const store = new MemoryLedgerStore();
    const ledger = Ledger.open({ store, secrets: testSecrets(), random: testRandom() });
    ledger.appendTransaction(1, txFor(0));
    const done = ledger.persistAsync();
    assert.equal(store.lastSeqno, 1);
    assert.equal(ledger.persistedSeqno, 1);
    await done;
  });
});
