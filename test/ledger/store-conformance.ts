/**
 * One conformance suite for every `LedgerStore` implementation (memory and LMDB): the log
 * semantics consensus relies on. Each implementation's test file calls `ledgerStoreConformance`.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { AssertionFailure } from "../../sdk/assert.js";
import type { LedgerRecord, LedgerStore } from "../../runtime/ledger/store.js";
import { batch, record } from "./records.js";

/** A fresh, empty store and how to dispose of it. */
export interface StoreFixture {
  readonly store: LedgerStore;
  dispose(): Promise<void>;
}

function same(actual: LedgerRecord | undefined, expected: LedgerRecord): void {
  assert.ok(actual !== undefined, `record ${expected.seqno} is missing`);
  assert.equal(actual.seqno, expected.seqno);
  assert.equal(actual.view, expected.view);
  assert.deepEqual([...actual.bytes], [...expected.bytes]);
}

export function ledgerStoreConformance(open: () => Promise<StoreFixture>): void {
  async function withStore(body: (store: LedgerStore) => void | Promise<void>): Promise<void> {
    const fixture = await open();
    try {
      await body(fixture.store);
    } finally {
      await fixture.dispose();
    }
  }

  it("starts empty", () =>
    withStore((store) => {
      assert.equal(store.lastSeqno, 0);
      assert.equal(store.get(1), undefined);
      assert.equal(store.get(0), undefined);
      assert.deepEqual([...store.range(1)], []);
    }));

  it("appends batches and reads them back by seqno and range", () =>
    withStore((store) => {
      const first = batch(1, 5);
      store.append(first);
      store.append([]);
      const second = batch(6, 3, 2);
      store.append(second);
      assert.equal(store.lastSeqno, 8);
      for (const r of [...first, ...second]) same(store.get(r.seqno), r);
      assert.equal(store.get(9), undefined);
      assert.equal(store.get(-1), undefined);
      assert.equal(store.get(1.5), undefined);
      assert.deepEqual(
        [...store.range(1)].map((r) => r.seqno),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
      const middle = [...store.range(3, 6)];
      assert.deepEqual(
        middle.map((r) => r.seqno),
        [3, 4, 5, 6],
      );
      same(middle[3], second[0]!);
      assert.deepEqual([...store.range(9)], []);
      assert.deepEqual(
        [...store.range(0, 2)].map((r) => r.seqno),
        [1, 2],
      );
    }));

  it("keeps exact bytes, empty and large ones, and large views", () =>
    withStore((store) => {
      const records = [record(1, 0, 0), record(2, 2 ** 40, 100_000), record(3, Number.MAX_SAFE_INTEGER, 1)];
      store.append(records);
      for (const r of records) same(store.get(r.seqno), r);
    }));

  it("refuses appends that do not continue the log", () =>
    withStore((store) => {
      store.append(batch(1, 2));
      assert.throws(() => store.append([record(4)]), AssertionFailure);
      assert.throws(() => store.append([record(2)]), AssertionFailure);
      assert.throws(() => store.append([record(3), record(5)]), AssertionFailure);
      assert.equal(store.lastSeqno, 2, "a refused batch writes nothing");
      assert.equal(store.get(3), undefined);
    }));

  it("truncates a suffix, then appends new entries at the same seqnos", () =>
    withStore((store) => {
      store.append(batch(1, 10));
      store.truncate(11);
      assert.equal(store.lastSeqno, 10, "truncating past the end is a no-op");
      store.truncate(7);
      assert.equal(store.lastSeqno, 6);
      assert.equal(store.get(7), undefined);
      assert.deepEqual(
        [...store.range(5)].map((r) => r.seqno),
        [5, 6],
      );
      const replacement = batch(7, 2, 3);
      store.append(replacement);
      same(store.get(7), replacement[0]!);
      same(store.get(8), replacement[1]!);
      store.truncate(1);
      assert.equal(store.lastSeqno, 0);
      assert.deepEqual([...store.range(1)], []);
      assert.throws(() => store.truncate(0), AssertionFailure);
    }));
}
