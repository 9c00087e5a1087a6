import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ApiError, contract, map, method, t } from "../../contracts/api/index.js";
import { testContract, user } from "../../contracts/testing/index.js";

const words = map<string, unknown>("words");
const numbers = map<number, string>("numbers", { key: "number" });
const shared = map<string, string>("shared", { public: true });

const bounds = {
  from: t.optional(t.number()),
  to: t.optional(t.number()),
  reverse: t.optional(t.boolean()),
  limit: t.optional(t.integer({ minimum: 0 })),
};

function rangeOptions(a: { from?: number; to?: number; reverse?: boolean; limit?: number }) {
  const options: { from?: number; to?: number; reverse?: boolean; limit?: number } = {};
  if (a.from !== undefined) options.from = a.from;
  if (a.to !== undefined) options.to = a.to;
  if (a.reverse !== undefined) options.reverse = a.reverse;
  if (a.limit !== undefined) options.limit = a.limit;
  return options;
}

const kv = contract({
  setWord: method({
    mode: "readwrite",
    auth: "users",
    args: { key: t.string(), value: t.any() },
    run: ({ key, value }) => words.set(key, value),
  }),
  getWord: method({
    mode: "readonly",
    auth: "users",
    args: { key: t.string() },
    run: ({ key }) => ({ has: words.has(key), value: words.get(key) ?? null }),
  }),
  deleteWord: method({
    mode: "readwrite",
    auth: "users",
    args: { key: t.string() },
    run: ({ key }) => words.delete(key),
  }),
  wordKeys: method({ mode: "readonly", auth: "users", run: () => words.keys() }),
  putNumbers: method({
    mode: "readwrite",
    auth: "users",
    args: { keys: t.array(t.number()) },
    run: ({ keys }) => {
      for (const k of keys) numbers.set(k, `v${k}`);
    },
  }),
  numberKeys: method({
    mode: "readonly",
    auth: "users",
    args: bounds,
    run: (a) => numbers.keys(rangeOptions(a)),
  }),
  numberEntries: method({
    mode: "readonly",
    auth: "users",
    args: bounds,
    run: (a) => [...numbers.range(rangeOptions(a))],
  }),
  writeThenScan: method({
    mode: "readwrite",
    auth: "users",
    args: { add: t.array(t.number()), remove: t.array(t.number()) },
    run: ({ add, remove }) => {
      for (const k of add) numbers.set(k, "new");
      for (const k of remove) numbers.delete(k);
      return numbers.keys();
    },
  }),
  firstAndStop: method({
    mode: "readonly",
    auth: "users",
    run: () => {
      for (const [key] of numbers.range()) return key;
      return null;
    },
  }),
  setNaN: method({ mode: "readwrite", auth: "users", run: () => words.set("k", { nested: [Number.NaN] }) }),
  setBadKey: method({
    mode: "readwrite",
    auth: "users",
    run: () => numbers.set(Number.POSITIVE_INFINITY, "x"),
  }),
  badLimit: method({ mode: "readonly", auth: "users", run: () => numbers.keys({ limit: -1 }) }),
  setShared: method({
    mode: "readwrite",
    auth: "users",
    args: { value: t.string() },
    run: ({ value }) => shared.set("k", value),
  }),
  swallowRefusal: method({
    mode: "readwrite",
    auth: "users",
    args: { key: t.string() },
    run: ({ key }) => {
      try {
        words.set(key, 1);
      } catch {
        return "caught";
      }
      return "stored";
    },
  }),
  setThenFail: method({
    mode: "readwrite",
    auth: "users",
    run: () => {
      words.set("partial", 1);
      throw new Error("after the write");
    },
  }),
});

const alice = { caller: user("alice") };

describe("typed maps over the stand-in host", () => {
  it("get, has, set, delete, with JSON values", () => {
    const c = testContract(kv, { name: "kv" });
    assert.deepEqual(c.call("getWord", { key: "a" }, alice), {
      ok: true,
      result: { has: false, value: null },
      events: [],
      writes: [],
      txid: null,
    });
    const set = c.call("setWord", { key: "a", value: { n: [1, "two", null] } }, alice);
    assert.ok(set.ok);
    assert.deepEqual(set.writes, [
      { map: "words", key: "a", deleted: false, value: { n: [1, "two", null] } },
    ]);
    assert.deepEqual(c.call("getWord", { key: "a" }, alice).ok && c.call("getWord", { key: "a" }, alice), {
      ok: true,
      result: { has: true, value: { n: [1, "two", null] } },
      events: [],
      writes: [],
      txid: null,
    });
    const deleted = c.call("deleteWord", { key: "a" }, alice);
    assert.deepEqual(deleted.writes, [{ map: "words", key: "a", deleted: true, value: undefined }]);
    assert.equal(c.state.get("words", "a"), undefined);
  });

  it("orders string keys by code point, as the store does", () => {
    const c = testContract(kv, { name: "kv" });
    for (const key of ["b", "\u{1f600}", "\uffff", "a", "", "ab"])
      c.call("setWord", { key, value: 1 }, alice);
    const r = c.call("wordKeys", {}, alice);
    assert.deepEqual(r.ok && r.result, ["", "a", "ab", "b", "\uffff", "\u{1f600}"]);
  });

  it("ranges over number keys like a sorted array (from inclusive, to exclusive, reverse, limit)", () => {
    const c = testContract(kv, { name: "kv" });
    const keys = [-1e9, -3.5, -1, -0.25, 0, 1e-9, 0.5, 1, 2, 3, 10, 99.5, 1e12];
    assert.ok(c.call("putNumbers", { keys: [...keys].reverse() }, alice).ok);
    const option = fc.option(fc.constantFrom(...keys, -2, 0.75, 50, 1e13), { nil: undefined });
    fc.assert(
      fc.property(
        option,
        option,
        fc.option(fc.boolean(), { nil: undefined }),
        fc.option(fc.nat(20), { nil: undefined }),
        (from, to, reverse, limit) => {
          const args = rangeOptions({ from, to, reverse, limit });
          let expected = keys.filter(
            (k) => (from === undefined || k >= from) && (to === undefined || k < to),
          );
          if (reverse) expected.reverse();
          if (limit !== undefined) expected = expected.slice(0, limit);
          const r = c.call("numberKeys", args, alice);
          assert.deepEqual(r.ok && r.result, expected);
        },
      ),
      { numRuns: 300 },
    );
    const entries = c.call("numberEntries", { from: 2, limit: 2 }, alice);
    assert.deepEqual(entries.ok && entries.result, [
      [2, "v2"],
      [3, "v3"],
    ]);
  });

  it("pages through large maps (more than one host page of 1000)", () => {
    const c = testContract(kv, { name: "kv" });
    const keys = Array.from({ length: 2500 }, (_, i) => i * 7 - 5000);
    assert.ok(c.call("putNumbers", { keys }, alice).ok);
    const all = c.call("numberKeys", {}, alice);
    assert.deepEqual(all.ok && all.result, keys);
    const backwards = c.call("numberKeys", { reverse: true, from: -100, limit: 1500 }, alice);
    assert.deepEqual(
      backwards.ok && backwards.result,
      keys
        .filter((k) => k >= -100)
        .reverse()
        .slice(0, 1500),
    );
    const first = c.call("firstAndStop", {}, alice);
    assert.equal(first.ok && first.result, -5000);
  });

  it("sees the call's own writes and deletes while scanning", () => {
    const c = testContract(kv, { name: "kv" });
    c.call("putNumbers", { keys: [1, 2, 3] }, alice);
    const r = c.call("writeThenScan", { add: [0, 2.5, 4], remove: [2, 9] }, alice);
    assert.deepEqual(r.ok && r.result, [0, 1, 2.5, 3, 4]);
  });

  it("reports values and keys JSON or the key kind cannot carry, naming the map and path", () => {
    const c = testContract(kv, { name: "kv" });
    const nan = c.call("setNaN", {}, alice);
    assert.deepEqual(!nan.ok && nan.error, {
      code: "ContractFault",
      message: 'words.set("k"): value.nested[0]: NaN is not JSON',
    });
    const badKey = c.call("setBadKey", {}, alice);
    assert.deepEqual(!badKey.ok && badKey.error, {
      code: "ContractFault",
      message: "numbers.set(key): expected a finite number, got Infinity",
    });
    const badLimit = c.call("badLimit", {}, alice);
    assert.deepEqual(!badLimit.ok && badLimit.error, {
      code: "ContractFault",
      message: "numbers.range: limit must be a non-negative integer, got -1",
    });
  });

  it("refuses bad map names when the map is declared", () => {
    for (const name of ["", "has space", "gov.members", "public:x", "1abc", "a".repeat(65)]) {
      assert.throws(
        () => map(name),
        (err: unknown) =>
          err instanceof ApiError && err.code === "InvalidContract" && /map\(name\)/.test(err.message),
      );
    }
    assert.throws(
      () => map<number, string>("n", { key: "date" as "number" }),
      /key must be "string", "number" or a tuple of 1 to 8 of them/,
    );
  });

  it("keeps public and private maps apart, both namespaced by contract", () => {
    const c = testContract(kv, { name: "kv" });
    c.call("setShared", { value: "hello" }, alice);
    c.call("setWord", { key: "k", value: "private" }, alice);
    assert.deepEqual(c.state.maps(), ["public:shared", "words"]);
    assert.deepEqual(c.store.maps(), ["kv.words", "public:kv.shared"]);
    assert.equal(c.state.get("public:shared", "k"), "hello");
  });

  it("enforces key and value caps; a refusal fails the call even when the contract catches it", () => {
    const c = testContract(kv, { name: "kv", limits: { maxKeyBytes: 8, maxValueBytes: 16 } });
    const bigKey = c.call("swallowRefusal", { key: "k".repeat(9) }, alice);
    assert.equal(!bigKey.ok && bigKey.error.code, "KeyTooLarge");
    assert.equal(c.state.get("words", "k".repeat(9)), undefined);
    const bigValue = c.call("setWord", { key: "k", value: "v".repeat(20) }, alice);
    assert.deepEqual(!bigValue.ok && bigValue.error, {
      code: "ValueTooLarge",
      message: 'kvSet("words") value: 22 bytes, the limit is 16',
    });
    assert.equal(c.call("swallowRefusal", { key: "ok" }, alice).ok, true);
  });

  it("writes nothing when a call fails after writing", () => {
    const c = testContract(kv, { name: "kv" });
    const r = c.call("setThenFail", {}, alice);
    assert.equal(!r.ok && r.error.code, "ContractFault");
    assert.match(!r.ok ? r.error.message : "", /Error: after the write/);
    assert.ok(!r.ok && r.cause instanceof Error);
    assert.equal(c.state.get("words", "partial"), undefined);
    assert.deepEqual(c.state.dump(), {});
  });
});

interface Transfer {
  readonly to: string;
}
/** A supply chain's history: one entry per (product, sequence number). */
const transfers = map<[string, number], Transfer>("transfers", { key: ["string", "number"] });

export const chain = contract({
  record: method({
    mode: "readwrite",
    auth: "users",
    args: { product: t.string(), seq: t.integer(), to: t.string() },
    run: ({ product, seq, to }) => transfers.set([product, seq], { to }),
  }),
  history: method({
    mode: "readonly",
    auth: "users",
    args: { product: t.string(), reverse: t.optional(t.boolean()), fromSeq: t.optional(t.integer()) },
    run: ({ product, reverse, fromSeq }) =>
      [
        ...transfers.range({
          prefix: [product],
          reverse: reverse === true,
          ...(fromSeq !== undefined && { from: [product, fromSeq] }),
        }),
      ].map(([[, seq], { to }]) => `${seq}:${to}`),
  }),
  products: method({
    mode: "readonly",
    auth: "users",
    args: { from: t.optional(t.string()), to: t.optional(t.string()) },
    run: ({ from, to }) => [
      ...new Set(
        transfers
          .keys({ ...(from !== undefined && { from: [from] }), ...(to !== undefined && { to: [to] }) })
          .map(([p]) => p),
      ),
    ],
  }),
  badPrefix: method({
    mode: "readonly",
    auth: "users",
    run: () => transfers.keys({ prefix: [1 as unknown as string] }),
  }),
});

describe("tuple keys", () => {
  it("lists one product's transfers in order with a prefix range, forward and reverse", () => {
    const c = testContract(chain, { name: "chain" });
    const rows: Array<[string, number, string]> = [
      ["widget", 10, "carol"],
      ["gadget", 1, "dan"],
      ["widget", 2, "bob"],
      ["widget\u0000x", 1, "mallory"],
      ["widget", -1, "acme"],
      ["widgets", 1, "eve"],
      ["widge", 5, "fay"],
    ];
    for (const [product, seq, to] of rows) assert.ok(c.call("record", { product, seq, to }, alice).ok);
    const history = c.call("history", { product: "widget" }, alice);
    assert.deepEqual(history.ok && history.result, ["-1:acme", "2:bob", "10:carol"]);
    const reversed = c.call("history", { product: "widget", reverse: true }, alice);
    assert.deepEqual(reversed.ok && reversed.result, ["10:carol", "2:bob", "-1:acme"]);
    const later = c.call("history", { product: "widget", fromSeq: 2 }, alice);
    assert.deepEqual(later.ok && later.result, ["2:bob", "10:carol"]);
    const products = c.call("products", { from: "widget", to: "widgets" }, alice);
    assert.deepEqual(products.ok && products.result, ["widget", "widget\u0000x"]);
    const typed = c.map(transfers).entries({ prefix: ["widget"], limit: 1 });
    assert.deepEqual(typed, [[["widget", -1], { to: "acme" }]]);
    const bad = c.call("badPrefix", {}, alice);
    assert.deepEqual(!bad.ok && bad.error, {
      code: "ContractFault",
      message: "transfers.range prefix[0]: expected a string, got number",
    });
  });

  it("refuses a tuple key of the wrong shape, naming the component", () => {
    assert.throws(
      () =>
        map<[string, number], string>("t", { key: ["string", "date"] as unknown as ["string", "number"] }),
      /key must be "string", "number" or a tuple of 1 to 8 of them/,
    );
    const c = testContract(chain, { name: "chain" });
    assert.throws(() => c.map(transfers).get(["a"] as unknown as [string, number]), /expected a tuple of 2/);
  });
});
