/**
 * A simulated cluster: consensus nodes with simulated disks on a `SimNetwork`, driven tick by tick.
 * Each node's driver follows the documented Ready contract exactly (persist, then send, then
 * apply and acknowledge), with optionally slow disks: a Ready's writes complete some ticks later,
 * in order, and a crash loses every write (and the messages and commits held behind it) that
 * had not completed. All randomness comes from the seeded `Prng`s handed in.
 *
 * Snapshots: every node offers its core a snapshot at its latest durable committed signature
 * every `SNAPSHOT_INTERVAL_TICKS`. A simulated snapshot's bytes are the committed prefix itself
 * (entries 1..seqno of the sender's disk), carried alongside the install-snapshot message, so the
 * checker can verify every install against the one committed log. A follower's driver installs
 * a requested snapshot once its earlier writes are durable and a random transfer time passed
 * (a crash loses the transfer; some transfers fail and are aborted); from then on its storage
 * serves only the entries after the snapshot, so leaders that installed one must send
 * snapshots in turn to followers that need older entries.
 */
import { assert } from "../../sdk/assert.js";
import { isTreatyError } from "../../sdk/errors.js";
import {
  type CommittedRange,
  ConsensusNode,
  type ConsensusLimits,
  describeEntry,
  describeMessage,
  type Entry,
  type HardState,
  type LogBase,
  type NodeId,
  type PersistedState,
  type Ready,
  type TxId,
} from "../../node/consensus/index.js";
import { baseOf } from "../../node/consensus/log.js";
import { SafetyChecker, SafetyViolation } from "./checker.js";
import { SimNetwork } from "./network.js";
import type { Prng } from "./prng.js";

/** How often a leader's driver signs an unsigned log tail. */
const SIGNATURE_INTERVAL_TICKS = 5;
/** How often every node offers its core a fresh snapshot. */
const SNAPSHOT_INTERVAL_TICKS = 10;
/** Most ticks a snapshot transfer and install take, and the share of them that fail. */
const SNAPSHOT_INSTALL_MAX_TICKS = 6;
const SNAPSHOT_FAILURE_RATE = 0.1;

/** A bounded ring of trace lines (only filled when tracing is on). */
export class Trace {
  private readonly lines: string[] = [];
  constructor(
    readonly enabled: boolean,
    private readonly capacity = 400,
  ) {}

  /** Records a line built lazily (so a disabled trace costs nothing). */
  add(now: number, line: () => string): void {
    if (!this.enabled) return;
    this.lines.push(`[${String(now).padStart(5)}] ${line()}`);
    if (this.lines.length > this.capacity) this.lines.shift();
  }

  /** The retained lines, oldest first. */
  tail(): readonly string[] {
    return this.lines;
  }
}

interface PendingWrite {
  readonly ready: Ready;
  readonly doneAt: number;
}

/** One simulated machine: a consensus node (null while crashed) and its durable disk. */
export class SimNode {
  core: ConsensusNode | null = null;
  hardState: HardState;
  readonly disk: Entry[];
  pending: PendingWrite[] = [];
  diskDelay = { min: 0, max: 0 };
  /** Seqno of the last snapshot installed: the disk serves consensus only the entries after it. */
  snapshotFloor = 0;
  /** A snapshot the core asked for: installed once earlier writes are durable, at `doneAt`. */
  install: { readonly snapshot: LogBase; readonly data: readonly Entry[]; readonly doneAt: number } | null =
    null;
  /** The step this machine's next core tick is due, and the (later) step its timer fires (`SimClock`). */
  nextTickAt = 0;
  tickFiresAt = 0;

  constructor(
    readonly id: NodeId,
    initial: PersistedState,
  ) {
    this.hardState = initial.hardState;
    this.disk = [...initial.entries];
  }
}

/** Counters the run summary reports. */
export interface ClusterCounters {
  crashes: number;
  restarts: number;
  restartsFromBase: number;
  proposals: number;
  refusals: number;
  membershipChanges: number;
  /** Read-index requests answered with a seqno, and answered as failed (leadership lost). */
  readsServed: number;
  readsFailed: number;
  /** Snapshots installed by followers, and transfers that failed (aborted). */
  snapshotsInstalled: number;
  snapshotsAborted: number;
}

/**
 * How simulated time maps to core ticks. The fault simulation ticks every core once per step
 * (the default). A timing study uses a finer step (1 ms, simulate-failover.ts): each machine's
 * timer then fires every `stepsPerTick` steps from its own random phase, each firing late by up
 * to `tickLateSteps` (a busy event loop), as the real nodes' independent timers do; a late
 * firing does not move the next one (node/tick-clock.ts paces ticks by the clock).
 */
export interface SimClock {
  readonly stepsPerTick: number;
  readonly tickLateSteps: number;
}

/** See the module comment. */
export class SimCluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly network: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly counters: ClusterCounters = {
    crashes: 0,
    restarts: 0,
    restartsFromBase: 0,
    proposals: 0,
    refusals: 0,
    membershipChanges: 0,
    readsServed: 0,
    readsFailed: 0,
    snapshotsInstalled: 0,
    snapshotsAborted: 0,
  };
  /** The bytes of each snapshot offered (its committed prefix), by the metadata object sent. */
  private readonly snapshotData = new WeakMap<LogBase, readonly Entry[]>();
  /** Read-index requests in flight: the global commit length when each was made. */
  private readonly reads = new Map<number, { readonly node: NodeId; readonly committedAtRequest: number }>();
  private nextReadId = 1;
  now = 0;
  private payloadCounter = 0;

  constructor(
    private readonly rng: Prng,
    readonly limits: Partial<ConsensusLimits>,
    readonly trace: Trace,
    readonly clock: SimClock = { stepsPerTick: 1, tickLateSteps: 0 },
  ) {
    this.network = new SimNetwork(rng.fork());
  }

  /** Adds a machine with `state` and starts it. */
  addNode(id: NodeId, state: PersistedState): SimNode {
    assert(!this.nodes.has(id), "node ids are unique");
    const node = new SimNode(id, state);
    // Only a clock finer than the tick draws phases, so fault-simulation seeds replay unchanged.
    if (this.clock.stepsPerTick > 1) {
      assert(this.clock.tickLateSteps < this.clock.stepsPerTick, "a timer fires less than a tick late");
      node.nextTickAt = this.now + 1 + this.rng.nextInt(this.clock.stepsPerTick);
      node.tickFiresAt = node.nextTickAt + this.rng.between(0, this.clock.tickLateSteps);
    }
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  /** Live nodes, in id order. */
  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.core !== null);
  }

  /** The first live node (by id) that believes it leads, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      const s = n.core?.status();
      if (s?.role === "Leader" && (best === undefined || s.view > best.core!.status().view)) best = n;
    }
    return best;
  }

  /** Crash: the process dies; writes in progress (and what waited on them) are lost. */
  crash(node: SimNode): void {
    assert(node.core !== null, "crash a live node");
    this.trace.add(this.now, () => `${node.id}: CRASH (${node.pending.length} writes lost)`);
    for (const [id, read] of this.reads) if (read.node === node.id) this.reads.delete(id);
    node.core = null;
    node.pending = [];
    node.install = null;
    this.counters.crashes++;
  }

  /** Restart from the durable disk. */
  restart(node: SimNode): void {
    assert(node.core === null, "restart a crashed node");
    this.start(node);
    this.checker.observeRestart(node.id, node.hardState.commitSeqno, (seqno) => this.entryAt(node, seqno));
    this.counters.restarts++;
    if (node.hardState.commitSeqno > 0) this.counters.restartsFromBase++;
    this.trace.add(
      this.now,
      () =>
        `${node.id}: RESTART v=${node.hardState.view} log=${node.disk.length} commit=${node.hardState.commitSeqno}`,
    );
  }

  /** A unique payload for a client transaction or signature. */
  nextPayload(kind: string): Uint8Array {
    return new TextEncoder().encode(`${kind}${++this.payloadCounter}`);
  }

  /** Proposes on `node`; refusals (not leader, backpressure) are normal and counted. */
  propose(node: SimNode, count: number, withSignature: boolean): TxId[] {
    const core = node.core;
    if (core === null) return [];
    const entries = [];
    for (let i = 0; i < count; i++) entries.push({ signature: false, payload: this.nextPayload("tx") });
    if (withSignature) entries.push({ signature: true, payload: this.nextPayload("sig") });
    try {
      const ids = core.propose(entries);
      this.counters.proposals += ids.length;
      this.trace.add(
        this.now,
        () => `${node.id}: propose ${ids.map((t) => `${t.view}.${t.seqno}`).join(",")}`,
      );
      return ids;
    } catch (err) {
      if (!isTreatyError(err)) throw err;
      this.counters.refusals++;
      return [];
    }
  }

  /**
   * Asks `node` (if it believes it leads) for a read index. Safety of the answer is checked when
   * it arrives: at least every entry any node had seen committed when the read was asked.
   */
  requestRead(node: SimNode): void {
    const core = node.core;
    if (core === null) return;
    const id = this.nextReadId++;
    try {
      core.readIndex(id);
    } catch (err) {
      if (!isTreatyError(err)) throw err;
      return;
    }
    this.reads.set(id, { node: node.id, committedAtRequest: this.checker.committedLength() });
    this.trace.add(this.now, () => `${node.id}: read ${id} (commit known ${this.checker.committedLength()})`);
  }

  /** One tick: deliver due messages, tick every live node, run the drivers, check safety. */
  step(): void {
    this.now++;
    for (const m of this.network.deliverDue(this.now)) {
      const core = this.nodes.get(m.to)?.core;
      if (core === undefined || core === null) continue;
      this.trace.add(this.now, () => `deliver ${describeMessage(m)}`);
      core.step(m);
    }
    for (const node of this.nodes.values()) {
      const core = node.core;
      if (core === null || !this.tickDue(node)) continue;
      core.tick();
      // The node's signature timer (CCF: every N transactions or T ms): a leader whose log
      // does not end with a signature signs it, so commit never waits on clients.
      if (this.now % SIGNATURE_INTERVAL_TICKS === 0 && core.status().role === "Leader") {
        const last = core.entry(core.status().lastSeqno);
        if (last?.signature !== true) this.propose(node, 0, true);
      }
      if (this.now % SNAPSHOT_INTERVAL_TICKS === 0) this.offerSnapshot(node);
    }
    for (const node of this.nodes.values()) this.drive(node);
    this.checkSafety();
  }

  /** Whether `node`'s timer fires this step (every step unless the clock is finer than a tick). */
  private tickDue(node: SimNode): boolean {
    const { stepsPerTick, tickLateSteps } = this.clock;
    if (stepsPerTick === 1) return true;
    if (this.now < node.tickFiresAt) return false;
    // The timer fires late by up to tickLateSteps; the next one stays on its schedule.
    node.nextTickAt += stepsPerTick;
    node.tickFiresAt = node.nextTickAt + this.rng.between(0, tickLateSteps);
    return true;
  }

  /** Runs `node`'s driver: take Readys, complete due writes in order, then act on them. */
  drive(node: SimNode): void {
    for (let round = 0; ; round++) {
      assert(round < 64, "driver rounds are bounded");
      const core = node.core;
      if (core === null) return;
      while (core.hasReady()) {
        const rd = core.ready();
        const delay = node.diskDelay.max === 0 ? 0 : this.rng.between(node.diskDelay.min, node.diskDelay.max);
        const previous = node.pending[node.pending.length - 1];
        const doneAt = Math.max(this.now + delay, previous?.doneAt ?? 0);
        node.pending.push({ ready: rd, doneAt });
        if (rd.installSnapshot !== null) {
          const { snapshot, leader } = rd.installSnapshot;
          const data = this.snapshotData.get(snapshot);
          assert(data !== undefined, "a snapshot offer carries its data");
          const doneAt = this.now + this.rng.between(0, SNAPSHOT_INSTALL_MAX_TICKS);
          node.install = { snapshot, data, doneAt };
          this.trace.add(
            this.now,
            () => `${node.id}: fetch snapshot ${snapshot.view}.${snapshot.seqno} from ${leader}`,
          );
        }
        if (rd.softState !== null) {
          const s = rd.softState;
          this.trace.add(this.now, () => `${node.id}: ${s.role} v=${s.view} leader=${s.leader ?? "-"}`);
          // As CCF: a new leader signs at once, so entries of earlier views can commit.
          if (s.role === "Leader") this.propose(node, 0, true);
        }
      }
      if (node.pending.length === 0 && node.install !== null && node.install.doneAt <= this.now) {
        this.installSnapshot(node);
        continue;
      }
      if (node.pending.length === 0 || node.pending[0]!.doneAt > this.now) return;
      while (node.pending.length > 0 && node.pending[0]!.doneAt <= this.now && node.core !== null) {
        this.complete(node, node.pending.shift()!.ready);
      }
    }
  }

  /** The Ready's writes are durable: persist, send, apply, acknowledge (the documented order). */
  private complete(node: SimNode, rd: Ready): void {
    const core = node.core!;
    if (rd.truncateFromSeqno !== null) {
      if (rd.truncateFromSeqno <= node.hardState.commitSeqno) {
        throw new SafetyViolation(`${node.id}: truncation from ${rd.truncateFromSeqno} below durable commit`);
      }
      node.disk.length = Math.min(node.disk.length, rd.truncateFromSeqno - 1);
      this.trace.add(this.now, () => `${node.id}: disk truncate from ${rd.truncateFromSeqno}`);
    }
    for (const entry of rd.entries) {
      assert(entry.seqno === node.disk.length + 1, "Ready entries continue the durable log");
      node.disk.push(entry);
    }
    if (rd.entries.length > 0) {
      this.trace.add(this.now, () => `${node.id}: disk append ${rd.entries.map(describeEntry).join(", ")}`);
    }
    if (rd.hardState !== null) {
      assert(rd.hardState.commitSeqno <= node.disk.length, "durable commit within the durable log");
      node.hardState = rd.hardState;
    }
    for (const m of rd.messages) {
      // The snapshot's bytes travel with the offer: the sender's committed prefix.
      if (m.type === "installSnapshot" && !this.snapshotData.has(m.snapshot)) {
        assert(m.snapshot.seqno <= node.disk.length, "a snapshot is within the sender's disk");
        this.snapshotData.set(m.snapshot, node.disk.slice(0, m.snapshot.seqno));
      }
      this.network.send(m, this.now);
    }
    if (rd.committed !== null) {
      const range = rd.committed;
      this.checker.observeApplied(node.id, range);
      this.trace.add(this.now, () => `${node.id}: apply ${range.fromSeqno}..${range.toSeqno}`);
      // The leader answers its clients once their transactions are applied.
      if (core.status().role === "Leader") {
        for (const e of range.entries) this.checker.acknowledge({ view: e.view, seqno: e.seqno });
      }
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) core.ackPersisted(last.seqno, last.view);
    for (const read of rd.reads) this.answerRead(node, read.id, read.seqno);
  }

  private answerRead(node: SimNode, id: number, seqno: number | null): void {
    const request = this.reads.get(id);
    if (request === undefined || request.node !== node.id)
      throw new SafetyViolation(`${node.id}: answered read ${id} it was never asked`);
    this.reads.delete(id);
    this.trace.add(this.now, () => `${node.id}: read ${id} ${seqno === null ? "failed" : `at ${seqno}`}`);
    if (seqno === null) {
      this.counters.readsFailed++;
      return;
    }
    this.counters.readsServed++;
    if (seqno < request.committedAtRequest) {
      throw new SafetyViolation(
        `${node.id}: stale read index ${seqno} for read ${id}: ${request.committedAtRequest} was committed when it was asked`,
      );
    }
    if (seqno > node.core!.status().commitSeqno)
      throw new SafetyViolation(`${node.id}: read index ${seqno} beyond its commit point`);
  }

  /** Safety after a step: every live node's invariants, leaders, commits. */
  checkSafety(): void {
    for (const node of this.nodes.values()) {
      const core = node.core;
      if (core === null) continue;
      core.checkInvariants();
      const s = core.status();
      if (s.role === "Leader" && this.checker.observeLeader(s.view, node.id)) {
        this.trace.add(this.now, () => `${node.id}: elected in view ${s.view}`);
        this.checker.checkLeaderLog(node.id, s.view, (seqno) => this.entryAt(node, seqno));
      }
      this.checker.observeCommit(node.id, s.commitSeqno, (seqno) => this.entryAt(node, seqno));
    }
  }

  /** `node`'s entry at `seqno`: its core's, or its disk's below the snapshot floor. */
  entryAt(node: SimNode, seqno: number): Entry | undefined {
    return node.core?.entry(seqno) ?? (seqno <= node.snapshotFloor ? node.disk[seqno - 1] : undefined);
  }

  /** Offers `node`'s core a snapshot at its latest committed signature on disk. */
  private offerSnapshot(node: SimNode): void {
    const core = node.core!;
    let seqno = Math.min(core.status().commitSeqno, node.disk.length);
    while (seqno > node.snapshotFloor && !node.disk[seqno - 1]!.signature) seqno--;
    if (seqno === 0 || !node.disk[seqno - 1]!.signature) return;
    if (core.offerSnapshot(seqno, node.disk[seqno - 1]!.view))
      this.trace.add(this.now, () => `${node.id}: snapshot at ${seqno}`);
  }

  /**
   * The follower's driver finished fetching the snapshot: some transfers fail (the core is told
   * to give up); otherwise the disk becomes the snapshot's prefix (an atomic replace, as a real
   * install of state and ledger base) and the core is told.
   */
  private installSnapshot(node: SimNode): void {
    const { snapshot, data } = node.install!;
    node.install = null;
    const core = node.core!;
    if (this.rng.chance(SNAPSHOT_FAILURE_RATE)) {
      core.snapshotAborted(snapshot.seqno);
      this.counters.snapshotsAborted++;
      this.trace.add(this.now, () => `${node.id}: snapshot ${snapshot.seqno} transfer failed`);
      return;
    }
    const range: CommittedRange = { fromSeqno: 1, toSeqno: snapshot.seqno, entries: data };
    this.checker.observeSnapshotInstalled(node.id, range);
    node.disk.length = 0;
    node.disk.push(...data);
    node.snapshotFloor = snapshot.seqno;
    node.hardState = { ...node.hardState, commitSeqno: snapshot.seqno };
    core.snapshotInstalled(snapshot.seqno, snapshot.view);
    this.counters.snapshotsInstalled++;
    this.trace.add(this.now, () => `${node.id}: installed snapshot ${snapshot.view}.${snapshot.seqno}`);
  }

  /**
   * Starts the core over the durable disk, which is also its log storage: the in-memory log is a
   * window, and a restart loads only the entries after the durable commit point (the base).
   */
  private start(node: SimNode): void {
    const base = baseOf(node.disk, node.hardState.commitSeqno);
    node.core = new ConsensusNode(
      {
        id: node.id,
        rng: this.rng.fork(),
        limits: this.limits,
        storage: {
          entryAt: (seqno) => (seqno > node.snapshotFloor ? node.disk[seqno - 1] : undefined),
          firstSeqno: () => node.snapshotFloor + 1,
        },
      },
      { hardState: node.hardState, base, entries: node.disk.slice(base.seqno) },
    );
  }
}
