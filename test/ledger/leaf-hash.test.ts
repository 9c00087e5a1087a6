/**
 * `leafHash` writes an entry's leaf data into a reused buffer; its hash must equal
 * `nodeHasher.leaf(encodeLeafData(fields))` (what receipts prove) for every field value, the same
 * buffer reused across calls of either size, and it must refuse what `encodeLeafData` refuses.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { encodeLeafData, ENTRY_KINDS, type LeafFields } from "../../sdk/receipt.js";
import { leafHash, nodeHasher } from "../../runtime/ledger/ledger.js";

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
const count = fc.oneof(
  fc.constantFrom(0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const fields: fc.Arbitrary<LeafFields> = fc.record({
  view: count,
  seqno: count,
  kind: fc.constantFrom(...ENTRY_KINDS),
  entryDigest: digest,
  requestDigest: fc.option(digest),
  claimsDigest: fc.option(digest),
});

describe("leafHash", () => {
  it("equals the leaf hash of encodeLeafData, call after call", () => {
    fc.assert(
      fc.property(fc.array(fields, { minLength: 1, maxLength: 6 }), (list) => {
        for (const f of list)
          assert.deepStrictEqual(Buffer.from(leafHash(f)), Buffer.from(nodeHasher.leaf(encodeLeafData(f))));
      }),
      { numRuns: 500 },
    );
  });

  it("refuses what encodeLeafData refuses, with its TypeError", () => {
    const ok: LeafFields = {
      view: 1,
      seqno: 2,
      kind: "user",
      entryDigest: new Uint8Array(32),
      requestDigest: null,
      claimsDigest: null,
    };
    for (const bad of [
      { ...ok, view: -1 },
      { ...ok, seqno: 2 ** 53 },
      { ...ok, seqno: 1.5 },
      { ...ok, entryDigest: new Uint8Array(31) },
      { ...ok, requestDigest: new Uint8Array(33) },
      { ...ok, claimsDigest: new Uint8Array(1) },
    ])
      assert.throws(() => leafHash(bad), TypeError);
  });
});
