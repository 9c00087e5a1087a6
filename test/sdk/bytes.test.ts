/**
 * sdk/bytes.ts: base64url `fromBase64Url` decodes exactly as `atob` does after mapping `-_` to
 * `+/` (the forgiving decode), refuses what it refuses, and round-trips `toBase64Url`;
 * `utf8.encode` writes exactly what TextEncoder writes, on its fast path and off it.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { describe, it } from "node:test";
import { fromBase64Url, toBase64Url, utf8 } from "../../sdk/bytes.js";

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
