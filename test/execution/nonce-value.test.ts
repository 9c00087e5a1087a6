/** The nonce record's hand-written encoding is exactly the generic table value's. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { nonceRecordValue } from "../../node/execution/nonces.js";
import { readTableValue, tableValue } from "../../node/gov/tables.js";

describe("nonceRecordValue", () => {
  it("equals tableValue({txid, timeMs}) byte for byte, and reads back", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme" }),
        fc.oneof(fc.double(), fc.integer(), fc.nat()),
        (txid, timeMs) => {
          const record = { txid, timeMs };
          const bytes = nonceRecordValue(record);
          assert.deepEqual(bytes, tableValue(record));
          if (Number.isFinite(timeMs))
            assert.deepEqual(readTableValue(bytes), { txid, timeMs: timeMs === 0 ? 0 : timeMs });
        },
      ),
    );
    assert.deepEqual(
      nonceRecordValue({ txid: '2."\\n', timeMs: 1_700_000_000_000 }),
      tableValue({ txid: '2."\\n', timeMs: 1_700_000_000_000 }),
    );
  });
});
