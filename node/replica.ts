/**
 * The replica: drives the pure consensus core against the real world. It is the one place that
 * follows the driver contract of docs/consensus.md for every `Ready`:
 *
 *   1. persist: truncate the ledger suffix, stage and persist new entries (one durable commit),
 *      write the hard state (durably when the view or vote changed);
 *   2. send the messages (never before step 1: a vote or an ack must not outrun the disk);
 *   3. acknowledge persistence to the core, then hand the newly committed range on;
 *   4. answer read-index requests (`readIndex`).
 *
 * Entries are persisted by group commit (`Ledger.persistAsync`: the store syncs on its own
 * thread, many Readys per fsync), so steps 2-4 of a Ready run once its entries are durable,
 * in Ready order (`#afterDurable`), while the core keeps stepping messages and taking Readys. A
 * leader's messages go out at once (Raft thesis §10.2.1: its own copy counts towards a majority
 * only once acknowledged in step 3).
 *
 * Received messages are queued and handled in slices (at most `MAX_ENTRIES_PER_SLICE` entries or
 * `MAX_MESSAGES_PER_SLICE` messages), each in its own event-loop task: the NATS client hands over
 * everything buffered in one synchronous run, and a joiner catching up would otherwise handle
 * its whole backlog without ever letting its clock tick or its HTTP server answer. Every message
 * of a slice is stepped, then one Ready is taken for them all (`#drain`).
 *
 * Install-snapshot (docs/consensus.md): with a `SnapshotPort`, the replica offers the port's
 * latest snapshot to the core and serves its chunks, and when the core asks this node to install
 * one (`Ready.installSnapshot`) it fetches, verifies and loads it (node/snapshot/install.ts).
 *
 * Replicated entries are checked by the ledger (encoding, digests, signatures) and their write
 * sets handed to the execution KV in order (held back and sent with the next KV commit request,
 * or before any other execution request: node/replica-batch.ts); a truncation rolls the KV back.
 * Any failure here (corrupt entry from the leader, storage error) is fatal: the node stops rather
 * than diverge.
 */
import { assert } from "../sdk/assert.js";
import { decodeViews, encode } from "../sdk/codec.js";
import { TreatyError } from "../sdk/errors.js";
import type { ConsensusNode, MembershipChange } from "./consensus/node.js";
import type { LogStorage } from "./consensus/log.js";
import type {
  Entry,
  HardState,
  SnapshotInstall,
  LogBase,
  Message,
  PersistedState,
  ProposedEntry,
  Ready,
  SoftState,
  TxId,
} from "./consensus/types.js";
import type { ExecutionService, VersionedWriteSet } from "./execution/service.js";
import type { Logger } from "./log.js";
import { addStageTime } from "./stage-times.js";
import { HardStateFile } from "./hard-state-file.js";
import { readJsonFile } from "./state-file.js";
import type { NodeId, Transport } from "./transport/types.js";
import { decodeEntry, decodePublicWrites } from "../runtime/ledger/entry.js";
import type { Ledger } from "../runtime/ledger/ledger.js";
import type { LedgerRecord } from "../runtime/ledger/store.js";
import { utf8 } from "../sdk/bytes.js";
import { mergeAppends, ReplicaBatch } from "./replica-batch.js";
import { SnapshotInstaller } from "./snapshot/install.js";
import { TIMELINE, timeline } from "./timeline.js";
import type { SnapshotPort } from "./snapshot/port.js";

/** Settled once: `#processSoon` queues its microtask as a reaction to it. */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * The node's consensus `maxBatchBytes`: the most payload bytes one append carries (and one
 * proposed entry holds), chosen so that an append at every bound encodes within the transport's
 * `MAX_MESSAGE_BYTES` (1 MiB less 1 KiB), which the core's default (1 MiB of payload alone) did
 * not: the message also carries each entry's fields (at most 64 bytes of msgpack for view,
 * seqno, signature flag and the payload's header), a configuration entry's node ids (at most
 * 64 ids of 128 characters) and the append's own fields, and a leader whose followers had fallen
 * behind sliced ~1 MiB of entries into one append and stopped on `PayloadTooLarge` (seen in
 * `bench:network --freshness-ms`, where prune passes make entries of ~15 KB). 992 KiB leaves
 * 256 × 64 + 64 × 130 + 512 bytes below the cap with room to spare, and stays above the largest
 * transaction (`MAX_TX_WRITE_BYTES`, 960 KiB of writes, runtime/sandbox/limits.ts).
 * test/node/replica-batch.test.ts encodes an append at every bound.
 */
export const APPEND_PAYLOAD_BYTES = 992 * 1024;

/**
 * The transport payloads of `messages`, in order: `{t: WIRE_CONSENSUS, m}` with `m` the message
 * without `from` and `to` (the receiver takes both from the authenticated frame, and always did:
 * `Replica.receive` replaces whatever a payload claims). So a leader's appends to followers at
 * the same position are the same bytes, and they are encoded once: a later message equal to an
 * earlier one of the list (same type and fields, and for appends the very same entry objects in
 * the same order) gets the earlier one's payload, the same `Uint8Array`. Each frame is still
 * sealed for its own receiver (the transport copies or encrypts the payload, never keeps it).
 */
export function encodeConsensusMessages(messages: readonly Message[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  /** Earlier messages with their payloads, by a key of their scalar fields. */
  const encoded = new Map<string, Array<{ readonly m: Message; readonly payload: Uint8Array }>>();
  for (const m of messages) {
    const { from: _from, to: _to, ...body } = m;
    const key = sharingKey(m);
    const candidates = key === undefined ? undefined : encoded.get(key);
    const same = candidates?.find((c) => sameBody(c.m, m));
    if (same !== undefined) {
      out.push(same.payload);
      continue;
    }
    const payload = encode({ t: WIRE_CONSENSUS, m: body });
    out.push(payload);
    if (key === undefined) continue;
    if (candidates === undefined) encoded.set(key, [{ m, payload }]);
    else candidates.push({ m, payload });
  }
  return out;
}

/** What equal appends have in common (undefined: not shared; only appends repeat per follower). */
function sharingKey(m: Message): string | undefined {
  if (m.type !== "append") return undefined;
  const last = m.entries.at(-1);
  return `${m.view}/${m.prevSeqno}/${m.prevView}/${m.commitSeqno}/${m.readRound ?? ""}/${m.entries.length}/${last?.seqno ?? ""}`;
}

/** True when two appends with one sharing key encode alike: same entry objects, same order. */
function sameBody(a: Message, b: Message): boolean {
  if (a.type !== "append" || b.type !== "append" || a.readRound !== b.readRound) return false;
  if (a.entries.length !== b.entries.length) return false;
  for (let i = 0; i < a.entries.length; i++) if (a.entries[i] !== b.entries[i]) return false;
  return true;
}

/** A Ready whose steps 2-5 wait (node/replica.ts `#afterDurable`). */
interface PersistedReady {
  readonly ready: Ready;
  readonly sendNow: boolean;
  /** True once its entries are durable (or it had none). */
  durable: boolean;
}

/** The map and key that record a configuration (the voting nodes) in a ledger entry. */
export const CONFIG_MAP = "public:treaty.config";
export const CONFIG_KEY = "current";

/** Transport message kinds multiplexed on one node-to-node channel. */
export const WIRE_CONSENSUS = "c";

export interface ReplicaOptions {
  readonly consensus: ConsensusNode;
  readonly ledger: Ledger;
  readonly execution: ExecutionService;
  readonly transport: Transport | null;
  readonly hardStatePath: string;
  readonly logger: Logger;
  /** A committed range, before the execution KV is asked to commit it (a snapshot point in it commits first). */
  readonly beforeCommit?: (fromSeqno: number, toSeqno: number) => void;
  /** A committed range, after the execution KV was asked to commit it. */
  readonly onCommit: (fromSeqno: number, toSeqno: number) => void;
  readonly onRoleChange: (soft: SoftState) => void;
  /** Replicated entries just appended, before their write sets are decrypted (a rekey entry's secret). */
  readonly onAppended?: (records: readonly LedgerRecord[]) => void;
  /** Called once when the replica hits a fatal error; the node must stop. */
  readonly onFatal: (err: unknown) => void;
  /**
   * Before a slice of received messages is stepped: the driver runs the ticks whose time has
   * come (node/tick-clock.ts `TickTimer.catchUp`), so they count before the messages that came
   * after them even when its timer fires seldom.
   */
  readonly beforeSlice?: () => void;
  /**
   * Snapshots for install-snapshot; undefined: lagging followers and joiners replay the ledger
   * from the leader (and this node cannot install one).
   */
  readonly snapshots?: SnapshotPort;
  /** After a snapshot was loaded, before replication resumes: rebuild what derives from state. */
  readonly onSnapshotInstalled?: (seqno: number) => Promise<void>;
  /** Milliseconds clock for transfer progress (default `performance.now`). */
  readonly now?: () => number;
}

/** Most replicated entries handled in one event-loop task (about one catch-up batch). */
export const MAX_ENTRIES_PER_SLICE = 256;
/** Most messages handled in one event-loop task. */
export const MAX_MESSAGES_PER_SLICE = 64;
/**
 * Most messages waiting to be handled. The leader's pipelining window bounds what it sends to
 * one follower; beyond this, messages are dropped (consensus retries lost messages).
 */
export const MAX_INBOX_MESSAGES = 65_536;

/** The configuration an entry sets, if it is a configuration entry. */
export function configOf(record: LedgerRecord): NodeId[] | undefined {
  const writes = decodePublicWrites(decodeEntry(record.bytes, record.seqno));
  const map = writes.find((w) => w.map === CONFIG_MAP);
  const value = map?.writes.find(([key]) => utf8.decode(key) === CONFIG_KEY)?.[1];
  if (!value) return undefined;
  const nodes: unknown = JSON.parse(utf8.decode(value));
  assert(
    Array.isArray(nodes) && nodes.every((n) => typeof n === "string"),
    "a configuration is a list of node ids",
  );
  return nodes as NodeId[];
}

/** The consensus entry of a ledger record (kind and configuration read from its bytes). */
export function entryOf(record: LedgerRecord): Entry {
  const kind = decodeEntry(record.bytes, record.seqno).header.kind;
  const config = kind === "internal" ? configOf(record) : undefined;
  return {
    view: record.view,
    seqno: record.seqno,
    signature: kind === "signature",
    payload: record.bytes,
    ...(config !== undefined && { config: [...config].sort() }),
  };
}

/** The consensus core's storage: committed entries read back from the ledger. */
export function ledgerLogStorage(ledger: Ledger): LogStorage {
  return {
    entryAt: (seqno) => {
      const record = ledger.get(seqno);
      return record === undefined ? undefined : entryOf(record);
    },
    // A ledger that starts at a snapshot holds only the entries after it.
    firstSeqno: () => (ledger.base?.seqno ?? 0) + 1,
  };
}

/**
 * Rebuilds the consensus core's persisted state from the ledger and the hard-state file, loading
 * only the entries after the last signature at or before the durable commit point (the base):
 * the prefix is committed, and the core reads it back through `ledgerLogStorage` when needed.
 * What the core must know about the prefix (view history, last signature, configuration in
 * force) comes from the ledger's indexes; the configuration is looked up among the few
 * `internal` entries only.
 */
export function loadPersistedState(ledger: Ledger, hardStatePath: string): PersistedState {
  const hardState = readJsonFile<HardState>(hardStatePath) ?? { view: 0, votedFor: null, commitSeqno: 0 };
  // A snapshot's seqno is committed (its evidence was), even if the durable commit point lags it.
  const commit = Math.max(
    ledger.lastSignatureAtOrBefore(Math.min(hardState.commitSeqno, ledger.lastSeqno)),
    ledger.base?.seqno ?? 0,
  );
  let config: LogBase["config"];
  for (const seqno of ledger.internalSeqnosDownFrom(commit)) {
    const nodes = configOf(ledger.get(seqno)!);
    if (nodes !== undefined) {
      config = { seqno, nodes: [...nodes].sort() };
      break;
    }
  }
  // A ledger that starts at a snapshot knows the configuration in force there from the snapshot.
  config ??= ledger.base?.config && { seqno: ledger.base.config.seqno, nodes: [...ledger.base.config.nodes] };
  const base: LogBase = {
    seqno: commit,
    view: commit === 0 ? 0 : (ledger.get(commit)?.view ?? ledger.base!.view),
    views: ledger.viewStarts().filter((v) => v.startSeqno <= commit),
    lastSignature: commit,
    ...(config !== undefined && { config }),
  };
  const entries: Entry[] = [];
  for (let seqno = commit + 1; seqno <= ledger.lastSeqno; seqno++) entries.push(entryOf(ledger.get(seqno)!));
  return { hardState: { ...hardState, commitSeqno: commit }, base, entries };
}

/**
 * The durable commit point is refreshed at least every this many committed entries (with the
 * next persisted batch), so a restart loads at most about this many committed entries.
 */
export const COMMIT_CHECKPOINT_ENTRIES = 4096;

/**
 * A hard state as the replica holds it (the durable one, the latest one): made only by this
 * class's constructor, so every copy has one hidden class and `#checkpointCommit`, which runs in
 * every Ready and is inlined into `#handle`, reads it monomorphically. Held as the core's object
 * literals and spread copies of them (`{ ...durable, commitSeqno }`), its reads there met new maps
 * mid-run (2-3 times per follower in a bench's 30,000-write levels), and each deoptimized
 * `#handle` (with everything it inlines) to be compiled again (docs/performance.md, "A
 * follower's CPU per write, session 22").
 */
export class HeldHardState implements HardState {
  constructor(
    readonly view: number,
    readonly votedFor: NodeId | null,
    readonly commitSeqno: number,
  ) {}

  /** A copy of `hard`, with `commitSeqno` when given. */
  static of(hard: HardState, commitSeqno: number = hard.commitSeqno): HeldHardState {
    return new HeldHardState(hard.view, hard.votedFor, commitSeqno);
  }
}

export class Replica {
  readonly #o: ReplicaOptions;
  #durable: HeldHardState | undefined;
  readonly #hardFile: HardStateFile;
  #latestHard: HeldHardState | undefined;
  #failed = false;
  #leaderCommitSeqno: number | null = null;
  #inbox: Array<{ readonly from: NodeId; readonly bytes: Uint8Array }> = [];
  #inboxHead = 0;
  #inboxDropped = 0;
  #draining = false;
  #processScheduled = false;
  #closed = false;
  /** Read-index requests waiting for the core's answer, by id. */
  readonly #reads = new Map<
    number,
    { resolve: (seqno: number) => void; reject: (err: TreatyError) => void }
  >();
  #nextReadId = 1;
  readonly #snapshots: SnapshotInstaller | undefined;
  /**
   * Readys whose steps 2-5 wait, in Ready order: for their entries to be durable (`durable`
   * false until the ledger's promise resolves), or behind an earlier one that waits.
   */
  readonly #afterPersist: PersistedReady[] = [];
  /** KV applies and commits (held back, replica-batch.ts) and post-durable messages (once per turn). */
  readonly #batch: ReplicaBatch;
  /**
   * True when the KV may hold versions beyond the ledger's end: this node led (its sequencer may
   * have executed a batch it never appended) since the last rollback to the ledger's end.
   */
  #kvMayRunAhead = true;

  constructor(options: ReplicaOptions) {
    this.#o = options;
    this.#hardFile = new HardStateFile(options.hardStatePath);
    this.#batch = new ReplicaBatch({
      execution: options.execution,
      send: (messages) => this.#send(messages),
      fail: (err) => this.#fail(err),
      stopped: () => this.#closed || this.#failed,
    });
    options.transport?.onMessage((from, bytes) => this.receive(from, bytes));
    if (options.snapshots !== undefined && options.transport !== null)
      this.#snapshots = new SnapshotInstaller({
        port: options.snapshots,
        transport: options.transport,
        logger: options.logger,
        now: options.now ?? (() => performance.now()),
      });
  }

  get consensus(): ConsensusNode {
    return this.#o.consensus;
  }

  /** One clock tick of the core. */
  tick(): void {
    this.#guard(() => this.#o.consensus.tick());
    this.#snapshots?.tick(this.#o.consensus);
  }

  /** Serves a snapshot chunk request from a follower (see node/snapshot/transfer.ts). */
  serveSnapshotChunk(request: unknown): Promise<Uint8Array> {
    if (this.#snapshots === undefined)
      return Promise.reject(new TreatyError("NotFound", "this node serves no snapshots"));
    return this.#snapshots.serveChunk(request);
  }

  /** Install-snapshot counters of this process (bytes fetched, installs, failures). */
  snapshotStats(): Readonly<Record<string, number>> {
    return this.#snapshots?.stats() ?? {};
  }

  /**
   * The core asked this node to install a snapshot: fetch, verify and load it, persist the new
   * commit point, rebuild derived state, then tell the core (appends resume). On any failure the
   * core is told to give up; the leader's next offer starts over (resuming the transfer).
   */
  #installSnapshot(request: SnapshotInstall): void {
    const { consensus, logger } = this.#o;
    const { seqno, view } = request.snapshot;
    if (this.#snapshots === undefined) {
      logger.warn("asked to install a snapshot but this node has no snapshot support", { seqno });
      consensus.snapshotAborted(seqno);
      return;
    }
    this.#batch.flush();
    const installing = this.#snapshots.install(request).then(
      async (loaded) => {
        if (this.#closed || this.#failed) return;
        if (loaded.seqno !== seqno || loaded.view !== view) {
          // The state now is another snapshot's than the one the core expects: stop, never diverge.
          throw new TreatyError(
            "SnapshotInvalid",
            `loaded snapshot ${loaded.view}.${loaded.seqno}, but ${view}.${seqno} was offered`,
          );
        }
        // Durable first: a restart must find its commit point at the snapshot, not below it.
        const status = consensus.status();
        const hard = new HeldHardState(status.view, status.votedFor, seqno);
        this.#hardFile.writeNow(JSON.stringify(hard));
        this.#durable = hard;
        this.#latestHard = hard;
        await this.#o.onSnapshotInstalled?.(seqno);
        this.#guard(() => consensus.snapshotInstalled(seqno, view));
        this.process();
      },
      (err: unknown) => {
        if (this.#closed || this.#failed) return;
        logger.warn("snapshot install failed: waiting for the next offer", { seqno, err });
        consensus.snapshotAborted(seqno);
        this.process();
      },
    );
    this.#async(installing);
  }

  /**
   * A message from an authenticated peer: queued, and handled in a later task with the others
   * queued (see the module comment). Dropped when the inbox is full or the replica closed.
   */
  receive(from: NodeId, bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#inbox.length - this.#inboxHead >= MAX_INBOX_MESSAGES) {
      this.#inboxDropped++;
      return;
    }
    this.#inbox.push({ from, bytes });
    if (!this.#draining) {
      this.#draining = true;
      setImmediate(() => this.#drain());
    }
  }

  /** Messages dropped because the inbox was full. */
  get inboxDropped(): number {
    return this.#inboxDropped;
  }

  /** Stops handling messages (the node is stopping: its stores close next). */
  close(): void {
    this.#closed = true;
    this.#inbox = [];
    this.#inboxHead = 0;
  }

  /** Handles one slice of the inbox, then yields to the event loop if more is waiting. */
  #drain(): void {
    let entries = 0;
    let messages = 0;
    if (!this.#closed && !this.#failed && this.#o.beforeSlice !== undefined) {
      try {
        this.#o.beforeSlice();
      } catch (err) {
        // A fatal error already stopped the replica (#guard); the messages are refused below.
        this.#o.logger.debug("consensus ticks before messages not handled", { err });
      }
    }
    while (
      !this.#closed &&
      this.#inboxHead < this.#inbox.length &&
      entries < MAX_ENTRIES_PER_SLICE &&
      messages < MAX_MESSAGES_PER_SLICE
    ) {
      const { from, bytes } = this.#inbox[this.#inboxHead++]!;
      messages++;
      try {
        entries += this.#handleMessage(from, bytes);
      } catch (err) {
        // A refusal of this one message (the replica already stopped after a fatal error, ...).
        this.#o.logger.debug("consensus message not handled", { err });
      }
    }
    // The consequences of the whole slice (acks, commits, replies) now, not at the next tick, in
    // one Ready for every message stepped (the core takes any number of steps between two
    // `ready()` calls; its outbox is bounded, docs/consensus.md "Bounds"). A follower then stages,
    // persists and acknowledges the appends of one slice together: one durable write, one
    // deferred step and one acknowledgement, not one each per append message.
    if (messages > 0 && !this.#closed && !this.#failed) {
      try {
        this.process();
      } catch (err) {
        this.#o.logger.debug("consensus messages not handled", { err });
      }
    }
    if (this.#inboxHead >= this.#inbox.length) {
      this.#inbox = [];
      this.#inboxHead = 0;
    } else if (this.#inboxHead > 1024) {
      // Handled messages are released in bulk, not one shift at a time.
      this.#inbox = this.#inbox.slice(this.#inboxHead);
      this.#inboxHead = 0;
    }
    if (!this.#closed && this.#inboxHead < this.#inbox.length) setImmediate(() => this.#drain());
    else this.#draining = false;
  }

  /** Decodes and steps one message (#drain then takes the Ready); returns how many entries it carried. */
  #handleMessage(from: NodeId, bytes: Uint8Array): number {
    let message: Message;
    // Timed inline, not through closures made per message (docs/performance.md, "Hot closures
    // recompiled after every major GC"): decoding and stepping together are `replication`.
    const started = performance.now();
    try {
      // Entry payloads stay views into `bytes` (the transport's fresh copy, never reused): they
      // are stored as they are, and a copy each was an allocation per replicated entry.
      const wire = decodeViews<{ t?: unknown; m?: unknown }>(bytes, "consensus message");
      if (wire?.t !== WIRE_CONSENSUS || typeof wire.m !== "object" || wire.m === null) return 0;
      // The authenticated sender and receiver replace whatever the payload claims. Set on the
      // decoded object itself (it is this call's own), not on a spread copy: copying every field
      // of every message went through V8's slow object-clone path (perf, session 18).
      const decoded = wire.m as { from?: unknown; to?: unknown };
      decoded.from = from;
      decoded.to = this.#o.consensus.id;
      message = decoded as Message;
    } catch {
      addStageTime("replication", performance.now() - started);
      return 0;
    }
    try {
      this.#step(message);
    } finally {
      addStageTime("replication", performance.now() - started);
    }
    if (message.type === "append" && this.#o.consensus.currentLeader() === from) {
      const reported = message.commitSeqno;
      if (typeof reported === "number" && reported > (this.#leaderCommitSeqno ?? -1))
        this.#leaderCommitSeqno = reported;
    }
    // Its consequences are handled once the slice is stepped (#drain).
    return message.type === "append" && Array.isArray(message.entries) ? message.entries.length : 0;
  }

  /**
   * The highest commit point a leader reported to this node (in its appends), or null before
   * one did: a follower that starts compares its own commit point with it to know when it has
   * caught up.
   */
  get leaderCommitSeqno(): number | null {
    return this.#leaderCommitSeqno;
  }

  /**
   * Leader: proposes entries the ledger already staged (same order); returns their ids. The
   * Ready is handled in a microtask (`#processSoon`), so the proposals of one synchronous run (a
   * batch and the signature after it) are persisted together and reach each follower in one
   * append (`mergeAppends`): one frame to seal and one acknowledgement to verify, not two.
   */
  propose(entries: readonly ProposedEntry[]): TxId[] {
    const ids = this.#o.consensus.propose(entries);
    this.#processSoon();
    return ids;
  }

  /**
   * Runs `process()` once the current synchronous run ends (a stopped replica skips it): a
   * reaction on a settled promise, which runs in the same place of the microtask queue as
   * `queueMicrotask` would, without the `AsyncResource` and bound function Node makes for each
   * `queueMicrotask` (docs/performance.md, "Small leads on the leader's main thread").
   */
  #processSoon(): void {
    if (this.#processScheduled) return;
    this.#processScheduled = true;
    void SETTLED.then(this.#processQueued);
  }

  /** `#processSoon`'s microtask, made once (closures made per call lose their code at a major GC). */
  readonly #processQueued = (): void => {
    this.#processScheduled = false;
    if (this.#closed || this.#failed) return;
    try {
      this.process();
    } catch (err) {
      // A fatal error already stopped the replica (#guard); anything else refused one step.
      this.#o.logger.debug("consensus proposal not handled", { err });
    }
  };

  /** Leader: refuses `change` as `changeMembership` would, appending nothing (call it before staging). */
  checkMembershipChange(change: MembershipChange): void {
    try {
      this.#o.consensus.checkMembershipChange(change);
    } finally {
      this.process(); // a joiner's first check made it a learner: start replicating to it
    }
  }

  /** Leader: a membership change whose configuration entry carries `payload` (already staged in the ledger). */
  changeMembership(change: MembershipChange, payload: Uint8Array): TxId {
    const id = this.#o.consensus.changeMembership(change, payload);
    this.process();
    return id;
  }

  /**
   * Leader: a read index (docs/consensus.md, "Read index"): resolves with a committed seqno at
   * least this node's commit point now, once a majority confirmed it still leads. Rejects with
   * TreatyError `NotLeader` when it is not, or stops, leading first.
   */
  readIndex(): Promise<number> {
    const id = this.#nextReadId++;
    try {
      this.#o.consensus.readIndex(id);
    } catch (err) {
      return Promise.reject(err);
    }
    const answer = new Promise<number>((resolve, reject) => this.#reads.set(id, { resolve, reject }));
    this.process();
    return answer;
  }

  /** Drains and handles every pending Ready. */
  process(): void {
    this.#checkRunning();
    try {
      while (this.#o.consensus.hasReady()) this.#handle(this.#o.consensus.ready());
    } catch (err) {
      this.#failOn(err);
    }
  }

  /** Steps the core with one message (as `#guard` would run it, without a closure per message). */
  #step(message: Message): void {
    this.#checkRunning();
    try {
      this.#o.consensus.step(message);
    } catch (err) {
      this.#failOn(err);
    }
  }

  #handle(ready: Ready): void {
    const { ledger, execution, consensus } = this.#o;
    if (ready.softState) {
      // What this node gathered in its old role goes first (a new leader's sequencer may start now).
      this.#batch.flush();
      this.#o.onRoleChange(ready.softState);
    }
    if (consensus.currentRole() === "Leader") this.#kvMayRunAhead = true;

    // 1. Persist.
    if (ready.truncateFromSeqno !== null && ready.truncateFromSeqno <= ledger.lastSeqno) {
      this.#o.logger.warn("truncating uncommitted ledger suffix", { fromSeqno: ready.truncateFromSeqno });
      ledger.truncate(ready.truncateFromSeqno);
      this.#batch.flush();
      this.#async(execution.rollback(ready.truncateFromSeqno - 1));
    }
    const fresh: LedgerRecord[] = [];
    // Indexed loops on the per-entry paths: `for...of` allocates an iterator result per item
    // until V8 optimizes the function, and per-append functions like this one rarely are.
    for (let i = 0; i < ready.entries.length; i++) {
      const entry = ready.entries[i]!;
      if (entry.seqno <= ledger.lastSeqno) {
        // The leader's own entry, staged by the sequencer before it was proposed.
        assert(
          ledger.get(entry.seqno)?.view === entry.view,
          "a leader's proposed entry is already in its ledger",
        );
      } else {
        fresh.push({ seqno: entry.seqno, view: entry.view, bytes: entry.payload });
      }
    }
    if (fresh.length > 0) {
      ledger.appendReplicated(fresh);
      this.#o.onAppended?.(fresh);
      // Every entry is a KV version (signatures apply an empty write set), so the KV's versions
      // and the ledger's seqnos are one sequence. After this node led, the KV first drops
      // anything beyond the ledger's end: the results of a batch it executed as leader and never
      // appended (leadership moved while it ran; no batch starts once it follows). Worker
      // requests run in order, so this is exact.
      if (this.#kvMayRunAhead) {
        this.#batch.flush();
        this.#async(execution.rollback(fresh[0]!.seqno - 1));
        this.#kvMayRunAhead = false;
      }
      const applies = new Array<VersionedWriteSet>(fresh.length);
      for (let i = 0; i < fresh.length; i++) {
        const seqno = fresh[i]!.seqno;
        applies[i] = { version: seqno, writeSet: ledger.writeSetAt(seqno) };
      }
      this.#batch.apply(applies);
    }
    // The view and vote first: after a crash between the two writes, the log must never hold
    // entries from a view later than the persisted one.
    // Timed inline (no closure per Ready).
    const persistStarted = performance.now();
    let durable: Promise<void> | null;
    try {
      if (ready.hardState) this.#writeHardState(ready.hardState);
      durable = ready.entries.length > 0 ? ledger.persistAsync() : null;
    } finally {
      addStageTime("persistence", performance.now() - persistStarted);
    }
    if (TIMELINE && durable !== null) {
      const last = ready.entries.at(-1)!.seqno;
      // A failed write is #afterDurable's to handle; this only records the successes.
      durable.then(
        () => timeline("persist", persistStarted, performance.now() - persistStarted, last),
        () => undefined,
      );
    }
    this.#checkpointCommit();

    // 2. Send: a leader at once, others once the entries are durable.
    const sendNow = consensus.currentRole() === "Leader";
    if (sendNow) {
      this.#batch.sendGathered(); // messages gathered while following go first (a KV commit stays held)
      this.#send(mergeAppends(ready.messages, consensus.limits));
    }
    this.#afterDurable(durable, ready, sendNow);
  }

  /** Steps 2-5 of a Ready whose entries are durable (and every earlier Ready's steps ran). */
  #afterPersisted(ready: Ready, sendNow: boolean): void {
    const { consensus } = this.#o;
    if (!sendNow) this.#batch.send(ready.messages);

    // 3. Acknowledge, then commit.
    const last = ready.entries.at(-1);
    if (last) consensus.ackPersisted(last.seqno, last.view);
    if (ready.committed) {
      this.#o.beforeCommit?.(ready.committed.fromSeqno, ready.committed.toSeqno);
      this.#batch.commit(ready.committed.toSeqno);
      this.#o.onCommit(ready.committed.fromSeqno, ready.committed.toSeqno);
    }

    // 4. Reads: their seqnos are at most the commit point just handed on.
    for (const { id, seqno } of ready.reads) {
      const waiter = this.#reads.get(id);
      if (waiter === undefined) continue;
      this.#reads.delete(id);
      if (seqno === null)
        waiter.reject(new TreatyError("NotLeader", "leadership moved before the read was confirmed: retry"));
      else waiter.resolve(seqno);
    }

    // 5. A snapshot to install: this Ready's writes and every earlier one's are durable.
    if (ready.installSnapshot !== null) this.#installSnapshot(ready.installSnapshot);
  }

  #send(messages: readonly Message[]): void {
    const transport = this.#o.transport;
    if (transport === null || messages.length === 0) return;
    // Encrypted between the two nodes: appends carry entry headers (contract, method, caller)
    // and public writes, which the NATS servers need not see (docs/ARCHITECTURE.md).
    // Timed here, not through a closure made per send (docs/performance.md, "Hot closures
    // recompiled after every major GC").
    const started = performance.now();
    try {
      const payloads = encodeConsensusMessages(messages);
      for (let i = 0; i < messages.length; i++) transport.sendConfidential(messages[i]!.to, payloads[i]!);
    } finally {
      addStageTime("replication", performance.now() - started);
    }
  }

  /**
   * Runs steps 2-5 of `ready` (`#afterPersisted`) once `durable` resolved and every earlier
   * Ready's steps ran: at once when nothing is waiting, else in order behind the others. One
   * reaction per durable write, and the steps of every Ready it made runnable run in that one
   * callback, followed by one drain of the core (an acknowledgement can make more Readys: a leader
   * commits), where a chain of promises per Ready cost three promises, four closures and a drain
   * each (perf: a follower's durable callbacks, session 18).
   */
  #afterDurable(durable: Promise<void> | null, ready: Ready, sendNow: boolean): void {
    if (durable === null && this.#afterPersist.length === 0) {
      this.#afterPersisted(ready, sendNow);
      return;
    }
    const waiting: PersistedReady = { ready, sendNow, durable: durable === null };
    this.#afterPersist.push(waiting);
    durable?.then(
      () => {
        waiting.durable = true;
        this.#runPersisted();
      },
      (err: unknown) => this.#fail(err),
    );
  }

  /** Runs the steps of the waiting Readys from the oldest, up to the first still not durable. */
  #runPersisted(): void {
    const queue = this.#afterPersist;
    let ran = 0;
    while (ran < queue.length && queue[ran]!.durable && !this.#failed && !this.#closed) {
      const { ready, sendNow } = queue[ran++]!;
      try {
        this.#afterPersisted(ready, sendNow);
      } catch (err) {
        try {
          this.#failOn(err); // stops the replica when the error is fatal, and rethrows
        } catch {
          this.#o.logger.debug("deferred consensus step not handled", { err });
        }
      }
    }
    if (ran === 0) return;
    queue.splice(0, ran);
    if (this.#failed || this.#closed) return;
    try {
      this.process();
    } catch (err) {
      // A fatal error already stopped the replica (process); anything else refused one step.
      this.#o.logger.debug("deferred consensus step not handled", { err });
    }
  }

  /**
   * View and vote must be durable before any message goes out. The commit point may lag (a
   * restarted node re-learns it from the next signature), so a change of commit alone is not
   * worth two fsyncs per batch: it is written with the next view or vote change.
   */
  #writeHardState(hard: HardState): void {
    this.#latestHard = HeldHardState.of(hard);
    if (this.#durable?.view === hard.view && this.#durable.votedFor === hard.votedFor) return;
    this.#hardFile.writeNow(JSON.stringify(hard));
    this.#durable = HeldHardState.of(hard);
  }

  /**
   * Writes the commit point once it ran `COMMIT_CHECKPOINT_ENTRIES` ahead of the durable one, up
   * to the entries persisted (so it never names entries the disk lacks): a restart then loads
   * only the entries after it (loadPersistedState). Off the main thread (HardStateFile:
   * nothing waits for it), one at a time; `now` writes it before returning (a clean stop).
   */
  #checkpointCommit(minEntries = COMMIT_CHECKPOINT_ENTRIES, now = false): void {
    const hard = this.#latestHard;
    const durable = this.#durable;
    if (hard === undefined || durable === undefined) return;
    if (hard.commitSeqno - durable.commitSeqno < minEntries) return;
    if (!now && this.#hardFile.checkpointing) return;
    const commitSeqno = Math.min(hard.commitSeqno, this.#o.ledger.persistedSeqno);
    // Memory for entries before the previous checkpoint goes (one checkpoint behind: the commit
    // hooks of the entries in between, snapshots among them, still read their tree nodes).
    this.#o.ledger.compact(durable.commitSeqno);
    const checkpoint = HeldHardState.of(durable, commitSeqno);
    const content = JSON.stringify(checkpoint);
    if (now) {
      this.#hardFile.writeNow(content);
      this.#durable = checkpoint;
      return;
    }
    this.#hardFile.checkpoint(content).then(
      (written) => {
        // Not superseded, so no view or vote was written since: only the commit point moved.
        if (written && this.#durable !== undefined && this.#durable.commitSeqno < commitSeqno)
          this.#durable = HeldHardState.of(this.#durable, commitSeqno);
      },
      (err: unknown) => {
        if (!this.#closed) this.#fail(err);
      },
    );
  }

  /** Makes the latest commit point durable (a clean stop: the next start loads the least). */
  flushCommit(): void {
    if (!this.#failed) this.#checkpointCommit(1, true);
  }

  #async(work: Promise<unknown>): void {
    work.catch((err: unknown) => this.#fail(err));
  }

  #guard(work: () => void): void {
    this.#checkRunning();
    try {
      work();
    } catch (err) {
      this.#failOn(err);
    }
  }

  /** Refuses work once a fatal error stopped the replica. */
  #checkRunning(): void {
    if (this.#failed) throw new TreatyError("Unavailable", "this node stopped after a fatal error");
  }

  /**
   * Rethrows `err`, a step's failure; first stops the replica when it is fatal (anything but a
   * TreatyError other than LedgerCorrupt or DecryptionFailed: a refusal of one step is not).
   */
  #failOn(err: unknown): never {
    if (err instanceof TreatyError && err.code !== "LedgerCorrupt" && err.code !== "DecryptionFailed")
      throw err;
    this.#fail(err);
    throw err;
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#o.logger.error("fatal replica error: stopping", { err });
    this.#o.onFatal(err);
  }
}
