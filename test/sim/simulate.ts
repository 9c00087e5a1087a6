/**
 * One seeded simulation run (VOPR-style): build a cluster, run a random fault schedule (loss,
 * delay and reordering, duplication, symmetric and one-way partitions, crashes losing unpersisted
 * state, restarts, slow disks, membership changes) with a client workload while checking safety
 * after every tick, then heal everything and check liveness: a leader emerges, a new transaction
 * commits, and every member converges on the same committed log. Everything derives from the
 * seed, so a failing seed replays exactly, and `runSeed` replays it with tracing on.
 */
import { AssertionFailure } from "../../sdk/assert.js";
import { isTreatyError } from "../../sdk/errors.js";
import { bootstrapState, type ConsensusLimits, emptyState, type NodeId } from "../../node/consensus/index.js";
import { sameEntry } from "./checker.js";
import { SimCluster, type SimNode, Trace } from "./cluster.js";
import { Prng } from "./prng.js";

/** What to simulate. */
export interface SimOptions {
  readonly seed: number;
  /** Founding nodes (3, 5 or 7 in CI). */
  readonly nodes: number;
  /** Ticks of the faulty phase. */
  readonly steps: number;
  /** Also add and retire nodes during the faulty phase. */
  readonly membership: boolean;
  /** Keep a trace of the last events (slower; used to explain a failure). */
  readonly trace?: boolean;
}

/** Summary of a successful run. */
export interface SimSummary {
  readonly seed: number;
  readonly ticks: number;
  readonly committed: number;
  readonly acknowledged: number;
  readonly maxView: number;
  readonly messagesSent: number;
  readonly messagesDropped: number;
  readonly crashes: number;
  readonly restarts: number;
  readonly membershipChanges: number;
  readonly finalMembers: number;
  /** Read-index requests answered with a seqno (each checked for staleness). */
  readonly readsServed: number;
  readonly readsFailed: number;
  /** Highest compacted seqno (log window base) of a live node at the end. */
  readonly maxLogBase: number;
  /** Restarts that loaded only the entries after a non-empty base. */
  readonly restartsFromBase: number;
  /** Snapshots installed by lagging followers and joiners, and transfers that failed. */
  readonly snapshotsInstalled: number;
  readonly snapshotsAborted: number;
}

/** A run that broke safety or liveness; `trace` is filled when the run was traced. */
export class SimFailure extends Error {
  override readonly name = "SimFailure";
  constructor(
    readonly seed: number,
    message: string,
    readonly trace: readonly string[],
  ) {
    super(message);
  }
}

/** The limits every simulated node runs with: small, so batching, windows and backpressure bite. */
export const SIM_LIMITS: Partial<ConsensusLimits> = {
  heartbeatTicks: 2,
  electionTimeoutTicks: { min: 10, max: 20 },
  maxBatchEntries: 8,
  maxBatchBytes: 256,
  maxInflightAppends: 4,
  maxUncommittedEntries: 48,
  // A small window: every run compacts its logs, serves lagging followers from the disk, and
  // restarts from a base (cluster.ts).
  logTailEntries: 8,
};

/** Ticks after healing for a leader to emerge and commit, before catch-up is accounted for. */
const LIVENESS_TICKS = 1_500;
/**
 * Worst-case ticks per window of entries a lagging node catches up (one round trip at the
 * healed network's maximum delay of 2 ticks each way, plus a tick of slack).
 */
const CATCH_UP_TICKS_PER_WINDOW = 6;

/**
 * Per-seed fault and workload intensities (swarm testing, as TigerBeetle's VOPR): drawing them
 * per seed reaches corners that one fixed mix of rates visits rarely, such as a cluster whose
 * leaders crash right after election, or one with no partitions but heavy loss.
 */
export interface Swarm {
  readonly crashRate: number;
  readonly leaderCrashBias: number;
  readonly restartRate: number;
  readonly partitionRate: number;
  readonly healRate: number;
  readonly networkChangeRate: number;
  readonly slowDiskRate: number;
  readonly proposeRate: number;
  readonly signatureRate: number;
  readonly readRate: number;
  readonly limits: Partial<ConsensusLimits>;
}

/** Draws the swarm parameters of one seed. */
export function drawSwarm(rng: Prng): Swarm {
  return {
    crashRate: rng.pick([0, 0.002, 0.006, 0.02]),
    leaderCrashBias: rng.pick([0, 0, 0.5, 0.9]),
    restartRate: rng.pick([0.005, 0.02, 0.1]),
    partitionRate: rng.pick([0, 0.004, 0.02]),
    healRate: rng.pick([0.005, 0.02, 0.05]),
    networkChangeRate: rng.pick([0, 0.01, 0.03]),
    slowDiskRate: rng.pick([0, 0.005, 0.02]),
    proposeRate: rng.pick([0.1, 0.3, 0.8]),
    signatureRate: rng.pick([0.1, 0.35, 0.7]),
    readRate: rng.pick([0.05, 0.3, 0.9]),
    limits: {
      ...SIM_LIMITS,
      maxBatchEntries: rng.pick([2, 8]),
      maxInflightAppends: rng.pick([1, 4]),
    },
  };
}

/** Runs one seed; throws SimFailure on any violation (AssertionFailures of the core included). */
export function simulate(options: SimOptions): SimSummary {
  const rng = new Prng(options.seed);
  const swarm = drawSwarm(rng);
  const trace = new Trace(options.trace === true);
  const cluster = new SimCluster(rng.fork(), swarm.limits, trace);
  const faults = rng.fork();
  const clients = rng.fork();
  const founders = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
  let nextNodeNumber = options.nodes + 1;
  try {
    for (const id of founders) cluster.addNode(id, bootstrapState(founders));
    for (let t = 0; t < options.steps; t++) {
      injectFaults(cluster, faults, swarm);
      clientWorkload(cluster, clients, swarm);
      if (options.membership && clients.chance(0.01)) {
        const added = changeMembership(cluster, clients, nextNodeNumber, options.nodes);
        if (added) nextNodeNumber++;
      }
      cluster.step();
    }
    checkLiveness(cluster, swarm);
    const leader = cluster.leader()!.core!.status();
    return {
      seed: options.seed,
      ticks: cluster.now,
      committed: cluster.checker.committedLength(),
      acknowledged: cluster.checker.acknowledged().length,
      maxView: Math.max(...cluster.live().map((n) => n.core!.status().view)),
      messagesSent: cluster.network.sent,
      messagesDropped: cluster.network.dropped,
      crashes: cluster.counters.crashes,
      restarts: cluster.counters.restarts,
      membershipChanges: cluster.counters.membershipChanges,
      finalMembers: leader.config?.length ?? 0,
      readsServed: cluster.counters.readsServed,
      readsFailed: cluster.counters.readsFailed,
      maxLogBase: Math.max(...cluster.live().map((n) => n.core!.logWindow().baseSeqno)),
      restartsFromBase: cluster.counters.restartsFromBase,
      snapshotsInstalled: cluster.counters.snapshotsInstalled,
      snapshotsAborted: cluster.counters.snapshotsAborted,
    };
  } catch (err) {
    if (err instanceof SimFailure) throw err;
    const what = err instanceof AssertionFailure ? "assertion" : err instanceof Error ? err.name : "error";
    const message = err instanceof Error ? err.message : String(err);
    throw new SimFailure(options.seed, `tick ${cluster.now}: ${what}: ${message}`, trace.tail());
  }
}

/** Runs a seed; on failure replays it with tracing on and returns the traced failure. */
export function runSeed(
  options: SimOptions,
): { ok: true; summary: SimSummary } | { ok: false; failure: SimFailure } {
  try {
    return { ok: true, summary: simulate(options) };
  } catch (err) {
    if (!(err instanceof SimFailure)) throw err;
    try {
      simulate({ ...options, trace: true });
    } catch (traced) {
      if (traced instanceof SimFailure) return { ok: false, failure: traced };
      throw traced;
    }
    return { ok: false, failure: new SimFailure(options.seed, `${err.message} (did not replay!)`, []) };
  }
}

/** Formats a failure for humans: seed, how to replay, what broke, the trace tail. */
export function formatFailure(failure: SimFailure, options: SimOptions): string {
  const replay = `npm run sim -- --seed ${failure.seed} --nodes ${options.nodes} --steps ${options.steps}${options.membership ? "" : " --no-membership"}`;
  return [
    `SIMULATION FAILED seed=${failure.seed}: ${failure.message}`,
    `replay: ${replay}`,
    "trace:",
    ...failure.trace,
  ]
    .join("\n")
    .concat("\n");
}

function injectFaults(cluster: SimCluster, rng: Prng, swarm: Swarm): void {
  const nodes = [...cluster.nodes.values()];
  const net = cluster.network;
  const say = (line: string) => cluster.trace.add(cluster.now, () => `FAULT ${line}`);
  const live = nodes.filter((n) => n.core !== null);
  if (live.length > 0 && rng.chance(swarm.crashRate)) {
    const leader = cluster.leader();
    const victim = leader !== undefined && rng.chance(swarm.leaderCrashBias) ? leader : rng.pick(live);
    say(`crash ${victim.id}`);
    cluster.crash(victim);
  }
  for (const node of nodes) {
    if (node.core === null && rng.chance(swarm.restartRate)) cluster.restart(node);
  }
  if (rng.chance(swarm.partitionRate)) {
    const ids = nodes.map((n) => n.id);
    const kind = rng.nextInt(3);
    if (kind === 0) {
      // Symmetric split into two random sides.
      const side = new Set(ids.filter(() => rng.chance(0.5)));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) net.cutLink(a, b);
      say(`partition {${[...side].join(",")}} | rest`);
    } else if (kind === 1) {
      const lone = rng.pick(ids);
      for (const other of ids) {
        net.cutLink(lone, other);
        net.cutLink(other, lone);
      }
      say(`isolate ${lone}`);
    } else {
      // One-way: some node can send but not receive (or the reverse) from a few peers.
      const a = rng.pick(ids);
      const inbound = rng.chance(0.5);
      for (const b of ids) {
        if (b !== a && rng.chance(0.6)) inbound ? net.cutLink(b, a) : net.cutLink(a, b);
      }
      say(`one-way ${inbound ? "into" : "out of"} ${a}`);
    }
  }
  if (net.cutCount() > 0 && rng.chance(swarm.healRate)) {
    net.healAll();
    say("heal network");
  }
  if (rng.chance(swarm.networkChangeRate)) {
    net.faults.lossRate = rng.pick([0, 0, 0.02, 0.1, 0.3]);
    net.faults.duplicateRate = rng.pick([0, 0.02, 0.1]);
    net.faults.minDelayTicks = 1;
    net.faults.maxDelayTicks = rng.pick([1, 2, 3, 6, 12]);
    say(
      `network loss=${net.faults.lossRate} dup=${net.faults.duplicateRate} delay<=${net.faults.maxDelayTicks}`,
    );
  }
  if (rng.chance(swarm.slowDiskRate)) {
    const node = rng.pick(nodes);
    node.diskDelay = node.diskDelay.max === 0 ? { min: 1, max: rng.between(2, 8) } : { min: 0, max: 0 };
    say(`disk of ${node.id} delay<=${node.diskDelay.max}`);
  }
}

function clientWorkload(cluster: SimCluster, rng: Prng, swarm: Swarm): void {
  // Clients talk to whichever node they believe leads, deposed leaders included: that is what
  // builds the divergent uncommitted suffixes that view changes must truncate.
  for (const node of cluster.nodes.values()) {
    if (node.core?.status().role !== "Leader" || !rng.chance(swarm.proposeRate)) continue;
    // CCF signs every few transactions or milliseconds: here a signature follows some batches.
    cluster.propose(node, rng.between(0, 3), rng.chance(swarm.signatureRate));
  }
  // Readers also ask whichever node they believe leads: a deposed leader must never answer.
  for (const node of cluster.nodes.values()) {
    if (node.core?.status().role === "Leader" && rng.chance(swarm.readRate)) cluster.requestRead(node);
  }
}

/**
 * Adds a fresh node (through its learner phase) or retires a member through the leader.
 * Returns whether a node was added as a voter.
 */
function changeMembership(cluster: SimCluster, rng: Prng, nextNumber: number, founders: number): boolean {
  const leader = cluster.leader();
  const core = leader?.core;
  if (leader === undefined || core === null || core === undefined) return false;
  const members = core.status().config ?? [];
  const add = members.length < Math.min(7, founders + 1) && (members.length <= 3 || rng.chance(0.5));
  try {
    if (add) {
      // The joiner starts first and catches up as a learner; the leader refuses the change
      // (Unavailable) until it is close enough, and a later try adds it.
      const id = `n${nextNumber}`;
      if (!cluster.nodes.has(id)) {
        cluster.addNode(id, emptyState());
        cluster.trace.add(cluster.now, () => `${id}: started to join`);
      }
      core.changeMembership({ add: id });
      cluster.counters.membershipChanges++;
      cluster.trace.add(cluster.now, () => `${leader.id}: propose add ${id}`);
      return true;
    }
    if (members.length > 3) {
      const victim = rng.pick(members);
      core.changeMembership({ retire: victim });
      cluster.counters.membershipChanges++;
      cluster.trace.add(cluster.now, () => `${leader.id}: propose retire ${victim}`);
    }
  } catch (err) {
    if (!isTreatyError(err)) throw err;
  }
  return false;
}

/**
 * Heals everything and requires progress: a leader that committed in its view, a fresh
 * transaction committed, and all members holding the same committed log.
 */
function checkLiveness(cluster: SimCluster, swarm: Swarm): void {
  const net = cluster.network;
  net.healAll();
  net.faults.lossRate = 0;
  net.faults.duplicateRate = 0;
  net.faults.minDelayTicks = 1;
  net.faults.maxDelayTicks = 2;
  for (const node of cluster.nodes.values()) {
    node.diskDelay = { min: 0, max: 0 };
    if (node.core === null) cluster.restart(node);
  }
  cluster.trace.add(cluster.now, () => "HEAL: all faults off, every node up");
  // A node added late may have to fetch the whole log, one window per round trip.
  const longest = Math.max(...[...cluster.nodes.values()].map((n) => n.core!.status().lastSeqno));
  const window = (swarm.limits.maxBatchEntries ?? 1) * (swarm.limits.maxInflightAppends ?? 1);
  const budget = LIVENESS_TICKS + CATCH_UP_TICKS_PER_WINDOW * Math.ceil(longest / window);
  const deadline = cluster.now + budget;
  let marker: { view: number; seqno: number } | undefined;
  while (cluster.now < deadline) {
    cluster.step();
    const leader = cluster.leader();
    const status = leader?.core?.status();
    if (leader === undefined || status === undefined) continue;
    if (marker === undefined || leader.core!.txStatus(marker.view, marker.seqno) === "Invalid") {
      if (status.commitSeqno === 0 || cluster.entryAt(leader, status.commitSeqno)!.view !== status.view)
        continue;
      const ids = cluster.propose(leader, 1, true);
      marker = ids[ids.length - 1];
      continue;
    }
    if (converged(cluster, leader, marker.seqno)) return;
  }
  const states = [...cluster.nodes.values()].map((n) => {
    const s = n.core!.status();
    return `${n.id}: ${s.role} v=${s.view} leader=${s.leader ?? "-"} commit=${s.commitSeqno} last=${s.lastView}.${s.lastSeqno} config=${s.config?.join(",") ?? "-"}`;
  });
  throw new Error(`liveness: no convergence ${budget} ticks after healing\n  ${states.join("\n  ")}`);
}

/** All members of the leader's configuration committed `seqno` and hold identical logs up to it. */
function converged(cluster: SimCluster, leader: SimNode, seqno: number): boolean {
  const status = leader.core!.status();
  const members: readonly NodeId[] = status.config ?? [];
  for (const id of members) {
    const core = cluster.nodes.get(id)?.core;
    if (core === null || core === undefined || core.status().commitSeqno < seqno) return false;
  }
  for (const id of members) {
    const node = cluster.nodes.get(id)!;
    const core = node.core!;
    core.checkInvariants(true);
    for (let s = 1; s <= seqno; s++) {
      const mine = cluster.entryAt(node, s)!;
      const global = cluster.checker.committedEntry(s);
      if (global === undefined || !sameEntry(mine, global))
        throw new Error(`liveness: ${id} diverges at ${s}`);
    }
    for (const tx of cluster.checker.acknowledged()) {
      if (tx.seqno <= seqno && core.txStatus(tx.view, tx.seqno) !== "Committed") {
        throw new Error(`liveness: ${id} does not report acknowledged ${tx.view}.${tx.seqno} as Committed`);
      }
    }
  }
  return true;
}
