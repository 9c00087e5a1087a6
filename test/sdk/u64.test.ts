/**
 * 64-bit integers read from bytes: one helper, `getU64` (sdk/bytes.ts), for the ledger's stores
 * and the SDK's COSE receipt leaf alike. Exact up to 2^53 - 1, above 2^32 too; a value below 2^32
 * comes back as a small integer, not a heap number (`high * 2 ** 32 + low` is a heap number even
 * when `high` is 0); a value above 2^53 - 1 is not a safe integer, and each caller refuses it.
 *
 * V8's representation is only visible with `--allow-natives-syntax`, so that check runs in a
 * child process.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { getU64, setU32BE, setU64BE } from "../../sdk/bytes.js";
import { parseLeafData } from "../../sdk/cose-receipt.js";
import { isTreatyError } from "../../sdk/errors.js";
import { encodeLeafData, type LeafFields } from "../../sdk/receipt.js";

const moduleUrl = (path: string) => new URL(path, import.meta.url).href;

const EXACT = [0, 1, 7, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER];

function leaf(view: number, seqno: number): LeafFields {
  return {
    view,
    seqno,
    kind: "user",
    entryDigest: new Uint8Array(32).fill(1),
    requestDigest: null,
    claimsDigest: null,
  };
}

/** Eight big-endian bytes of `high` and `low` (32 bits each). */
function u64Bytes(high: number, low: number): DataView {
  const view = new DataView(new ArrayBuffer(8));
  view.setUint32(0, high);
  view.setUint32(4, low);
  return view;
}

describe("getU64", () => {
  it("reads every value up to 2^53 - 1 exactly; above it the result is not a safe integer", () => {
    for (const value of EXACT) {
      const view = u64Bytes(Math.floor(value / 2 ** 32), value % 2 ** 32);
      assert.equal(getU64(view, 0), value);
    }
    for (const [high, low] of [
      [2 ** 21, 0], // 2^53
      [2 ** 21, 1], // 2^53 + 1
      [2 ** 32 - 1, 2 ** 32 - 1], // 2^64 - 1
    ] as const) {
      assert.equal(Number.isSafeInteger(getU64(u64Bytes(high, low), 0)), false, `${high}:${low}`);
    }
  });
});

describe("a COSE receipt's leaf data (parseLeafData)", () => {
  it("reads view and seqno exactly above 2^32, and refuses them above 2^53 - 1", () => {
    for (const value of EXACT.filter((v) => v >= 1)) {
      const parsed = parseLeafData(encodeLeafData(leaf(value, value)));
      assert.equal(parsed.view, value);
      assert.equal(parsed.seqno, value);
    }
    for (const [offset, field] of [
      [1, "view"],
      [9, "seqno"],
    ] as const) {
      for (const high of [2 ** 21, 2 ** 32 - 1]) {
        const data = encodeLeafData(leaf(1, 1));
        new DataView(data.buffer).setUint32(offset, high);
        assert.throws(
          () => parseLeafData(data),
          (err: unknown) =>
            isTreatyError(err, "ReceiptInvalid") &&
            err.message.includes(`cose.unprotected.leaf.${field}`) &&
            /out of range/.test(err.message),
        );
      }
    }
  });

  it("gives small views and seqnos as small integers, not heap numbers", () => {
    const out = execFileSync(
      process.execPath,
      [
        "--allow-natives-syntax",
        "--input-type=module",
        "-e",
        `
        import { parseLeafData } from ${JSON.stringify(moduleUrl("../../sdk/cose-receipt.js"))};
        import { encodeLeafData } from ${JSON.stringify(moduleUrl("../../sdk/receipt.js"))};
        const out = [];
        for (const [view, seqno] of [[0, 1], [3, 10], [7, 1000000], [2 ** 30 - 1, 2 ** 30 - 1]]) {
          const leaf = parseLeafData(encodeLeafData({ view, seqno, kind: "user",
            entryDigest: new Uint8Array(32), requestDigest: null, claimsDigest: null }));
          out.push(%IsSmi(leaf.view), %IsSmi(leaf.seqno));
        }
        console.log(JSON.stringify(out));
        `,
      ],
      { encoding: "utf8" },
    );
    assert.deepEqual(JSON.parse(out), new Array(8).fill(true));
  });
});

describe("setU32BE and setU64BE", () => {
  it("write the bytes a DataView writes, at an offset, leaving the others alone", () => {
    for (const value of EXACT) {
      const expected = new Uint8Array(11).fill(0xaa);
      new DataView(expected.buffer).setBigUint64(2, BigInt(value));
      const bytes = new Uint8Array(11).fill(0xaa);
      setU64BE(bytes, 2, value);
      assert.deepEqual(bytes, expected, `u64 ${value}`);
    }
    for (const value of [0, 1, 0x7f, 0x80, 0xff, 0x1234, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1]) {
      const expected = new Uint8Array(6).fill(0x55);
      new DataView(expected.buffer).setUint32(1, value);
      const bytes = new Uint8Array(6).fill(0x55);
      setU32BE(bytes, 1, value);
      assert.deepEqual(bytes, expected, `u32 ${value}`);
    }
  });
});
