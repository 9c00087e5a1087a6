/**
 * sdk/bytes.ts: base64url `fromBase64Url` decodes exactly as `atob` does after mapping `-_` to
 * `+/` (the forgiving decode), refuses what it refuses, and round-trips `toBase64Url`;
 * `utf8.encode` writes exactly what TextEncoder writes, on its fast path and off it; `indexOfBytes`
 * finds what `Buffer.indexOf` finds, inside a view's own bytes only.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { describe, it } from "node:test";
import { fromBase64Url, indexOfBytes, toBase64Url, utf8 } from "../../sdk/bytes.js";

/** The previous definition: atob over the standard alphabet. */
function viaAtob(text: string): Uint8Array {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const base64urlText = fc
  .array(fc.integer({ min: 0, max: 63 }), { maxLength: 200 })
  .map((digits) => digits.map((d) => ALPHABET[d]).join(""));

describe("fromBase64Url", () => {
  it("decodes any base64url text as atob does, and refuses the lengths atob refuses", () => {
    fc.assert(
      fc.property(base64urlText, (text) => {
        let expected: Uint8Array | string;
        try {
          expected = viaAtob(text);
        } catch (err) {
          expected = (err as Error).message;
        }
        if (typeof expected === "string") {
          assert.throws(() => fromBase64Url(text), { message: expected });
        } else {
          assert.deepEqual(fromBase64Url(text), expected);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("round-trips toBase64Url", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 150 }), (bytes) => {
        assert.deepEqual(fromBase64Url(toBase64Url(bytes)), bytes);
      }),
    );
  });

  it("refuses characters outside the base64url alphabet, naming the field", () => {
    for (const bad of ["ab+c", "ab/c", "abc=", "ab c", "é", "ab\ncd"])
      assert.throws(() => fromBase64Url(bad, "x-sig"), { message: "x-sig: expected a base64url string" });
  });
});

const encoder = new TextEncoder();

describe("utf8.encode", () => {
  it("equals TextEncoder on any string (short ASCII, non-ASCII, lone surrogates, long)", () => {
    const units = fc.array(
      fc.oneof(
        fc.integer({ min: 0, max: 0x7f }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.constantFrom(0, 0x7f, 0x80, 0xd800, 0xdbff, 0xdc00, 0xdfff),
      ),
      { maxLength: 100 },
    );
    fc.assert(
      fc.property(units, (codes) => {
        const text = String.fromCharCode(...codes);
        const bytes = utf8.encode(text);
        assert.ok(bytes instanceof Uint8Array && !Buffer.isBuffer(bytes));
        assert.deepEqual(bytes, encoder.encode(text));
      }),
      { numRuns: 2000 },
    );
    for (const text of ["", "a", "x".repeat(64), "x".repeat(65), `${"x".repeat(63)}é`, "\u0000"]) {
      assert.deepEqual(utf8.encode(text), encoder.encode(text), text);
    }
  });
});

describe("indexOfBytes", () => {
  /** Buffer.indexOf on the same bytes: the search node code did before (a Buffer per call). */
  const viaBuffer = (h: Uint8Array, n: Uint8Array) =>
    Buffer.from(h.buffer, h.byteOffset, h.byteLength).indexOf(
      Buffer.from(n.buffer, n.byteOffset, n.byteLength),
    );
  // Few distinct bytes, so that partial matches and repeated prefixes are common.
  const bytes = (max: number) => fc.uint8Array({ maxLength: max, min: 0, max: 3 });

  it("finds what Buffer.indexOf finds, on views anywhere in their buffer", () => {
    fc.assert(
      fc.property(bytes(40), bytes(5), fc.nat(8), fc.nat(8), (inner, needle, before, after) => {
        // The haystack is a view with bytes around it that must never count.
        const whole = new Uint8Array(before + inner.length + after).fill(1);
        whole.set(inner, before);
        const haystack = whole.subarray(before, before + inner.length);
        assert.equal(indexOfBytes(haystack, needle), viaBuffer(haystack, needle));
      }),
      { numRuns: 2000 },
    );
  });

  it("hostile cases: at the very end, cut by the end, longer than the haystack, empty", () => {
    const b = (...xs: number[]) => Uint8Array.from(xs);
    assert.equal(indexOfBytes(b(1, 2, 3, 4), b(3, 4)), 2, "at the end");
    assert.equal(indexOfBytes(b(1, 2, 3), b(3, 4)), -1, "cut by the end");
    assert.equal(indexOfBytes(b(1, 1, 1, 2), b(1, 1, 2)), 1, "a repeated prefix");
    assert.equal(indexOfBytes(b(1), b(1, 1)), -1, "longer than the haystack");
    assert.equal(indexOfBytes(b(), b(1)), -1, "empty haystack");
    assert.equal(indexOfBytes(b(), b()), 0, "empty needle");
    assert.equal(indexOfBytes(b(5, 6), b()), 0, "empty needle");
    // The needle continues past the view into its buffer: not a match.
    const whole = b(9, 9, 7, 8);
    assert.equal(indexOfBytes(whole.subarray(0, 3), b(7, 8)), -1, "past the view's end");
    assert.equal(indexOfBytes(whole.subarray(1, 4), b(9, 9)), -1, "before the view's start");
    assert.equal(indexOfBytes(whole.subarray(1, 4), b(9, 7)), 0, "at the view's start");
  });
});
