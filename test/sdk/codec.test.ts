import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decode, encode, encodeCanonical } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";

const jsonValue = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

describe("codec", () => {
  it("round-trips JSON-like values and bytes", () => {
    fc.assert(
      fc.property(jsonValue, fc.uint8Array({ maxLength: 64 }), (value, bytes) => {
        assert.deepEqual(decode(encode(value)), value);
        const back = decode<{ b: Uint8Array }>(encode({ b: bytes }));
        assert.deepEqual(new Uint8Array(back.b), bytes);
      }),
    );
  });

  it("canonical encoding ignores key insertion order", () => {
    assert.deepEqual(
      encodeCanonical({ b: 1, a: { d: 2, c: 3 } }),
      encodeCanonical({ a: { c: 3, d: 2 }, b: 1 }),
    );
    assert.notDeepEqual(encode({ b: 1, a: 2 }), encode({ a: 2, b: 1 }));
  });

  it("rejects garbage, truncation, trailing bytes and empty input with MalformedEncoding", () => {
    const good = encode({ hello: "world", n: [1, 2, 3] });
    const bad = [
      new Uint8Array([]),
      good.subarray(0, good.length - 1),
      new Uint8Array([...good, 0x01]),
      new Uint8Array([0xc1]),
      new Uint8Array([0x92, 0x01]),
      new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff]),
    ];
    for (const bytes of bad) {
      assert.throws(
        () => decode(bytes, "envelope"),
        (err) => isTreatyError(err, "MalformedEncoding") && /envelope/.test(err.message),
      );
    }
  });

  it("never decodes a __proto__ key into a prototype", () => {
    const value = decode<Record<string, unknown>>(encode(JSON.parse('{"__proto__": {"polluted": true}}')));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
  });
});

describe("codec plain-data rule", () => {
  it("rejects extension types and nesting beyond the depth cap", () => {
    const timestamp = new Uint8Array([0xd6, 0xff, 0, 0, 0, 1]);
    assert.throws(
      () => decode(timestamp),
      (e) => isTreatyError(e, "MalformedEncoding"),
    );
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    assert.throws(
      () => decode(encode(deep)),
      (e) => isTreatyError(e, "MalformedEncoding") && /deeper/.test(e.message),
    );
  });
});
