/**
 * docs/http.md: "At most 10,000 long polls and linearizable reads wait on one node; beyond that a
 * long poll is answered at once". The bound is ReadService.commitReached's: the 10,001st waiter
 * gets "busy" at once, and a commit wakes every waiter that fits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReadService, type ReadServiceOptions } from "../../node/reads/service.js";

describe("waits for the commit point", () => {
  it("at most 10,000 wait; the next is answered at once, and a commit wakes them all", async () => {
    let commit = 0;
    // commitReached needs only the commit point: the rest of the options are never touched.
    const reads = new ReadService({ committedSeqno: () => commit } as unknown as ReadServiceOptions);
    const waiting = Array.from({ length: 10_000 }, () => reads.commitReached(5, 600_000));
    assert.equal(await reads.commitReached(5, 600_000), "busy");
    commit = 5;
    reads.onCommit(5);
    const woken = await Promise.all(waiting);
    assert.ok(woken.every((r) => r === "reached"));
    assert.equal(await reads.commitReached(6, 0), "timeout", "room again once they were woken");
  });
});
