import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { describeValue, jsonProblem, MAX_JSON_DEPTH } from "../../contracts/api/json.js";

describe("jsonProblem", () => {
  it("accepts what JSON carries faithfully", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const parsed: unknown = JSON.parse(JSON.stringify(value));
        assert.equal(jsonProblem(parsed, "value"), undefined);
      }),
    );
    assert.equal(jsonProblem(Object.create(null), "value"), undefined);
    assert.equal(jsonProblem(-0, "value"), undefined);
  });

  it("names the path of the first value JSON would lose", () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const sparse = [1, 2, 3];
    delete sparse[1];
    const extra = Object.assign([1, 2], { note: "x" });
    const getter = Object.defineProperty({}, "x", { get: () => 1, enumerable: true });
    const hidden = Object.defineProperty({}, "x", { value: 1, enumerable: false });
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /^value: undefined is not JSON/],
      [{ a: { b: [1, Number.NaN] } }, /^value\.a\.b\[1\]: NaN is not JSON$/],
      [{ "odd key": Number.POSITIVE_INFINITY }, /^value\["odd key"\]: Infinity is not JSON$/],
      [{ f: () => 1 }, /^value\.f: a function is not JSON$/],
      [{ n: 10n }, /^value\.n: a bigint is not JSON/],
      [{ s: Symbol("x") }, /^value\.s: a symbol is not JSON$/],
      [{ u: undefined }, /^value\.u: undefined is not JSON/],
      [cycle, /^value\.self: a cycle is not JSON$/],
      [new Map(), /^value: a Map is not JSON/],
      [{ d: new Date(0) }, /^value\.d: a Date is not JSON/],
      [new Uint8Array(2), /^value: a Uint8Array is not JSON/],
      [new (class Account {})(), /^value: an Account is not JSON/],
      [sparse, /^value\[1\]: a hole in an array is not JSON$/],
      [extra, /^value: an array with extra properties is not JSON$/],
      [getter, /^value\.x: a getter is not JSON$/],
      [hidden, /^value\.x: a non-enumerable property is not JSON$/],
      [{ [Symbol("k")]: 1 }, /^value: symbol-keyed properties are not JSON$/],
    ];
    for (const [value, expected] of cases)
      assert.match(jsonProblem(value, "value") ?? "(accepted)", expected);
  });

  it("refuses nesting deeper than MAX_JSON_DEPTH without overflowing the stack", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    assert.match(
      jsonProblem(deep, "result") ?? "",
      new RegExp(`nesting deeper than ${MAX_JSON_DEPTH} levels`),
    );
    let ok: unknown = 1;
    for (let i = 0; i < MAX_JSON_DEPTH; i++) ok = { v: ok };
    assert.equal(jsonProblem(ok, "result"), undefined);
  });

  it("describes values for messages without throwing", () => {
    assert.equal(describeValue("ten"), '"ten"');
    assert.equal(describeValue("x".repeat(100)), JSON.stringify(`${"x".repeat(40)}…`));
    assert.equal(describeValue(1.5), "1.5");
    assert.equal(describeValue(null), "null");
    assert.equal(describeValue(undefined), "nothing");
    assert.equal(describeValue([1]), "an array");
    assert.equal(describeValue({}), "an object");
    const hostile = new Proxy(
      {},
      {
        get: () => {
          throw new Error("boom");
        },
      },
    );
    assert.equal(describeValue(hostile), "an object");
  });
});
