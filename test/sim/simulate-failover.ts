/**
 * A timing study of failover (issue 13), on the simulator's cluster with a 1 ms step: every
 * machine's consensus timer fires every `tickMs` from its own random phase (and late by up to
 * `tickLateMs`), messages take `latencyMs`, each Ready's writes `diskMs`. A client keeps the
 * leader busy (entries and signatures, so followers hear appends rather than heartbeats), the
 * leader is killed at a random moment, and the round measures, from the kill, when a survivor
 * leads a newer view, when it first commits in that view, and how many real elections the
 * survivors started (more than one: the vote split, or an election was lost). Safety is checked
 * after every step, as in the fault simulation. Everything derives from the seed.
 */
import { bootstrapState, type ConsensusLimits } from "../../node/consensus/index.js";
import { type ConsensusTimingConfig, consensusTickLimits } from "../../node/consensus-timing.js";
import { SimCluster, type SimNode, Trace } from "./cluster.js";
import { Prng } from "./prng.js";

/** An inclusive range of milliseconds. */
export interface MsRange {
  readonly min: number;
  readonly max: number;
}

/** One failover round's setting. */
export interface FailoverOptions {
  readonly seed: number;
  /** Founding nodes; the leader is killed, the others survive. */
  readonly nodes: number;
  readonly timing: ConsensusTimingConfig;
  /** One-way message delay (at least 1 ms: a step). */
  readonly latencyMs: MsRange;
  /** Time for a Ready's writes (hard state, entries) to become durable. */
  readonly diskMs: MsRange;
  /** Most a timer firing is late (a busy event loop); below `timing.tickMs`. */
  readonly tickLateMs: number;
  /** Chance per ms that the client proposes a batch to the leader. */
  readonly load: number;
  /** Limits beyond the timing (e.g. to compare variants). */
  readonly limits?: Partial<ConsensusLimits>;
}

/** What one round measured, in ms after the kill. */
export interface FailoverRound {
  readonly seed: number;
  readonly electedMs: number;
  readonly committedMs: number;
  /** Real elections the survivors started (pre-votes not counted). */
  readonly elections: number;
  readonly preVotes: number;
}

/** Longest a round may take before it counts as a liveness failure. */
const ROUND_LIMIT_MS = 20_000;
/** Longest warm-up under load before the kill (the kill lands at a uniformly random moment). */
const MAX_WARMUP_MS = 3_000;

/** Runs one round; throws on a safety violation, an assertion of the core, or no leader in time. */
export function failoverRound(options: FailoverOptions): FailoverRound {
  const rng = new Prng(options.seed);
  const limits: Partial<ConsensusLimits> = {
    ...consensusTickLimits(options.timing),
    ...options.limits,
  };
  const cluster = new SimCluster(rng.fork(), limits, new Trace(false), {
    stepsPerTick: options.timing.tickMs,
    tickLateSteps: options.tickLateMs,
  });
  const client = rng.fork();
  const net = cluster.network;
  net.faults.minDelayTicks = options.latencyMs.min;
  net.faults.maxDelayTicks = options.latencyMs.max;
  const founders = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  for (const id of founders) {
    const node = cluster.addNode(id, bootstrapState(founders));
    node.diskDelay = { ...options.diskMs };
  }
  const step = () => {
    const leader = cluster.leader();
    if (leader !== undefined && client.chance(options.load))
      cluster.propose(leader, client.between(1, 4), false);
    cluster.step();
  };
  const committedInView = (node: SimNode | undefined) => node?.core?.committedInView() === true;
  while (!committedInView(cluster.leader())) {
    if (cluster.now > ROUND_LIMIT_MS) throw new Error(`seed ${options.seed}: no first leader`);
    step();
  }
  const warmup = cluster.now + client.between(options.timing.electionTimeoutMs.max, MAX_WARMUP_MS);
  while (cluster.now < warmup) step();

  const victim = cluster.leader()!;
  const oldView = victim.core!.status().view;
  const survivors = cluster.live().filter((n) => n !== victim);
  const count = () =>
    survivors.reduce(
      (sum, n) => {
        const s = n.core!.stats();
        return { elections: sum.elections + s.electionsStarted, preVotes: sum.preVotes + s.preVotesStarted };
      },
      { elections: 0, preVotes: 0 },
    );
  const before = count();
  cluster.crash(victim);
  const killedAt = cluster.now;
  let electedMs: number | undefined;
  for (;;) {
    step();
    const leader = cluster.leader();
    if (leader !== undefined && leader.core!.status().view > oldView) {
      electedMs ??= cluster.now - killedAt;
      if (committedInView(leader)) break;
    }
    if (cluster.now - killedAt > ROUND_LIMIT_MS) throw new Error(`seed ${options.seed}: no new leader`);
  }
  const after = count();
  return {
    seed: options.seed,
    electedMs: electedMs!,
    committedMs: cluster.now - killedAt,
    elections: after.elections - before.elections,
    preVotes: after.preVotes - before.preVotes,
  };
}

/** The summary of many rounds. */
export interface FailoverSummary {
  readonly rounds: number;
  /** Rounds with more than one real election. */
  readonly splits: number;
  readonly elected: Percentiles;
  readonly committed: Percentiles;
  /** Rounds whose first commit came after 1,000 ms. */
  readonly over1s: number;
}

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1]! };
}

export function summarize(rounds: readonly FailoverRound[]): FailoverSummary {
  return {
    rounds: rounds.length,
    splits: rounds.filter((r) => r.elections > 1).length,
    elected: percentiles(rounds.map((r) => r.electedMs)),
    committed: percentiles(rounds.map((r) => r.committedMs)),
    over1s: rounds.filter((r) => r.committedMs > 1000).length,
  };
}
