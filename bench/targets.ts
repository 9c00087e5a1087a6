/**
 * Issue 13's targets, judged on one `bench:network` run (the issue asks for all of them "from one
 * run"): each target with the run's figure and whether it is met, or null where the run did not
 * measure it (`--writes-only`, no etcd, no 5-node level, no failover round). Pure, so the rules
 * are tested apart from the cluster (test/bench/targets.test.ts).
 */

/** The fields of a `bench:network` write run the targets read (its WriteResult has them all). */
export interface TargetWriteRun {
  readonly nodes: number;
  readonly target: "leader" | "follower";
  readonly mode: "closed" | "paced";
  readonly inFlight: number;
  readonly offeredPerSecond: number | null;
  readonly committedPerSecond: number;
  readonly commit: { readonly p99Ms: number };
  /** CPU µs per write of each node process, the leader first. */
  readonly cpuMicrosPerWrite: { readonly nodes: readonly number[] } | null;
  /** The leader's execution round trip per call, µs. */
  readonly executionMicrosPerCall: number | null;
  /** Elections started during the run (the leader is never stopped in a write run). */
  readonly elections: number;
}

export interface TargetInputs {
  readonly writes: readonly TargetWriteRun[];
  /** etcd's closed-loop puts/s by in-flight level, from the same run (empty when etcd did not run). */
  readonly etcdPuts: readonly { readonly inFlight: number; readonly putsPerSecond: number }[];
  /** Each failover round's time from the kill until a write sent after it committed, ms. */
  readonly failoverWritesCommitAgainMs: readonly number[];
}

export interface TargetVerdict {
  /** The target as the issue states it, with the level it was measured at. */
  readonly target: string;
  /** The run's figure, as printed (empty when not measured). */
  readonly value: string;
  /** Null: this run did not measure it. */
  readonly met: boolean | null;
}

/** The issue's bounds. */
export const TARGETS = {
  etcdRatio: 1.0,
  followerRatio: 0.8,
  pacedP99Ms: 25,
  nodesCpuMicros: 400,
  leaderCpuMicros: 250,
  executionMicros: 100,
  fiveToThreeRatio: 0.7,
  failoverMs: 1000,
} as const;

/** A ratio's verdict is on its exact value; the value is printed to two decimals. */
const ratioVerdict = (target: string, a: number, b: number, bound: number): TargetVerdict => ({
  target,
  value: `${Math.round((a / b) * 100) / 100}×`,
  met: a / b >= bound,
});

/** Every target of issue 13, in the issue's order, judged on `run`. */
export function judgeTargets(run: TargetInputs): TargetVerdict[] {
  const closed = (nodes: number, target: "leader" | "follower", inFlight?: number) =>
    run.writes.filter(
      (w) =>
        w.nodes === nodes &&
        w.mode === "closed" &&
        w.target === target &&
        (inFlight === undefined || w.inFlight === inFlight),
    );
  const threeLeader = closed(3, "leader");
  // The closed-loop levels the 3-node run measured (the issue's 64 and 256 when none did).
  const measuredLevels = [...new Set(threeLeader.map((w) => w.inFlight))].sort((a, b) => a - b);
  const levels = measuredLevels.length > 0 ? measuredLevels : [64, 256];
  const out: TargetVerdict[] = [];
  const notMeasured = (target: string) => out.push({ target, value: "", met: null });

  for (const level of levels) {
    const three = closed(3, "leader", level)[0];
    const etcd = run.etcdPuts.find((p) => p.inFlight === level);
    const target = `3 nodes ≥ ${TARGETS.etcdRatio}× etcd's puts/s at ${level} in flight`;
    if (three === undefined || etcd === undefined || etcd.putsPerSecond <= 0) notMeasured(target);
    else out.push(ratioVerdict(target, three.committedPerSecond, etcd.putsPerSecond, TARGETS.etcdRatio));
  }

  const follower = closed(3, "follower")[0];
  const leaderAtFollowerLevel = follower && closed(3, "leader", follower.inFlight)[0];
  const followerTarget = `writes sent to a follower ≥ ${TARGETS.followerRatio}× the leader path${follower ? ` (${follower.inFlight} in flight)` : ""}`;
  if (
    follower === undefined ||
    leaderAtFollowerLevel === undefined ||
    leaderAtFollowerLevel.committedPerSecond <= 0
  )
    notMeasured(followerTarget);
  else
    out.push(
      ratioVerdict(
        followerTarget,
        follower.committedPerSecond,
        leaderAtFollowerLevel.committedPerSecond,
        TARGETS.followerRatio,
      ),
    );

  const paced = run.writes.find((w) => w.nodes === 3 && w.mode === "paced" && w.target === "leader");
  const pacedTarget = `commit p99 ≤ ${TARGETS.pacedP99Ms} ms at half the peak${paced ? ` (paced ${paced.offeredPerSecond}/s)` : ""}`;
  if (paced === undefined) notMeasured(pacedTarget);
  else
    out.push({
      target: pacedTarget,
      value: `${paced.commit.p99Ms} ms`,
      met: paced.commit.p99Ms <= TARGETS.pacedP99Ms,
    });

  for (const w of threeLeader) {
    const target = `CPU per write ≤ ${TARGETS.nodesCpuMicros} µs for 3 nodes, leader ≤ ${TARGETS.leaderCpuMicros} (${w.inFlight} in flight)`;
    const cpu = w.cpuMicrosPerWrite?.nodes;
    if (cpu === undefined || cpu.length === 0) notMeasured(target);
    else {
      const total = cpu.reduce((a, b) => a + b, 0);
      out.push({
        target,
        value: `${total} µs, leader ${cpu[0]}`,
        met: total <= TARGETS.nodesCpuMicros && cpu[0]! <= TARGETS.leaderCpuMicros,
      });
    }
  }
  if (threeLeader.length === 0) notMeasured(`CPU per write ≤ ${TARGETS.nodesCpuMicros} µs for 3 nodes`);

  for (const w of threeLeader) {
    const target = `execution round trip ≤ ${TARGETS.executionMicros} µs per call (3 nodes, ${w.inFlight} in flight)`;
    if (w.executionMicrosPerCall === null) notMeasured(target);
    else
      out.push({
        target,
        value: `${w.executionMicrosPerCall} µs`,
        met: w.executionMicrosPerCall <= TARGETS.executionMicros,
      });
  }
  if (threeLeader.length === 0) notMeasured(`execution round trip ≤ ${TARGETS.executionMicros} µs per call`);

  for (const level of levels) {
    const five = closed(5, "leader", level)[0];
    const three = closed(3, "leader", level)[0];
    const target = `5 nodes ≥ ${TARGETS.fiveToThreeRatio}× the 3-node rate at ${level} in flight`;
    if (five === undefined || three === undefined || three.committedPerSecond <= 0) notMeasured(target);
    else
      out.push(
        ratioVerdict(target, five.committedPerSecond, three.committedPerSecond, TARGETS.fiveToThreeRatio),
      );
  }

  const failoverTarget = `first committed write after kill -9 of the leader ≤ ${TARGETS.failoverMs / 1000} s (every round)`;
  if (run.failoverWritesCommitAgainMs.length === 0) notMeasured(failoverTarget);
  else {
    const worst = Math.max(...run.failoverWritesCommitAgainMs);
    out.push({ target: failoverTarget, value: `${worst} ms (worst)`, met: worst <= TARGETS.failoverMs });
  }

  const writeRuns = run.writes.filter((w) => w.nodes >= 3);
  if (writeRuns.length === 0) notMeasured("no spurious election under load");
  else {
    const elections = writeRuns.reduce((sum, w) => sum + w.elections, 0);
    out.push({ target: "no spurious election under load", value: `${elections}`, met: elections === 0 });
  }
  return out;
}
