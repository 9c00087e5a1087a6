/**
 * `encodeOuter` writes an entry's outer map by hand: its bytes must be exactly what the codec
 * makes of `{h, p, x, s, d}` for every size of every part (bin8/bin16/bin32 boundaries, absent
 * parts), and what `decodeEntry` reads back.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { encode } from "../../sdk/codec.js";
import {
  associatedData,
  contentDigest,
  decodeEntry,
  encodeEntry,
  encodeOuter,
} from "../../runtime/ledger/entry.js";

/** Sizes around every bin header boundary, and a few in between. */
const size = fc.oneof(
  fc.constantFrom(0, 1, 31, 32, 255, 256, 257, 65_535, 65_536, 65_537, 70_000),
  fc.integer({ min: 0, max: 2_000 }),
);
const bytesOf = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe("entry outer encoding", () => {
  it("is byte-identical to the codec's encoding of {h, p, x, s, d}", () => {
    fc.assert(
      fc.property(size, size, fc.option(size), fc.option(size), (h, p, x, s) => {
        const parts = {
          h: bytesOf(h, 1),
          p: bytesOf(p, 2),
          x: x === null ? null : bytesOf(x, 3),
          s: s === null ? null : bytesOf(s, 4),
          d: bytesOf(32, 5),
        };
        const expected = encode(parts);
        assert.deepEqual(
          Buffer.from(encodeOuter(parts.h, parts.p, parts.x, parts.s, parts.d)),
          Buffer.from(expected),
        );
      }),
      { numRuns: 200 },
    );
  });

  it("gives entries that decode to the parts they were built from", () => {
    const header = {
      view: 3,
      seqno: 7,
      kind: "user" as const,
      secretVersion: 0,
      requestDigest: bytesOf(32, 9),
      meta: { timeMs: 1, contract: "log", method: "writePublic", callerId: "u1" },
    };
    const publicWrites = [
      { map: "public:log.entries", writes: [[bytesOf(3, 1), bytesOf(300, 2)]] as [Uint8Array, Uint8Array][] },
    ];
    const { bytes, decoded } = encodeEntry({ header, publicWrites, privatePart: null, signatureBytes: null });
    const read = decodeEntry(bytes, 7);
    assert.deepEqual(Buffer.from(read.headerBytes), Buffer.from(decoded.headerBytes));
    assert.deepEqual(Buffer.from(read.publicBytes), Buffer.from(decoded.publicBytes));
    assert.deepEqual(read.header, header);
    assert.deepEqual(
      Buffer.from(read.digest),
      Buffer.from(contentDigest(read.headerBytes, read.publicBytes, null, null)),
    );
    assert.deepEqual(
      Buffer.from(bytes),
      Buffer.from(encode({ h: read.headerBytes, p: read.publicBytes, x: null, s: null, d: read.digest })),
    );
  });

  it("digest and associated data equal their definitions at every size (reused buffers included)", () => {
    const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    fc.assert(
      fc.property(size, size, fc.option(size), fc.option(size), (h, p, x, s) => {
        const [hb, pb, xb, sb] = [
          bytesOf(h, 1),
          bytesOf(p, 2),
          x === null ? null : bytesOf(x, 3),
          s === null ? null : bytesOf(s, 4),
        ];
        const expected = createHash("sha256");
        for (const part of [hb, pb, xb, sb])
          expected.update(u32(part?.length ?? 0)).update(part ?? new Uint8Array(0));
        assert.equal(Buffer.from(contentDigest(hb, pb, xb, sb)).toString("hex"), expected.digest("hex"));
        const aad = Buffer.concat([u32(h), hb, u32(p), pb]);
        assert.ok(aad.equals(associatedData(hb, pb)));
      }),
      { numRuns: 60 },
    );
  });
});
