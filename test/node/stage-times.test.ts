/**
 * The leader's write phase histograms (node/stage-times.ts): a value lands in the first bucket
 * whose bound holds it, buckets render cumulative, `+Inf` and `_count` count every write, `_sum`
 * adds each write's time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { addWritePhase, renderWritePhases, WRITE_PHASE_BUCKETS } from "../../node/stage-times.js";

function series(text: string, phase: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^w_(bucket|sum|count)\{phase="(\w+)"(?:,le="([^"]+)")?\} (\S+)$/gm))
    if (m[2] === phase) out.set(m[1] === "bucket" ? m[3]! : m[1]!, Number(m[4]));
  return out;
}

describe("write phases", () => {
  test("bucket by bound, cumulative buckets, +Inf, sum and count", () => {
    const before = series(renderWritePhases("w", "help"), "admission");
    addWritePhase("admission", 0.5); // exactly the first bound (0.0005 s)
    addWritePhase("admission", 4.5, 3); // three writes in the 0.005 bucket
    addWritePhase("admission", 10_000); // above every bound
    const text = renderWritePhases("w", "help");
    assert.match(text, /^# TYPE w histogram$/m);
    const after = series(text, "admission");
    const delta = (k: string) => after.get(k)! - before.get(k)!;
    assert.equal(delta("0.0005"), 1);
    assert.equal(delta("0.004"), 1, "4.5 ms is above 0.004");
    assert.equal(delta("0.005"), 4);
    assert.equal(delta(String(WRITE_PHASE_BUCKETS.at(-1))), 4);
    assert.equal(delta("+Inf"), 5);
    assert.equal(delta("count"), 5);
    assert.ok(Math.abs(delta("sum") - (0.0005 + 3 * 0.0045 + 10)) < 1e-9);
    // Other phases are untouched.
    assert.deepEqual(
      series(text, "commit").get("count"),
      series(renderWritePhases("w", "h"), "commit").get("count"),
    );
  });
});
