/**
 * One conformance suite for KvStore in every mode (memory and LMDB): the semantics the executor,
 * the ledger and consensus rely on. `store.test.ts` runs it once per backend.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { KEY_BYTES_LIMIT, MAP_NAME_MAX_BYTES } from "../../runtime/kv/limits.js";
import { KvStore } from "../../runtime/kv/store.js";
import { AssertionFailure } from "../../sdk/assert.js";
import {
  b,
  type KvFixtureFactory,
  listRange,
  s,
  show,
  throwsCode,
  withFixture,
  writeSet,
} from "./fixtures.js";

/** Applies `{map: [[key, value|null]]}` as `version`. */
function put(store: KvStore, version: number, maps: Record<string, [Uint8Array, Uint8Array | null][]>): void {
  store.apply(version, writeSet(maps));
}

export function kvStoreConformance(factory: KvFixtureFactory): void {
  const run = (body: (store: KvStore) => void | Promise<void>) => () =>
    withFixture(factory, ({ store }) => body(store));

  it(
    "starts empty at version 0",
    run((store) => {
      assert.equal(store.appliedVersion, 0);
      assert.equal(store.committedVersion, 0);
      assert.deepEqual(store.maps(), []);
      assert.equal(store.get("a", b(1)), undefined);
      const tx = store.begin();
      assert.equal(tx.readVersion, 0);
      assert.deepEqual(listRange(tx, "a"), []);
      assert.deepEqual(tx.writeSet(), { public: [], private: [] });
    }),
  );

  it(
    "reads its own writes, and nothing leaves the tx until applied",
    run((store) => {
      const tx = store.begin();
      tx.set("a", b(1), b(10));
      assert.equal(show(tx.get("a", b(1))), "10");
      assert.equal(tx.has("a", b(1)), true);
      tx.delete("a", b(1));
      assert.equal(tx.get("a", b(1)), undefined);
      assert.equal(tx.has("a", b(1)), false);
      tx.set("a", b(1), b(11));
      assert.equal(store.get("a", b(1)), undefined);
      assert.equal(store.begin().get("a", b(1)), undefined);
      store.apply(1, tx.writeSet());
      assert.equal(show(store.get("a", b(1))), "11");
      assert.equal(show(store.begin().get("a", b(1))), "11");
    }),
  );

  it(
    "builds canonical write sets: domains split, maps and keys sorted, deletes and no-ops kept",
    run((store) => {
      put(store, 1, { "public:p": [[b(1), b(1)]], q: [[b(7), b(7)]] });
      const tx = store.begin();
      tx.set("z", b(2), b(2));
      tx.set("public:p", b(1), b(1)); // same value as stored: still a write
      tx.delete("q", b(9)); // delete of an absent key: still a write
      tx.set("q", b(1, 0), b(3));
      tx.set("q", b(1), b(4));
      tx.set("q", b(), b(5));
      tx.set("public:b", b(0), b(0));
      tx.set("z", b(2), b(22)); // last write wins
      const ws = tx.writeSet();
      assert.deepEqual(
        ws.public.map((m) => m.map),
        ["public:b", "public:p"],
      );
      assert.deepEqual(
        ws.private.map((m) => m.map),
        ["q", "z"],
      );
      assert.deepEqual(
        ws.private[0]!.writes.map(([k, v]) => [show(k), show(v ?? undefined) ?? null]),
        [
          ["", "5"],
          ["1", "4"],
          ["1.0", "3"],
          ["9", null],
        ],
      );
      assert.deepEqual(ws.private[1]!.writes[0]![1], b(22));
      assert.deepEqual(ws.public[1]!.writes, [[b(1), b(1)]]);
      assert.equal(ws.private[0]!.writes[3]![1], null);
    }),
  );

  it(
    "isolates transactions: a tx reads at its version, whatever is applied later",
    run((store) => {
      put(store, 1, { a: [[b(1), b(1)]] });
      const early = store.begin();
      put(store, 2, {
        a: [
          [b(1), null],
          [b(2), b(2)],
        ],
      });
      put(store, 5, { a: [[b(3), b(3)]] });
      assert.equal(store.appliedVersion, 5);
      assert.equal(show(early.get("a", b(1))), "1");
      assert.equal(early.get("a", b(2)), undefined);
      assert.deepEqual(listRange(early, "a"), ["1=1"]);
      const late = store.begin();
      assert.equal(late.readVersion, 5);
      assert.deepEqual(listRange(late, "a"), ["2=2", "3=3"]);
    }),
  );

  it(
    "applyTx applies a transaction's writes as apply(writeSet()) does, and keeps its own bytes",
    run(async (store) => {
      put(store, 1, { m: [[b(9), b(9)]] });
      const key = b(1);
      const value = b(1, 1);
      const tx = store.begin();
      tx.set("m", key, value);
      tx.set("public:p", b(2), b(2));
      tx.delete("m", b(9));
      const expected = tx.writeSet();
      store.applyTx(3, tx);
      key[0] = 77;
      value[0] = 77; // the caller's arrays were copied when the tx took them
      const writes = tx.writeSet().private[0]!.writes;
      writes[0]![1]![0] = 66; // and writeSet() hands out copies, never the applied bytes
      assert.equal(store.appliedVersion, 3);
      assert.deepEqual(tx.writeSet(), expected);
      assert.equal(show(store.get("m", b(1))), "1.1");
      assert.equal(show(store.get("public:p", b(2))), "2");
      assert.equal(store.get("m", b(9)), undefined);
      assert.equal(show(store.beginAt(1).get("m", b(9))), "9");
      await store.commit(3);
      assert.equal(show(store.begin().get("m", b(1))), "1.1");
      // A tx of another store takes the checked path.
      const other = KvStore.open(null);
      try {
        const foreign = other.begin();
        foreign.set("m", b(4), b(4));
        store.applyTx(5, foreign);
        assert.equal(show(store.get("m", b(4))), "4");
      } finally {
        await other.close();
      }
      // Versions still increase.
      assert.throws(() => store.applyTx(5, store.begin()), AssertionFailure);
      store.rollback(3);
      assert.equal(store.get("m", b(4)), undefined);
    }),
  );

  it(
    "beginAt reads the overlay up to that version and refuses versions it does not hold",
    run(async (store) => {
      put(store, 2, { a: [[b(1), b(2)]] });
      put(store, 4, { a: [[b(1), b(4)]] });
      put(store, 6, { a: [[b(1), null]] });
      const at = (v: number) => show(store.beginAt(v).get("a", b(1)));
      assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map(at), [undefined, undefined, "2", "2", "4", "4", undefined]);
      throwsCode(() => store.beginAt(7), "NotFound", "version");
      throwsCode(() => store.beginAt(-1), "NotFound");
      throwsCode(() => store.beginAt(1.5), "NotFound");
      await store.commit(4);
      assert.equal(at(4), "4");
      assert.equal(at(5), "4");
      throwsCode(() => store.beginAt(3), "NotFound", "4..6");
    }),
  );

  it(
    "ranges merge committed, overlay and tx writes in bytewise order, skipping deletes",
    run(async (store) => {
      put(store, 1, {
        m: [
          [b(), b(0)],
          [b(1), b(1)],
          [b(1, 0), b(2)],
          [b(2), b(3)],
          [b(3), b(4)],
          [b(255), b(5)],
        ],
      });
      await store.commit(1);
      put(store, 2, {
        m: [
          [b(1, 0), null],
          [b(2), b(33)],
          [b(2, 5), b(6)],
        ],
      });
      const tx = store.begin();
      tx.set("m", b(1, 0), b(7)); // revives the overlay delete
      tx.delete("m", b(3)); // hides a committed key
      tx.set("m", b(0, 0), b(8)); // new key between committed ones
      const all = ["=0", "0.0=8", "1=1", "1.0=7", "2=33", "2.5=6", "255=5"];
      assert.deepEqual(listRange(tx, "m"), all);
      assert.deepEqual(listRange(tx, "m", { reverse: true }), [...all].reverse());
      assert.deepEqual(listRange(tx, "m", { from: b(1), to: b(2, 5) }), ["1=1", "1.0=7", "2=33"]);
      assert.deepEqual(listRange(tx, "m", { from: b(1), to: b(2, 5), reverse: true }), [
        "2=33",
        "1.0=7",
        "1=1",
      ]);
      assert.deepEqual(listRange(tx, "m", { from: b(1, 0, 0) }), ["2=33", "2.5=6", "255=5"]);
      assert.deepEqual(listRange(tx, "m", { to: b(1) }), ["=0", "0.0=8"]);
      assert.deepEqual(listRange(tx, "m", { to: b(1), reverse: true }), ["0.0=8", "=0"]);
      assert.deepEqual(listRange(tx, "m", { limit: 2 }), ["=0", "0.0=8"]);
      assert.deepEqual(listRange(tx, "m", { limit: 3, reverse: true }), ["255=5", "2.5=6", "2=33"]);
      assert.deepEqual(listRange(tx, "m", { from: b(3), limit: 1 }), ["255=5"]);
      assert.deepEqual(listRange(tx, "m", { limit: 0 }), []);
      assert.deepEqual(listRange(tx, "m", { from: b(2), to: b(2) }), []);
      assert.deepEqual(listRange(tx, "m", { from: b(3), to: b(1) }), []);
      assert.deepEqual(listRange(store.beginAt(1), "m", { from: b(1) }), [
        "1=1",
        "1.0=2",
        "2=3",
        "3=4",
        "255=5",
      ]);
    }),
  );

  it(
    "keeps maps apart, even when one name is a prefix of another",
    run(async (store) => {
      put(store, 1, {
        a: [[b(255, 255), b(1)]],
        "a\u0001": [[b(), b(2)]],
        ab: [[b(0), b(3)]],
        "public:a": [[b(1), b(4)]],
      });
      await store.commit(1);
      put(store, 2, { "a ": [[b(0), b(5)]] });
      const tx = store.begin();
      assert.deepEqual(listRange(tx, "a"), ["255.255=1"]);
      assert.deepEqual(listRange(tx, "a", { reverse: true }), ["255.255=1"]);
      assert.deepEqual(listRange(tx, "a\u0001"), ["=2"]);
      assert.deepEqual(listRange(tx, "ab", { reverse: true }), ["0=3"]);
      assert.deepEqual(listRange(tx, "a "), ["0=5"]);
      assert.deepEqual(listRange(tx, "public:a"), ["1=4"]);
      assert.equal(tx.get("a", b()), undefined);
      assert.deepEqual(store.maps(), ["a", "a\u0001", "a ", "ab", "public:a"]);
    }),
  );

  it(
    "pages through long ranges in both directions across all layers",
    run(async (store) => {
      const committed: [Uint8Array, Uint8Array][] = [];
      for (let i = 0; i < 700; i++) committed.push([b(i >> 8, i & 255), b(i & 255)]);
      put(store, 1, { big: committed });
      await store.commit(1);
      const overlay: [Uint8Array, Uint8Array | null][] = [];
      for (let i = 0; i < 700; i += 7) overlay.push([b(i >> 8, i & 255), i % 2 === 0 ? null : b(1)]);
      put(store, 2, { big: overlay });
      const tx = store.begin();
      for (let i = 3; i < 700; i += 50) tx.delete("big", b(i >> 8, i & 255));
      const expected: string[] = [];
      for (let i = 0; i < 700; i++) {
        if (i % 50 === 3) continue;
        if (i % 7 === 0 && i % 2 === 0) continue;
        expected.push(`${i >> 8}.${i & 255}=${i % 7 === 0 ? 1 : i & 255}`);
      }
      assert.deepEqual(listRange(tx, "big"), expected);
      assert.deepEqual(listRange(tx, "big", { reverse: true }), [...expected].reverse());
      const from = b(0, 100);
      const to = b(2, 50);
      const within = expected.filter((e) => {
        const [hi, lo] = e.split("=")[0]!.split(".").map(Number) as [number, number];
        const n = hi * 256 + lo;
        return n >= 100 && n < 2 * 256 + 50;
      });
      assert.deepEqual(listRange(tx, "big", { from, to }), within);
      assert.deepEqual(listRange(tx, "big", { from, to, reverse: true }), [...within].reverse());
      assert.deepEqual(listRange(tx, "big", { from, limit: 300 }), within.slice(0, 300));
    }),
  );

  it(
    "commits durably in batches; reads stay the same before and after",
    run(async (store) => {
      put(store, 1, { a: [[b(1), b(1)]] });
      put(store, 3, {
        a: [
          [b(1), b(3)],
          [b(2), b(3)],
        ],
      });
      put(store, 4, { a: [[b(2), null]], "public:x": [[b(), b()]] });
      const before = listRange(store.begin(), "a");
      assert.equal(store.uncommittedVersions, 3);
      const pending = store.commit(3);
      assert.equal(store.committedVersion, 0, "committedVersion moves once durable");
      await pending;
      assert.equal(store.committedVersion, 3);
      assert.equal(store.appliedVersion, 4);
      assert.equal(store.uncommittedVersions, 1);
      assert.deepEqual(listRange(store.begin(), "a"), before);
      assert.equal(show(store.beginAt(3).get("a", b(2))), "3");
      await store.commit(4);
      assert.equal(store.uncommittedVersions, 0);
      assert.equal(show(store.get("public:x", b())), "");
      assert.deepEqual(listRange(store.begin(), "a"), ["1=3"]);
      await store.commit(4); // already committed: resolves
      await store.commit(2);
      assert.equal(store.committedVersion, 4);
    }),
  );

  it(
    "runs overlapping commits in order and shares the promise of a covered one",
    run(async (store) => {
      for (let v = 1; v <= 6; v++) put(store, v, { c: [[b(v), b(v)]] });
      const first = store.commit(2);
      const second = store.commit(5);
      const covered = store.commit(4);
      put(store, 7, { c: [[b(1), null]] });
      await Promise.all([first, second, covered]);
      assert.equal(store.committedVersion, 5);
      assert.deepEqual(listRange(store.begin(), "c"), ["2=2", "3=3", "4=4", "5=5", "6=6"]);
      await store.commit(7);
      assert.equal(store.committedVersion, 7);
    }),
  );

  it(
    "joins every commit requested while one waits into one backend write",
    run(async (store) => {
      for (let v = 1; v <= 40; v++) put(store, v, { c: [[b(v), b(v)]] });
      const first = store.commit(1);
      await Promise.resolve(); // the write of version 1 is under way
      const later: Promise<void>[] = [];
      for (let v = 2; v <= 40; v++) later.push(store.commit(v));
      await later[0];
      // One write after the first covered them all: a burst of commits cannot queue up writes.
      assert.equal(store.committedVersion, 40);
      await Promise.all([first, ...later]);
      assert.equal(store.uncommittedVersions, 0);
      assert.equal(listRange(store.begin(), "c").length, 40);
    }),
  );

  it(
    "pins the state of the commits requested before the pin, not of those after it",
    run(async (store) => {
      for (let v = 1; v <= 6; v++) put(store, v, { c: [[b(0), b(v)]] });
      const first = store.commit(1);
      await Promise.resolve();
      const before = store.commit(3); // joins the write queued behind the first
      const pinned = store.pinCommitted(3);
      const after = store.commit(5); // must not join it: the pin is between them
      const pin = await pinned;
      assert.ok(pin !== null, "the pin is at version 3");
      await Promise.all([first, before, after]);
      assert.equal(store.committedVersion, 5);
      const seen: string[] = [];
      pin.scan("c", undefined, 10, {
        row: (keys, keyStart, keyEnd, values, valueStart, valueEnd) => {
          seen.push(
            `${show(keys.subarray(keyStart, keyEnd))}=${show(values.subarray(valueStart, valueEnd))}`,
          );
          return true;
        },
      });
      assert.deepEqual(seen, ["0=3"]);
      pin.release();
    }),
  );

  it(
    "a pinned scan reads a map's rows in pages of a limit or ended by its sink (small and large values), as places in buffers its sink copies, and none of the next map's",
    run(async (store) => {
      // Keys and values of many lengths (an empty key, empty values), and a map whose name
      // extends this one's (its keys follow this map's in the store).
      const rows: [Uint8Array, Uint8Array][] = [];
      for (let i = 0; i < 40; i++)
        rows.push([i === 0 ? b() : b(...Array(i % 6).fill(7), i), b(...Array(i % 4).fill(i))]);
      // Values larger than the buffer LMDB reads into by default (lmdb-js returns those apart).
      rows.push([b(8, 1), new Uint8Array(300_000).fill(3)], [b(8, 2), new Uint8Array(70_000).fill(4)]);
      rows.sort(([x], [y]) => Buffer.compare(x, y));
      put(store, 1, {
        c: rows,
        cc: [
          [b(), b(1)],
          [b(0), b(2)],
        ],
        b: [[b(9), b(9)]],
      });
      await store.commit(1);
      const expected = listRange(store.begin(), "c");
      const pin = await store.pinCommitted(1);
      assert.ok(pin !== null);
      // Pages of at most 3 rows by the limit, then pages ended by the sink after 4 rows.
      for (const [limit, stopAfter] of [
        [3, Number.POSITIVE_INFINITY],
        [Number.POSITIVE_INFINITY, 4],
      ] as const) {
        const seen: string[] = [];
        let after: Uint8Array | undefined;
        for (;;) {
          let read = 0;
          const n: number = pin.scan("c", after, limit, {
            row: (keys, keyStart, keyEnd, values, valueStart, valueEnd): boolean => {
              const key = keys.subarray(keyStart, keyEnd);
              seen.push(`${show(key)}=${show(values.subarray(valueStart, valueEnd))}`);
              after = Uint8Array.from(key);
              return ++read < stopAfter;
            },
          });
          assert.equal(n, read, "the count is the rows handed to the sink");
          if (n < Math.min(limit, stopAfter)) break;
        }
        assert.equal(seen.length, 42);
        assert.deepEqual(seen, expected);
      }
      pin.release();
    }),
  );

  it(
    "allows version gaps and empty write sets",
    run(async (store) => {
      put(store, 10, { a: [[b(1), b(1)]] });
      store.apply(11, { public: [], private: [] });
      assert.equal(store.appliedVersion, 11);
      put(store, 20, { a: [[b(2), b(2)]] });
      assert.equal(show(store.beginAt(15).get("a", b(1))), "1");
      assert.equal(store.beginAt(15).get("a", b(2)), undefined);
      await store.commit(15);
      assert.equal(store.committedVersion, 15);
      assert.deepEqual(listRange(store.begin(), "a"), ["1=1", "2=2"]);
    }),
  );

  it(
    "rolls back uncommitted versions and ends the transactions that read them",
    run(async (store) => {
      put(store, 1, { a: [[b(1), b(1)]] });
      await store.commit(1);
      put(store, 2, { a: [[b(1), b(2)]] });
      put(store, 3, { a: [[b(3), b(3)]], b: [[b(1), b(1)]] });
      const at1 = store.beginAt(1);
      const at2 = store.beginAt(2);
      const at3 = store.begin();
      const iterating = at3.range("a");
      store.rollback(2);
      assert.equal(store.appliedVersion, 2);
      assert.deepEqual(store.maps(), ["a"]);
      assert.equal(show(at1.get("a", b(1))), "1");
      assert.equal(show(at2.get("a", b(1))), "2");
      throwsCode(() => at3.get("a", b(1)), "Conflict", "rolled back");
      throwsCode(() => at3.set("a", b(1), b(0)), "Conflict");
      throwsCode(() => iterating.next(), "Conflict");
      put(store, 3, { a: [[b(9), b(9)]] }); // the same version again, new contents
      throwsCode(() => at3.get("a", b(9)), "Conflict");
      assert.deepEqual(listRange(store.begin(), "a"), ["1=2", "9=9"]);
      store.rollback(3); // nothing above 3: no-op
      assert.equal(store.appliedVersion, 3);
      store.rollback(1);
      assert.deepEqual(listRange(store.begin(), "a"), ["1=1"]);
      assert.throws(() => store.rollback(0), AssertionFailure);
      put(store, 2, { a: [[b(2), b(2)]] });
      const pending = store.commit(2);
      assert.throws(() => store.rollback(1), AssertionFailure, "not below a commit in flight");
      await pending;
    }),
  );

  it(
    "tracks rollbacks across many epochs precisely",
    run(async (store) => {
      put(store, 1, { a: [[b(1), b(1)]] });
      put(store, 2, { a: [[b(2), b(2)]] });
      put(store, 3, { a: [[b(3), b(3)]] });
      const at2 = store.beginAt(2);
      const at3 = store.begin();
      store.rollback(2); // ends at3 only
      put(store, 3, { a: [[b(3), b(33)]] });
      const again3 = store.begin();
      store.rollback(3); // no-op
      put(store, 4, { a: [[b(4), b(4)]] });
      store.rollback(3); // ends nothing at or below 3
      assert.equal(show(at2.get("a", b(2))), "2");
      assert.equal(show(again3.get("a", b(3))), "33");
      throwsCode(() => at3.get("a", b(1)), "Conflict");
      await store.commit(3);
      assert.equal(show(again3.get("a", b(3))), "33");
      throwsCode(() => at2.get("a", b(1)), "Conflict", "committed");
      throwsCode(() => at3.get("a", b(1)), "Conflict");
    }),
  );

  it(
    "ends transactions reading below a commit",
    run(async (store) => {
      put(store, 1, { a: [[b(1), b(1)]] });
      put(store, 2, { a: [[b(1), b(2)]] });
      const at1 = store.beginAt(1);
      const at2 = store.begin();
      const pending = store.commit(2);
      throwsCode(() => at1.get("a", b(1)), "Conflict", "committed");
      assert.equal(show(at2.get("a", b(1))), "2");
      await pending;
      assert.equal(show(at2.get("a", b(1))), "2");
    }),
  );

  it(
    "keeps a suspended range consistent across a commit that lands mid-iteration",
    run(async (store) => {
      const keys: [Uint8Array, Uint8Array][] = [];
      for (let i = 0; i < 100; i++) keys.push([b(i), b(i)]);
      put(store, 1, { r: keys });
      const tx = store.begin();
      const expected = listRange(tx, "r");
      const it1 = tx.range("r");
      const got: string[] = [];
      for (let i = 0; i < 30; i++) {
        const { value } = it1.next();
        got.push(`${show(value![0])}=${show(value![1])}`);
      }
      await store.commit(1); // the overlay is pruned while the iterator is suspended
      put(store, 2, { r: [[b(50), null]] }); // newer than the tx: invisible to it
      for (const [k, v] of it1) got.push(`${show(k)}=${show(v)}`);
      assert.deepEqual(got, expected);
    }),
  );

  it(
    "enforces key and value caps with errors naming the map",
    run((store) => {
      const tx = store.begin();
      throwsCode(() => tx.set("big", new Uint8Array(1025), b()), "KeyTooLarge", '"big"', "1025", "1024");
      throwsCode(() => tx.get("big", new Uint8Array(1025)), "KeyTooLarge", '"big"');
      throwsCode(() => tx.delete("big", new Uint8Array(1025)), "KeyTooLarge");
      throwsCode(() => tx.range("big", { from: new Uint8Array(1025) }), "KeyTooLarge", "range.from");
      throwsCode(() => tx.range("big", { to: new Uint8Array(1025) }), "KeyTooLarge", "range.to");
      throwsCode(
        () => tx.set("big", b(1), new Uint8Array(1024 * 1024 + 1)),
        "ValueTooLarge",
        '"big"',
        "1048577",
      );
      tx.set("big", new Uint8Array(1024), new Uint8Array(1024 * 1024));
      assert.equal(tx.writeSet().private[0]!.writes.length, 1);
    }),
  );

  it(
    "rejects bad map names, keys, values and options",
    run((store) => {
      const tx = store.begin();
      throwsCode(() => tx.get("", b()), "InvalidArgs", "map", "empty");
      throwsCode(() => tx.set("a\u0000b", b(), b()), "InvalidArgs", "U+0000");
      throwsCode(() => tx.set("x".repeat(MAP_NAME_MAX_BYTES + 1), b(), b()), "InvalidArgs", "257 bytes");
      throwsCode(() => tx.set("é".repeat(129), b(), b()), "InvalidArgs", "258 bytes");
      throwsCode(() => tx.set("bad\ud800", b(), b()), "InvalidArgs", "surrogate");
      throwsCode(() => tx.get(42 as unknown as string, b()), "InvalidArgs", "expected a string");
      throwsCode(() => tx.get("a", "key" as unknown as Uint8Array), "InvalidArgs", '"a"', "key");
      throwsCode(() => tx.set("a", b(), [1] as unknown as Uint8Array), "InvalidArgs", "value");
      throwsCode(() => tx.range("a", { limit: -1 }), "InvalidArgs", "range.limit");
      throwsCode(() => tx.range("a", { limit: 1.5 }), "InvalidArgs", "range.limit");
      throwsCode(
        () => tx.range("a", { reverse: "yes" as unknown as boolean }),
        "InvalidArgs",
        "range.reverse",
      );
      throwsCode(() => tx.range("a", null as unknown as undefined), "InvalidArgs", "range options");
      throwsCode(() => store.get("", b()), "InvalidArgs");
      tx.set("é".repeat(128), b(), b()); // exactly 256 bytes
      tx.set("\ud83d\ude00", b(), b()); // a well-formed pair is fine
      assert.equal(tx.writeSet().private.length, 2);
      assert.deepEqual(tx.writeSet().public, []);
    }),
  );

  it("honours custom caps", () =>
    withFixture(
      factory,
      ({ store }) => {
        const tx = store.begin();
        throwsCode(() => tx.set("a", b(1, 2, 3, 4, 5), b()), "KeyTooLarge", "max 4");
        throwsCode(() => tx.set("a", b(1), b(1, 2, 3)), "ValueTooLarge", "max 2");
        tx.set("a", b(1, 2, 3, 4), b(1, 2));
      },
      { maxKeyBytes: 4, maxValueBytes: 2 },
    ));

  it("rejects bad options", () => {
    throwsCode(() => factory({ maxKeyBytes: 0 }), "InvalidArgs", "options.maxKeyBytes");
    throwsCode(() => factory({ maxKeyBytes: KEY_BYTES_LIMIT + 1 }), "InvalidArgs", "options.maxKeyBytes");
    throwsCode(() => factory({ maxValueBytes: 1.5 }), "InvalidArgs", "options.maxValueBytes");
  });

  it("stores empty keys and empty values, and the longest key under the longest map name", () =>
    withFixture(
      factory,
      async ({ store }) => {
        const longMap = "m".repeat(MAP_NAME_MAX_BYTES);
        const longKey = new Uint8Array(KEY_BYTES_LIMIT).fill(0xff);
        const tx = store.begin();
        tx.set("e", b(), b());
        tx.set("e", b(0), b(1));
        tx.set(longMap, longKey, b(7));
        tx.set(longMap, b(), b(8));
        store.apply(1, tx.writeSet());
        await store.commit(1);
        const r = store.begin();
        assert.equal(show(r.get("e", b())), "");
        assert.equal(r.has("e", b()), true);
        assert.deepEqual(listRange(r, "e"), ["=", "0=1"]);
        assert.deepEqual(r.get(longMap, longKey), b(7));
        assert.deepEqual(
          [...r.range(longMap, { reverse: true })].map(([k]) => k.length),
          [KEY_BYTES_LIMIT, 0],
        );
        assert.deepEqual(
          [...r.range(longMap, { from: longKey })].map(([k]) => k.length),
          [KEY_BYTES_LIMIT],
        );
      },
      { maxKeyBytes: KEY_BYTES_LIMIT },
    ));

  it(
    "copies bytes in and out, so no caller can change stored data",
    run(async (store) => {
      const key = b(1);
      const value = b(5);
      const tx = store.begin();
      tx.set("a", key, value);
      key[0] = 9;
      value[0] = 9;
      assert.deepEqual(tx.get("a", b(1)), b(5));
      tx.get("a", b(1))![0] = 8;
      assert.deepEqual(tx.get("a", b(1)), b(5));
      const ws = tx.writeSet();
      assert.deepEqual(ws.private[0]!.writes, [[b(1), b(5)]]);
      store.apply(1, ws);
      (ws.private[0]!.writes[0]![1] as Uint8Array)[0] = 6;
      (ws.private[0]!.writes[0]![0] as Uint8Array)[0] = 6;
      const out = store.get("a", b(1))!;
      assert.equal(out.constructor, Uint8Array, "plain Uint8Array, never a Buffer");
      out[0] = 1;
      assert.deepEqual(store.get("a", b(1)), b(5));
      assert.deepEqual(listRange(store.begin(), "a"), ["1=5"]);
      await store.commit(1);
      const read = store.begin();
      const [[k, v]] = [...read.range("a")] as [[Uint8Array, Uint8Array]];
      assert.equal(k.constructor, Uint8Array);
      assert.equal(v.constructor, Uint8Array);
      k[0] = 0;
      v[0] = 0;
      assert.deepEqual(read.get("a", b(1)), b(5));
      assert.deepEqual(store.get("a", b(1)), b(5));
      read.set("a", Buffer.from([2]), Buffer.from([3]));
      assert.equal(read.get("a", b(2))!.constructor, Uint8Array);
      assert.equal(read.writeSet().private[0]!.writes[0]![0].constructor, Uint8Array);
    }),
  );

  it(
    "records reads: get, has and ranged keys, as sorted hex per map",
    run((store) => {
      put(store, 1, {
        a: [
          [b(1), b(1)],
          [b(2), b(2)],
          [b(3), b(3)],
        ],
      });
      const tx = store.begin();
      tx.get("b", b(0xab));
      tx.has("a", b(0x10));
      for (const _ of tx.range("a", { limit: 2, reverse: true })) void _;
      tx.set("c", b(1), b(1));
      const reads = tx.readSet();
      assert.deepEqual([...reads.keys()], ["a", "b"]);
      assert.deepEqual([...reads.get("a")!], ["02", "03", "10"]);
      assert.deepEqual([...reads.get("b")!], ["ab"]);
    }),
  );

  it(
    "lists maps that hold at least one key at the applied version, sorted",
    run(async (store) => {
      put(store, 1, { b: [[b(1), b(1)]], "public:z": [[b(1), b(1)]], A: [[b(), b()]] });
      await store.commit(1);
      put(store, 2, { b: [[b(1), null]], c: [[b(1), null]], d: [[b(1), b(1)]] });
      assert.deepEqual(store.maps(), ["A", "d", "public:z"]);
      await store.commit(2);
      assert.deepEqual(store.maps(), ["A", "d", "public:z"]);
    }),
  );

  it(
    "checks applied write sets and changes nothing when one is malformed",
    run((store) => {
      put(store, 1, { a: [[b(1), b(1)]] });
      const bad = [
        { public: [{ map: "a", writes: [[b(1), b(1)]] }], private: [] },
        {
          public: [],
          private: [
            {
              map: "a",
              writes: [
                [b(2), b(1)],
                [b(1), b(1)],
              ],
            },
          ],
        },
        {
          public: [],
          private: [
            { map: "b", writes: [[b(1), b(1)]] },
            { map: "a", writes: [[b(1), b(1)]] },
          ],
        },
        { public: [], private: [{ map: "a", writes: [] }] },
        { public: [], private: [{ map: "", writes: [[b(1), b(1)]] }] },
        { public: [], private: [{ map: "a", writes: [[new Uint8Array(KEY_BYTES_LIMIT + 1), b(1)]] }] },
        { public: [], private: [{ map: "a", writes: [["k", b(1)]] }] },
        { public: [] },
        null,
      ];
      for (const ws of bad) {
        throwsCode(() => store.apply(2, ws as never), "LedgerCorrupt", "writeSet@2");
        assert.equal(store.appliedVersion, 1);
      }
      assert.deepEqual(listRange(store.begin(), "a"), ["1=1"]);
      assert.throws(() => store.apply(1, writeSet({})), AssertionFailure, "versions increase");
      assert.throws(() => store.apply(2.5, writeSet({})), AssertionFailure);
      assert.throws(() => store.commit(3), AssertionFailure, "commit only applied versions");
    }),
  );

  it("closes idempotently, ends transactions, and refuses use afterwards", async () => {
    const fixture = factory();
    try {
      const { store } = fixture;
      put(store, 1, { a: [[b(1), b(1)]] });
      const tx = store.begin();
      const closed = store.close();
      assert.equal(store.close(), closed);
      await closed;
      throwsCode(() => tx.get("a", b(1)), "Unavailable", "closed");
      assert.throws(() => store.begin(), AssertionFailure);
      assert.throws(() => store.get("a", b(1)), AssertionFailure);
      assert.throws(() => store.apply(2, writeSet({})), AssertionFailure);
    } finally {
      await fixture.dispose();
    }
  });

  it("waits for a commit in flight before closing", async () => {
    const fixture = factory();
    try {
      const { store } = fixture;
      put(store, 1, { a: [[b(1), s("durable")]] });
      const pending = store.commit(1);
      await store.close();
      await pending;
      assert.equal(store.committedVersion, 1);
      if (fixture.durable) {
        const again = await fixture.reopen();
        assert.deepEqual(again.get("a", b(1)), s("durable"));
      }
    } finally {
      await fixture.dispose();
    }
  });
}
