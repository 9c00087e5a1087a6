/**
 * Consensus tuning: time in abstract ticks, and a bound for every batch and queue. Every node of a
 * service should run with the same bounds: a follower refuses appends larger than its own
 * `maxBatchEntries`/`maxBatchBytes`.
 */
import { TreatyError } from "../../sdk/errors.js";

/** The tunable limits of one consensus node. */
export interface ConsensusLimits {
  /** Ticks between two heartbeats (appends) from the leader to each follower. */
  readonly heartbeatTicks: number;
  /**
   * Range of the randomized election timeout, in ticks. `min` is also the leader lease: a node
   * that heard from a leader less than `min` ticks ago refuses to help elect another one, and a
   * leader checks every `min` ticks that a majority is still reachable (check-quorum).
   */
  readonly electionTimeoutTicks: { readonly min: number; readonly max: number };
  /**
   * Range of the randomized retry timeout, in ticks: with `preVote`, a node whose pre-vote or
   * election did not win tries again after a time drawn from it (not from
   * `electionTimeoutTicks`), for up to three failed rounds in a row (then it is cut off rather
   * than unlucky, and waits election timeouts), until it hears from a leader or a vote request
   * of a newer view, which bring back the election timeout. Voters still refuse every vote during their lease, so
   * a retry cannot unseat a leader they hear from. Without `preVote` every round raises the
   * view, so rounds keep the election timeout. Default: one to three `heartbeatTicks` (a
   * heartbeat is well above a vote round trip, so a retry rarely abandons a round about to
   * win); `max` is at most `electionTimeoutTicks.max`.
   */
  readonly electionRetryTicks: { readonly min: number; readonly max: number };
  /** Most entries in one append message. */
  readonly maxBatchEntries: number;
  /** Most payload bytes in one append message; also the largest payload `propose` accepts. */
  readonly maxBatchBytes: number;
  /** Most unacknowledged appends carrying entries to one follower (pipelining window). */
  readonly maxInflightAppends: number;
  /** Backpressure: `propose` refuses entries once this many are appended but not committed. */
  readonly maxUncommittedEntries: number;
  /** Most voting nodes in one configuration. */
  readonly maxConfigNodes: number;
  /** A leader steps down when it cannot hear from a majority within `electionTimeoutTicks.min`. */
  readonly checkQuorum: boolean;
  /** Nodes ask for pre-votes before disturbing the cluster with a new view. */
  readonly preVote: boolean;
  /**
   * Committed entries kept in memory behind the commit point when the node has log storage
   * (older ones are read back from storage for lagging followers). See log.ts.
   */
  readonly logTailEntries: number;
  /**
   * A node being added votes only once its log is within this many entries of the leader's
   * (it catches up as a non-voting learner first).
   */
  readonly learnerMaxLagEntries: number;
}

/**
 * Defaults in ticks, for drivers that pass no timing (unit tests). The node passes its own from
 * its config's `consensus` section in milliseconds (node/consensus-timing.ts); the simulator and
 * the scenarios set theirs.
 */
export const DEFAULT_CONSENSUS_LIMITS: ConsensusLimits = Object.freeze({
  heartbeatTicks: 2,
  electionTimeoutTicks: Object.freeze({ min: 20, max: 40 }),
  electionRetryTicks: Object.freeze({ min: 2, max: 6 }),
  maxBatchEntries: 256,
  maxBatchBytes: 1024 * 1024,
  maxInflightAppends: 8,
  maxUncommittedEntries: 10_000,
  maxConfigNodes: 64,
  checkQuorum: true,
  preVote: true,
  logTailEntries: 4096,
  learnerMaxLagEntries: 64,
});

/** Longest node id the core accepts (ids are key ids: short strings). */
export const MAX_NODE_ID_LENGTH = 256;

function positiveInt(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new TreatyError(
      "InvalidArgs",
      `${field}: expected an integer in [1, ${max}], got ${String(value)}`,
    );
  }
  return value;
}

/** The retry range without an explicit one: one to three `heartbeatTicks`, at most the timeout's max. */
function defaultRetry(heartbeat: unknown, timeoutMax: unknown): { min: number; max: number } | undefined {
  if (typeof heartbeat !== "number" || typeof timeoutMax !== "number") return undefined;
  return { min: Math.min(heartbeat, timeoutMax), max: Math.min(3 * heartbeat, timeoutMax) };
}

/**
 * Fills in defaults and checks every limit.
 * @throws TreatyError `InvalidArgs` naming the first bad field.
 */
export function resolveLimits(partial: Partial<ConsensusLimits> = {}): ConsensusLimits {
  const merged = { ...DEFAULT_CONSENSUS_LIMITS, ...partial };
  const timeout = merged.electionTimeoutTicks;
  const retry =
    partial.electionRetryTicks === undefined
      ? defaultRetry(merged.heartbeatTicks, timeout?.max)
      : partial.electionRetryTicks;
  if (typeof timeout !== "object" || timeout === null) {
    throw new TreatyError("InvalidArgs", "electionTimeoutTicks: expected {min, max}");
  }
  const heartbeatTicks = positiveInt(merged.heartbeatTicks, "heartbeatTicks");
  const min = positiveInt(timeout.min, "electionTimeoutTicks.min");
  const max = positiveInt(timeout.max, "electionTimeoutTicks.max");
  if (max < min) {
    throw new TreatyError("InvalidArgs", `electionTimeoutTicks.max: must be >= min (${min}), got ${max}`);
  }
  if (heartbeatTicks >= min) {
    throw new TreatyError(
      "InvalidArgs",
      `heartbeatTicks: must be below electionTimeoutTicks.min (${min}), got ${heartbeatTicks}`,
    );
  }
  if (typeof retry !== "object" || retry === null) {
    throw new TreatyError("InvalidArgs", "electionRetryTicks: expected {min, max}");
  }
  const retryMin = positiveInt(retry.min, "electionRetryTicks.min");
  const retryMax = positiveInt(retry.max, "electionRetryTicks.max", max);
  if (retryMax < retryMin) {
    throw new TreatyError(
      "InvalidArgs",
      `electionRetryTicks.max: must be >= min (${retryMin}), got ${retryMax}`,
    );
  }
  for (const flag of ["checkQuorum", "preVote"] as const) {
    if (typeof merged[flag] !== "boolean") {
      throw new TreatyError("InvalidArgs", `${flag}: expected a boolean`);
    }
  }
  return Object.freeze({
    heartbeatTicks,
    electionTimeoutTicks: Object.freeze({ min, max }),
    electionRetryTicks: Object.freeze({ min: retryMin, max: retryMax }),
    maxBatchEntries: positiveInt(merged.maxBatchEntries, "maxBatchEntries"),
    maxBatchBytes: positiveInt(merged.maxBatchBytes, "maxBatchBytes"),
    maxInflightAppends: positiveInt(merged.maxInflightAppends, "maxInflightAppends", 1024),
    maxUncommittedEntries: positiveInt(merged.maxUncommittedEntries, "maxUncommittedEntries"),
    maxConfigNodes: positiveInt(merged.maxConfigNodes, "maxConfigNodes", 1024),
    checkQuorum: merged.checkQuorum,
    preVote: merged.preVote,
    logTailEntries: positiveInt(merged.logTailEntries, "logTailEntries"),
    learnerMaxLagEntries: positiveInt(merged.learnerMaxLagEntries, "learnerMaxLagEntries"),
  });
}
