/**
 * runtime/bytes.ts `indexOfBytes`: finds what `Buffer.indexOf` finds on a Buffer copy, inside a
 * view's own bytes only (the bytes around a view never count), and on a contract-sized entry of
 * near-matches.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { describe, it } from "node:test";
import { indexOfBytes } from "../../runtime/bytes.js";

describe("indexOfBytes", () => {
  /** Buffer.indexOf on copies of the bytes: no view, no offset to get wrong. */
  const viaBuffer = (h: Uint8Array, n: Uint8Array) => Buffer.from(h).indexOf(Buffer.from(n));
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

  it("a write-limit-sized run of near-matches, the needle only at its end or nowhere", () => {
    const needle = new TextEncoder().encode("public:gov.");
    const hay = new Uint8Array(960 * 1024).fill(0x70); // "ppp…": every byte starts a candidate
    assert.equal(indexOfBytes(hay, needle), -1);
    hay.set(needle, hay.length - needle.length);
    assert.equal(indexOfBytes(hay, needle), hay.length - needle.length);
    assert.equal(indexOfBytes(hay.subarray(0, hay.length - 1), needle), -1, "cut by the view's end");
  });
});
