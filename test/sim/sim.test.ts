/**
 * The deterministic simulator in CI: a few hundred seeds across 3, 5 and 7 founding nodes, with
 * membership changes in two seeds of three. Every seed checks safety after each tick and
 * liveness after healing, and the seeds together must install snapshots (lagging followers and
 * joiners catch up by snapshot under the same faults). A failure prints the seed, the replay command and a trace.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatFailure, runSeed, type SimOptions, simulate } from "./simulate.js";

/** Seeds per cluster size in CI; `npm run sim -- --seeds N` runs many more. */
const SEEDS_PER_SIZE = 200;
const STEPS = 800;

for (const nodes of [3, 5, 7]) {
  test(`simulation: ${SEEDS_PER_SIZE} seeds with ${nodes} founding nodes stay safe and live`, () => {
    let committed = 0;
    let installed = 0;
    for (let i = 0; i < SEEDS_PER_SIZE; i++) {
      const seed = nodes * 100_000 + i;
      const options: SimOptions = { seed, nodes, steps: STEPS, membership: i % 3 !== 0 };
      const result = runSeed(options);
      if (!result.ok) assert.fail(formatFailure(result.failure, options));
      committed += result.summary.committed;
      installed += result.summary.snapshotsInstalled;
      assert.ok(result.summary.committed > 0, `seed ${seed} committed something`);
    }
    assert.ok(committed > SEEDS_PER_SIZE * 10);
    // Lagging followers and joiners catch up by installing snapshots (cluster.ts).
    assert.ok(installed > SEEDS_PER_SIZE, `snapshots installed=${installed}`);
  });
}

test("simulation: a seed replays to the identical run", () => {
  const options: SimOptions = { seed: 12345, nodes: 5, steps: 400, membership: true };
  assert.deepEqual(simulate(options), simulate(options));
  assert.deepEqual(
    simulate({ ...options, trace: true }),
    simulate(options),
    "tracing does not perturb the run",
  );
});

test("simulation: runs exercise the faults they claim to", () => {
  let crashes = 0;
  let changes = 0;
  let dropped = 0;
  let views = 0;
  let reads = 0;
  let readsFailed = 0;
  let compacted = 0;
  let restartsFromBase = 0;
  let installed = 0;
  let aborted = 0;
  let seedsWithInstalls = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const s = simulate({ seed, nodes: 5, steps: STEPS, membership: true });
    crashes += s.crashes;
    changes += s.membershipChanges;
    dropped += s.messagesDropped;
    views = Math.max(views, s.maxView);
    reads += s.readsServed;
    readsFailed += s.readsFailed;
    if (s.maxLogBase > 0) compacted++;
    restartsFromBase += s.restartsFromBase;
    installed += s.snapshotsInstalled;
    aborted += s.snapshotsAborted;
    if (s.snapshotsInstalled > 0) seedsWithInstalls++;
  }
  assert.ok(crashes > 10, `crashes=${crashes}`);
  assert.ok(changes > 5, `membership changes=${changes}`);
  assert.ok(dropped > 100, `dropped=${dropped}`);
  assert.ok(views > 4, `max view=${views}`);
  assert.ok(reads > 1000, `reads served=${reads}`);
  assert.ok(readsFailed > 0, `reads failed=${readsFailed}`);
  // Bounded logs (SIM_LIMITS.logTailEntries): compaction, feeding from disk, restarts from a base.
  assert.ok(compacted > 20, `seeds that compacted=${compacted}`);
  assert.ok(restartsFromBase > 10, `restarts from a base=${restartsFromBase}`);
  // Install-snapshot under the same faults: installs, failed transfers, in most seeds.
  assert.ok(installed > 100, `snapshots installed=${installed}`);
  assert.ok(aborted > 5, `snapshot transfers aborted=${aborted}`);
  assert.ok(seedsWithInstalls > 15, `seeds with snapshot installs=${seedsWithInstalls}`);
});
