/** The store's byte helpers: hex identity of keys (both encoders), copies and joins. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { copyBytes, hexOf, joinBytes } from "../../runtime/kv/bytes.js";

describe("hexOf", () => {
  it("is lowercase hex of the bytes at every length, for views inside larger buffers too", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(16), (bytes, pad) => {
        const want = Buffer.from(bytes).toString("hex");
        assert.equal(hexOf(bytes), want);
        const host = new Uint8Array(bytes.length + 2 * pad).fill(0xee);
        const view = host.subarray(pad, pad + bytes.length);
        view.set(bytes);
        assert.equal(hexOf(view), want);
      }),
    );
  });

  it("orders as the bytes do across the short-key and long-key encoders", () => {
    const short = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 0xff);
    const long = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 0xff, 0);
    assert.ok(hexOf(short) < hexOf(long));
    assert.ok(hexOf(Uint8Array.of(0xab).subarray(0, 0)) === "");
  });
});

describe("copyBytes and joinBytes", () => {
  it("make fresh arrays with the same contents", () => {
    const source = Uint8Array.of(1, 2, 3);
    const copy = copyBytes(source);
    source[0] = 9;
    assert.deepEqual([...copy], [1, 2, 3]);
    assert.deepEqual([...joinBytes(Uint8Array.of(1), Uint8Array.of(2, 3))], [1, 2, 3]);
  });
});
