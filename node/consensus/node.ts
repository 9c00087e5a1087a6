/**
 * The consensus core: a pure, synchronous Raft-family state machine with CCF's twists (commit
 * only at signature entries, view history for transaction status, one-way messages with
 * NACK-driven catch-up), pre-vote, check-quorum and single-server membership changes.
 *
 * Inputs: `step(message)`, `tick()`, `propose(entries)`, `changeMembership(change)`,
 * `ackPersisted(seqno, view)`. Output: `ready()` batches. No I/O, timers or randomness inside
 * (randomness comes from the injected `Rng`), so one seed reproduces a whole cluster run.
 * See docs/consensus.md for the protocol and the driver contract.
 */
import { assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import { ConsensusLog, type LogStorage } from "./log.js";
import { type ConsensusLimits, resolveLimits } from "./options.js";
import { Progress } from "./progress.js";
import { evaluateTxStatus } from "./txstatus.js";
import type {
  AppendMessage,
  AppendResponseMessage,
  CommittedRange,
  InstallSnapshotMessage,
  Entry,
  HardState,
  LogBase,
  Message,
  NodeId,
  PersistedState,
  ProposedEntry,
  ReadId,
  ReadState,
  Ready,
  RequestVoteMessage,
  Rng,
  Role,
  SnapshotInstall,
  SoftState,
  TimeoutNowMessage,
  TxId,
  TxStatus,
  ViewStart,
  VoteResponseMessage,
} from "./types.js";
import { checkMessage, isConfig, isEntry, isNodeId, REJECT_REASONS, type RejectReason } from "./validate.js";

/** How a consensus node is created. */
export interface ConsensusNodeOptions {
  /** This node's id; must appear in configurations to vote or lead. */
  readonly id: NodeId;
  /** The only randomness the core uses (election timeouts). */
  readonly rng: Rng;
  /** Overrides of `DEFAULT_CONSENSUS_LIMITS`. */
  readonly limits?: Partial<ConsensusLimits>;
  /**
   * The driver's durable log, read synchronously for entries compacted out of memory. With it
   * the in-memory log is a bounded window (`limits.logTailEntries`) and a restart may load only
   * the entries after a `PersistedState.base`; without it every entry stays in memory.
   */
  readonly storage?: LogStorage;
}

/** A single-server membership change (see docs/consensus.md, "Membership"). */
export type MembershipChange = { readonly add: NodeId } | { readonly retire: NodeId };

/** Counters for observability; every dropped message is counted under its reason. */
export interface ConsensusStats {
  readonly messagesReceived: number;
  readonly rejected: Readonly<Record<RejectReason, number>>;
  /** Appends and vote requests accepted from senders in none of our configurations (see `step`). */
  readonly unknownSenderRequests: number;
  readonly preVotesStarted: number;
  /** Nodes this node, as leader, started replicating to as learners. */
  readonly learnersAdded: number;
  readonly electionsStarted: number;
  readonly checkQuorumStepDowns: number;
  readonly proposalsRefused: number;
  /** Messages dropped because the outbox was full (they are retried by heartbeats). */
  readonly outboxOverflows: number;
  /** Leader: install-snapshot messages sent (first offers and resends). */
  readonly snapshotsOffered: number;
  /** Follower: installs asked of the driver, completed, and given up by it. */
  readonly snapshotInstallsRequested: number;
  readonly snapshotsInstalled: number;
  readonly snapshotsAborted: number;
}

/** A snapshot of a node's externally visible state. */
export interface NodeStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly view: number;
  readonly leader: NodeId | null;
  readonly votedFor: NodeId | null;
  readonly commitSeqno: number;
  readonly lastSeqno: number;
  readonly lastView: number;
  readonly persistedSeqno: number;
  /** The latest configuration in this node's log (null for a joiner that has none yet). */
  readonly config: readonly NodeId[] | null;
  /** Whether this node is a voting member of its latest configuration. */
  readonly member: boolean;
  /** Leader: nodes catching up as learners before they are added as voters. */
  readonly learners: readonly NodeId[];
}

/** Most messages buffered between two `ready()` calls; beyond it new ones are dropped (and counted). */
const MAX_OUTBOX_MESSAGES = 65_536;
/** Most read-index requests a leader holds at once; beyond it `readIndex` refuses (Unavailable). */
const MAX_PENDING_READS = 65_536;
/** Learners a leader replicates to at once; a new one past this replaces the oldest. */
const MAX_LEARNERS = 8;
/**
 * Failed rounds in a row retried after `electionRetryTicks`; later ones wait a whole election
 * timeout: a split, and a second one, still cost only retries.
 */
const MAX_FAST_RETRIES = 3;

/** The state of a brand-new node that will join an existing service (no log, no configuration). */
export function emptyState(): PersistedState {
  return { hardState: { view: 0, votedFor: null, commitSeqno: 0 }, entries: [] };
}

/**
 * The state every founding node of a new service starts from: one configuration entry at seqno 1
 * (view 1) naming the founding nodes. It commits with the first leader's first signature.
 * @throws TreatyError `InvalidArgs` when `nodes` is empty, has duplicates or bad ids.
 */
export function bootstrapState(
  nodes: readonly NodeId[],
  payload: Uint8Array = new Uint8Array(),
): PersistedState {
  const sorted = [...nodes].sort();
  if (!isConfig(sorted, Number.MAX_SAFE_INTEGER)) {
    throw new TreatyError("InvalidArgs", "nodes: expected distinct, non-empty node ids");
  }
  return {
    hardState: { view: 1, votedFor: null, commitSeqno: 0 },
    entries: [{ view: 1, seqno: 1, signature: false, payload, config: sorted }],
  };
}

function corrupt(field: string, why: string): TreatyError {
  return new TreatyError("LedgerCorrupt", `${field}: ${why}`);
}

/**
 * The install metadata of a snapshot at `seqno` of `log`: its view history through it and the
 * configuration in force there; undefined when that configuration is no longer known.
 */
function snapshotBase(log: ConsensusLog, seqno: number, view: number): LogBase | undefined {
  const config = log.configAt(seqno);
  if (config === undefined) return undefined;
  return {
    seqno,
    view,
    views: log
      .viewHistory()
      .filter((v) => v.startSeqno <= seqno)
      .map((v) => ({ view: v.view, startSeqno: v.startSeqno })),
    lastSignature: seqno,
    config: { seqno: config.seqno, nodes: [...config.nodes] },
  };
}

function quorumOf(size: number): number {
  return Math.floor(size / 2) + 1;
}

/** One consensus participant. Not thread-safe by design: the driver calls it from one place. */
export class ConsensusNode {
  readonly id: NodeId;
  readonly limits: ConsensusLimits;
  private readonly rng: Rng;
  private readonly log: ConsensusLog;

  // Durable state (HardState).
  private view: number;
  private votedFor: NodeId | null;
  private commitSeqno: number;

  // Volatile state.
  private role: Role = "Follower";
  private leader: NodeId | null = null;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedTimeout = 0;
  /** Rounds (pre-vote or election) that timed out without a win since the last role change. */
  private failedRounds = 0;
  private readonly votes = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();
  /** Leader: nodes being added that replicate without voting yet, oldest first (see `addLearner`). */
  private readonly learners = new Set<NodeId>();
  /** Leader: the latest read-index round started in this view (0: none yet). */
  private readRound = 0;
  /** Leader: read-index requests awaiting confirmation, rounds ascending. */
  private pendingReads: { readonly id: ReadId; readonly round: number }[] = [];
  /** The latest snapshot the driver can send (`offerSnapshot`), as install metadata. */
  private snapshot: LogBase | undefined;
  /** Follower: the snapshot the driver is installing; appends wait for it (snapshot.ts rules). */
  private installing: SnapshotInstall | null = null;
  /** The install request not yet handed out in a Ready. */
  private installRequest: SnapshotInstall | null = null;

  // Ready bookkeeping: what the driver has not been told yet.
  private outbox: Message[] = [];
  private readStates: ReadState[] = [];
  private unstableFrom: number;
  private truncateFrom: number | null = null;
  private reportedCommit: number;
  private lastHard: HardState;
  private lastSoft: SoftState;

  private readonly rejected: Record<RejectReason, number>;
  private readonly counters = {
    messagesReceived: 0,
    unknownSenderRequests: 0,
    preVotesStarted: 0,
    learnersAdded: 0,
    electionsStarted: 0,
    checkQuorumStepDowns: 0,
    proposalsRefused: 0,
    outboxOverflows: 0,
    snapshotsOffered: 0,
    snapshotInstallsRequested: 0,
    snapshotsInstalled: 0,
    snapshotsAborted: 0,
  };

  /**
   * Creates a node from its persisted state (`emptyState()` for a joiner, `bootstrapState()` for
   * a founder, or what the driver persisted before a restart). The node starts as a follower.
   * @throws TreatyError `InvalidArgs` for bad options, `LedgerCorrupt` for inconsistent state.
   */
  constructor(options: ConsensusNodeOptions, persisted: PersistedState) {
    if (!isNodeId(options.id)) throw new TreatyError("InvalidArgs", "id: expected a non-empty node id");
    if (typeof options.rng?.nextInt !== "function") {
      throw new TreatyError("InvalidArgs", "rng: expected an object with nextInt(maxExclusive)");
    }
    this.id = options.id;
    this.rng = options.rng;
    this.limits = resolveLimits(options.limits);
    const hard = persisted.hardState;
    if (!Number.isSafeInteger(hard.view) || hard.view < 0)
      throw corrupt("hardState.view", "expected a count");
    if (hard.votedFor !== null && !isNodeId(hard.votedFor)) {
      throw corrupt("hardState.votedFor", "expected null or a node id");
    }
    if (!Number.isSafeInteger(hard.commitSeqno) || hard.commitSeqno < 0) {
      throw corrupt("hardState.commitSeqno", "expected a count");
    }
    this.log = new ConsensusLog(options.storage);
    const base = persisted.base;
    if (base !== undefined) this.restoreBase(base, hard, options.storage !== undefined);
    const baseSeqno = base?.seqno ?? 0;
    let previousView = base?.view ?? 0;
    persisted.entries.forEach((entry, i) => {
      if (!isEntry(entry, this.limits.maxConfigNodes)) throw corrupt(`entries[${i}]`, "malformed entry");
      if (entry.seqno !== baseSeqno + i + 1)
        throw corrupt(`entries[${i}].seqno`, `expected ${baseSeqno + i + 1}, got ${entry.seqno}`);
      if (entry.view < previousView || entry.view > hard.view) {
        throw corrupt(`entries[${i}].view`, `expected a view in [${previousView}, ${hard.view}]`);
      }
      previousView = entry.view;
    });
    this.log.append(persisted.entries);
    this.log.markAllPersisted();
    if (hard.commitSeqno > this.log.lastSeqno) {
      throw corrupt("hardState.commitSeqno", `beyond the last entry (${this.log.lastSeqno})`);
    }
    if (hard.commitSeqno < baseSeqno) {
      throw corrupt(
        "hardState.commitSeqno",
        `below the durable base (${baseSeqno}): the base must be committed`,
      );
    }
    if (hard.commitSeqno !== 0 && !this.log.isSignature(hard.commitSeqno)) {
      throw corrupt("hardState.commitSeqno", "does not point at a signature entry");
    }
    this.view = hard.view;
    this.votedFor = hard.votedFor;
    this.commitSeqno = hard.commitSeqno;
    this.unstableFrom = this.log.lastSeqno + 1;
    this.reportedCommit = this.commitSeqno;
    this.lastHard = { view: this.view, votedFor: this.votedFor, commitSeqno: this.commitSeqno };
    this.lastSoft = this.softState();
    this.rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
    this.resetElectionTimeout();
  }

  // ---------------------------------------------------------------- inputs

  /**
   * Advances abstract time by one tick: followers count towards an election, leaders send
   * heartbeats and check they still reach a majority.
   */
  tick(): void {
    if (this.role === "Leader") this.tickLeader();
    else this.tickElection();
  }

  /**
   * How many ticks from now the first one comes that may do more than count: with no input in
   * between, the ticks before it only count time, so a driver may run them late, together, just
   * before that one, as long as it runs the ticks whose time has come before it steps a message
   * (node/tick-clock.ts `TickTimer`; docs/consensus.md, where the node's timing is described).
   * A follower that knows its leader acts only when its election timeout runs out (a message
   * from the leader starts the count again); a leader only at its next heartbeat round or
   * check-quorum round, whichever comes first (`tickLeader`: nothing else it receives moves
   * either count, and a leader that steps down on a message restarts its count with an election
   * timeout); every other role acts on ticks sooner (a candidate's retries, a node without a
   * leader): 1.
   */
  ticksUntilTimeout(): number {
    if (this.role === "Leader") {
      const untilHeartbeat = this.limits.heartbeatTicks - this.heartbeatElapsed;
      const untilQuorumCheck = this.limits.electionTimeoutTicks.min - this.electionElapsed;
      return Math.max(1, Math.min(untilHeartbeat, untilQuorumCheck));
    }
    if (this.role !== "Follower" || this.leader === null) return 1;
    return Math.max(1, this.randomizedTimeout - this.electionElapsed);
  }

  /**
   * Handles one received message. `message.from` must be the authenticated sender. Contents are
   * not trusted: a message that is malformed, misdirected, stale or inconsistent with this node's
   * committed state is dropped and counted in `stats().rejected`; it never throws.
   */
  step(message: Message): void {
    this.counters.messagesReceived++;
    const reason = checkMessage(message, this.limits);
    if (reason !== null) {
      this.reject(reason);
      return;
    }
    const m = message;
    if (m.to !== this.id) {
      this.reject("wrongRecipient");
      return;
    }
    if (m.from === this.id) {
      this.reject("fromSelf");
      return;
    }
    // Appends and vote requests are accepted from any authenticated node: a lagging follower (or
    // a joiner) may not yet hold the configuration entry that added the current leader or a
    // candidate it must vote for (CCF accepts such appends too). Pre-vote, the leader lease and
    // the log comparison keep such senders from disrupting anything. Replies and hand-overs only
    // come from nodes we know.
    if (!this.isKnown(m.from)) {
      if (m.type !== "append" && m.type !== "requestVote" && m.type !== "installSnapshot") {
        this.reject("unknownSender");
        return;
      }
      this.counters.unknownSenderRequests++;
    }

    if (m.view > this.view) {
      if (!this.onHigherView(m)) return;
    } else if (m.view < this.view) {
      this.onLowerView(m);
      return;
    }
    switch (m.type) {
      case "append":
        this.handleAppend(m);
        return;
      case "appendResponse":
        this.handleAppendResponse(m);
        return;
      case "requestVote":
        this.handleRequestVote(m);
        return;
      case "voteResponse":
        this.handleVoteResponse(m);
        return;
      case "timeoutNow":
        this.handleTimeoutNow(m);
        return;
      case "installSnapshot":
        this.handleInstallSnapshot(m);
        return;
    }
  }

  /**
   * Leader only: appends `entries` to the log in the current view; they are replicated with the
   * next signature entry (or with these entries, if the batch ends with one).
   * The core keeps the payloads (do not mutate them afterwards). Returns the ids assigned.
   * @throws TreatyError `NotLeader` (details.leader names the known leader, if any),
   *   `InvalidArgs` for a bad batch, `PayloadTooLarge` above the batch bounds, `Unavailable` when
   *   `maxUncommittedEntries` would be exceeded (backpressure: retry after commits).
   */
  propose(entries: readonly ProposedEntry[]): TxId[] {
    this.requireLeader();
    if (!Array.isArray(entries) || entries.length === 0) {
      throw this.refuse("InvalidArgs", "entries: expected a non-empty array");
    }
    if (entries.length > this.limits.maxBatchEntries) {
      throw this.refuse("PayloadTooLarge", `entries: at most ${this.limits.maxBatchEntries} per proposal`);
    }
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (typeof e !== "object" || e === null || typeof e.signature !== "boolean") {
        throw this.refuse("InvalidArgs", `entries[${i}].signature: expected a boolean`);
      }
      if (!(e.payload instanceof Uint8Array)) {
        throw this.refuse("InvalidArgs", `entries[${i}].payload: expected bytes`);
      }
      if (e.payload.length > this.limits.maxBatchBytes) {
        throw this.refuse(
          "PayloadTooLarge",
          `entries[${i}].payload: larger than ${this.limits.maxBatchBytes} bytes`,
        );
      }
    }
    // A lone signature is accepted over the backpressure limit once per view: without it a new
    // leader that inherited a full window of uncommitted entries could never commit any of them.
    const last = this.log.entryAt(this.log.lastSeqno);
    const unblocksCommit =
      entries.length === 1 && entries[0]!.signature && !(last?.signature === true && last.view === this.view);
    if (!unblocksCommit) this.requireRoom(entries.length);
    const first = this.log.lastSeqno + 1;
    // Loops, not `map` arrows: closures made per call lose their optimized code at every major
    // GC (docs/performance.md, "Hot closures recompiled after every major GC").
    const view = this.view;
    const appended = new Array<Entry>(entries.length);
    const ids = new Array<TxId>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      appended[i] = { view, seqno: first + i, signature: e.signature, payload: e.payload };
      ids[i] = { view, seqno: first + i };
    }
    this.appendAsLeader(appended);
    return ids;
  }

  /**
   * Leader only: the refusals of `changeMembership` (all but the payload's size), with nothing
   * appended, so a caller checks before it stages the configuration entry's payload
   * (node/sequencer.ts) and a refused change leaves no trace in the ledger or the KV. Returns the
   * configuration the change would make. As `changeMembership`, the first check of an addition
   * registers the joiner as a learner (that is what makes it catch up).
   * @throws as `changeMembership`.
   */
  checkMembershipChange(change: MembershipChange): NodeId[] {
    this.requireLeader();
    const config = this.log.latestConfig();
    assert(config !== undefined, "a leader has a configuration");
    if (!this.committedInView()) {
      throw this.refuse("Unavailable", "change: the leader has not committed a signature in its view yet");
    }
    if (config.seqno > this.commitSeqno) {
      throw this.refuse("Conflict", `change: a membership change is pending at seqno ${config.seqno}`);
    }
    if (typeof change !== "object" || change === null) {
      throw this.refuse("InvalidArgs", "change: expected {add} or {retire}");
    }
    let nodes: NodeId[];
    if ("add" in change) {
      if (!isNodeId(change.add)) throw this.refuse("InvalidArgs", "change.add: expected a node id");
      if (config.nodes.includes(change.add)) {
        throw this.refuse("Conflict", `change.add: ${change.add} is already a member`);
      }
      if (config.nodes.length >= this.limits.maxConfigNodes) {
        throw this.refuse("InvalidArgs", `change.add: at most ${this.limits.maxConfigNodes} nodes`);
      }
      this.requireCaughtUpLearner(change.add);
      nodes = [...config.nodes, change.add].sort();
    } else if ("retire" in change) {
      if (!isNodeId(change.retire)) throw this.refuse("InvalidArgs", "change.retire: expected a node id");
      if (!config.nodes.includes(change.retire)) {
        throw this.refuse("Conflict", `change.retire: ${change.retire} is not a member`);
      }
      if (config.nodes.length === 1)
        throw this.refuse("InvalidArgs", "change.retire: cannot retire the last node");
      nodes = config.nodes.filter((n) => n !== change.retire);
    } else {
      throw this.refuse("InvalidArgs", "change: expected {add} or {retire}");
    }
    this.requireRoom(1);
    return nodes;
  }

  /**
   * Leader only: proposes adding or retiring one voting node. The new configuration takes effect
   * as soon as it is in the log; it is committed by a later signature. Only one change may be
   * pending, and only after the leader has committed in its own view (Ongaro's fix for
   * single-server changes). A retiring leader keeps leading until its retirement commits, then
   * steps down and asks its most up-to-date successor to start an election at once.
   * @throws TreatyError `NotLeader`, `InvalidArgs` (bad id, would empty the configuration or
   *   exceed `maxConfigNodes`), `Conflict` (already a member / not a member / a change is
   *   pending), `Unavailable` (no commit in this view yet, or backpressure).
   */
  changeMembership(change: MembershipChange, payload: Uint8Array = new Uint8Array()): TxId {
    const nodes = this.checkMembershipChange(change);
    if (!(payload instanceof Uint8Array) || payload.length > this.limits.maxBatchBytes) {
      throw this.refuse("InvalidArgs", `payload: expected at most ${this.limits.maxBatchBytes} bytes`);
    }
    const entry: Entry = {
      view: this.view,
      seqno: this.log.lastSeqno + 1,
      signature: false,
      payload,
      config: nodes,
    };
    this.appendAsLeader([entry]);
    return { view: entry.view, seqno: entry.seqno };
  }

  /**
   * Leader only: asks for a read index (Raft's ReadIndex, etcd's `ReadIndex`). The answer comes
   * in a later Ready's `reads` under `id`: the commit point once a majority has answered a
   * heartbeat round started after this call (proving no other node led a later view meanwhile)
   * and the leader has committed in its own view; or `seqno: null` if it stops leading first.
   * Requests made while a round is in flight share the next round, so a burst of reads costs
   * one round of heartbeats. No clock is involved: the proof is the majority's answers.
   * @throws TreatyError `NotLeader`, `InvalidArgs` (id not an integer), `Unavailable` (too many
   *   reads pending).
   */
  readIndex(id: ReadId): void {
    this.requireLeader();
    if (!Number.isSafeInteger(id)) throw this.refuse("InvalidArgs", "id: expected an integer");
    if (this.pendingReads.length >= MAX_PENDING_READS) {
      throw this.refuse("Unavailable", `reads: ${MAX_PENDING_READS} read-index requests are pending`);
    }
    this.pendingReads.push({ id, round: this.readRound + 1 });
    // No round in flight: start one now; else this read waits for the next.
    if (this.pendingReads[0]!.round > this.readRound) this.startReadRound();
    this.releaseReads();
  }

  /**
   * Storage acknowledgement: the driver made everything up to `seqno` durable, the entry at
   * `seqno` being in `view`. Lets a leader count its own copy towards commit. Acks for entries
   * that were truncated meanwhile are ignored.
   */
  ackPersisted(seqno: number, view: number): void {
    if (!Number.isSafeInteger(seqno) || !Number.isSafeInteger(view)) return;
    if (this.log.markPersisted(seqno, view) && this.role === "Leader") this.maybeCommit();
  }

  // ---------------------------------------------------------------- snapshots

  /**
   * The driver holds a usable snapshot at `seqno` (a committed signature, in `view`): from now on
   * followers whose next entry is below this log's window (or below what its storage serves),
   * and joiners, are offered it instead of appends. Returns false, keeping the previous offer,
   * when this log cannot vouch for it: beyond the commit point, another view at that seqno, not
   * a signature, not newer than the current one, or its configuration no longer known.
   */
  offerSnapshot(seqno: number, view: number): boolean {
    if (!Number.isSafeInteger(seqno) || seqno < 1 || seqno > this.commitSeqno) return false;
    if (this.log.viewAt(seqno) !== view) return false;
    if (this.snapshot !== undefined && seqno <= this.snapshot.seqno) return seqno === this.snapshot.seqno;
    if (this.log.entryAt(seqno)?.signature === false) return false;
    this.snapshot = snapshotBase(this.log, seqno, view) ?? this.snapshot;
    return this.snapshot?.seqno === seqno;
  }

  /**
   * The driver installed the snapshot it was asked to (`Ready.installSnapshot`): its state and
   * durable log now start after `seqno`, and every earlier Ready's writes are durable. The log
   * restarts there, the commit point moves to it (the committed prefix is inside the snapshot),
   * and the leader is told, so appends resume.
   * @throws TreatyError `InvalidArgs` when no such install is pending.
   */
  snapshotInstalled(seqno: number, view: number): void {
    const pending = this.installing;
    if (pending === null || pending.snapshot.seqno !== seqno || pending.snapshot.view !== view) {
      throw new TreatyError("InvalidArgs", `snapshot ${view}.${seqno}: no such install was requested`);
    }
    assert(seqno > this.commitSeqno, "never install a snapshot behind commit");
    assert(view <= this.view, "a snapshot never comes from a later view");
    assert(
      this.truncateFrom === null &&
        this.unstableFrom > this.log.lastSeqno &&
        this.reportedCommit === this.commitSeqno,
      "the driver took every Ready before installing",
    );
    this.installing = null;
    this.installRequest = null;
    this.log.installBase(pending.snapshot);
    this.commitSeqno = seqno;
    this.reportedCommit = seqno;
    this.unstableFrom = seqno + 1;
    this.counters.snapshotsInstalled++;
    this.respondAppend(this.leader ?? pending.leader, true, seqno, seqno, undefined);
  }

  /**
   * The driver could not install the requested snapshot (transfer failed, verification refused
   * it): appends are accepted again and the leader's next offer starts over. Ignored when no
   * install of `seqno` is pending.
   */
  snapshotAborted(seqno: number): void {
    if (this.installing?.snapshot.seqno !== seqno) return;
    this.installing = null;
    this.installRequest = null;
    this.counters.snapshotsAborted++;
  }

  /** The snapshot this node offers to lagging followers, if any (its install metadata). */
  offeredSnapshot(): LogBase | undefined {
    return this.snapshot;
  }

  // ---------------------------------------------------------------- outputs

  /** Whether `ready()` has anything for the driver. */
  hasReady(): boolean {
    return (
      this.outbox.length > 0 ||
      this.readStates.length > 0 ||
      this.truncateFrom !== null ||
      this.unstableFrom <= this.log.lastSeqno ||
      this.commitSeqno !== this.reportedCommit ||
      this.hardStateChanged() ||
      this.softStateChanged() ||
      this.installRequest !== null
    );
  }

  /**
   * Drains everything the driver must do next (see `Ready` for the order). Each call hands out
   * each entry, message and committed range exactly once.
   */
  ready(): Ready {
    const soft = this.softStateChanged() ? this.softState() : null;
    const hard = this.hardStateChanged()
      ? { view: this.view, votedFor: this.votedFor, commitSeqno: this.commitSeqno }
      : null;
    const last = this.log.lastSeqno;
    const entries = this.unstableFrom <= last ? this.log.range(this.unstableFrom, last) : [];
    let committed: CommittedRange | null = null;
    if (this.commitSeqno > this.reportedCommit) {
      committed = {
        fromSeqno: this.reportedCommit + 1,
        toSeqno: this.commitSeqno,
        entries: this.log.range(this.reportedCommit + 1, this.commitSeqno),
      };
    }
    const rd: Ready = {
      softState: soft,
      hardState: hard,
      truncateFromSeqno: this.truncateFrom,
      entries,
      messages: this.outbox,
      committed,
      reads: this.readStates,
      installSnapshot: this.installRequest,
    };
    if (soft !== null) this.lastSoft = soft;
    if (hard !== null) this.lastHard = hard;
    this.outbox = [];
    this.readStates = [];
    this.installRequest = null;
    this.unstableFrom = last + 1;
    this.truncateFrom = null;
    this.reportedCommit = this.commitSeqno;
    this.compactLog();
    return rd;
  }

  // ---------------------------------------------------------------- queries

  /** The status of transaction `view.seqno` as this node knows it (CCF semantics). */
  txStatus(view: number, seqno: number, committedAtMost = Number.POSITIVE_INFINITY): TxStatus {
    if (!Number.isSafeInteger(view) || view < 1)
      throw new TreatyError("InvalidArgs", "view: expected an integer >= 1");
    if (!Number.isSafeInteger(seqno) || seqno < 1) {
      throw new TreatyError("InvalidArgs", "seqno: expected an integer >= 1");
    }
    const committed = Math.min(this.commitSeqno, committedAtMost);
    return evaluateTxStatus(view, seqno, {
      localView: this.log.viewAt(seqno) ?? 0,
      committedSeqno: committed,
      committedView: this.log.viewAt(committed) ?? 0,
    });
  }

  /** The entry at `seqno` in this node's log, if any. */
  entry(seqno: number): Entry | undefined {
    return this.log.entryAt(seqno);
  }

  /**
   * The in-memory window of the log: entries through `baseSeqno` were compacted (read back from
   * storage when needed); `residentEntries` are held in memory.
   */
  logWindow(): { readonly baseSeqno: number; readonly residentEntries: number } {
    return { baseSeqno: this.log.baseSeqno, residentEntries: this.log.residentEntries };
  }

  /** The view history of this node's log: first seqno of each view. */
  viewHistory(): readonly ViewStart[] {
    return this.log.viewHistory().map((v) => ({ ...v }));
  }

  /**
   * Leader: has it committed an entry of its own view? Until it has, its commit point may lag
   * what earlier leaders committed (their last commits reach it only with its own first one), and
   * so may every state derived from committed entries (the governance view among them).
   */
  committedInView(): boolean {
    return this.role === "Leader" && this.log.viewAt(this.commitSeqno) === this.view;
  }

  /**
   * The view this node leads, or null when it is not the leader: `status()`'s role and view
   * without building the whole status (asked per request on the write path).
   */
  leaderView(): number | null {
    return this.role === "Leader" ? this.view : null;
  }

  /** A snapshot of this node's state. */
  status(): NodeStatus {
    const config = this.log.latestConfig();
    return {
      id: this.id,
      role: this.role,
      view: this.view,
      leader: this.leader,
      votedFor: this.votedFor,
      commitSeqno: this.commitSeqno,
      lastSeqno: this.log.lastSeqno,
      lastView: this.log.lastView,
      persistedSeqno: this.log.persistedSeqno,
      config: config === undefined ? null : config.nodes,
      member: this.isMember(),
      learners: [...this.learners],
    };
  }

  /** This node's role now: `status().role` without building the whole status (the driver asks per Ready). */
  currentRole(): Role {
    return this.role;
  }

  /** The leader this node knows now: `status().leader` without building the whole status. */
  currentLeader(): NodeId | null {
    return this.leader;
  }

  /** Counters since this node object was created. */
  stats(): ConsensusStats {
    return { ...this.counters, rejected: { ...this.rejected } };
  }

  /**
   * Checks the node's own invariants (cheap unless `deep`, which also walks the whole log).
   * Throws AssertionFailure when one is broken: that is a bug in the core, never bad input.
   */
  checkInvariants(deep = false): void {
    const last = this.log.lastSeqno;
    assert(this.commitSeqno <= last, "commit within the log");
    assert(this.commitSeqno === 0 || this.log.isSignature(this.commitSeqno), "commit lands on a signature");
    assert(this.reportedCommit <= this.commitSeqno, "reported commit never ahead of commit");
    assert(this.log.lastView <= this.view, "no entry from a future view");
    assert(this.unstableFrom <= last + 1, "unstable suffix within the log");
    assert(this.role !== "Leader" || this.leader === this.id, "a leader knows it leads");
    assert(this.role === "Leader" || this.progress.size === 0, "only leaders track progress");
    assert(this.role === "Leader" || this.pendingReads.length === 0, "only leaders hold reads");
    assert(
      this.pendingReads.every(
        (r, i) => r.round <= this.readRound + 1 && (i === 0 || r.round >= this.pendingReads[i - 1]!.round),
      ),
      "pending reads wait for started or next rounds, in order",
    );
    assert(this.role !== "Candidate" || this.votedFor === this.id, "a candidate voted for itself");
    assert(this.outbox.length <= MAX_OUTBOX_MESSAGES, "outbox bounded");
    assert(
      this.installing === null ||
        (this.role !== "Leader" && this.installing.snapshot.seqno > this.commitSeqno),
      "a snapshot being installed is ahead of commit, on a non-leader",
    );
    assert(
      this.snapshot === undefined || this.snapshot.seqno <= this.commitSeqno,
      "offered snapshots are committed",
    );
    for (const pr of this.progress.values()) {
      assert(pr.match <= last, "follower match within the leader's log");
      assert(pr.next >= 1 && pr.next <= last + 1, "next seqno within the leader's log");
      assert(pr.inflightCount() <= this.limits.maxInflightAppends, "in-flight window bounded");
    }
    if (deep) this.log.checkConsistency();
  }

  // ---------------------------------------------------------------- timers

  private tickElection(): void {
    this.electionElapsed++;
    // Non-members never campaign; their count keeps growing, so they never hold a lease either.
    // Nor does a node installing a snapshot: its log is behind a committed entry.
    if (!this.isMember() || this.installing !== null) return;
    // The only voter that knows no leader has no one to wait for: it campaigns on its first tick
    // instead of after an election timeout (a founder, a one-node network: 0.5-0.75 s sooner by
    // default). One that hears a leader (a leader retiring itself, until that commits) waits as
    // any follower does: campaigning at once would depose it mid-change and drop its uncommitted
    // entries. Timing is never what makes an election safe, so this changes only when it happens.
    const nobodyToWaitFor = this.leader === null && this.isSoleVoter();
    if (this.electionElapsed < this.randomizedTimeout && !nobodyToWaitFor) return;
    if (this.role !== "Follower") this.failedRounds++;
    this.campaign(this.limits.preVote, false);
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.limits.electionTimeoutTicks.min) {
      this.electionElapsed = 0;
      if (this.limits.checkQuorum) {
        if (!this.quorumActive()) {
          this.counters.checkQuorumStepDowns++;
          this.becomeFollower(this.view, null);
          return;
        }
        for (const pr of this.progress.values()) pr.recentActive = false;
      }
    }
    if (this.heartbeatElapsed >= this.limits.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      // Reads waiting for the next round ride on this heartbeat; an unconfirmed round is re-sent.
      if (this.pendingReads.length > 0 && this.pendingReads.at(-1)!.round > this.readRound) this.readRound++;
      for (const [to, pr] of this.progress) {
        // A replicating follower that was sent entries since the last round (and no read round to
        // confirm) skips this one: under load heartbeats were about half of all appends, each a
        // signed frame and an ack. Its appends reset its election timer; a newer commit point
        // reaches it with the next append, or with the next round once appends stop (at most two
        // rounds late); a lost append is caught by the next one's consistency check, or by that round.
        const informed =
          pr.state === "replicate" && pr.appendedSinceHeartbeat && this.pendingReads.length === 0;
        pr.appendedSinceHeartbeat = false;
        if (informed) continue;
        if (pr.state === "probe") pr.probeSent = false;
        this.sendAppend(to, pr, true);
      }
    }
  }

  // ---------------------------------------------------------------- role changes

  private resetElectionTimeout(): void {
    this.resetTimeout(this.limits.electionTimeoutTicks);
  }

  private resetTimeout({ min, max }: { readonly min: number; readonly max: number }): void {
    const jitter = this.rng.nextInt(max - min + 1);
    assert(Number.isSafeInteger(jitter) && jitter >= 0 && jitter <= max - min, "rng.nextInt stays in range");
    this.randomizedTimeout = min + jitter;
  }

  private becomeFollower(view: number, leader: NodeId | null): void {
    assert(view >= this.view, "views never go backwards");
    if (view > this.view) {
      this.view = view;
      this.votedFor = null;
    }
    this.role = "Follower";
    this.leader = leader;
    this.failedRounds = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.votes.clear();
    this.progress.clear();
    this.learners.clear();
    for (const read of this.pendingReads) this.readStates.push({ id: read.id, seqno: null });
    this.pendingReads = [];
    this.resetElectionTimeout();
  }

  /** Starts a pre-vote round (`preVote`) or a real election in view+1. */
  private campaign(preVote: boolean, transfer: boolean): void {
    const config = this.log.latestConfig();
    assert(config !== undefined, "a campaigning node has a configuration");
    assert(config.nodes.includes(this.id), "only members campaign");
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.progress.clear();
    this.learners.clear();
    this.votes.clear();
    this.votes.set(this.id, true);
    // With pre-vote, a round that does not win is retried after the short retry timeout: a
    // vote split between candidates that timed out together (or a pre-vote a voter refused in
    // the last tick of its lease) then costs a retry, not a whole election timeout. Voters still
    // refuse during their lease, so a retry cannot unseat a leader they hear from; hearing a
    // leader, or a vote request of a newer view, brings back the election timeout
    // (becomeFollower). Without pre-vote every round raises the view: no fast retry. After
    // MAX_FAST_RETRIES failed rounds in a row the node is cut off rather than unlucky (a minority
    // side, a one-way cut): it backs off to the election timeout, so it does not ask every peer
    // for votes several times a second for as long as the cut lasts.
    const fast = this.limits.preVote && this.failedRounds < MAX_FAST_RETRIES;
    this.resetTimeout(fast ? this.limits.electionRetryTicks : this.limits.electionTimeoutTicks);
    if (preVote) {
      this.role = "PreCandidate";
      this.counters.preVotesStarted++;
    } else {
      this.view++;
      this.votedFor = this.id;
      this.role = "Candidate";
      this.counters.electionsStarted++;
    }
    const voteView = preVote ? this.view + 1 : this.view;
    for (const to of config.nodes) {
      if (to === this.id) continue;
      this.send({
        type: "requestVote",
        from: this.id,
        to,
        view: voteView,
        lastSeqno: this.log.lastSeqno,
        lastView: this.log.lastView,
        preVote,
        transfer,
      });
    }
    this.tallyVotes();
  }

  private becomeLeader(): void {
    assert(this.role === "Candidate", "only candidates become leaders");
    this.role = "Leader";
    this.leader = this.id;
    this.failedRounds = 0;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.votes.clear();
    this.progress.clear();
    this.learners.clear();
    this.readRound = 0;
    this.syncProgress();
    // Announce leadership at once; the driver now proposes a signature in this view (the
    // leader cannot commit anything, not even older entries, before one commits).
    for (const [to, pr] of this.progress) this.sendAppend(to, pr, true);
  }

  private tallyVotes(): void {
    const config = this.log.latestConfig();
    assert(config !== undefined, "a campaigning node has a configuration");
    let granted = 0;
    let refused = 0;
    for (const node of config.nodes) {
      const vote = this.votes.get(node);
      if (vote === true) granted++;
      else if (vote === false) refused++;
    }
    const quorum = quorumOf(config.nodes.length);
    if (granted >= quorum) {
      if (this.role === "PreCandidate") this.campaign(false, false);
      else this.becomeLeader();
    } else if (config.nodes.length - refused < quorum) {
      this.becomeFollower(this.view, null);
    }
  }

  // ---------------------------------------------------------------- message handling

  /** A message from a higher view. Returns whether to go on handling it in the (new) view. */
  private onHigherView(m: Message): boolean {
    switch (m.type) {
      case "requestVote":
        // Leader lease: while we hear from a live leader, refuse to help unseat it (this is what
        // stops a rejoining node with an inflated view from disrupting a healthy cluster).
        if (!m.transfer && this.inLease()) {
          this.reject("voteInLease");
          return false;
        }
        if (!m.preVote) this.becomeFollower(m.view, null);
        return true;
      case "voteResponse":
        // A granted pre-vote carries the view the candidate would move to, not a newer view.
        if (m.preVote && m.granted) return true;
        this.becomeFollower(m.view, null);
        return false;
      case "append":
      case "installSnapshot":
        this.becomeFollower(m.view, m.from);
        return true;
      case "appendResponse":
        // A follower telling a deposed leader about a newer view: step down, nothing else.
        this.becomeFollower(m.view, null);
        return false;
      case "timeoutNow":
        this.reject("unexpected");
        return false;
    }
  }

  private onLowerView(m: Message): void {
    this.reject("staleView");
    if (m.type === "append" || m.type === "installSnapshot") {
      // Tell a deposed leader about the newer view so it steps down. Without this a node that
      // moved on alone (it campaigned but cannot win) would ignore the leader forever.
      this.send({
        type: "appendResponse",
        from: this.id,
        to: m.from,
        view: this.view,
        success: false,
        seqno: m.type === "append" ? m.prevSeqno : m.snapshot.seqno,
        hintSeqno: 0,
        hintView: 0,
      });
    } else if (m.type === "requestVote" && m.preVote) {
      this.send({
        type: "voteResponse",
        from: this.id,
        to: m.from,
        view: this.view,
        preVote: true,
        granted: false,
      });
    }
  }

  /**
   * A message only the leader of this view sends (append, install-snapshot): follow `from`, or
   * refuse the message when this node leads or follows another leader of the view.
   */
  private followLeader(from: NodeId): boolean {
    if (this.role === "Leader") {
      this.reject("conflictingLeader");
      return false;
    }
    if (this.role !== "Follower") this.becomeFollower(this.view, from);
    if (this.leader !== null && this.leader !== from) {
      this.reject("conflictingLeader");
      return false;
    }
    this.leader = from;
    this.electionElapsed = 0;
    return true;
  }

  private handleAppend(m: AppendMessage): void {
    if (!this.followLeader(m.from)) return;
    if (this.installing !== null) {
      this.reject("installing");
      return;
    }

    const prevView = this.log.viewAt(m.prevSeqno);
    if (prevView !== m.prevView) {
      if (prevView !== undefined && m.prevSeqno <= this.commitSeqno) {
        this.reject("wouldTruncateCommitted");
        return;
      }
      const upTo = Math.min(m.prevSeqno - 1, this.log.lastSeqno);
      const hint = Math.max(this.commitSeqno, this.log.lastSeqnoWithViewAtMost(upTo, m.prevView));
      this.respondAppend(m.from, false, m.prevSeqno, hint, m.readRound);
      return;
    }
    // Find the first entry we do not already hold; anything after a conflict is stale.
    let firstNew = m.entries.length;
    let conflict = false;
    for (let i = 0; i < m.entries.length; i++) {
      const entry = m.entries[i]!;
      const localView = this.log.viewAt(entry.seqno);
      if (localView === entry.view) continue;
      if (localView !== undefined) {
        if (entry.seqno <= this.commitSeqno) {
          this.reject("wouldTruncateCommitted");
          return;
        }
        conflict = true;
      }
      firstNew = i;
      break;
    }
    if (conflict) this.truncateLog(m.entries[firstNew]!.seqno);
    if (firstNew < m.entries.length) this.appendLog(m.entries.slice(firstNew));
    const lastVerified = m.prevSeqno + m.entries.length;
    const newCommit = this.log.lastSignatureAtOrBefore(Math.min(m.commitSeqno, lastVerified));
    if (newCommit > this.commitSeqno) this.setCommit(newCommit);
    this.respondAppend(m.from, true, lastVerified, lastVerified, m.readRound);
  }

  private respondAppend(
    to: NodeId,
    success: boolean,
    seqno: number,
    hintSeqno: number,
    readRound: number | undefined,
  ): void {
    const hintView = this.log.viewAt(hintSeqno) ?? 0;
    this.send({
      type: "appendResponse",
      from: this.id,
      to,
      view: this.view,
      success,
      seqno,
      hintSeqno,
      hintView,
      ...(readRound !== undefined && { readRound }),
    });
  }

  private handleAppendResponse(m: AppendResponseMessage): void {
    if (this.role !== "Leader") {
      this.reject("unexpected");
      return;
    }
    const pr = this.progress.get(m.from);
    if (pr === undefined) {
      this.reject("unexpected");
      return;
    }
    pr.recentActive = true;
    // Any answer in our view proves the follower had not moved on when it answered; an echo of a
    // round we never started proves nothing more than our latest.
    if (m.readRound !== undefined && m.readRound > pr.readAck) {
      pr.readAck = Math.min(m.readRound, this.readRound);
      this.releaseReads();
    }
    if (m.seqno > this.log.lastSeqno) {
      this.reject("ackBeyondLog");
      return;
    }
    if (m.success) {
      if (pr.acknowledge(m.seqno)) this.maybeCommit();
      if (this.role === "Leader") this.sendAppend(m.from, pr, false);
      return;
    }
    const stale =
      m.seqno <= pr.match || pr.state === "snapshot" || (pr.state === "probe" && m.seqno !== pr.next - 1);
    if (stale) {
      this.reject("staleResponse");
      return;
    }
    // The follower may match at most up to its hint. Our entries there in views above its view at
    // the hint cannot match either (its views up to the hint are at most that), so skip them too.
    const hint = Math.min(Math.max(m.hintSeqno, pr.match), m.seqno - 1);
    const skipped = Math.max(this.log.lastSeqnoWithViewAtMost(hint, m.hintView), pr.match);
    pr.probeFrom(skipped + 1);
    this.sendAppend(m.from, pr, true);
  }

  private handleRequestVote(m: RequestVoteMessage): void {
    const canVote =
      this.votedFor === m.from ||
      (this.votedFor === null && this.leader === null) ||
      (m.preVote && m.view > this.view);
    const lastView = this.log.lastView;
    const lastSeqno = this.log.lastSeqno;
    const upToDate = m.lastView > lastView || (m.lastView === lastView && m.lastSeqno >= lastSeqno);
    // Tie-breaker: two pre-candidates that timed out together would each grant the other, both
    // become candidates of the same view, vote for themselves and split the vote. While its own
    // pre-vote round is younger than a heartbeat (well above a round trip), a pre-candidate
    // grants another only if that one's log is more up to date or, the logs equal, its id is
    // greater, so of two such nodes one goes on alone. Refusing a pre-vote is always safe. Past
    // that age its round has failed (a partition, a voter in its lease), so it grants as any
    // node would: a node that can never win does not keep refusing one that could.
    const yields =
      !m.preVote ||
      this.role !== "PreCandidate" ||
      this.electionElapsed >= this.limits.heartbeatTicks ||
      m.lastView !== lastView ||
      m.lastSeqno !== lastSeqno ||
      m.from > this.id;
    if (canVote && upToDate && yields) {
      this.send({
        type: "voteResponse",
        from: this.id,
        to: m.from,
        view: m.view,
        preVote: m.preVote,
        granted: true,
      });
      if (!m.preVote) {
        this.votedFor = m.from;
        this.electionElapsed = 0;
      }
    } else {
      this.send({
        type: "voteResponse",
        from: this.id,
        to: m.from,
        view: this.view,
        preVote: m.preVote,
        granted: false,
      });
    }
  }

  private handleVoteResponse(m: VoteResponseMessage): void {
    // Late answers for a round that already ended (won, lost or superseded) are harmless.
    if (this.role !== (m.preVote ? "PreCandidate" : "Candidate")) {
      this.reject("staleResponse");
      return;
    }
    if (m.preVote && m.granted && m.view !== this.view + 1) {
      this.reject("staleResponse");
      return;
    }
    if (!this.votes.has(m.from)) this.votes.set(m.from, m.granted);
    this.tallyVotes();
  }

  /**
   * A leader offers its snapshot. Held already (at or below commit, or the same entry in our
   * log): acknowledge it. Otherwise ask the driver to install it; appends wait until it did.
   */
  private handleInstallSnapshot(m: InstallSnapshotMessage): void {
    if (!this.followLeader(m.from)) return;
    const snapshot = m.snapshot;
    if (this.installing !== null) {
      this.reject("installing");
      return;
    }
    if (snapshot.seqno <= this.commitSeqno || this.log.viewAt(snapshot.seqno) === snapshot.view) {
      this.respondAppend(m.from, true, snapshot.seqno, snapshot.seqno, undefined);
      return;
    }
    // Our entry at the snapshot's seqno is of another view: it and what follows conflict with
    // the leader's committed log and go first, so the driver installs over a log that ends
    // before the snapshot (the leader re-sends what follows it).
    if (this.log.lastSeqno >= snapshot.seqno) this.truncateLog(snapshot.seqno);
    this.installing = { leader: m.from, snapshot };
    this.installRequest = this.installing;
    this.counters.snapshotInstallsRequested++;
  }

  private handleTimeoutNow(m: TimeoutNowMessage): void {
    if (this.role !== "Follower" || this.leader !== m.from || !this.isMember() || this.installing !== null) {
      this.reject("unexpected");
      return;
    }
    this.campaign(false, true);
  }

  // ---------------------------------------------------------------- replication

  private appendAsLeader(entries: readonly Entry[]): void {
    this.appendLog(entries);
    if (entries.some((e) => e.config !== undefined)) this.syncProgress();
    for (const [to, pr] of this.progress) this.sendAppend(to, pr, false);
    this.maybeCommit();
  }

  /**
   * Sends `to` the next batch it needs, if its window allows; with `heartbeat` sends an (empty)
   * append even when there is nothing new, which also carries the commit point and probes for
   * lost messages (the follower NACKs when it lacks `prevSeqno`).
   */
  private sendAppend(to: NodeId, pr: Progress, heartbeat: boolean): void {
    if (this.snapshotNeeded(pr)) {
      this.sendSnapshot(to, pr, heartbeat);
      return;
    }
    const last = this.shippableSeqno();
    // Below what the log can serve and no snapshot to offer: heartbeats only, until one is.
    const entries =
      pr.canSend() && pr.next <= last && pr.next >= this.log.firstServable()
        ? this.log.slice(
            pr.next,
            Math.min(this.limits.maxBatchEntries, last - pr.next + 1),
            this.limits.maxBatchBytes,
          )
        : [];
    if (entries.length === 0 && !heartbeat) return;
    const prevSeqno = pr.next - 1;
    const prevView = this.log.viewAt(prevSeqno);
    assert(prevView !== undefined, "a follower's next seqno is within the leader's log");
    this.send({
      type: "append",
      from: this.id,
      to,
      view: this.view,
      prevSeqno,
      prevView,
      entries,
      commitSeqno: this.commitSeqno,
      ...(this.readRound > 0 && { readRound: this.readRound }),
    });
    if (entries.length > 0) {
      pr.sent(entries[entries.length - 1]!.seqno);
      if (!heartbeat) pr.appendedSinceHeartbeat = true;
    } else if (pr.state === "probe") pr.probeSent = true;
  }

  /**
   * The last entry appends may carry: the leader's last signature entry. Entries go out with the
   * signature that can commit them (nothing commits before its signature is on a majority), so a
   * follower persists and acknowledges once per signature, not once per batch.
   */
  private shippableSeqno(): number {
    return this.log.lastSignatureAtOrBefore(this.log.lastSeqno);
  }

  /**
   * Whether `pr`'s follower gets the snapshot rather than appends: it was offered one already, or
   * its next entry is below the in-memory window or what storage serves (or it has nothing: a
   * joiner), and the snapshot covers that entry and the log serves what follows it.
   */
  private snapshotNeeded(pr: Progress): boolean {
    if (pr.state === "snapshot") return true;
    const snapshot = this.snapshot;
    if (snapshot === undefined || snapshot.seqno < pr.next) return false;
    const first = this.log.firstServable();
    const behind = pr.next === 1 || pr.next <= this.log.baseSeqno || pr.next < first;
    return behind && snapshot.seqno + 1 >= first;
  }

  /** Offers the snapshot (first time, or again on a heartbeat: the offer may have been lost). */
  private sendSnapshot(to: NodeId, pr: Progress, heartbeat: boolean): void {
    const snapshot = this.snapshot;
    assert(snapshot !== undefined, "a snapshot offer needs a snapshot");
    if (pr.state === "snapshot" && !heartbeat) return;
    if (pr.state !== "snapshot" || snapshot.seqno > pr.pendingSnapshot) pr.offerSnapshot(snapshot.seqno);
    this.counters.snapshotsOffered++;
    this.send({ type: "installSnapshot", from: this.id, to, view: this.view, snapshot });
  }

  /** Advances commit to the highest signature in this view that a majority holds. */
  private maybeCommit(): void {
    const config = this.log.latestConfig();
    assert(config !== undefined, "a leader has a configuration");
    const matches = config.nodes.map((n) =>
      n === this.id ? this.log.persistedSeqno : (this.progress.get(n)?.match ?? 0),
    );
    matches.sort((a, b) => b - a);
    const majorityMatch = matches[quorumOf(matches.length) - 1]!;
    const candidate = this.log.lastSignatureAtOrBefore(majorityMatch);
    // Raft's rule: only count replicas for entries of the current view (figure 8); older entries
    // commit with it.
    if (candidate > this.commitSeqno && this.log.viewAt(candidate) === this.view) this.setCommit(candidate);
  }

  private setCommit(seqno: number): void {
    assert(seqno > this.commitSeqno, "commit only moves forward");
    assert(this.log.isSignature(seqno), "commit lands on a signature entry");
    this.commitSeqno = seqno;
    if (this.role !== "Leader") return;
    this.syncProgress();
    this.releaseReads();
    const config = this.log.latestConfig()!;
    if (!config.nodes.includes(this.id) && config.seqno <= this.commitSeqno) this.retire(config.nodes);
  }

  /** Leader: starts a read-index round; every append from now on carries it. */
  private startReadRound(): void {
    this.readRound++;
    for (const [to, pr] of this.progress) this.sendAppend(to, pr, true);
  }

  /**
   * Leader: answers the pending reads whose round a majority of the latest configuration has
   * answered (the leader itself answers every round it started), once the leader committed in
   * its own view (before that its commit point may lag what an earlier leader committed). Then
   * starts the next round if reads wait for it.
   */
  private releaseReads(): void {
    if (this.pendingReads.length === 0 || !this.committedInView()) return;
    const config = this.log.latestConfig();
    assert(config !== undefined, "a leader has a configuration");
    const acks = config.nodes.map((n) =>
      n === this.id ? this.readRound : (this.progress.get(n)?.readAck ?? 0),
    );
    acks.sort((a, b) => b - a);
    const confirmed = acks[quorumOf(acks.length) - 1]!;
    let released = 0;
    while (released < this.pendingReads.length && this.pendingReads[released]!.round <= confirmed) {
      this.readStates.push({ id: this.pendingReads[released]!.id, seqno: this.commitSeqno });
      released++;
    }
    if (released > 0) this.pendingReads.splice(0, released);
    if (this.pendingReads.length > 0 && this.pendingReads[0]!.round > this.readRound) this.startReadRound();
  }

  /** Our retirement committed: hand over to the most up-to-date remaining node and step down. */
  private retire(remaining: readonly NodeId[]): void {
    let successor: NodeId | null = null;
    let best = -1;
    for (const node of remaining) {
      const match = this.progress.get(node)?.match ?? 0;
      if (match > best) {
        best = match;
        successor = node;
      }
    }
    if (successor !== null) this.send({ type: "timeoutNow", from: this.id, to: successor, view: this.view });
    this.becomeFollower(this.view, null);
  }

  /** Tracks exactly the nodes of every configuration from the committed one on (minus self). */
  private syncProgress(): void {
    const targets = new Set<NodeId>();
    for (const config of this.log.configsSince(this.commitSeqno)) {
      for (const node of config.nodes) if (node !== this.id) targets.add(node);
    }
    this.syncLearners(targets);
    for (const node of this.learners) targets.add(node);
    for (const node of [...this.progress.keys()]) if (!targets.has(node)) this.progress.delete(node);
    for (const node of targets) {
      if (!this.progress.has(node)) {
        this.progress.set(node, new Progress(this.log.lastSeqno + 1, this.limits.maxInflightAppends));
      }
    }
  }

  // ---------------------------------------------------------------- log changes

  /**
   * Checks a restored base and starts the log there. The base is the driver's word about its own
   * durable log, so a malformed one is LedgerCorrupt.
   */
  private restoreBase(base: LogBase, hard: HardState, hasStorage: boolean): void {
    if (!hasStorage) throw corrupt("base", "a restored base needs storage to read the prefix from");
    const count = (n: unknown) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
    if (!count(base.seqno) || !count(base.view) || base.view > hard.view)
      throw corrupt(
        "base",
        `expected a seqno and a view within the hard state's (base ${base.view}.${base.seqno}, hard state view ${hard.view})`,
      );
    if (!count(base.lastSignature) || base.lastSignature > base.seqno)
      throw corrupt("base.lastSignature", "expected a seqno within the base");
    if (!Array.isArray(base.views)) throw corrupt("base.views", "expected a view history");
    let previous: ViewStart | undefined;
    for (const v of base.views) {
      if (!count(v?.view) || !count(v?.startSeqno) || v.startSeqno < 1 || v.startSeqno > base.seqno)
        throw corrupt("base.views", "expected view starts within the base");
      if (previous !== undefined && (v.view <= previous.view || v.startSeqno <= previous.startSeqno))
        throw corrupt("base.views", "expected ascending views and seqnos");
      previous = v;
    }
    if (base.seqno > 0 && previous?.view !== base.view)
      throw corrupt("base.view", "expected the last view of the history");
    if (
      base.config !== undefined &&
      (!isConfig(base.config.nodes, this.limits.maxConfigNodes) ||
        !count(base.config.seqno) ||
        base.config.seqno > base.seqno)
    )
      throw corrupt("base.config", "expected a configuration within the base");
    this.log.restore(base);
  }

  /** Keeps the in-memory log to the uncommitted entries plus a tail of committed ones. */
  private compactLog(): void {
    if (!this.log.compactable) return;
    const tail = this.limits.logTailEntries;
    const target = Math.min(this.reportedCommit, this.log.persistedSeqno) - tail;
    // In steps of a quarter tail, so the window is not copied on every Ready.
    if (target - this.log.baseSeqno >= Math.max(1, tail >>> 2)) this.log.compact(target);
  }

  private appendLog(entries: readonly Entry[]): void {
    this.log.append(entries);
  }

  private truncateLog(fromSeqno: number): void {
    assert(fromSeqno > this.commitSeqno, "never truncate committed entries");
    this.log.truncateFrom(fromSeqno);
    if (fromSeqno < this.unstableFrom) {
      this.truncateFrom = this.truncateFrom === null ? fromSeqno : Math.min(this.truncateFrom, fromSeqno);
      this.unstableFrom = fromSeqno;
    }
  }

  // ---------------------------------------------------------------- helpers

  private send(message: Message): void {
    if (this.outbox.length >= MAX_OUTBOX_MESSAGES) {
      this.counters.outboxOverflows++;
      return;
    }
    this.outbox.push(message);
  }

  private reject(reason: RejectReason): void {
    this.rejected[reason]++;
  }

  private refuse(code: string, message: string): TreatyError {
    this.counters.proposalsRefused++;
    return new TreatyError(code, message);
  }

  private requireLeader(): void {
    if (this.role !== "Leader") {
      this.counters.proposalsRefused++;
      throw new TreatyError("NotLeader", `node ${this.id} is not the leader`, { leader: this.leader });
    }
  }

  private requireRoom(count: number): void {
    const uncommitted = this.log.lastSeqno - this.commitSeqno;
    if (uncommitted + count > this.limits.maxUncommittedEntries) {
      throw this.refuse(
        "Unavailable",
        `entries: ${uncommitted} entries await commit (maxUncommittedEntries ${this.limits.maxUncommittedEntries})`,
      );
    }
  }

  private isMember(): boolean {
    return this.log.latestConfig()?.nodes.includes(this.id) === true;
  }

  private isSoleVoter(): boolean {
    const nodes = this.log.latestConfig()?.nodes;
    return nodes !== undefined && nodes.length === 1 && nodes[0] === this.id;
  }

  /** Members of any configuration from the committed one on, and learners: the nodes we talk to. */
  private isKnown(node: NodeId): boolean {
    if (this.learners.has(node)) return true;
    for (const config of this.log.configsSince(this.commitSeqno))
      if (config.nodes.includes(node)) return true;
    return false;
  }

  // ---------------------------------------------------------------- learners

  /**
   * `changeMembership({add})` goes through here: a node is added as a voter only once it has
   * caught up as a learner, so an addition never leaves the configuration waiting for a voter
   * that still has the whole log to fetch (its vote would count in the majority at once). The
   * first call registers `id` as a learner (the leader replicates to it; it never counts for
   * commits, reads or elections) and refuses with `Unavailable`; later calls refuse until the
   * learner's log is within `learnerMaxLagEntries` of the leader's, then let the change go on.
   * Learners are leader state: a new leader starts over when the joiner asks again.
   */
  private requireCaughtUpLearner(id: NodeId): void {
    const pr = this.progress.get(id);
    if (!this.learners.has(id) || pr === undefined) {
      this.addLearner(id);
      throw this.refuse("Unavailable", `change.add: ${id} first catches up as a learner: retry`);
    }
    // Measured to the last signature: the entries after it have not shipped to anyone yet.
    const lag = this.shippableSeqno() - pr.match;
    if (lag > this.limits.learnerMaxLagEntries) {
      throw this.refuse(
        "Unavailable",
        `change.add: learner ${id} is ${lag} entries behind (at most ${this.limits.learnerMaxLagEntries} to vote): retry`,
      );
    }
  }

  /** Leader: starts replicating to `id` without counting it; the oldest learner goes past the bound. */
  private addLearner(id: NodeId): void {
    assert(this.role === "Leader", "only leaders keep learners");
    if (this.learners.size >= MAX_LEARNERS) {
      const oldest = this.learners.values().next().value as NodeId;
      this.learners.delete(oldest);
      this.progress.delete(oldest);
    }
    this.learners.add(id);
    const pr = new Progress(this.log.lastSeqno + 1, this.limits.maxInflightAppends);
    this.progress.set(id, pr);
    this.counters.learnersAdded++;
    this.sendAppend(id, pr, true);
  }

  /** A learner that is now in a configuration is a member like the others (its progress stays). */
  private syncLearners(members: ReadonlySet<NodeId>): void {
    for (const id of this.learners) if (members.has(id) || id === this.id) this.learners.delete(id);
  }

  private inLease(): boolean {
    return (
      this.limits.checkQuorum &&
      this.leader !== null &&
      this.electionElapsed < this.limits.electionTimeoutTicks.min
    );
  }

  private quorumActive(): boolean {
    const config = this.log.latestConfig();
    assert(config !== undefined, "a leader has a configuration");
    let active = 0;
    for (const node of config.nodes) {
      if (node === this.id || this.progress.get(node)?.recentActive === true) active++;
    }
    return active >= quorumOf(config.nodes.length);
  }

  private softState(): SoftState {
    return { role: this.role, view: this.view, leader: this.leader };
  }

  private softStateChanged(): boolean {
    const s = this.lastSoft;
    return s.role !== this.role || s.view !== this.view || s.leader !== this.leader;
  }

  private hardStateChanged(): boolean {
    const h = this.lastHard;
    return h.view !== this.view || h.votedFor !== this.votedFor || h.commitSeqno !== this.commitSeqno;
  }
}
