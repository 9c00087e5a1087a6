/**
 * The `consensus` section of the node config (node/config.ts): consensus time in milliseconds,
 * as operators think of it, turned into the ticks the pure core counts (node/consensus/options.ts).
 *
 *   consensus:
 *     tickMs: 10                 # one consensus tick (the driver's timer)
 *     heartbeatMs: 50            # the leader's empty appends to each follower
 *     electionTimeoutMs:         # a follower that hears no leader for a random time in
 *       min: 500                 #   [min, max] starts an election; min is also the leader lease
 *       max: 750                 #   and the leader's check-quorum period (max default: 1.5 × min)
 *     electionRetryMs:           # a node whose pre-vote or election did not win tries again
 *       min: 50                  #   after a random time in [min, max], three times in a row at
 *       max: 150                 #   most (default: one to three heartbeats, max at most
 *                                #   electionTimeoutMs.max)
 *     maxInflightAppends: 8      # the leader's pipelining window: most appends carrying entries
 *                                #   it keeps unacknowledged to one follower (1 to 1024)
 *
 * Every node of a service should use the same values: a node with a shorter election timeout
 * than its peers campaigns first and more often, and the lease only protects a leader for the
 * shortest `min` among the voters.
 *
 * The defaults put a new leader's first commit well inside a second of a leader's crash (the
 * followers' randomized timeout, minus the time since its last heartbeat, plus a pre-vote and a
 * vote round trip and the new leader's first signature), while a leader stalled less than
 * `min` (a GC pause, a slow disk sync on a loaded machine) keeps its role. When two survivors
 * time out within a message delay, a pre-candidate yields to the other if that one's log is more
 * up to date or, logs equal, its id greater (node/consensus/node.ts), and a vote that splits
 * anyway (more survivors) is retried after `electionRetryMs`, not a second election timeout.
 * The retry only applies with pre-vote (always on in the node): its voters' lease still refuses
 * every vote while they hear from a leader. See docs/ARCHITECTURE.md, "Consensus timing in
 * milliseconds".
 */
import { TreatyError } from "../sdk/errors.js";
import { type ConsensusLimits, DEFAULT_CONSENSUS_LIMITS } from "./consensus/index.js";

export interface ConsensusTimingConfig {
  readonly tickMs: number;
  readonly heartbeatMs: number;
  readonly electionTimeoutMs: { readonly min: number; readonly max: number };
  readonly electionRetryMs: { readonly min: number; readonly max: number };
  /** The core's `maxInflightAppends` (node/consensus/options.ts): not a time, but a consensus limit. */
  readonly maxInflightAppends: number;
}

export const DEFAULT_CONSENSUS_TIMING: ConsensusTimingConfig = Object.freeze({
  tickMs: 10,
  heartbeatMs: 50,
  electionTimeoutMs: Object.freeze({ min: 500, max: 750 }),
  electionRetryMs: Object.freeze({ min: 50, max: 150 }),
  maxInflightAppends: DEFAULT_CONSENSUS_LIMITS.maxInflightAppends,
});

/** Bounds: a tick from 1 ms to 1 s; no timeout beyond 10 minutes. */
const MAX_TICK_MS = 1000;
const MAX_TIMEOUT_MS = 600_000;
/** The core's own bound on `maxInflightAppends` (`resolveLimits`). */
const MAX_INFLIGHT_APPENDS = 1024;
const FIELDS = ["tickMs", "heartbeatMs", "electionTimeoutMs", "electionRetryMs", "maxInflightAppends"];

/**
 * Validates the `consensus` section (absent or null: the defaults; absent fields: their default).
 * @throws TreatyError `MalformedRequest` naming the field (`config consensus.heartbeatMs: ...`):
 *   not an integer in bounds, not a multiple of `tickMs`, `heartbeatMs` not below
 *   `electionTimeoutMs.min`, `min` above `max`, `maxInflightAppends` not an integer from 1 to
 *   1024, or an unknown field.
 */
export function parseConsensusTiming(value: unknown): ConsensusTimingConfig {
  if (value === undefined || value === null) return DEFAULT_CONSENSUS_TIMING;
  const o = object(value, "consensus");
  for (const key of Object.keys(o)) {
    if (!FIELDS.includes(key)) throw bad(`consensus.${key}`, `one of the fields ${FIELDS.join(", ")}`, key);
  }
  const tickMs =
    o.tickMs === undefined
      ? DEFAULT_CONSENSUS_TIMING.tickMs
      : integer(o.tickMs, "consensus.tickMs", 1, MAX_TICK_MS);
  const timeout =
    o.electionTimeoutMs === undefined ? {} : object(o.electionTimeoutMs, "consensus.electionTimeoutMs");
  for (const key of Object.keys(timeout)) {
    if (key !== "min" && key !== "max") throw bad(`consensus.electionTimeoutMs.${key}`, "min or max", key);
  }
  const ms = (v: unknown, fallback: number, field: string): number => {
    const n = v === undefined ? fallback : integer(v, field, 1, MAX_TIMEOUT_MS);
    // A field left out takes its default, which the error must say: the config does not hold it.
    if (n % tickMs !== 0)
      throw bad(field, `a multiple of consensus.tickMs (${tickMs})`, n, v === undefined ? DEFAULTED : "");
    return n;
  };
  const heartbeatMs = ms(o.heartbeatMs, DEFAULT_CONSENSUS_TIMING.heartbeatMs, "consensus.heartbeatMs");
  const min = ms(
    timeout.min,
    DEFAULT_CONSENSUS_TIMING.electionTimeoutMs.min,
    "consensus.electionTimeoutMs.min",
  );
  // Without a max: half of min again as jitter (the defaults' ratio), so split votes stay rare.
  const max = ms(
    timeout.max,
    Math.max(min, Math.floor((min * 1.5) / tickMs) * tickMs),
    "consensus.electionTimeoutMs.max",
  );
  if (heartbeatMs >= min)
    throw bad(
      "consensus.heartbeatMs",
      `less than consensus.electionTimeoutMs.min (${min})`,
      heartbeatMs,
      o.heartbeatMs === undefined ? DEFAULTED : "",
    );
  if (max < min) throw bad("consensus.electionTimeoutMs.max", `at least electionTimeoutMs.min (${min})`, max);
  const retry = o.electionRetryMs === undefined ? {} : object(o.electionRetryMs, "consensus.electionRetryMs");
  for (const key of Object.keys(retry)) {
    if (key !== "min" && key !== "max") throw bad(`consensus.electionRetryMs.${key}`, "min or max", key);
  }
  // Without them: from one heartbeat (well above a vote round trip) to three, at most max.
  const retryMin = ms(retry.min, Math.min(heartbeatMs, max), "consensus.electionRetryMs.min");
  const retryMax = ms(
    retry.max,
    Math.max(retryMin, Math.min(3 * heartbeatMs, max)),
    "consensus.electionRetryMs.max",
  );
  if (retryMax < retryMin)
    throw bad("consensus.electionRetryMs.max", `at least electionRetryMs.min (${retryMin})`, retryMax);
  if (retryMax > max)
    throw bad("consensus.electionRetryMs.max", `at most electionTimeoutMs.max (${max})`, retryMax);
  const maxInflightAppends =
    o.maxInflightAppends === undefined
      ? DEFAULT_CONSENSUS_TIMING.maxInflightAppends
      : integer(o.maxInflightAppends, "consensus.maxInflightAppends", 1, MAX_INFLIGHT_APPENDS);
  return {
    tickMs,
    heartbeatMs,
    electionTimeoutMs: { min, max },
    electionRetryMs: { min: retryMin, max: retryMax },
    maxInflightAppends,
  };
}

/**
 * The core's limits for the `consensus` section: its times as ticks (exact: every time is a
 * multiple of `tickMs`) and `maxInflightAppends` as given.
 */
export function consensusTickLimits(
  timing: ConsensusTimingConfig,
): Pick<
  ConsensusLimits,
  "heartbeatTicks" | "electionTimeoutTicks" | "electionRetryTicks" | "maxInflightAppends"
> {
  const ticks = (ms: number) => ms / timing.tickMs;
  return {
    heartbeatTicks: ticks(timing.heartbeatMs),
    electionTimeoutTicks: {
      min: ticks(timing.electionTimeoutMs.min),
      max: ticks(timing.electionTimeoutMs.max),
    },
    electionRetryTicks: {
      min: ticks(timing.electionRetryMs.min),
      max: ticks(timing.electionRetryMs.max),
    },
    maxInflightAppends: timing.maxInflightAppends,
  };
}

/** Said of a value the config left out: the default it took does not fit the fields it set. */
const DEFAULTED = " (not set: its default, which does not fit the fields set; set it too)";

function bad(field: string, expected: string, got: unknown, note = ""): TreatyError {
  return new TreatyError(
    "MalformedRequest",
    `config ${field}: expected ${expected}, got ${JSON.stringify(got) ?? "nothing"}${note}`,
  );
}
function object(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad(field, "an object", v);
  return v as Record<string, unknown>;
}
function integer(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
    throw bad(field, `an integer from ${min} to ${max}`, v);
  return v;
}
