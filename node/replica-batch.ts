/**
 * What a replica hands on after its Readys, gathered per event-loop turn (node/replica.ts):
 *
 * - KV applies of replicated entries and KV commits go to the execution worker as one apply
 *   request (every entry of the turn) and one commit request (the highest commit point),
 *   instead of one apply, one rollback and one commit per Ready: each request is a
 *   `postMessage`, a reply and, for a commit, an LMDB transaction.
 * - Messages sent once entries are durable go out together, and successful append responses
 *   to one leader are merged (`mergeAppendAcks`): with group commit one sync makes several
 *   appends durable, and one acknowledgement of the highest says all that the others would
 *   (consensus/progress.ts frees every in-flight append at or below an acknowledged seqno). Each
 *   message dropped saves a signed, encrypted frame here and its verification on the leader.
 *
 * - KV applies ride with the KV commits: they are held back like a commit (below) and handed on
 *   just before it, or once `KV_COMMIT_REQUEST_ENTRIES` entries or `KV_COMMIT_REQUEST_INTERVAL_MS`
 *   have gathered, instead of once per turn: an apply request is a `postMessage` to the worker,
 *   its dispatch there and a reply, two thread wake-ups per append on a paced follower. Nothing
 *   reads the KV except through the execution service, and it hands the held applies on before
 *   it queues any request (`ExecutionService.setRequestHook`): a read, a snapshot, a rollback or
 *   a batch still finds every version appended before it, exactly as when each apply went at once.
 * - KV commits are requested at most once per `KV_COMMIT_REQUEST_INTERVAL_MS` (or sooner once
 *   `KV_COMMIT_REQUEST_ENTRIES` more entries are committed), not at every consensus commit: each
 *   request is a `postMessage` and a reply (two thread wake-ups) and, as each starts a durable
 *   LMDB write, up to one write and fsync per append on every node (the KV paces its writes at
 *   20 ms, about the interval between a loaded leader's appends). The ledger is the source of
 *   truth: the KV's committed version only says how far a restart need not replay
 *   (node/execution/engine.ts), never what the KV holds or what reads see (they read applied
 *   versions up to the consensus commit point). A commit held back goes with the next flush
 *   after the interval, or by a timer once the interval ends when nothing else comes.
 *
 * Messages gathered in a turn are flushed in a `process.nextTick` after it (before any I/O
 * callback or timer, so nothing else observes the delay), with whatever applies and commit are
 * due; `flush()` hands on everything at once, a held-back commit and applies too (the replica
 * calls it before a role change, a rollback or a snapshot install).
 */
import type { ConsensusLimits } from "./consensus/options.js";
import type { AppendMessage, Message } from "./consensus/types.js";
import type { ExecutionService, VersionedWriteSet } from "./execution/service.js";

export interface ReplicaBatchOptions {
  readonly execution: ExecutionService;
  /** Sends messages now (after `flush` merged them). */
  readonly send: (messages: readonly Message[]) => void;
  /** A failed apply or commit: the replica stops. */
  readonly fail: (err: unknown) => void;
  /** True once the replica must not hand anything on (closed or failed). */
  readonly stopped: () => boolean;
  /** Milliseconds clock (default `performance.now`). */
  readonly now?: () => number;
  /** Runs `fire` once after `ms` (default an unref'd `setTimeout`). */
  readonly setTimer?: (fire: () => void, ms: number) => void;
}

/** Least time between two KV commit requests of a replica, ms (see the module comment). */
export const KV_COMMIT_REQUEST_INTERVAL_MS = 100;
/** A KV commit is requested before the interval ends once it covers this many more entries. */
export const KV_COMMIT_REQUEST_ENTRIES = 1024;

export class ReplicaBatch {
  readonly #o: ReplicaBatchOptions;
  #applies: VersionedWriteSet[] = [];
  /** When (clock ms) the oldest apply held in `#applies` came. */
  #appliesSince = 0;
  #commit = 0;
  #messages: Message[] = [];
  #scheduled = false;
  /** The highest KV commit requested, and when (clock ms). */
  #commitSent = 0;
  #commitSentAt = Number.NEGATIVE_INFINITY;
  /** When (clock ms) the earliest timer set to flush fires (+Infinity: none set). */
  #timerAt = Number.POSITIVE_INFINITY;
  readonly #now: () => number;
  readonly #setTimer: (fire: () => void, ms: number) => void;

  constructor(options: ReplicaBatchOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#setTimer = options.setTimer ?? ((fire, ms) => setTimeout(fire, ms).unref());
    // Any other request to the worker first takes the applies held here (see the module comment).
    options.execution.setRequestHook(() => this.flushApplies());
  }

  /**
   * KV applies of replicated entries, in version order after every earlier one: held back until
   * the next KV commit request, or until `KV_COMMIT_REQUEST_ENTRIES` or the request interval
   * gathered (see the module comment), or any other execution request.
   */
  apply(items: readonly VersionedWriteSet[]): void {
    if (items.length === 0) return;
    if (this.#applies.length === 0) this.#appliesSince = this.#now();
    for (let i = 0; i < items.length; i++) this.#applies.push(items[i]!);
    this.#schedule();
  }

  /**
   * A KV commit up to `version` (entries applied before it): requested with this turn's flush, or
   * held back until the interval since the last request ended (see the module comment).
   */
  commit(version: number): void {
    if (version > this.#commit) this.#commit = version;
    this.#schedule();
  }

  /** Messages to send once merged with the others of this turn. */
  send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    for (const m of messages) this.#messages.push(m);
    this.#schedule();
  }

  /**
   * Hands on the applies held (the execution service calls it before it queues any other
   * request). Queued by the apply request itself, this finds nothing left.
   */
  flushApplies(): void {
    const applies = this.#applies;
    if (applies.length === 0) return;
    this.#applies = [];
    if (!this.#o.stopped()) this.#o.execution.apply(applies).catch(this.#o.fail);
  }

  /**
   * Sends the messages gathered now, with whatever applies and commit are due (as at the end of a
   * turn): a commit within the request interval stays held back. A leader calls it before each
   * of its own sends (node/replica.ts), so that messages gathered while following go first
   * without a KV commit request at every Ready (`flush` did that: one LMDB write every 20 ms and a
   * worker round trip per Ready on the leader, against one per interval on a follower).
   */
  sendGathered(): void {
    this.#flush(false);
  }

  /** Hands on everything gathered, a held-back commit too: the apply, the commit, the messages. */
  flush(): void {
    this.#flush(true);
  }

  /**
   * As `flush`; without `all`, a commit within the request interval stays held back, and so do
   * the applies (unless the commit goes, or they reached their own bound); a timer then hands
   * them on once the interval ends.
   */
  #flush(all: boolean): void {
    const messages = this.#messages;
    this.#messages = [];
    if (this.#o.stopped()) {
      this.#applies = [];
      this.#commit = 0;
      return;
    }
    const now = this.#now();
    const commit = this.#commit;
    let commitDue = false;
    /** Ms until the held-back commit is due (when one is held back). */
    let commitWait = Number.POSITIVE_INFINITY;
    if (commit > this.#commitSent) {
      commitWait = this.#commitSentAt + KV_COMMIT_REQUEST_INTERVAL_MS - now;
      commitDue = all || commitWait <= 0 || commit - this.#commitSent >= KV_COMMIT_REQUEST_ENTRIES;
    } else {
      this.#commit = 0;
    }
    let appliesWait = Number.POSITIVE_INFINITY;
    if (this.#applies.length > 0) {
      appliesWait = this.#appliesSince + KV_COMMIT_REQUEST_INTERVAL_MS - now;
      if (commitDue || all || appliesWait <= 0 || this.#applies.length >= KV_COMMIT_REQUEST_ENTRIES)
        this.flushApplies();
    }
    if (commitDue) {
      this.#commit = 0;
      this.#commitSent = commit;
      this.#commitSentAt = now;
      this.#o.execution.commit(commit).catch(this.#o.fail);
    }
    const wait = Math.min(
      commitDue ? Number.POSITIVE_INFINITY : commitWait,
      this.#applies.length > 0 ? appliesWait : Number.POSITIVE_INFINITY,
    );
    if (wait !== Number.POSITIVE_INFINITY && now + wait < this.#timerAt) {
      const at = now + wait;
      this.#timerAt = at;
      this.#setTimer(
        () => {
          if (this.#timerAt === at) this.#timerAt = Number.POSITIVE_INFINITY;
          this.#flush(false);
        },
        Math.max(0, wait),
      );
    }
    if (messages.length > 0) this.#o.send(mergeAppendAcks(messages));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    process.nextTick(() => {
      this.#scheduled = false;
      this.#flush(false);
    });
  }
}

/**
 * Drops each successful append response that a later one to the same node supersedes: same
 * view, a seqno at least as high, and a read round at least as high (or neither has one), with
 * no other message to that node in between. Everything else keeps its order. A leader learns
 * from the later response all it would have from the dropped one (match, read round, liveness).
 */
export function mergeAppendAcks(messages: readonly Message[]): Message[] {
  const out: Array<Message | undefined> = [];
  /** Index in `out` of the last message to each node, when it is a successful append response. */
  const lastAck = new Map<string, number>();
  for (const m of messages) {
    const previous = lastAck.get(m.to);
    if (m.type === "appendResponse" && m.success) {
      const p = previous === undefined ? undefined : out[previous];
      if (
        p?.type === "appendResponse" &&
        p.view === m.view &&
        p.seqno <= m.seqno &&
        (p.readRound ?? 0) <= (m.readRound ?? 0)
      )
        out[previous!] = undefined;
      lastAck.set(m.to, out.length);
    } else {
      lastAck.delete(m.to);
    }
    out.push(m);
  }
  return out.filter((m): m is Message => m !== undefined);
}

/**
 * Joins each append (or heartbeat) that continues the previous append to the same node into it:
 * same sender and view, its `prevSeqno`/`prevView` the last entry of the previous one, a read
 * round at least as high, no other message to that node in between, and the joined entries
 * within `maxBatchEntries` and `maxBatchBytes` (no larger than one append the core builds). The
 * joined append carries the later commit point and read round, so a follower learns from it all
 * that the two would have told it, and its one acknowledgement frees both in the leader's
 * window (consensus/progress.ts). A leader proposing a batch and then its signature in one run
 * sends each follower one append instead of two. Everything else keeps its order.
 */
export function mergeAppends(
  messages: readonly Message[],
  limits: Pick<ConsensusLimits, "maxBatchEntries" | "maxBatchBytes">,
): Message[] {
  const out: Message[] = [];
  /** Index in `out` of the last message to each node, when it is an append. */
  const lastAppend = new Map<string, number>();
  for (const m of messages) {
    if (m.type !== "append") {
      lastAppend.delete(m.to);
      out.push(m);
      continue;
    }
    const at = lastAppend.get(m.to);
    const p = at === undefined ? undefined : out[at];
    if (p?.type === "append" && continues(p, m, limits)) {
      out[at!] = {
        ...m,
        prevSeqno: p.prevSeqno,
        prevView: p.prevView,
        entries: [...p.entries, ...m.entries],
        commitSeqno: Math.max(p.commitSeqno, m.commitSeqno),
      };
      continue;
    }
    lastAppend.set(m.to, out.length);
    out.push(m);
  }
  return out;
}

function continues(
  p: AppendMessage,
  m: AppendMessage,
  limits: Pick<ConsensusLimits, "maxBatchEntries" | "maxBatchBytes">,
): boolean {
  const last = p.entries.at(-1);
  if (
    p.from !== m.from ||
    p.view !== m.view ||
    m.prevSeqno !== (last?.seqno ?? p.prevSeqno) ||
    m.prevView !== (last?.view ?? p.prevView) ||
    (p.readRound ?? 0) > (m.readRound ?? 0) ||
    p.entries.length + m.entries.length > limits.maxBatchEntries
  )
    return false;
  let bytes = 0;
  for (const e of p.entries) bytes += e.payload.length;
  for (const e of m.entries) bytes += e.payload.length;
  return bytes <= limits.maxBatchBytes;
}
