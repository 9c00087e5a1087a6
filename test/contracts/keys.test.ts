import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { fromHex, isHex, toHex, utf8Decode, utf8Encode } from "../../contracts/api/bytes.js";
import {
  compareKeys,
  decodeKey,
  encodeKey,
  encodeKeyPrefix,
  loneSurrogate,
  prefixRange,
} from "../../contracts/api/keys.js";

const utf8Order = (a: string, b: string) =>
  Math.sign(Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const interesting = fc.constantFrom(
  0,
  -0,
  1,
  -1,
  0.5,
  -0.5,
  1e-300,
  -1e-300,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  2 ** 53,
  -(2 ** 53),
);
const number = fc.oneof(finite, interesting, fc.integer());

describe("key encoding", () => {
  it("orders number keys numerically (bytewise order of the encoding = numeric order)", () => {
    fc.assert(
      fc.property(number, number, (a, b) => {
        const ea = encodeKey("number", a);
        const eb = encodeKey("number", b);
        assert.equal(utf8Order(ea, eb), Math.sign(a - b) || 0, `${a} vs ${b}: ${ea} vs ${eb}`);
        assert.equal(compareKeys(ea, eb), utf8Order(ea, eb));
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips number keys, with -0 the same key as 0", () => {
    fc.assert(
      fc.property(number, (n) => {
        const encoded = encodeKey("number", n);
        assert.match(encoded, /^[0-9a-f]{16}$/);
        assert.equal(decodeKey("number", encoded), n === 0 ? 0 : n);
      }),
    );
    assert.equal(encodeKey("number", -0), encodeKey("number", 0));
    assert.ok(Object.is(decodeKey("number", encodeKey("number", -0)), 0));
  });

  it("encodes number keys exactly as stored (the big-endian double, sign bit or every bit flipped)", () => {
    // Stored keys: any change of this text is a change of every number-keyed map's keys.
    const vectors: Array<[number, string]> = [
      [0, "8000000000000000"],
      [1, "bff0000000000000"],
      [-1, "400fffffffffffff"],
      [0.5, "bfe0000000000000"],
      [2 ** 32, "c1f0000000000000"],
      [2 ** 32 - 1, "c1efffffffe00000"],
      [5e-324, "8000000000000001"],
      [-5e-324, "7ffffffffffffffe"],
      [123456789, "c19d6f3454000000"],
      [-Number.MAX_VALUE, "0010000000000000"],
      [Number.MAX_VALUE, "ffefffffffffffff"],
    ];
    for (const [n, encoded] of vectors) assert.equal(encodeKey("number", n), encoded, String(n));
  });

  it("sorts a concrete list of numbers as numbers", () => {
    const values = [3, -1.5, 2 ** 60, 0, -0.25, 1e-300, -1e300, 42, 7.5];
    const byKey = [...values].sort((a, b) => utf8Order(encodeKey("number", a), encodeKey("number", b)));
    assert.deepEqual(
      byKey,
      [...values].sort((a, b) => a - b),
    );
  });

  it("refuses non-finite and non-number keys for number maps, naming the field", () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      assert.throws(
        () => encodeKey("number", bad, "ids.get(key)"),
        /ids\.get\(key\): expected a finite number, got (NaN|Infinity|-Infinity)/,
      );
    }
    assert.throws(() => encodeKey("number", "1"), /expected a finite number, got string/);
    assert.throws(() => encodeKey("string", 1), /expected a string, got number/);
    assert.throws(() => decodeKey("number", "xyz"), /not an encoded number key/);
  });

  it("keeps string keys as they are, ordered by code point like their UTF-8 bytes", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (a, b) => {
        assert.equal(encodeKey("string", a), a);
        assert.equal(decodeKey("string", a), a);
        assert.equal(compareKeys(a, b), utf8Order(a, b));
      }),
      { numRuns: 2000 },
    );
    // UTF-16 order and UTF-8 order disagree here: U+FFFF sorts before U+1F600 in UTF-8.
    assert.equal(compareKeys("\uffff", "\u{1f600}"), -1);
    assert.equal("\uffff" < "\u{1f600}", false);
  });

  it("refuses string keys with lone surrogates (UTF-8 cannot carry them)", () => {
    assert.throws(
      () => encodeKey("string", "a\ud800b", "accounts.set(key)"),
      /accounts\.set\(key\): lone surrogate at index 1/,
    );
    assert.throws(() => encodeKey("string", "\udc00"), /lone surrogate at index 0/);
    assert.equal(loneSurrogate("ok \u{1f600}"), -1);
    assert.equal(loneSurrogate("x\ud83d"), 1);
  });
});

describe("bytes helpers", () => {
  it("hex round-trips and refuses malformed hex", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        assert.equal(toHex(bytes), Buffer.from(bytes).toString("hex"));
        assert.deepEqual(fromHex(toHex(bytes)), bytes);
        assert.deepEqual(fromHex(toHex(bytes).toUpperCase()), bytes);
      }),
    );
    for (const bad of ["abc", "zz", "0x00", " 00"]) {
      assert.equal(isHex(bad), false);
      assert.throws(() => fromHex(bad, "publicKey"), /publicKey: expected an even-length hex string/);
    }
  });

  it("encodes UTF-8 exactly as TextEncoder does, lone surrogates included", () => {
    const encoder = new TextEncoder();
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        assert.deepEqual(utf8Encode(text), encoder.encode(text));
      }),
      { numRuns: 1000 },
    );
  });

  it("decodes UTF-8 exactly as a fatal TextDecoder does", () => {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const decode = (bytes: Uint8Array) => {
      try {
        return decoder.decode(bytes);
      } catch {
        return undefined;
      }
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 16 }),
          fc.string({ unit: "grapheme" }).map((s) => new TextEncoder().encode(s)),
        ),
        (bytes) => {
          const expected = decode(bytes);
          if (expected === undefined)
            assert.throws(() => utf8Decode(bytes, "msg"), /msg: (invalid|truncated) UTF-8/);
          else assert.equal(utf8Decode(bytes), expected);
        },
      ),
      { numRuns: 3000 },
    );
    for (const bad of [
      [0xc0, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xe2, 0x82],
    ]) {
      assert.throws(() => utf8Decode(new Uint8Array(bad)), /UTF-8/);
    }
  });
});

describe("tuple keys", () => {
  const KIND = ["string", "number"] as const;
  const text = fc.string({
    unit: fc.constantFrom("\u0000", "\u0001", "\u0002", "a", "b", "é", "\u{1f600}"),
    maxLength: 4,
  });
  const tuple = fc.tuple(text, number);
  const compareTuple = (a: [string, number], b: [string, number]) =>
    compareKeys(a[0], b[0]) || Math.sign((a[1] === 0 ? 0 : a[1]) - (b[1] === 0 ? 0 : b[1])) || 0;

  it("orders component by component, round-trips, and refuses what does not fit", () => {
    fc.assert(
      fc.property(tuple, tuple, (a, b) => {
        const ea = encodeKey(KIND, a);
        const eb = encodeKey(KIND, b);
        assert.equal(utf8Order(ea, eb), compareTuple(a, b), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
        assert.deepEqual(decodeKey(KIND, ea), [a[0], a[1] === 0 ? 0 : a[1]]);
      }),
      { numRuns: 2000 },
    );
    assert.throws(
      () => encodeKey(KIND, ["a"], "k"),
      /k: expected a tuple of 2 \(string, number\), got 1 component/,
    );
    assert.throws(() => encodeKey(KIND, ["a", "1"], "k"), /k\[1\]: expected a finite number, got string/);
    assert.throws(() => decodeKey(KIND, "a"), /not an encoded tuple key/);
  });

  it("puts every key with given leading components in one prefix range, and no other", () => {
    fc.assert(
      fc.property(tuple, text, (key, first) => {
        const start = encodeKeyPrefix(KIND, [first]);
        const { from, to } = prefixRange(start);
        const encoded = encodeKey(KIND, key);
        const inside = compareKeys(encoded, from) >= 0 && to !== undefined && compareKeys(encoded, to) < 0;
        assert.equal(inside, key[0] === first, `${JSON.stringify(key)} under ${JSON.stringify(first)}`);
        assert.equal(encoded.startsWith(start), key[0] === first);
      }),
      { numRuns: 2000 },
    );
    assert.deepEqual(prefixRange(""), { from: "", to: undefined });
    assert.throws(() => encodeKeyPrefix(KIND, ["a", 1, 2]), /at most 2 leading components/);
  });
});
