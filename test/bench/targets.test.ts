/**
 * bench/targets.ts: issue 13's targets judged on one run's figures: all met, each missed on its
 * own bound (bounds inclusive), and "not measured" where a partial run has no figure.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { judgeTargets, type TargetInputs, type TargetWriteRun } from "../../bench/targets.js";

function run(over: Partial<TargetWriteRun> & Pick<TargetWriteRun, "nodes" | "inFlight">): TargetWriteRun {
  return {
    target: "leader",
    mode: "closed",
    offeredPerSecond: null,
    committedPerSecond: 5000,
    commit: { p99Ms: 50 },
    cpuMicrosPerWrite: { nodes: [200, 50, 50] },
    executionMicrosPerCall: 90,
    elections: 0,
    ...over,
  };
}

/** A full run that meets every target. */
function fullRun(): TargetInputs {
  return {
    writes: [
      run({ nodes: 3, inFlight: 64, committedPerSecond: 5000 }),
      run({ nodes: 3, inFlight: 256, committedPerSecond: 6000 }),
      run({ nodes: 3, inFlight: 64, target: "follower", committedPerSecond: 4000 }),
      run({ nodes: 3, inFlight: 256, mode: "paced", offeredPerSecond: 3000, commit: { p99Ms: 25 } }),
      run({
        nodes: 5,
        inFlight: 64,
        committedPerSecond: 3500,
        cpuMicrosPerWrite: { nodes: [200, 50, 50, 50, 50] },
      }),
      run({ nodes: 5, inFlight: 256, committedPerSecond: 4200 }),
    ],
    etcdPuts: [
      { inFlight: 64, putsPerSecond: 5000 },
      { inFlight: 256, putsPerSecond: 5900 },
    ],
    failoverWritesCommitAgainMs: [520, 1000],
  };
}

const byTarget = (inputs: TargetInputs) =>
  Object.fromEntries(judgeTargets(inputs).map((t) => [t.target, { value: t.value, met: t.met }]));

describe("issue 13's targets (bench/targets.ts)", () => {
  it("judges a run that meets every target, bounds included, in the issue's order", () => {
    const verdicts = judgeTargets(fullRun());
    assert.deepEqual(
      verdicts.map((t) => [t.target, t.value, t.met]),
      [
        ["3 nodes ≥ 1× etcd's puts/s at 64 in flight", "1×", true],
        ["3 nodes ≥ 1× etcd's puts/s at 256 in flight", "1.02×", true],
        ["writes sent to a follower ≥ 0.8× the leader path (64 in flight)", "0.8×", true],
        ["commit p99 ≤ 25 ms at half the peak (paced 3000/s)", "25 ms", true],
        ["CPU per write ≤ 400 µs for 3 nodes, leader ≤ 250 (64 in flight)", "300 µs, leader 200", true],
        ["CPU per write ≤ 400 µs for 3 nodes, leader ≤ 250 (256 in flight)", "300 µs, leader 200", true],
        ["execution round trip ≤ 100 µs per call (3 nodes, 64 in flight)", "90 µs", true],
        ["execution round trip ≤ 100 µs per call (3 nodes, 256 in flight)", "90 µs", true],
        ["5 nodes ≥ 0.7× the 3-node rate at 64 in flight", "0.7×", true],
        ["5 nodes ≥ 0.7× the 3-node rate at 256 in flight", "0.7×", true],
        ["first committed write after kill -9 of the leader ≤ 1 s (every round)", "1000 ms (worst)", true],
        ["no spurious election under load", "0", true],
      ],
    );
  });

  it("misses each target on its own bound", () => {
    const base = fullRun();
    const writes = base.writes.map((w) => {
      if (w.mode === "paced") return { ...w, commit: { p99Ms: 25.01 } };
      if (w.nodes === 3 && w.target === "leader" && w.inFlight === 64)
        return { ...w, cpuMicrosPerWrite: { nodes: [251, 40, 40] }, executionMicrosPerCall: 101 };
      if (w.nodes === 3 && w.target === "leader" && w.inFlight === 256)
        return { ...w, cpuMicrosPerWrite: { nodes: [200, 101, 100] }, elections: 1 };
      if (w.target === "follower") return { ...w, committedPerSecond: 3950 };
      if (w.nodes === 5 && w.inFlight === 256) return { ...w, committedPerSecond: 4100 };
      return w;
    });
    const verdicts = byTarget({
      writes,
      etcdPuts: [
        { inFlight: 64, putsPerSecond: 5051 },
        { inFlight: 256, putsPerSecond: 5900 },
      ],
      failoverWritesCommitAgainMs: [400, 1001, 300],
    });
    assert.deepEqual(verdicts["3 nodes ≥ 1× etcd's puts/s at 64 in flight"], { value: "0.99×", met: false });
    assert.deepEqual(verdicts["3 nodes ≥ 1× etcd's puts/s at 256 in flight"], { value: "1.02×", met: true });
    assert.deepEqual(verdicts["writes sent to a follower ≥ 0.8× the leader path (64 in flight)"], {
      value: "0.79×",
      met: false,
    });
    assert.deepEqual(verdicts["commit p99 ≤ 25 ms at half the peak (paced 3000/s)"], {
      value: "25.01 ms",
      met: false,
    });
    // The leader alone over its bound fails the target even with the total under 400.
    assert.deepEqual(verdicts["CPU per write ≤ 400 µs for 3 nodes, leader ≤ 250 (64 in flight)"], {
      value: "331 µs, leader 251",
      met: false,
    });
    assert.deepEqual(verdicts["CPU per write ≤ 400 µs for 3 nodes, leader ≤ 250 (256 in flight)"], {
      value: "401 µs, leader 200",
      met: false,
    });
    assert.deepEqual(verdicts["execution round trip ≤ 100 µs per call (3 nodes, 64 in flight)"], {
      value: "101 µs",
      met: false,
    });
    assert.deepEqual(verdicts["5 nodes ≥ 0.7× the 3-node rate at 256 in flight"], {
      value: "0.68×",
      met: false,
    });
    assert.deepEqual(verdicts["first committed write after kill -9 of the leader ≤ 1 s (every round)"], {
      value: "1001 ms (worst)",
      met: false,
    });
    assert.deepEqual(verdicts["no spurious election under load"], { value: "1", met: false });
  });

  it("says what a partial run did not measure instead of judging it", () => {
    // `--writes-only --nodes 3`: closed loops to the leader only, no etcd, no failover.
    const verdicts = judgeTargets({
      writes: [
        run({ nodes: 1, inFlight: 64, cpuMicrosPerWrite: { nodes: [180] }, elections: 3 }),
        run({ nodes: 3, inFlight: 64 }),
        run({ nodes: 3, inFlight: 256, cpuMicrosPerWrite: null, executionMicrosPerCall: null }),
      ],
      etcdPuts: [],
      failoverWritesCommitAgainMs: [],
    });
    const notRun = verdicts.filter((t) => t.met === null).map((t) => t.target);
    assert.deepEqual(notRun, [
      "3 nodes ≥ 1× etcd's puts/s at 64 in flight",
      "3 nodes ≥ 1× etcd's puts/s at 256 in flight",
      "writes sent to a follower ≥ 0.8× the leader path",
      "commit p99 ≤ 25 ms at half the peak",
      "CPU per write ≤ 400 µs for 3 nodes, leader ≤ 250 (256 in flight)",
      "execution round trip ≤ 100 µs per call (3 nodes, 256 in flight)",
      "5 nodes ≥ 0.7× the 3-node rate at 64 in flight",
      "5 nodes ≥ 0.7× the 3-node rate at 256 in flight",
      "first committed write after kill -9 of the leader ≤ 1 s (every round)",
    ]);
    // The 1-node run's elections (a single node elects itself) are not spurious elections under load.
    assert.deepEqual(
      verdicts.filter((t) => t.met !== null).map((t) => [t.target, t.met]),
      [
        ["CPU per write ≤ 400 µs for 3 nodes, leader ≤ 250 (64 in flight)", true],
        ["execution round trip ≤ 100 µs per call (3 nodes, 64 in flight)", true],
        ["no spurious election under load", true],
      ],
    );
    // No 3-node run at all: every target is unmeasured.
    assert.ok(
      judgeTargets({ writes: [], etcdPuts: [], failoverWritesCommitAgainMs: [] }).every(
        (t) => t.met === null,
      ),
    );
  });
});
