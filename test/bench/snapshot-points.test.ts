/** bench/snapshot-points.ts: the snapshot points a run's seqnos span. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { seqnoSpan, snapshotPointsAmong, writesToSamePhase } from "../../bench/snapshot-points.js";

describe("snapshotPointsAmong", () => {
  it("lists every multiple from the lowest to the highest seqno, bounds included", () => {
    assert.deepEqual(
      snapshotPointsAmong(Float64Array.from([10_500, 9_000, 30_000]), 10_000),
      [10_000, 20_000, 30_000],
    );
    assert.deepEqual(snapshotPointsAmong([10_000], 10_000), [10_000]);
  });

  it("lists none when the run stays between two points, or wrote nothing", () => {
    assert.deepEqual(snapshotPointsAmong([10_001, 19_999, 15_000], 10_000), []);
    assert.deepEqual(snapshotPointsAmong([], 10_000), []);
  });
});

describe("seqnoSpan", () => {
  it("is the lowest and highest seqno, whatever their order", () => {
    assert.deepEqual(seqnoSpan(Float64Array.from([12, 7, 30])), { first: 7, last: 30 });
    assert.deepEqual(seqnoSpan([]), { first: 0, last: 0 });
  });
});

describe("writesToSamePhase", () => {
  it("skips to the target's distance past a snapshot point, one seqno per write", () => {
    // Next seqno 105,001 (offset 5,001); the target started at 41,000 (offset 1,000).
    assert.equal(writesToSamePhase(5_000, { first: 100_001, last: 105_000 }, 41_000, 10_000), 5_999);
    // Already there: nothing to send.
    assert.equal(writesToSamePhase(1_000, { first: 40_000, last: 40_999 }, 41_000, 10_000), 0);
  });

  it("counts the seqnos signatures took, and never lands past the target", () => {
    // 5,500 seqnos for 5,000 writes: 1.1 per write; next 105,501, 5,999 seqnos to skip → 5,453 writes.
    assert.equal(writesToSamePhase(5_000, { first: 100_001, last: 105_500 }, 41_500, 10_000), 5_453);
  });

  it("sends nothing after a run that wrote nothing", () => {
    assert.equal(writesToSamePhase(0, { first: 0, last: 0 }, 41_000, 10_000), 0);
  });
});
