/**
 * The data the consensus core consumes and produces. Everything here is plain data: the core
 * never does I/O, so these shapes are the whole contract between it and its driver (the node
 * process, the simulator, the scenario runner). See docs/consensus.md for the protocol.
 */

/** A node's identity in the service (its key id). Opaque to consensus; compared with `===`. */
export type NodeId = string;

/**
 * One ledger entry. `(view, seqno)` is the transaction id; the pair identifies the entry across
 * the whole service (Raft's log matching property). `payload` is opaque to consensus.
 *
 * - `signature`: this entry is a signature transaction. The commit point only ever lands on a
 *   signature entry (as in CCF): a prefix is committed once a majority holds a signature over it.
 * - `config`: present on configuration entries only. It is the complete, sorted set of voting
 *   nodes from this entry on; it takes effect as soon as the entry is in a log (not when it
 *   commits). Configuration entries are never signature entries.
 */
export interface Entry {
  readonly view: number;
  readonly seqno: number;
  readonly signature: boolean;
  readonly payload: Uint8Array;
  readonly config?: readonly NodeId[];
}

/** What a client (the node's transaction engine) hands to `propose`: the core assigns the id. */
export interface ProposedEntry {
  readonly signature: boolean;
  readonly payload: Uint8Array;
}

/** A transaction id: `view.seqno`. */
export interface TxId {
  readonly view: number;
  readonly seqno: number;
}

/**
 * The state that must be durable before any message of the same Ready is sent: a node must never
 * forget a vote it cast or the view it moved to. `commitSeqno` is persisted so a restarted node
 * knows which prefix it already applied (it may lag; it never runs ahead of the persisted log).
 */
export interface HardState {
  readonly view: number;
  readonly votedFor: NodeId | null;
  readonly commitSeqno: number;
}

/**
 * What a node knows of the durable prefix of its log that it does not load into memory (see
 * `ConsensusLog.restore`): entries there are committed and read from storage when needed.
 */
export interface LogBase {
  /** Last seqno of the prefix. */
  readonly seqno: number;
  /** View of the entry at `seqno` (0 when seqno is 0). */
  readonly view: number;
  /** The view history through `seqno`, ascending. */
  readonly views: readonly ViewStart[];
  /** Highest signature seqno at or before `seqno`, 0 if none. */
  readonly lastSignature: number;
  /** The configuration in force at `seqno`, if any. */
  readonly config?: { readonly seqno: number; readonly nodes: readonly NodeId[] };
}

/** Everything a node persisted, as handed back to the constructor after a restart. */
export interface PersistedState {
  readonly hardState: HardState;
  /**
   * The durable prefix not loaded (needs `ConsensusNodeOptions.storage`); absent: the entries
   * start at seqno 1.
   */
  readonly base?: LogBase;
  /** The durable log after the base (or from seqno 1), in order. */
  readonly entries: readonly Entry[];
}

/** The roles of a node. `PreCandidate` asks for votes without disturbing anyone (pre-vote). */
export type Role = "Follower" | "PreCandidate" | "Candidate" | "Leader";

/** Volatile state the driver may want to observe (role and leader changes). */
export interface SoftState {
  readonly role: Role;
  readonly view: number;
  readonly leader: NodeId | null;
}

/**
 * Status of a transaction id as seen by one node (same meanings as CCF):
 * - Unknown: this node has not seen the id and cannot rule it out.
 * - Pending: this node holds the id in its log but has not seen it committed.
 * - Committed: the id is part of the committed, signed prefix; final.
 * - Invalid: the id can never commit (dropped after a view change, or impossible given the
 *   committed prefix); final. The client should resubmit.
 */
export type TxStatus = "Unknown" | "Pending" | "Committed" | "Invalid";

/**
 * Injected randomness: the only source of randomness in the core (election timeouts). Production
 * drivers pass a CSPRNG-backed implementation; the simulator passes a seeded one.
 */
export interface Rng {
  /** A uniformly distributed integer in `[0, maxExclusive)`; `maxExclusive` is a positive integer. */
  nextInt(maxExclusive: number): number;
}

/** Leader to follower: entries after `(prevView, prevSeqno)`, or none (a heartbeat). */
export interface AppendMessage {
  readonly type: "append";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly view: number;
  readonly prevSeqno: number;
  readonly prevView: number;
  readonly entries: readonly Entry[];
  /** The leader's commit point; the follower commits at most up to what this message proved. */
  readonly commitSeqno: number;
  /**
   * The leader's latest read-index round (see `ConsensusNode.readIndex`), absent before its
   * first; the follower echoes it in its response.
   */
  readonly readRound?: number;
}

/**
 * Follower to leader. `success`: the follower's log matches the leader's up to `seqno`.
 * Otherwise a NACK: the follower's log does not match at `seqno` (the append's prevSeqno), and
 * `hintSeqno` is the highest seqno at which it may match and `hintView` the view of its entry
 * there, so the leader can skip back over whole views in one step (see `AppendResponse` handling).
 */
export interface AppendResponseMessage {
  readonly type: "appendResponse";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly view: number;
  readonly success: boolean;
  readonly seqno: number;
  readonly hintSeqno: number;
  readonly hintView: number;
  /** The `readRound` of the append this answers, echoed (absent when it had none). */
  readonly readRound?: number;
}

/**
 * Candidate to voters. With `preVote` the view is the one the sender would move to, and nobody
 * changes state on it. `transfer` marks an election the previous leader asked for (it retired):
 * voters then skip the leader-lease check.
 */
export interface RequestVoteMessage {
  readonly type: "requestVote";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly view: number;
  readonly lastSeqno: number;
  readonly lastView: number;
  readonly preVote: boolean;
  readonly transfer: boolean;
}

/** Voter to candidate. A granted vote carries the candidate's view; a refusal the voter's. */
export interface VoteResponseMessage {
  readonly type: "voteResponse";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly view: number;
  readonly preVote: boolean;
  readonly granted: boolean;
}

/**
 * Leader to follower: "install my snapshot at `snapshot.seqno`", sent instead of appends when the
 * follower's next entry is older than what the leader serves from its window (or a joiner with an
 * empty log, or below what its storage still holds). The core moves only the metadata: the
 * snapshot's position, the view history through it and the configuration in force there
 * (`lastSignature === seqno`: snapshots are taken at committed signatures). The drivers move and
 * verify the bytes (see docs/consensus.md, "Install-snapshot").
 */
export interface InstallSnapshotMessage {
  readonly type: "installSnapshot";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly view: number;
  readonly snapshot: LogBase;
}

/** A retiring leader asks its most up-to-date successor to start an election at once. */
export interface TimeoutNowMessage {
  readonly type: "timeoutNow";
  readonly from: NodeId;
  readonly to: NodeId;
  readonly view: number;
}

/**
 * Every consensus message. `from` must be the authenticated sender as established by the
 * transport, never a value taken from the payload. All messages are one-way: the core never
 * waits for a reply, so loss, duplication and reordering only cost time.
 */
export type Message =
  | AppendMessage
  | AppendResponseMessage
  | RequestVoteMessage
  | VoteResponseMessage
  | TimeoutNowMessage
  | InstallSnapshotMessage;

/** A contiguous run of newly committed entries, in order. */
export interface CommittedRange {
  readonly fromSeqno: number;
  readonly toSeqno: number;
  readonly entries: readonly Entry[];
}

/**
 * A follower's request to its driver: fetch the snapshot `snapshot` from `leader`, verify it,
 * load it (state, durable log base), then call `snapshotInstalled(seqno, view)`, or
 * `snapshotAborted(seqno)` when it cannot. Until then the core drops appends and does not
 * campaign.
 */
export interface SnapshotInstall {
  readonly leader: NodeId;
  readonly snapshot: LogBase;
}

/** The identifier a driver gives a read-index request (unique among its pending ones). */
export type ReadId = number;

/**
 * The answer to a read-index request. `seqno` is the read index: a committed seqno at least the
 * commit point when the request was made, confirmed by a majority that this node still led its
 * view after the request arrived. Serving a read from state at or after `seqno` (committed
 * state only) is linearizable. `seqno: null`: this node stopped leading first; ask again.
 */
export interface ReadState {
  readonly id: ReadId;
  readonly seqno: number | null;
}

/**
 * The output of the core, drained with `ready()`. The driver must handle each Ready completely and
 * in order (see docs/consensus.md, "Driver contract"):
 *
 * 1. Persist durably and atomically (one storage transaction): delete log entries with seqno >=
 *    `truncateFromSeqno` (when not null), append `entries`, write `hardState` (when not null).
 *    A torn write could leave entries of a view whose vote was lost; the constructor refuses
 *    such state as LedgerCorrupt rather than risk a second vote in that view.
 * 2. Only then send `messages` (a vote or an acknowledgement must never outrun the disk).
 * 3. Then apply `committed` entries, and call `ackPersisted(last.seqno, last.view)` for the last
 *    entry of `entries` so the leader may count its own copy.
 * 4. Then answer `reads` (their seqnos are at most the commit point of this Ready).
 * 5. Then, when `installSnapshot` is set and every earlier write is durable, fetch, verify and
 *    load that snapshot and call `snapshotInstalled` (or `snapshotAborted`).
 *
 * Persistence may be asynchronous: the driver can keep calling `step`/`tick`/`propose` and take
 * further Readys meanwhile, as long as it completes the Readys' writes in order and holds each
 * Ready's messages and committed entries until that Ready's writes are durable.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly truncateFromSeqno: number | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly committed: CommittedRange | null;
  readonly reads: readonly ReadState[];
  /** A snapshot to install (follower), see `SnapshotInstall`. */
  readonly installSnapshot: SnapshotInstall | null;
}

/** A view and the first seqno written in it (CCF's view history). */
export interface ViewStart {
  readonly view: number;
  readonly startSeqno: number;
}
