import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "../../node/config.js";
import { DEFAULT_CONSENSUS_LIMITS, resolveLimits } from "../../node/consensus/index.js";
import {
  consensusTickLimits,
  DEFAULT_CONSENSUS_TIMING,
  parseConsensusTiming,
} from "../../node/consensus-timing.js";
import { isTreatyError } from "../../sdk/errors.js";
import { startTestNode } from "../support/node.js";

describe("consensus timing config", () => {
  it("defaults when absent, and the core accepts the defaults as ticks", () => {
    assert.deepEqual(parseConfig({ dataDir: "d" }, "/").consensus, DEFAULT_CONSENSUS_TIMING);
    assert.deepEqual(parseConsensusTiming(null), DEFAULT_CONSENSUS_TIMING);
    const { tickMs, heartbeatMs, electionTimeoutMs } = DEFAULT_CONSENSUS_TIMING;
    const limits = resolveLimits(consensusTickLimits(DEFAULT_CONSENSUS_TIMING));
    assert.equal(limits.heartbeatTicks * tickMs, heartbeatMs);
    assert.equal(limits.electionTimeoutTicks.min * tickMs, electionTimeoutMs.min);
    assert.equal(limits.electionTimeoutTicks.max * tickMs, electionTimeoutMs.max);
    const { electionRetryMs } = DEFAULT_CONSENSUS_TIMING;
    assert.deepEqual(limits.electionRetryTicks, {
      min: electionRetryMs.min / tickMs,
      max: electionRetryMs.max / tickMs,
    });
    // The pipelining window's default is the core's own.
    assert.equal(limits.maxInflightAppends, DEFAULT_CONSENSUS_LIMITS.maxInflightAppends);
    // A retry waits at least a heartbeat (above a vote round trip), and far less than a timeout.
    assert.ok(electionRetryMs.min >= heartbeatMs && electionRetryMs.max <= electionTimeoutMs.min / 2);
    // A crashed leader is replaced well inside a second; a stall shorter than min keeps it.
    assert.ok(electionTimeoutMs.max < 1000 && electionTimeoutMs.min >= 5 * heartbeatMs);
  });

  it("turns milliseconds into ticks", () => {
    const timing = parseConsensusTiming({
      tickMs: 25,
      heartbeatMs: 100,
      electionTimeoutMs: { min: 1000, max: 2000 },
    });
    assert.deepEqual(consensusTickLimits(timing), {
      heartbeatTicks: 4,
      electionTimeoutTicks: { min: 40, max: 80 },
      electionRetryTicks: { min: 4, max: 12 },
      maxInflightAppends: 8,
    });
    assert.equal(parseConsensusTiming({ maxInflightAppends: 32 }).maxInflightAppends, 32);
    assert.equal(
      resolveLimits(consensusTickLimits(parseConsensusTiming({ maxInflightAppends: 1 }))).maxInflightAppends,
      1,
    );
    // Fields left out keep their default; max defaults to 1.5 × min, rounded down to a tick.
    assert.deepEqual(parseConsensusTiming({ electionTimeoutMs: { min: 1000 } }), {
      ...DEFAULT_CONSENSUS_TIMING,
      electionTimeoutMs: { min: 1000, max: 1500 },
    });
    // The retry defaults to one to three heartbeats, at most the timeout's max.
    assert.deepEqual(parseConsensusTiming({ heartbeatMs: 100 }).electionRetryMs, { min: 100, max: 300 });
    assert.deepEqual(
      parseConsensusTiming({ heartbeatMs: 200, electionTimeoutMs: { min: 500, max: 500 } }).electionRetryMs,
      { min: 200, max: 500 },
    );
    assert.deepEqual(parseConsensusTiming({ electionRetryMs: { min: 100 } }).electionRetryMs, {
      min: 100,
      max: 150,
    });
    assert.deepEqual(parseConsensusTiming({ electionRetryMs: { min: 500, max: 750 } }).electionRetryMs, {
      min: 500,
      max: 750,
    });
    assert.deepEqual(parseConsensusTiming({ tickMs: 20, heartbeatMs: 40, electionTimeoutMs: { min: 300 } }), {
      tickMs: 20,
      heartbeatMs: 40,
      electionTimeoutMs: { min: 300, max: 440 },
      electionRetryMs: { min: 40, max: 120 },
      maxInflightAppends: 8,
    });
    assert.deepEqual(parseConsensusTiming({ electionTimeoutMs: { min: 600, max: 600 } }).electionTimeoutMs, {
      min: 600,
      max: 600,
    });
  });

  it("names the offending field", () => {
    const cases: Array<[unknown, RegExp]> = [
      ["fast", /config consensus: expected an object, got "fast"/],
      [{ tickMs: 0 }, /config consensus\.tickMs: expected an integer from 1 to 1000, got 0/],
      [{ tickMs: 2.5 }, /config consensus\.tickMs: expected an integer/],
      [
        { heartbeatMs: "50" },
        /config consensus\.heartbeatMs: expected an integer from 1 to 600000, got "50"/,
      ],
      [
        { heartbeatMs: 55 },
        /config consensus\.heartbeatMs: expected a multiple of consensus\.tickMs \(10\), got 55/,
      ],
      [
        { heartbeatMs: 500 },
        /config consensus\.heartbeatMs: expected less than consensus\.electionTimeoutMs\.min \(500\), got 500/,
      ],
      [
        { electionTimeoutMs: { min: 800, max: 700 } },
        /config consensus\.electionTimeoutMs\.max: expected at least electionTimeoutMs\.min \(800\), got 700/,
      ],
      // A default that does not fit the fields set is named as a default, not as a value given.
      [
        { tickMs: 20 },
        /config consensus\.heartbeatMs: expected a multiple of consensus\.tickMs \(20\), got 50 \(not set: its default, which does not fit the fields set; set it too\)/,
      ],
      [
        { electionTimeoutMs: { min: 50, max: 100 } },
        /config consensus\.heartbeatMs: expected less than consensus\.electionTimeoutMs\.min \(50\), got 50 \(not set: its default/,
      ],
      [
        { electionTimeoutMs: { max: 400 } },
        /consensus\.electionTimeoutMs\.max: expected at least electionTimeoutMs\.min \(500\)/,
      ],
      [
        { electionTimeoutMs: { min: 505 } },
        /consensus\.electionTimeoutMs\.min: expected a multiple of consensus\.tickMs/,
      ],
      [
        { electionTimeoutMs: { min: 700_000 } },
        /consensus\.electionTimeoutMs\.min: expected an integer from 1 to 600000/,
      ],
      [{ electionTimeoutMs: 500 }, /config consensus\.electionTimeoutMs: expected an object, got 500/],
      [
        { electionTimeoutMs: { minimum: 500 } },
        /config consensus\.electionTimeoutMs\.minimum: expected min or max/,
      ],
      [
        { electionTimeout: 500 },
        /config consensus\.electionTimeout: expected one of the fields tickMs, heartbeatMs, electionTimeoutMs, electionRetryMs, maxInflightAppends/,
      ],
      [
        { electionRetryMs: { min: 200, max: 100 } },
        /config consensus\.electionRetryMs\.max: expected at least electionRetryMs\.min \(200\), got 100/,
      ],
      [
        { electionRetryMs: { max: 800 } },
        /config consensus\.electionRetryMs\.max: expected at most electionTimeoutMs\.max \(750\), got 800/,
      ],
      [
        { electionRetryMs: { min: 55 } },
        /config consensus\.electionRetryMs\.min: expected a multiple of consensus\.tickMs \(10\), got 55/,
      ],
      [{ electionRetryMs: { mean: 100 } }, /config consensus\.electionRetryMs\.mean: expected min or max/],
      [{ electionRetryMs: 100 }, /config consensus\.electionRetryMs: expected an object, got 100/],
      [
        { maxInflightAppends: 0 },
        /config consensus\.maxInflightAppends: expected an integer from 1 to 1024, got 0/,
      ],
      [
        { maxInflightAppends: 1025 },
        /config consensus\.maxInflightAppends: expected an integer from 1 to 1024, got 1025/,
      ],
      [
        { maxInflightAppends: 2.5 },
        /config consensus\.maxInflightAppends: expected an integer from 1 to 1024, got 2\.5/,
      ],
      [
        { maxInflightAppends: "8" },
        /config consensus\.maxInflightAppends: expected an integer from 1 to 1024, got "8"/,
      ],
    ];
    for (const [consensus, message] of cases) {
      assert.throws(
        () => parseConfig({ dataDir: "d", consensus }, "/"),
        (e) => isTreatyError(e, "MalformedRequest") && message.test(e.message),
        JSON.stringify(consensus),
      );
    }
  });

  it("a node runs its consensus core with the configured timing", async () => {
    const net = await startTestNode({
      consensus: {
        tickMs: 20,
        heartbeatMs: 60,
        electionTimeoutMs: { min: 400, max: 600 },
        maxInflightAppends: 3,
      },
    });
    try {
      const { limits } = net.node.replica.consensus;
      assert.equal(limits.heartbeatTicks, 3);
      assert.deepEqual(limits.electionTimeoutTicks, { min: 20, max: 30 });
      assert.deepEqual(limits.electionRetryTicks, { min: 3, max: 9 });
      assert.equal(limits.maxInflightAppends, 3);
      const { txid } = await net.client().call("log", "writePublic", { id: 1, msg: "hi" });
      await net.client().waitForCommit(txid);
    } finally {
      await net.dispose();
    }
  });
});
