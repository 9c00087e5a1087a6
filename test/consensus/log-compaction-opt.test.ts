/**
 * The consensus log's first compaction keeps the log's optimized readers. `compact` reassigns the
 * log's window fields (#entries, #base, #baseView, #signatures); had they been initialized in
 * their declarations, V8 would have tracked them as constant until that first store, and the store
 * would deoptimize every optimized function that read them (`entryAt`, `viewAt`, `get lastSeqno`
 * and what inlined them), to be compiled again mid-run (docs/performance.md, "Steady-state
 * TurboFan on the write path").
 *
 * Whether code stays optimized is only visible with `--allow-natives-syntax`, so the check runs
 * in a child process.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runWithNatives } from "../support/natives.js";

const logUrl = new URL("../../node/consensus/log.js", import.meta.url).href;

describe("consensus log compaction and optimized code", () => {
  it("a first compaction does not deoptimize the log's optimized readers", () => {
    const body = `
      import { ConsensusLog } from ${JSON.stringify(logUrl)};
      const stored = new Map();
      const log = new ConsensusLog({ entryAt: (s) => stored.get(s) });
      const payload = new Uint8Array(4);
      const read = (seqno) => log.entryAt(seqno).seqno + log.viewAt(seqno) + log.lastSeqno;
      const append = (seqno) => {
        const entry = { view: 1, seqno, signature: seqno % 10 === 0, payload };
        stored.set(seqno, entry);
        log.append([entry]);
        log.markPersisted(seqno, 1);
      };
      %PrepareFunctionForOptimization(read);
      for (let s = 1; s <= 50; s++) { append(s); read(s); }
      %OptimizeFunctionOnNextCall(read);
      read(50);
      const before = %ActiveTierIsTurbofan(read);
      log.compact(40);
      const after = %ActiveTierIsTurbofan(read);
      console.log(JSON.stringify({ before, after, value: read(50) }));
    `;
    assert.deepEqual(runWithNatives(body), { before: true, after: true, value: 50 + 1 + 50 });
  });
});
