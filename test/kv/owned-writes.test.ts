/**
 * The places byte arrays are handed over or taken without copying them: a transaction's
 * `setOwned` keeps what its caller made for the write, and `writeSetView` shows the tx's own
 * arrays (runtime/kv/tx.ts); `KvStore.apply` with `owned` keeps a write set's arrays (a follower's
 * replicated write sets, views of a buffer the worker owns). `set`, `writeSet` and a plain `apply`
 * keep copying.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KvStore } from "../../runtime/kv/store.js";
import { utf8 } from "../../sdk/bytes.js";

function writesOf(tx: ReturnType<KvStore["begin"]>, view: boolean) {
  const writeSet = view ? tx.writeSetView!() : tx.writeSet();
  return [...writeSet.public, ...writeSet.private].flatMap(({ writes }) => writes);
}

describe("StoreTx owned writes", () => {
  it("setOwned keeps the caller's arrays; set copies them", () => {
    const store = KvStore.open(null);
    const tx = store.begin();
    const ownedKey = utf8.encode("k1");
    const ownedValue = utf8.encode('"v1"');
    const copiedKey = utf8.encode("k2");
    const copiedValue = utf8.encode('"v2"');
    tx.setOwned!("m", ownedKey, ownedValue);
    tx.set("m", copiedKey, copiedValue);
    const [first, second] = writesOf(tx, true);
    assert.equal(first![0], ownedKey, "setOwned: the key is kept");
    assert.equal(first![1], ownedValue, "setOwned: the value is kept");
    assert.notEqual(second![0], copiedKey, "set: the key is copied");
    assert.notEqual(second![1], copiedValue, "set: the value is copied");
    assert.deepEqual(second![1], copiedValue);
  });

  it("setOwned copies a Buffer (it may share a pool with other Buffers)", () => {
    const tx = KvStore.open(null).begin();
    const key = Buffer.from("k");
    const value = Buffer.from('"v"');
    tx.setOwned!("m", key, value);
    const [write] = writesOf(tx, true);
    assert.notEqual(write![0], key);
    assert.notEqual(write![1], value);
    assert.ok(!Buffer.isBuffer(write![1]), "a plain Uint8Array");
    assert.deepEqual(write![1], new Uint8Array(value));
  });

  it("setOwned checks like set", () => {
    const tx = KvStore.open(null, { maxKeyBytes: 4 }).begin();
    assert.throws(() => tx.setOwned!("m", utf8.encode("12345"), utf8.encode("1")), { code: "KeyTooLarge" });
    assert.throws(() => tx.setOwned!("", utf8.encode("k"), utf8.encode("1")), { code: "InvalidArgs" });
    assert.throws(() => tx.setOwned!("m", utf8.encode("k"), "1" as unknown as Uint8Array), {
      code: "InvalidArgs",
    });
  });

  it("writeSetView shows the tx's own arrays, writeSet fresh copies, equal in content", () => {
    const store = KvStore.open(null);
    const tx = store.begin();
    tx.set("public:m", utf8.encode("a"), utf8.encode("1"));
    tx.set("m", utf8.encode("b"), utf8.encode("2"));
    tx.delete("m", utf8.encode("c"));
    assert.deepEqual(tx.writeSetView!(), tx.writeSet());
    const view = writesOf(tx, true);
    const again = writesOf(tx, true);
    const copies = writesOf(tx, false);
    view.forEach(([key, value], i) => {
      assert.equal(again[i]![0], key, "the same arrays each time");
      assert.notEqual(copies[i]![0], key, "writeSet copies keys");
      if (value !== null) assert.notEqual(copies[i]![1], value, "writeSet copies values");
    });
    // What the view shows is what the store holds once applied.
    store.applyTx(1, tx);
    assert.deepEqual(store.get("m", utf8.encode("b")), utf8.encode("2"));
  });

  it("lists maps by name whatever order they were first written in, and applyTx equals apply", async () => {
    const names = ["m", "public:z", "b", "public:c", "é", "a", "public:a"];
    const store = KvStore.open(null);
    const tx = store.begin();
    names.forEach((name, i) => {
      tx.set(name, utf8.encode(`k${i}`), utf8.encode(String(i)));
      // Written again after a later map: still one entry per map.
      if (i > 0) tx.set(names[i - 1]!, utf8.encode(`k${i}b`), utf8.encode(String(-i)));
    });
    const writeSet = tx.writeSet();
    assert.deepEqual(
      writeSet.public.map((m) => m.map),
      ["public:a", "public:c", "public:z"],
    );
    assert.deepEqual(
      writeSet.private.map((m) => m.map),
      ["a", "b", "m", "é"],
    );
    assert.deepEqual(tx.writeSetView!(), writeSet);
    // The same writes through the checked path (apply: canonical order required) and through
    // applyTx (the tx's own records) leave the same state.
    const other = KvStore.open(null);
    other.apply(1, writeSet);
    store.applyTx(1, tx);
    for (const name of names) {
      const rows = (s: KvStore) =>
        [...s.begin().range(name)].map(([k, v]) => [utf8.decode(k), utf8.decode(v)]);
      assert.deepEqual(rows(store), rows(other), name);
    }
    await Promise.all([store.commit(1), other.commit(1)]);
  });

  it("apply with owned keeps the write set's arrays (a Buffer still copied); without, copies them", () => {
    // Changing an array after the apply shows whether the store kept it: callers that hand
    // arrays over never do.
    const kept = { key: utf8.encode("k"), value: utf8.encode("1") };
    const copied = { key: utf8.encode("k"), value: utf8.encode("1") };
    const pooled = Buffer.from("2");
    const ownedStore = KvStore.open(null);
    ownedStore.apply(
      1,
      {
        public: [{ map: "public:p", writes: [[utf8.encode("b"), pooled]] }],
        private: [{ map: "m", writes: [[kept.key, kept.value]] }],
      },
      true,
    );
    const copyingStore = KvStore.open(null);
    copyingStore.apply(1, { public: [], private: [{ map: "m", writes: [[copied.key, copied.value]] }] });
    kept.value[0] = 0x39;
    copied.value[0] = 0x39;
    pooled[0] = 0x39;
    assert.deepEqual(ownedStore.get("m", utf8.encode("k")), utf8.encode("9"), "owned: the array is kept");
    assert.deepEqual(
      ownedStore.get("public:p", utf8.encode("b")),
      utf8.encode("2"),
      "owned: a Buffer is copied",
    );
    assert.deepEqual(copyingStore.get("m", utf8.encode("k")), utf8.encode("1"), "not owned: copied");
  });

  it("apply with owned checks the write set like apply and commits what it kept", async () => {
    const store = KvStore.open(null);
    assert.throws(
      () =>
        store.apply(
          1,
          { public: [], private: [{ map: "public:x", writes: [[utf8.encode("k"), null]] }] },
          true,
        ),
      { code: "LedgerCorrupt" },
    );
    assert.equal(store.appliedVersion, 0, "nothing applied");
    store.apply(
      1,
      { public: [], private: [{ map: "m", writes: [[utf8.encode("k"), utf8.encode("v")]] }] },
      true,
    );
    await store.commit(1);
    assert.deepEqual(store.get("m", utf8.encode("k")), utf8.encode("v"));
  });
});
