/**
 * KvStore: the shared conformance suite for both modes, then what only LMDB has (surviving a
 * restart, its on-disk markers, and its failure modes).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { open } from "lmdb";
import { KvStore } from "../../runtime/kv/store.js";
import { kvStoreConformance } from "./conformance.js";
import {
  b,
  lmdbFixture,
  listRange,
  memoryFixture,
  show,
  throwsCode,
  withFixture,
  writeSet,
} from "./fixtures.js";
import { withTempDir } from "../support/temp-dir.js";

describe("KvStore conformance (memory)", () => {
  kvStoreConformance(memoryFixture);
});

describe("KvStore conformance (LMDB)", () => {
  kvStoreConformance(lmdbFixture);
});

const withDir = (body: (dir: string) => Promise<void>) => withTempDir("treaty-kv-", body);

describe("KvStore on LMDB across restarts", () => {
  it("restores committed state and version; uncommitted versions are gone", () =>
    withFixture(lmdbFixture, async (fixture) => {
      const { store } = fixture;
      store.apply(2, writeSet({ a: [[b(1), b(2)]], "public:p": [[b(), b(9)]] }));
      store.apply(
        5,
        writeSet({
          a: [
            [b(1), null],
            [b(3), b(5)],
          ],
        }),
      );
      store.apply(7, writeSet({ a: [[b(4), b(7)]] }));
      await store.commit(5);
      const again = await fixture.reopen();
      assert.equal(again.committedVersion, 5);
      assert.equal(again.appliedVersion, 5);
      assert.deepEqual(listRange(again.begin(), "a"), ["3=5"]);
      assert.equal(show(again.get("public:p", b())), "9");
      assert.deepEqual(again.maps(), ["a", "public:p"]);
      // The node re-applies ledger entries above committedVersion.
      again.apply(7, writeSet({ a: [[b(4), b(7)]] }));
      await again.commit(7);
      const third = await fixture.reopen();
      assert.equal(third.committedVersion, 7);
      assert.deepEqual(listRange(third.begin(), "a"), ["3=5", "4=7"]);
    }));

  it("commits a version marker even when no version wrote anything", () =>
    withFixture(lmdbFixture, async (fixture) => {
      fixture.store.apply(3, writeSet({}));
      await fixture.store.commit(3);
      const again = await fixture.reopen();
      assert.equal(again.committedVersion, 3);
      assert.deepEqual(again.maps(), []);
    }));

  it("treats a path with a dot as a directory and creates missing parents", () =>
    withDir(async (dir) => {
      const path = join(dir, "nested", "node-1.kv");
      const store = KvStore.open(path);
      try {
        store.apply(1, writeSet({ a: [[b(1), b(1)]] }));
        await store.commit(1);
      } finally {
        await store.close();
      }
      const again = KvStore.open(path);
      try {
        assert.equal(again.committedVersion, 1);
      } finally {
        await again.close();
      }
    }));

  it("refuses a second store on a directory that is already open", () =>
    withFixture(lmdbFixture, async (fixture) => {
      fixture.store.apply(1, writeSet({ a: [[b(1), b(1)]] }));
      await fixture.store.commit(1);
      const { path } = fixture;
      assert.ok(path !== undefined);
      throwsCode(() => KvStore.open(path), "Unavailable", "already open");
      throwsCode(() => KvStore.open(`${path}/.`), "Unavailable", "already open");
      const again = await fixture.reopen(); // after close, the same process may open it again
      assert.equal(again.committedVersion, 1);
    }));

  it("fails to open a path that is a file with Unavailable", () =>
    withDir(async (dir) => {
      const path = join(dir, "file");
      writeFileSync(path, "not a directory");
      throwsCode(() => KvStore.open(path), "Unavailable", path);
    }));

  it("refuses unreadable markers with LedgerCorrupt", () =>
    withDir(async (dir) => {
      const cases: [string, Uint8Array | null, Uint8Array | null, string][] = [
        ["format", Uint8Array.of(9), null, "format"],
        ["short-version", Uint8Array.of(1), Uint8Array.of(1, 2), "version marker"],
        [
          "huge-version",
          Uint8Array.of(1),
          Uint8Array.of(255, 255, 255, 255, 255, 255, 255, 255),
          "out of range",
        ],
        ["version-without-format", null, new Uint8Array(8), "format"],
      ];
      for (const [name, format, version, message] of cases) {
        const path = join(dir, name);
        const root = open<Uint8Array, Uint8Array>({ path, encoding: "binary", keyEncoding: "binary" });
        const meta = root.openDB<Uint8Array, Uint8Array>({
          name: "kv.meta",
          encoding: "binary",
          keyEncoding: "binary",
        });
        await root.batch(() => {
          if (format !== null) meta.put(Buffer.from("format"), format);
          if (version !== null) meta.put(Buffer.from("committedVersion"), version);
        });
        await root.close();
        throwsCode(() => KvStore.open(path), "LedgerCorrupt", path, message);
      }
    }));

  it("refuses state keys without a map prefix with LedgerCorrupt when listing maps", () =>
    withDir(async (dir) => {
      const path = join(dir, "bad-key");
      const root = open<Uint8Array, Uint8Array>({ path, encoding: "binary", keyEncoding: "binary" });
      const state = root.openDB<Uint8Array, Uint8Array>({
        name: "kv.state",
        encoding: "binary",
        keyEncoding: "binary",
      });
      await root.batch(() => state.put(Buffer.from("no-separator"), Buffer.from("x")));
      await root.close();
      const store = KvStore.open(path);
      try {
        throwsCode(() => store.maps(), "LedgerCorrupt", "map prefix");
      } finally {
        await store.close();
      }
    }));
});

describe("KvStore commit pacing (minCommitIntervalMs)", () => {
  it("makes commits requested within the interval join one paced write, and each is durable", () =>
    withDir(async (dir) => {
      const store = KvStore.open(join(dir, "kv"), { minCommitIntervalMs: 1_000 });
      try {
        for (let v = 1; v <= 3; v++) store.apply(v, writeSet({ a: [[b(v), b(v)]] }));
        await store.commit(1); // the first write starts at once
        const second = store.commit(2);
        // Unpaced, the write for 2 starts within these turns and 3 would need a write of its own.
        for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
        assert.equal(store.committedVersion, 1, "the write for 2 waits for the interval");
        const third = store.commit(3);
        assert.equal(third, second, "3 joins the paced write");
        await third;
        assert.equal(store.committedVersion, 3);
      } finally {
        await store.close();
      }
      const again = KvStore.open(join(dir, "kv"));
      try {
        assert.equal(again.committedVersion, 3);
        assert.equal(show(again.get("a", b(3))), "3");
      } finally {
        await again.close();
      }
    }));

  it("refuses an interval that is not a number of ms in range", () => {
    for (const bad of [-1, Number.NaN, 1_001, Number.POSITIVE_INFINITY]) {
      throwsCode(() => KvStore.open(null, { minCommitIntervalMs: bad }), "InvalidArgs");
    }
  });
});
