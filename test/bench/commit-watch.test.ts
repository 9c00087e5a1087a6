/**
 * bench/commit-watch.ts `CommitTimes`: which seqnos bench:network long-polls (the one after each
 * run of consecutive writes, whatever order their answers come in) and the commit time each
 * write gets from them (consensus commits only at signatures, so a write commits when the seqno
 * after it does).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommitTimes } from "../../bench/commit-watch.js";

describe("CommitTimes", () => {
  it("polls the seqno after each run of acknowledged writes, once", () => {
    const t = new CommitTimes();
    // Writes 3, 4, 5 then a signature at 6, writes 7, 8: answers in one turn, out of order.
    assert.deepEqual(t.acknowledged([4, 3, 5]), [6]);
    assert.deepEqual(t.acknowledged([8]), [9]);
    // 7 came later: the seqno after it (8) is a write already known; nothing more to poll.
    assert.deepEqual(t.acknowledged([7]), []);
    assert.equal(t.polls, 2);
    assert.equal(t.waiting, 2);
  });

  it("an answer that comes before the next write's polls the write itself; both resolve", () => {
    const t = new CommitTimes();
    assert.deepEqual(t.acknowledged([10]), [11]);
    assert.deepEqual(t.acknowledged([11]), [12], "11 is a write: its own commit is 12's");
    t.committed(12, 50);
    assert.equal(t.committedAt(11), 50);
    assert.equal(t.committedAt(10), undefined, "11's poll has not answered");
    t.committed(11, 40);
    assert.equal(t.committedAt(10), 40);
  });

  it("gives each write the time of the first poll after its run; the first answer counts", () => {
    const t = new CommitTimes();
    t.acknowledged([1, 2]);
    t.acknowledged([4]);
    assert.equal(t.committedAt(1), undefined);
    t.committed(3, 100);
    t.committed(3, 120);
    t.committed(5, 130);
    assert.deepEqual(
      [1, 2, 4].map((s) => t.committedAt(s)),
      [100, 100, 130],
    );
    assert.equal(t.waiting, 0);
  });

  it("refuses what it was not told about", () => {
    const t = new CommitTimes();
    t.acknowledged([1]);
    assert.throws(() => t.committed(7, 1), RangeError);
    assert.throws(() => t.committedAt(2), RangeError);
    assert.throws(() => t.acknowledged([0]), RangeError);
  });
});
