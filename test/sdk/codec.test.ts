import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decode, decodeStrict, encode, encodeCanonical } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";

const withoutProtoKey = (value: unknown): boolean =>
  typeof value !== "object" ||
  value === null ||
  (!Object.hasOwn(value, "__proto__") && Object.values(value).every(withoutProtoKey));
// Without `__proto__` keys: msgpackr renames them on decode and decodeStrict refuses them (both
// tested on their own below).
const jsonValue = fc
  .jsonValue({ maxDepth: 4 })
  .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
  .filter(withoutProtoKey);

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

/** Hand-built MessagePack: a fixstr, and a map header of each width. */
const fixstr = (text: string): number[] => {
  const bytes = [...new TextEncoder().encode(text)];
  assert.ok(bytes.length < 32);
  return [0xa0 + bytes.length, ...bytes];
};
const fixmap = (entries: number): number[] => [0x80 + entries];
const map16 = (entries: number): number[] => [0xde, 0, entries];
const map32 = (entries: number): number[] => [0xdf, 0, 0, 0, entries];

describe("decodeStrict (untrusted signed bodies)", () => {
  it("decodes everything the codec encodes: every type, every width, keys of every length", () => {
    fc.assert(
      fc.property(jsonValue, fc.uint8Array({ maxLength: 300 }), (value, bytes) => {
        const wrapped = { value, bytes, list: [value, bytes, 1.5, -(2 ** 40), 2 ** 53 - 1, -1, 300, 70_000] };
        assert.deepEqual(decodeStrict(encode(wrapped)), decode(encode(wrapped)));
      }),
    );
    // The encoder writes maps of at most 2^16-1 entries (map16); arrays up to array32.
    const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i % 3 === 0 ? [] : {}]));
    const long = Array.from({ length: 70_000 }, (_, i) => ({ [`k${i % 7}`]: i }));
    const keys = { ["k".repeat(40)]: 1, ["l".repeat(300)]: 2, ["m".repeat(70_000)]: 3, "": 4, é: 5 };
    for (const value of [wide, long, keys, { a: new Uint8Array(70_000) }, [[[{}]]], {}]) {
      assert.deepEqual(decodeStrict(encode(value)), decode(encode(value)));
    }
  });

  // Each body is valid MessagePack that plain decode accepts (keeping one value), so the bytes a
  // caller signed could say two things.
  const hostile: Array<[string, number[], RegExp]> = [
    [
      "a key twice",
      [...fixmap(2), ...fixstr("nonce"), 1, ...fixstr("nonce"), 2],
      /key "nonce" appears twice/,
    ],
    [
      "a key twice, once as fixstr and once as str8",
      [...fixmap(2), ...fixstr("a"), 1, 0xd9, 1, 0x61, 2],
      /key "a" appears twice/,
    ],
    ["a key twice in a map16", [...map16(2), ...fixstr("a"), 1, ...fixstr("a"), 2], /key "a" appears twice/],
    ["a key twice in a map32", [...map32(2), ...fixstr("a"), 1, ...fixstr("a"), 2], /key "a" appears twice/],
    [
      "a key twice in a map nested in an array, after binary and float values",
      [
        ...fixmap(1),
        ...fixstr("args"),
        0x92,
        0xc4,
        2,
        9,
        9,
        ...fixmap(3),
        ...fixstr("f"),
        0xcb,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        ...fixstr("x"),
        1,
        ...fixstr("x"),
        2,
      ],
      /key "x" appears twice/,
    ],
    ['the integer 1 and the string "1"', [...fixmap(2), 0x01, 1, ...fixstr("1"), 2], /not a string/],
    ["a key that is not UTF-8", [...fixmap(2), 0xa1, 0xff, 1, 0xa1, 0xfe, 2], /not valid UTF-8/],
    [
      "__proto__ (decoded as __proto_)",
      [...fixmap(2), ...fixstr("__proto__"), 1, ...fixstr("__proto_"), 2],
      /"__proto__" is not allowed/,
    ],
    ['a nil key and the string "null"', [...fixmap(2), 0xc0, 1, ...fixstr("null"), 2], /not a string/],
  ];
  for (const [name, bytes, message] of hostile) {
    it(`refuses ${name} with MalformedEncoding naming it`, () => {
      const encoded = new Uint8Array(bytes);
      assert.doesNotThrow(() => decode(encoded), "plain decode accepts it: that is the ambiguity");
      assert.throws(
        () => decodeStrict(encoded, "body"),
        (e) => isTreatyError(e, "MalformedEncoding") && /^body: /.test(e.message) && message.test(e.message),
      );
    });
  }

  it("refuses a key twice deep in the value, and reports truncation as the decoder does", () => {
    let deep = [...fixmap(2), ...fixstr("k"), 1, ...fixstr("k"), 2];
    for (let i = 0; i < 60; i++) deep = [...fixmap(1), ...fixstr(`d${i}`), ...deep];
    assert.throws(
      () => decodeStrict(new Uint8Array(deep)),
      (e) => isTreatyError(e, "MalformedEncoding") && /key "k" appears twice/.test(e.message),
    );
    const good = encode({ a: 1, b: "two" });
    assert.throws(
      () => decodeStrict(good.subarray(0, good.length - 1)),
      (e) => isTreatyError(e, "MalformedEncoding") && /not valid MessagePack/.test(e.message),
    );
  });
});
