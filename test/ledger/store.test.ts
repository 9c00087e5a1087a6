import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { open } from "lmdb";
import { AssertionFailure } from "../../sdk/assert.js";
import { isTreatyError } from "../../sdk/errors.js";
import { LEDGER_FILE, LmdbLedgerStore } from "../../runtime/ledger/lmdb-store.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { ledgerStoreConformance } from "./store-conformance.js";
import { withTempDir } from "../support/temp-dir.js";

describe("MemoryLedgerStore conformance", () => {
  ledgerStoreConformance(async () => {
    const store = new MemoryLedgerStore();
    return { store, dispose: () => store.close() };
  });
});

describe("LmdbLedgerStore conformance", () => {
  ledgerStoreConformance(async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-ledger-store-"));
    const store = LmdbLedgerStore.open(dir);
    return {
      store,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describe("LmdbLedgerStore durability and damage", () => {
  const withDir = (body: (dir: string) => Promise<void>) => () => withTempDir("treaty-ledger-store-", body);

  it(
    "keeps appended and truncated state across close and reopen, and reads it read-only",
    withDir(async (dir) => {
      const store = LmdbLedgerStore.open(dir);
      store.append([1, 2, 3, 4].map((seqno) => ({ seqno, view: 2, bytes: new Uint8Array([seqno]) })));
      store.truncate(4);
      await store.close();
      const reopened = LmdbLedgerStore.open(dir, { readOnly: true });
      try {
        assert.equal(reopened.lastSeqno, 3);
        assert.deepEqual([...reopened.get(3)!.bytes], [3]);
        assert.throws(
          () => reopened.append([{ seqno: 4, view: 2, bytes: new Uint8Array(1) }]),
          AssertionFailure,
        );
      } finally {
        await reopened.close();
      }
    }),
  );

  it(
    "opening a missing store read-only is NotFound",
    withDir(async (dir) => {
      assert.throws(
        () => LmdbLedgerStore.open(join(dir, "nothing"), { readOnly: true }),
        (err) => isTreatyError(err, "NotFound"),
      );
    }),
  );

  it(
    "a stored value too short to hold a view is LedgerCorrupt with its seqno",
    withDir(async (dir) => {
      const store = LmdbLedgerStore.open(dir);
      store.append([1, 2].map((seqno) => ({ seqno, view: 1, bytes: new Uint8Array([seqno]) })));
      await store.close();
      const raw = open<Uint8Array, Uint8Array>({
        path: join(dir, LEDGER_FILE),
        encoding: "binary",
        keyEncoding: "binary",
      });
      await raw.put(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 2]), new Uint8Array([1, 2, 3]));
      await raw.close();
      const damaged = LmdbLedgerStore.open(dir, { readOnly: true });
      try {
        assert.throws(
          () => damaged.get(2),
          (err) => isTreatyError(err, "LedgerCorrupt") && err.details?.seqno === 2,
        );
        assert.throws(
          () => [...damaged.range(1)],
          (err) => isTreatyError(err, "LedgerCorrupt"),
        );
      } finally {
        await damaged.close();
      }
    }),
  );
});
