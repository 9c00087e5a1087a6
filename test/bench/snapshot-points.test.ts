/** bench/snapshot-points.ts: the snapshot points a run's seqnos span. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { snapshotPointsAmong } from "../../bench/snapshot-points.js";

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
