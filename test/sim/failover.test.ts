/**
 * The failover timing study (simulate-failover.ts) as a test: seeded rounds that kill the leader
 * under load, with 2 and 4 survivors, stay safe (checked after every 1 ms step) and elect a new
 * leader that commits. A vote split, or a pre-vote a voter refused in the last tick of its lease,
 * costs a retry (electionRetryMs), never a second election timeout. Simulated time only.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_CONSENSUS_TIMING } from "../../node/consensus-timing.js";
import { failoverRound, type FailoverRound } from "./simulate-failover.js";

const ROUNDS = 100;

for (const nodes of [3, 5]) {
  test(`failover: ${ROUNDS} seeded leader kills with ${nodes - 1} survivors, none waits a second election timeout`, () => {
    const timing = DEFAULT_CONSENSUS_TIMING;
    // The longest a round may take: a first timeout, two retries, and a few round trips.
    const bound = timing.electionTimeoutMs.max + 2 * timing.electionRetryMs.max + 100;
    const rounds: FailoverRound[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      rounds.push(
        failoverRound({
          seed: nodes * 1000 + i,
          nodes,
          timing,
          latencyMs: { min: 1, max: 3 },
          diskMs: { min: 0, max: 2 },
          tickLateMs: 3,
          load: 0.3,
        }),
      );
    }
    const slow = rounds.filter((r) => r.committedMs > bound);
    assert.deepEqual(slow, [], `rounds over ${bound} ms of simulated time`);
    assert.ok(rounds.every((r) => r.elections >= 1 && r.electedMs <= r.committedMs));
  });
}
