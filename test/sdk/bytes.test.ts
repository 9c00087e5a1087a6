/** sdk/bytes.ts: utf8.encode writes exactly what TextEncoder writes, on its fast path and off it. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { utf8 } from "../../sdk/bytes.js";

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
