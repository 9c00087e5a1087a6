/**
 * The leader's transaction pipeline. Everything that appends to the ledger on the leader goes
 * through one serial queue, so the ledger, the consensus log and the execution KV always agree
 * on seqnos:
 *
 * - calls are batched (up to `maxBatchCalls`), executed in order by the execution service (one
 *   worker round trip per batch), then each successful call becomes a ledger entry proposed to
 *   consensus in the same order (one durable commit per batch; consensus ships entries to the
 *   followers with the signature that can commit them, node/consensus/node.ts);
 * - internal entries (configuration, node records) take the same path without execution;
 * - a signature entry follows whenever the signature policy says so (checked after each batch
 *   and by a timer the node drives), and as soon as the pipeline runs dry with unsigned entries
 *   (at most once per `idleSignatureGapMs`): consensus commits only at signatures, so under light
 *   and moderate load a write commits after one replication round instead of waiting out the
 *   interval. "Runs dry" is judged when a batch's results come back: if no call waits, the
 *   sequencer is keeping up. A batch that finds the pipeline ran dry since the last signature,
 *   with the gap passed, is followed by the signature in the same synchronous run (one append
 *   to each follower carries both); when the gap has not passed yet and no call comes, a timer
 *   signs at its end. Either way such signatures come at most once per gap, so their CPU (a
 *   signature, and its verification on each follower) is bounded; where the queue never runs
 *   dry (saturation), the policy alone decides.
 *
 * Below saturation the sequencer lingers (`batchLinger`): a batch starts at most once per
 * `intervalMs` unless `busyCalls` calls wait, so at moderate load calls gather into fewer, larger
 * batches. Every batch costs a fixed amount of CPU and wakeups whatever its size, on every node
 * (worker round trips, a durable write, an append and its ack, a signature and its checks), and
 * that per-batch cost, not the calls, is what filled the cores at moderate load. A batch after
 * which the next one lingers counts as the pipeline running dry, so its signature follows it in
 * the same run (when the idle gap has passed) rather than after the next batch.
 *
 * A signature's write set is empty, so its KV apply has no worker message of its own
 * (ExecutionService.applyEmpty): it is queued in the execution service before the signature is
 * proposed, and the next request the service posts (the next batch, or a KV commit or a read if
 * one comes first) carries it; the worker applies it just before that request. The sequencer does
 * not wait for it; the next batch checks that it was queued once its own results are back (see
 * #runBatch).
 *
 * If leadership is lost while a batch executes, its results are thrown away (the KV is rolled
 * back to the ledger) and every call fails with `NotLeader`: nothing was proposed, so a client
 * may resend the same signed request (same nonce) and it executes at most once.
 */
import { deferred } from "./deferred.js";
import { assert } from "../sdk/assert.js";
import { fromHex } from "../sdk/bytes.js";
import { TreatyError } from "../sdk/errors.js";
import type { WriteSet } from "../runtime/kv/types.js";
import type { TransactionInput } from "../runtime/ledger/ledger.js";
import type { Ledger } from "../runtime/ledger/ledger.js";
import {
  type SignaturePolicy,
  signatureDue,
  type UnsignedWaitBound,
  unsignedWaitDue,
} from "../runtime/ledger/policy.js";
import type { NodeSigner } from "../runtime/ledger/signature.js";
import type { ConsensusNode, MembershipChange } from "./consensus/node.js";
import type { ProposedEntry, TxId } from "./consensus/types.js";
import type { ExecCall, ExecResult, ExecutionService } from "./execution/service.js";
import type { Logger } from "./log.js";
import { addStageTime, addWritePhase, timeStage } from "./stage-times.js";
import { TIMELINE, timeline } from "./timeline.js";

export type CallKind = "user" | "member" | "governance";

interface Pending {
  readonly call: ExecCall;
  readonly kind: CallKind;
  readonly requestDigest: Uint8Array | null;
  /** When `submit` took it (performance.now(); the `queue` phase, node/stage-times.ts). */
  readonly submittedMs: number;
  readonly resolve: (result: ExecResult) => void;
  readonly reject: (err: unknown) => void;
}

/** What the sequencer uses of the replica (node/replica.ts); tests stand in for it. */
export interface SequencerReplica {
  readonly consensus: Pick<ConsensusNode, "status" | "leaderView" | "limits">;
  propose(entries: readonly ProposedEntry[]): TxId[];
  changeMembership(change: MembershipChange, payload: Uint8Array): TxId;
  /** Throws what `changeMembership` would, before anything is staged. */
  checkMembershipChange(change: MembershipChange): void;
}

export interface SequencerOptions {
  readonly replica: SequencerReplica;
  readonly ledger: Ledger;
  readonly execution: ExecutionService;
  /** The node's signer (its key and the service's endorsement). */
  readonly signer: () => NodeSigner;
  readonly policy: SignaturePolicy;
  readonly now: () => number;
  readonly logger: Logger;
  /**
   * Called when undoing staged work in the KV (a rollback) failed: the KV is then ahead of the
   * ledger, so the node must stop (TreatyNode's fail-stop) rather than run its next batch on it.
   */
  readonly onFatal: (err: unknown) => void;
  readonly maxBatchCalls?: number;
  /** Calls waiting beyond this are refused with Unavailable (backpressure). */
  readonly maxQueuedCalls?: number;
  /**
   * Least time from the previous signature to one made because the pipeline ran dry (default
   * DEFAULT_IDLE_SIGNATURE_GAP_MS; null: sign only by the policy).
   */
  readonly idleSignatureGapMs?: number | null;
  /**
   * How long an entry may wait for a signature below saturation (runtime/ledger/policy.ts
   * `unsignedWaitDue`; default DEFAULT_UNSIGNED_WAIT_BOUND, or null, no bound, when
   * `idleSignatureGapMs` is null: then only the policy signs).
   */
  readonly unsignedWaitBound?: UnsignedWaitBound | null;
  /**
   * How often batches may start below saturation (default DEFAULT_BATCH_LINGER, or null, a batch
   * as soon as the previous one is done, when `idleSignatureGapMs` is null).
   */
  readonly batchLinger?: BatchLinger | null;
}

/**
 * A batch starts at least `intervalMs` after the previous one started, unless `busyCalls` calls
 * (or more) wait: then at once, as at saturation. Calls that come meanwhile join it.
 */
export interface BatchLinger {
  readonly intervalMs: number;
  readonly busyCalls: number;
}

/** Idle signatures at most every 5 ms: ≤ 200 extra signature entries a second. */
export const DEFAULT_IDLE_SIGNATURE_GAP_MS = 5;

/**
 * An entry waits at most 5 ms for its signature (≤ 200 such signatures a second) while batches
 * carry fewer than 8 calls; batches of 8 or more mean calls pile up behind the pipeline
 * (saturation), and the policy alone decides.
 */
export const DEFAULT_UNSIGNED_WAIT_BOUND: UnsignedWaitBound = { maxWaitMs: 5, busyBatchCalls: 8 };

/**
 * Batches at most every 10 ms (≤ 100 a second) while fewer than 16 calls wait: at 1,100 writes/s
 * ~11 calls a batch instead of ~5, at 200/s ~2 instead of 1; a call waits at most 10 ms for its
 * batch to start.
 */
export const DEFAULT_BATCH_LINGER: BatchLinger = { intervalMs: 10, busyCalls: 16 };

/** What a settled run leaves on the queue's tail (one function, not two closures per task). */
const settled = (): undefined => undefined;

export class Sequencer {
  readonly #o: SequencerOptions;
  readonly #maxBatch: number;
  readonly #maxQueued: number;
  #queue: Pending[] = [];
  #tail: Promise<void> = Promise.resolve();
  #draining = false;
  /**
   * The drain task, made once: a closure made per batch loses its optimized code (with what
   * TurboFan inlined into it) at every major GC (docs/performance.md, "Hot closures recompiled
   * after every major GC").
   */
  readonly #drainTask = (): Promise<void> => this.#drain();
  #lastSignatureMs: number;
  /** The queued KV apply of the last signature, not awaited when queued (see #runBatch). */
  #signatureApplied: Promise<void> = Promise.resolve();
  readonly #idleGapMs: number | null;
  /** Set while an idle signature waits for the gap since the last signature to pass. */
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** A batch's results came back with no call waiting since the last signature (see #signIfDue). */
  #ranDry = false;
  readonly #waitBound: UnsignedWaitBound | null;
  /** When the oldest entry this sequencer appended since the last signature was appended. */
  #oldestUnsignedMs: number | null = null;
  /** Calls in the latest batch (saturation, for #waitBound). */
  #lastBatchCalls = 0;
  readonly #linger: BatchLinger | null;
  /** When the latest batch started (#linger). */
  #lastBatchStartMs = Number.NEGATIVE_INFINITY;
  /** Set while the next batch lingers (#drain returned; the timer starts the next drain). */
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Batches answered and not yet committed, oldest first (the `commit` phase; see onCommit). */
  readonly #awaitingCommit: { lastSeqno: number; answered: number; writes: number }[] = [];

  constructor(options: SequencerOptions) {
    this.#o = options;
    this.#maxBatch = options.maxBatchCalls ?? 256;
    this.#maxQueued = options.maxQueuedCalls ?? 10_000;
    this.#idleGapMs =
      options.idleSignatureGapMs === undefined ? DEFAULT_IDLE_SIGNATURE_GAP_MS : options.idleSignatureGapMs;
    // Both default to off when idle signatures are off (`idleSignatureGapMs` null).
    const unlessIdleOff = <T>(value: T | null | undefined, fallback: T): T | null =>
      value !== undefined ? value : this.#idleGapMs === null ? null : fallback;
    this.#waitBound = unlessIdleOff(options.unsignedWaitBound, DEFAULT_UNSIGNED_WAIT_BOUND);
    this.#linger = unlessIdleOff(options.batchLinger, DEFAULT_BATCH_LINGER);
    this.#lastSignatureMs = options.now();
  }

  /** Leader: executes one call; resolves with its result and txid (Pending until committed). */
  submit(call: ExecCall, kind: CallKind, requestDigest: Uint8Array | null): Promise<ExecResult> {
    this.#requireLeader();
    if (this.#queue.length >= this.#maxQueued) {
      return Promise.reject(new TreatyError("Unavailable", "the leader is overloaded: retry later"));
    }
    // No executor closure per call (node/deferred.ts).
    const { promise, resolve, reject } = deferred<ExecResult>();
    this.#queue.push({ call, kind, requestDigest, submittedMs: performance.now(), resolve, reject });
    if (!this.#draining) {
      this.#draining = true;
      this.#enqueue(this.#drainTask);
    } else if (this.#lingerTimer !== undefined && this.#queue.length >= this.#linger!.busyCalls) {
      this.#endLinger(); // enough calls for a busy batch: no reason to wait
    }
    return promise;
  }

  /** Leader: appends an entry the node itself decided (no contract execution) and applies it. */
  appendInternal(input: TransactionInput): Promise<TxId> {
    return this.#enqueue(async () => {
      const view = this.#requireLeader();
      const record = this.#o.ledger.appendTransaction(view, input);
      this.#appended();
      const [id] = await this.#proposeApplied(record.seqno, input.writeSet, record.bytes);
      return id!;
    });
  }

  /**
   * Leader: a membership change. `input`'s write set records the new configuration (and the
   * node's governance record); it becomes the configuration entry consensus appends.
   */
  changeMembership(change: MembershipChange, input: TransactionInput): Promise<TxId> {
    return this.#enqueue(async () => {
      const { ledger, execution, replica } = this.#o;
      const view = this.#requireLeader();
      replica.checkMembershipChange(change); // refused before anything is staged (a learner not caught up)
      const record = ledger.appendTransaction(view, input);
      this.#appended();
      const applied = execution.apply([{ version: record.seqno, writeSet: input.writeSet }]);
      let id: TxId;
      try {
        id = replica.changeMembership(change, record.bytes);
      } catch (err) {
        ledger.truncate(record.seqno);
        await applied;
        await this.#rollback(record.seqno - 1);
        throw err;
      }
      assert(
        id.seqno === record.seqno && id.view === record.view,
        "ledger and consensus agree on the configuration entry",
      );
      await applied;
      return id;
    });
  }

  /** Appends a signature when the policy says one is due (timer driven; cheap when not). */
  maybeSign(): Promise<void> {
    return this.#enqueue(() => this.#signIfDue());
  }

  /**
   * Becoming leader restarts the signature interval (a new leader signs soon to commit), and its
   * first batch starts at once.
   */
  onBecameLeader(): void {
    this.#lastSignatureMs = this.#o.now() - this.#o.policy.maxIntervalMs;
    this.#oldestUnsignedMs = null;
    this.#lastBatchStartMs = Number.NEGATIVE_INFINITY; // a new leader's first batch does not linger
    this.#awaitingCommit.length = 0;
  }

  /** An entry was appended: the oldest unsigned one's time, if it is the first since a signature. */
  #appended(): void {
    this.#oldestUnsignedMs ??= this.#o.now();
  }

  /**
   * This node's commit point reached `seqno`: the `commit` phase (node/stage-times.ts) of the
   * batches answered up to it.
   */
  onCommit(seqno: number): void {
    if (TIMELINE) timeline("commit", performance.now(), 0, seqno);
    const waiting = this.#awaitingCommit;
    if (waiting.length === 0 || waiting[0]!.lastSeqno > seqno) return;
    const now = performance.now();
    let done = 0;
    while (done < waiting.length && waiting[done]!.lastSeqno <= seqno) {
      const b = waiting[done++]!;
      addWritePhase("commit", now - b.answered, b.writes);
    }
    waiting.splice(0, done);
  }

  /** Fails every queued call (e.g. on losing leadership or shutdown). */
  failQueued(err: TreatyError): void {
    this.#awaitingCommit.length = 0;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#lingerTimer !== undefined) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
      this.#draining = false;
    }
    const queued = this.#queue;
    this.#queue = [];
    for (const p of queued) p.reject(err);
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task);
    this.#tail = run.then(settled, settled);
    return run;
  }

  /**
   * Runs batches while calls wait. When the next batch should linger (#lingerMs), returns with
   * `#draining` still set and a timer that drains again once the interval has passed (or sooner,
   * when `submit` sees a busy queue); that drain starts its first batch without lingering again.
   */
  async #drain(afterLinger = false): Promise<void> {
    let lingering = false;
    try {
      while (this.#queue.length > 0) {
        const wait = afterLinger ? 0 : this.#lingerMs();
        afterLinger = false;
        if (wait > 0) {
          lingering = true;
          this.#lingerTimer = setTimeout(() => this.#endLinger(), wait);
          return;
        }
        this.#lastBatchStartMs = this.#o.now();
        const batch = this.#queue.splice(0, this.#maxBatch);
        try {
          await this.#runBatch(batch);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
        await this.#signIfDue();
      }
      this.#signWhenIdle();
    } finally {
      if (!lingering) this.#draining = false;
    }
  }

  /** How long the next batch should wait to start (0: now); see `BatchLinger`. */
  #lingerMs(): number {
    const linger = this.#linger;
    if (linger === null || this.#queue.length >= linger.busyCalls) return 0;
    return Math.max(0, this.#lastBatchStartMs + linger.intervalMs - this.#o.now());
  }

  /** The linger is over: the next drain starts a batch at once. */
  #endLinger(): void {
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    void this.#enqueue(() => this.#drain(true));
  }

  /**
   * The pipeline ran dry: sign the entries it left unsigned now, or once the idle gap since the
   * last signature has passed (a timer; if calls arrived meanwhile, the first batch that returns
   * once the gap has passed signs after itself: the pipeline ran dry since the last signature).
   */
  #signWhenIdle(): void {
    if (this.#idleGapMs === null || this.#idleTimer !== undefined || this.#o.ledger.unsignedCount === 0)
      return;
    const wait = this.#lastSignatureMs + this.#idleGapMs - this.#o.now();
    const sign = () => {
      this.#idleTimer = undefined;
      if (this.#queue.length > 0 || this.#o.ledger.unsignedCount === 0) return; // the next batch signs
      void this.#enqueue(() => this.#signIfDue(true)).catch(() => undefined);
    };
    if (wait <= 0) {
      sign();
      return;
    }
    this.#idleTimer = setTimeout(sign, wait);
    this.#idleTimer.unref();
  }

  async #runBatch(batch: readonly Pending[]): Promise<void> {
    const { ledger, execution, replica } = this.#o;
    const view = this.#requireLeader();
    const { lastSeqno, commitSeqno } = replica.consensus.status();
    const room = replica.consensus.limits.maxUncommittedEntries - (lastSeqno - commitSeqno);
    if (room < batch.length) {
      throw new TreatyError("Unavailable", "too many uncommitted transactions: retry shortly");
    }
    const first = ledger.lastSeqno + 1;
    this.#lastBatchCalls = batch.length;
    // Checked once this batch's results are back (each signature's apply is checked once).
    const signatureApplied = this.#signatureApplied;
    this.#signatureApplied = Promise.resolve();
    const started = performance.now();
    for (const p of batch) addWritePhase("queue", started - p.submittedMs);
    const calls = new Array<ExecCall>(batch.length);
    for (let i = 0; i < batch.length; i++) calls[i] = batch[i]!.call;
    const results = await execution.executeBatch(view, first, calls);
    const executed = performance.now();
    addStageTime("execution", executed - started, batch.length);
    if (TIMELINE) timeline("batch", started, executed - started, batch.length);
    addWritePhase("execution", executed - started, batch.length);
    assert(results.length === batch.length, "one result per call");
    // Settled by now (queued in the service before the batch). It fails only when the service is
    // closed or its versions are broken: undo the batch, so the KV does not run ahead of the
    // ledger, and fail its calls. (A failure to apply it in the worker failed the request that
    // carried it: this batch, or a commit or read before it.)
    try {
      await signatureApplied;
    } catch (err) {
      await this.#rollback(ledger.lastSeqno);
      throw err;
    }
    const status = replica.consensus.status();
    if (status.role !== "Leader" || status.view !== view || ledger.lastSeqno !== first - 1) {
      await this.#rollback(ledger.lastSeqno);
      throw new TreatyError("NotLeader", "leadership changed while the batch executed: resend the request", {
        ...(status.leader !== null && { leader: status.leader }),
      });
    }
    const proposals: { signature: false; payload: Uint8Array }[] = [];
    const appendStarted = performance.now();
    // A plain loop and one input literal per entry (no closure per batch, no spread per entry:
    // a null claimsDigest is the ledger's "none", as an absent one).
    for (let i = 0; i < results.length; i++) {
      const result = results[i]!;
      if (!result.ok) continue;
      const p = batch[i]!;
      const call = p.call;
      const record = ledger.appendTransaction(view, {
        kind: p.kind,
        writeSet: result.writeSet,
        meta: {
          timeMs: call.timeMs,
          contract: call.contract,
          method: call.method,
          callerId: call.caller?.id ?? null,
        },
        seed: call.seed,
        requestDigest: p.requestDigest,
        claimsDigest: result.claimsDigest === undefined ? null : fromHex(result.claimsDigest, "claimsDigest"),
      });
      assert(record.seqno === result.seqno, "the ledger assigns the seqno the execution used");
      proposals.push({ signature: false, payload: record.bytes });
    }
    addStageTime("ledger", performance.now() - appendStarted);
    if (proposals.length > 0) {
      try {
        this.#proposeStaged(first, proposals);
      } catch (err) {
        await this.#rollback(first - 1);
        throw err;
      }
      this.#appended();
    }
    // A due signature is proposed before the calls are answered, in this same synchronous run:
    // the replica handles both proposals as one Ready, so each follower gets one append.
    // The next batch lingers (or no call waits): the pipeline ran dry for now.
    if (this.#queue.length === 0 || this.#lingerMs() > 0) this.#ranDry = true;
    const signed = this.#signIfDue();
    for (let i = 0; i < results.length; i++) batch[i]!.resolve(results[i]!);
    const answered = performance.now();
    addWritePhase("proposal", answered - executed, batch.length);
    if (proposals.length > 0)
      this.#awaitingCommit.push({
        lastSeqno: first + proposals.length - 1,
        answered,
        writes: proposals.length,
      });
    await signed;
  }

  /**
   * Applies a staged entry's write set to the KV and proposes it. The apply is queued to the
   * worker before proposing (on a single node, proposing may commit at once, and the commit
   * must reach the worker after the apply), and nothing is awaited in between, so no other
   * append can interleave between the ledger and consensus.
   */
  async #proposeApplied(seqno: number, writeSet: WriteSet, payload: Uint8Array): Promise<TxId[]> {
    const applied = this.#o.execution.apply([{ version: seqno, writeSet }]);
    let ids: TxId[];
    try {
      ids = this.#proposeStaged(seqno, [{ signature: false, payload }]);
    } catch (err) {
      await applied;
      await this.#rollback(seqno - 1);
      throw err;
    }
    await applied;
    return ids;
  }

  /**
   * Proposes entries the ledger just staged from `firstSeqno` on, in consensus batches. If
   * consensus refuses them, the ledger drops them again, so ledger and consensus log never differ.
   */
  #proposeStaged(firstSeqno: number, proposals: readonly ProposedEntry[]): TxId[] {
    const { ledger, replica } = this.#o;
    const max = replica.consensus.limits.maxBatchEntries;
    const ids: TxId[] = [];
    try {
      for (let i = 0; i < proposals.length; i += max)
        ids.push(...replica.propose(proposals.slice(i, i + max)));
    } catch (err) {
      // Only a refusal of the first chunk can happen (room is checked before executing).
      assert(ids.length === 0, "consensus refused a later chunk of a batch it had room for");
      ledger.truncate(firstSeqno);
      throw err;
    }
    for (let i = 0; i < ids.length; i++)
      assert(ids[i]!.seqno === firstSeqno + i, "ledger and consensus agree on seqnos");
    return ids;
  }

  /**
   * Appends a signature if the policy says so, or with unsigned entries when `idle` (the idle
   * timer: the pipeline ran dry and the gap passed) or when the pipeline ran dry since the last
   * signature and the idle gap has passed.
   */
  async #signIfDue(idle = false): Promise<void> {
    const { ledger, replica } = this.#o;
    const { role, view } = replica.consensus.status();
    if (role !== "Leader") return;
    const now = this.#o.now();
    // Consensus commits only at a signature from the leader's own view, so a new leader signs
    // once even when the ledger already ends on a (previous view's) signature.
    const signedInThisView = ledger.lastSignature?.view === view;
    const dryAndGapPassed =
      this.#ranDry && this.#idleGapMs !== null && now - this.#lastSignatureMs >= this.#idleGapMs;
    const waitedLongEnough =
      this.#waitBound !== null &&
      unsignedWaitDue(this.#waitBound, {
        unsignedTxs: ledger.unsignedCount,
        oldestUnsignedMs: this.#oldestUnsignedMs,
        lastBatchCalls: this.#lastBatchCalls,
        nowMs: now,
      });
    const due =
      !signedInThisView ||
      ((idle || dryAndGapPassed || waitedLongEnough) && ledger.unsignedCount > 0) ||
      signatureDue(this.#o.policy, {
        unsignedTxs: ledger.unsignedCount,
        lastSignatureMs: this.#lastSignatureMs,
        nowMs: now,
      });
    if (!due) return;
    const record = timeStage("ledger", () => ledger.appendSignature(view, this.#o.signer(), now));
    this.#lastSignatureMs = now;
    if (TIMELINE) timeline("sign", performance.now(), 0, record.seqno);
    this.#ranDry = false;
    this.#oldestUnsignedMs = null;
    // Every entry is a KV version; a signature's write set is empty, so its apply goes to the
    // worker with the next request (ExecutionService.applyEmpty). Queued before proposing, like
    // #proposeApplied: on a single node proposing may commit at once, and that KV commit is queued
    // behind it (it carries the apply when no request came before it).
    const { execution } = this.#o;
    const seqno = record.seqno;
    const queued = execution.applyEmpty(seqno);
    // Not awaited here: the next batch checks it (#runBatch). Logged if no batch follows.
    this.#signatureApplied = queued;
    queued.catch((err: unknown) => {
      this.#o.logger.error("the KV apply of a signature failed", { seqno, err });
    });
    try {
      this.#proposeStaged(seqno, [{ signature: true, payload: record.bytes }]);
    } catch (err) {
      await this.#rollback(seqno - 1);
      throw err;
    }
  }

  /**
   * Drops the KV's applied versions above `version` (staged work that was not proposed). If that
   * fails, the KV stays ahead of the ledger and the next batch would break an invariant: the
   * node stops (`onFatal`), and the caller's request fails with the rollback's error.
   */
  async #rollback(version: number): Promise<void> {
    try {
      await this.#o.execution.rollback(version);
    } catch (err) {
      this.#o.logger.error("the KV rollback of unproposed work failed: stopping", { version, err });
      this.#o.onFatal(err);
      throw err;
    }
  }

  /** The view this node leads; NotLeader (with the leader, when known) if it does not lead. */
  #requireLeader(): number {
    const consensus = this.#o.replica.consensus;
    const view = consensus.leaderView();
    if (view === null) {
      const { leader } = consensus.status();
      throw new TreatyError("NotLeader", "this node is not the leader", {
        ...(leader !== null && { leader }),
      });
    }
    return view;
  }
}
