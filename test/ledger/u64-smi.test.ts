/**
 * A u64 read back from a stored ledger record is a V8 small integer when it fits one: a record's
 * `view` read as `high * 2 ** 32 + low` was a heap number even for a high word of 0, and storing
 * it changed the object layout every `{seqno, view, bytes}` record shares to a double field, which
 * deoptimized the ledger's and the replica's code at the first record read back. %IsSmi is V8's
 * own answer; this file runs in its own process, so no larger number has been seen here first.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import {
  encodeChunkHeader,
  encodeRecords,
  getU64,
  parseChunkRecords,
  recordAt,
  setU64,
} from "../../runtime/ledger/chunk-format.js";
import { concatBytes } from "../../sdk/bytes.js";

setFlagsFromString("--allow-natives-syntax");
const isSmi = new Function("x", "return %IsSmi(x)") as (x: number) => boolean;

describe("u64 fields read back from stored records", () => {
  it("getU64 gives small integers below 2^31 and exact values above", () => {
    const view = new DataView(new ArrayBuffer(8));
    for (const value of [0, 1, 7, 65_536, 2 ** 31 - 1]) {
      setU64(view, 0, value);
      assert.equal(getU64(view, 0), value);
      assert.ok(isSmi(getU64(view, 0)), `${value} is a small integer`);
    }
    for (const value of [2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
      setU64(view, 0, value);
      assert.equal(getU64(view, 0), value);
    }
  });

  it("a record's view and seqno parsed from chunk bytes are small integers", () => {
    const records = [1, 2, 3].map((seqno) => ({ seqno, view: 2, bytes: new Uint8Array([seqno]) }));
    const bytes = concatBytes(encodeChunkHeader(1, records.length), encodeRecords(records));
    const parsed = parseChunkRecords(bytes);
    for (let i = 0; i < records.length; i++) {
      const record = recordAt(bytes, parsed, i);
      assert.deepEqual({ seqno: record.seqno, view: record.view }, { seqno: i + 1, view: 2 });
      assert.ok(isSmi(record.view) && isSmi(record.seqno), `record ${i}: small integers`);
    }
  });
});
