/**
 * The numbers docs/consensus.md states about the core and its node driver are the code's: each
 * sentence below is quoted from the page and compared with the constant it describes, so a
 * change of either without the other fails here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { DEFAULT_CONSENSUS_TIMING } from "../../node/consensus-timing.js";
import { DEFAULT_CONSENSUS_LIMITS } from "../../node/consensus/options.js";
import { APPEND_PAYLOAD_BYTES, COMMIT_CHECKPOINT_ENTRIES } from "../../node/replica.js";
import {
  MAX_SNAPSHOT_BYTES,
  SNAPSHOT_CHUNK_ATTEMPTS,
  SNAPSHOT_CHUNK_BYTES,
} from "../../node/snapshot/transfer.js";

const page = readFileSync(join(findPackageRoot(), "docs", "consensus.md"), "utf8").replace(/\s+/g, " ");
const KiB = 1024;

/** The first number (an integer) after `before` in the page. */
function numberAfter(before: string): number {
  const at = page.indexOf(before);
  assert.ok(at >= 0, `docs/consensus.md no longer says "${before}"`);
  const match = /\d[\d,]*/.exec(page.slice(at + before.length));
  assert.ok(match, `no number after "${before}"`);
  return Number(match[0].replace(/,/g, ""));
}

describe("docs/consensus.md numbers", () => {
  it("the bounded log: its tail and the driver's commit checkpoints", () => {
    assert.equal(numberAfter("`logTailEntries` (default "), DEFAULT_CONSENSUS_LIMITS.logTailEntries);
    assert.equal(numberAfter("every view or vote change, every "), COMMIT_CHECKPOINT_ENTRIES);
  });

  it("adding a node: the learner's lag", () => {
    assert.equal(
      numberAfter("`learnerMaxLagEntries` (default "),
      DEFAULT_CONSENSUS_LIMITS.learnerMaxLagEntries,
    );
  });

  it("the node's timing defaults and pipelining window", () => {
    const t = DEFAULT_CONSENSUS_TIMING;
    const stated = `defaults ${t.tickMs}, ${t.heartbeatMs}, ${t.electionTimeoutMs.min} to ${t.electionTimeoutMs.max} and ${t.electionRetryMs.min} to ${t.electionRetryMs.max} ms`;
    assert.ok(page.includes(stated), `docs/consensus.md should say "${stated}"`);
    assert.equal(numberAfter("`maxInflightAppends` (default "), t.maxInflightAppends);
    assert.equal(t.maxInflightAppends, DEFAULT_CONSENSUS_LIMITS.maxInflightAppends);
  });

  it("the snapshot transfer and the append payload bound", () => {
    assert.equal(numberAfter("bytes}` with at most ") * KiB, SNAPSHOT_CHUNK_BYTES);
    assert.equal(numberAfter("lost answers are retried ("), SNAPSHOT_CHUNK_ATTEMPTS);
    assert.equal(numberAfter("announced size (at most ") * KiB * KiB * KiB, MAX_SNAPSHOT_BYTES);
    assert.equal(numberAfter("the node runs with ") * KiB, APPEND_PAYLOAD_BYTES);
  });
});
