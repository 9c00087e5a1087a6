/**
 * `ExecutionService`: the main thread's handle on contract execution. The KV and the contract
 * runtime live in a worker thread (engine.ts behind serve.ts), so a runaway contract can never
 * freeze the node's event loop: QuickJS's wall-clock interrupt is not a hard bound (a native
 * builtin running to out-of-memory overshoots it by seconds), a worker's `terminate()` is.
 *
 * Requests queue in order. A batch, a read or a control request is sent once the one before it
 * has been answered; `apply` and `commit` are pipelined: the queue moves on as soon as they are
 * sent (the worker runs requests in arrival order, and answers a commit once it is durable
 * without holding up the requests behind it), so a KV commit costs the sequencer no round trip.
 * A signature's empty apply (`applyEmpty`) sends no message at all: the next request posted
 * carries it (protocol.ts `applyFirst`) and the worker applies it just before that request.
 * Every request has a deadline, checked by a `Watchdog`: calls × wallClockMs + slack for a batch,
 * plus wallClockMs + slack for any single call; a fixed control deadline for requests that run no
 * contract code. When the worker misses a deadline, or crashes (uncaught error, exit), the
 * service terminates it (once, however many requests missed their deadline) and starts a fresh
 * one: the KV reopens at its committed version, every loaded contract bundle and the limits are
 * loaded again, and the applied-but-uncommitted versions are re-applied from the service's own
 * journal (journal.ts): exactly the state the queue had reached, not the ledger's head, which
 * may already hold entries (or lack truncated ones) whose apply or rollback is still queued. Then:
 * - a batch or read fails the call that was running with `ExecutionLimit` and runs the other
 *   calls again (seqnos assigned afresh from `firstSeqno`), so the caller still gets one result
 *   per call and the state is as if the poison call never happened;
 * - an apply needs nothing more: the journal holds it, so the new worker replayed it;
 * - a request that was between calls, or another control request, is retried once on the new
 *   worker (except load, constitution and setLimits, the likely culprits: they fail with
 *   `Unavailable`, and a control request whose own deadline or stall window killed the worker,
 *   see `retriesAfter`).
 *
 * Start re-applies `replaySource(committedVersion)` (the main thread's ledger), so after `start`
 * the KV is at the ledger's applied head; the journal starts from there. With `kvPath: null` the
 * KV is in memory: a restart keeps nothing, and `replaySource(0)` must return every committed
 * version (the journal holds the rest).
 */
import { Worker } from "node:worker_threads";
import { AssertionFailure, assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import type { WriteSet } from "../../runtime/kv/types.js";
import type { ContractManifest } from "../../runtime/sandbox/abi.js";
import { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from "../../runtime/sandbox/limits.js";
import { type Retention, resolveRetention } from "./retention.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import type { Logger } from "../log.js";
import {
  type ExecCall,
  type ExecResult,
  fromWireError,
  PROGRESS_RUNNING,
  PROGRESS_SLOTS,
  type ReplyValues,
  type PostedRequest,
  type Request,
  type VersionedWriteSet,
  type WorkerInit,
  type WorkerMessage,
} from "./protocol.js";
import { type KillReason, type WatchBudget, Watchdog } from "./watchdog.js";
import { ApplyJournal } from "./journal.js";
import { GOVERNANCE_FLOOR } from "../../runtime/executor/constitution.js";
import { BOOT_WALL_CLOCK_MS } from "../../runtime/sandbox/sandbox.js";
import { GOV_CONTRACT } from "../gov/engine.js";
import type { ConstitutionRecord } from "../gov/tables.js";
import type { ResealCursor } from "../../runtime/kv/sealed-backend.js";
import type { SnapshotRows } from "../snapshot/rows.js";
import { packCalls, packItems, unpackBatch } from "./pack.js";
import { addStageTime } from "../stage-times.js";

export type { ExecCall, ExecError, ExecResult, VersionedWriteSet } from "./protocol.js";

/** Default watchdog slack on top of the sandbox's wall clock, ms. */
export const DEFAULT_WATCHDOG_SLACK_MS = 2_000;
/** Default deadline of requests that run no contract code (start, load, commit, ...), ms. */
export const DEFAULT_CONTROL_DEADLINE_MS = 60_000;
/**
 * Default stall window of a snapshot read, ms: the read fails (its worker is restarted) once no
 * slice of it has finished for this long. Its total time grows with the state (a 30M-row state
 * takes longer than any fixed deadline would allow), so only a read that stopped progressing,
 * or a hung worker, is cut short. Twice the default control deadline: a request the worker runs
 * between two slices has that deadline of its own.
 */
export const SNAPSHOT_READ_STALL_MS = 120_000;
/** The write set of `applyEmpty`. */
const EMPTY: WriteSet = Object.freeze({ public: [], private: [] });
/** Attempts to start a worker before the service reports `Unavailable`. */
const MAX_BOOT_ATTEMPTS = 3;

/** Options of `ExecutionService.start`. */
export interface ExecutionServiceOptions {
  /** LMDB directory of the KV, or null for an in-memory KV (tests, simulator). */
  readonly kvPath: string | null;
  /** Seals private maps' values on disk (runtime/kv/sealed-backend.ts); the node always sets it. */
  readonly atRestKey?: Uint8Array;
  /** Older at-rest keys of an unfinished re-seal (they only open values). */
  readonly olderAtRestKeys?: readonly Uint8Array[];
  /** Initial sandbox limits (default DEFAULT_LIMITS). */
  readonly limits?: SandboxLimits;
  /** Bounds on nonces and decided proposals (default DEFAULT_RETENTION). */
  readonly retention?: Partial<Retention>;
  /** The node's code measurement (EngineOptions.measurement); the node always sets it. */
  readonly measurement?: string;
  readonly logger: Logger;
  /**
   * Write sets of the ledger's versions > fromVersion, in order (the main thread reads its
   * ledger). Called at start, and after a restart only to rebuild committed versions the KV lost
   * (an in-memory KV); uncommitted ones come from the service's journal.
   */
  readonly replaySource: (fromVersion: number) => Iterable<VersionedWriteSet>;
  /** Watchdog slack on top of the limits' wall clock, ms (default DEFAULT_WATCHDOG_SLACK_MS). */
  readonly watchdogSlackMs?: number;
  /** Deadline of requests that run no contract code, ms (default DEFAULT_CONTROL_DEADLINE_MS). */
  readonly controlDeadlineMs?: number;
  /** A snapshot read's stall window, ms (default SNAPSHOT_READ_STALL_MS). */
  readonly snapshotReadStallMs?: number;
  /**
   * The worker script (default: the compiled worker.js next to this module). Tests pass an entry
   * that calls `serveEngine` with test hooks; production never sets it.
   */
  readonly workerUrl?: URL;
}

/** Counters for metrics. */
export interface ExecutionStats {
  /** Workers started after the first (watchdog kills and crashes). */
  readonly restarts: number;
  readonly batches: number;
  /** Calls received (batch calls and reads). */
  readonly calls: number;
  /**
   * Requests posted to the worker since the service started, by op (`batch`, `apply`, `commit`,
   * `read`, `snapshotRows`...; `applyFirst` carries no message of its own and is not counted).
   */
  readonly requests: Readonly<Record<string, number>>;
}

/** The worker died or was killed while a request was in flight. */
class WorkerLost extends Error {
  override readonly name = "WorkerLost";
  constructor(
    readonly reason: string,
    /** Index (in the request's calls) of the call that was running, -1 for none. */
    readonly runningIndex: number,
    /** The worker that was lost (null: there was none); see #recover. */
    readonly generation: Generation | null,
    /**
     * Why this request's own watchdog killed the worker; null when the worker was lost for
     * anything else (another request's watchdog, a crash, a replacement).
     */
    readonly ownKill: KillReason | null = null,
  ) {
    super(`execution worker lost: ${reason}`);
  }
}

/** The calls of one `executeBatch` or `read`, and what their request needs besides (#runCalls). */
type CallsJob =
  | {
      readonly kind: "batch";
      readonly view: number;
      readonly firstSeqno: number;
      readonly calls: readonly ExecCall[];
    }
  /** `version` undefined: the applied one. */
  | { readonly kind: "read"; readonly version: number | undefined; readonly calls: readonly ExecCall[] };

interface Pending {
  readonly id: number;
  /** A batch or a read: it runs contract calls (at most one such request is in flight). */
  readonly runsCalls: boolean;
  /** The worker the request went to: only its reply or its exit settles the request. */
  readonly generation: Generation;
  /** The empty applies it carried (`applyFirst`), or undefined. */
  readonly carried: readonly VersionedWriteSet[] | undefined;
  /** When it was posted, ms since the epoch (ReplyMessage.startedAtMs's clock). */
  readonly postedAtMs: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

/** One worker thread and its progress slots. */
interface Generation {
  readonly worker: Worker;
  readonly progress: Int32Array;
  /** Set once the worker is gone (exited, or terminated by us), or asked to close. */
  lost: string | null;
  /** Resolves when the thread has exited. */
  readonly exited: Promise<void>;
  /** The one `terminate()` of this worker, once asked for (see #retire). */
  terminated: Promise<void> | null;
  /** The request whose watchdog killed this worker, and why; null while none did. */
  killed: { readonly id: number; readonly reason: KillReason } | null;
}

/** See the module comment. One per node; owns its worker thread. */
export class ExecutionService {
  readonly #options: ExecutionServiceOptions;
  #ledgerCorrupt: ((err: TreatyError) => void) | undefined;
  #restarted: (() => void) | undefined;
  readonly #log: Logger;
  readonly #slackMs: number;
  readonly #controlMs: number;
  readonly #snapshotStallMs: number;
  readonly #workerUrl: URL;
  /** Bundles of the loaded contracts, reloaded into every new worker. */
  readonly #bundles = new Map<string, string>();
  /** The constitution preloaded into every new worker (the engine also loads it lazily). */
  #constitution: ConstitutionRecord | undefined;
  #limits: SandboxLimits;
  readonly #retention: Retention;
  #generation: Generation | null = null;
  /** Requests sent and not yet answered, by id (several: apply and commit are pipelined). */
  readonly #pending = new Map<number, Pending>();
  /** The worker (re)start under way, which every request waits for; see #recover. */
  #booting: Promise<void> | null = null;
  #nextId = 1;
  #tail: Promise<void> = Promise.resolve();
  #closing = false;
  #applied = 0;
  #committed = 0;
  /** What the KV holds above its committed version once the requests sent so far have run. */
  readonly #journal = new ApplyJournal(0);
  /** Empty applies queued (`applyEmpty`, in the journal) that the next request posted carries. */
  #carry: VersionedWriteSet[] = [];
  /** Runs at the start of every request queued (see `setRequestHook`). */
  #requestHook: (() => void) | undefined;
  /** Set while installState is in flight: a restart then replays nothing (see #replayItems). */
  #installing = false;
  /** Set once the first worker has started: later boots are restarts. */
  #booted = false;
  /** The at-rest keys a new worker opens the KV with, newest first (empty: no sealing). */
  #atRestKeys: Uint8Array[];
  #restarts = 0;
  #batches = 0;
  /** Requests posted to the worker, by op (stats()). */
  readonly #requestsByOp: Record<string, number> = {};
  #calls = 0;

  private constructor(
    options: ExecutionServiceOptions,
    limits: SandboxLimits,
    slackMs: number,
    controlMs: number,
    snapshotStallMs: number,
  ) {
    this.#options = options;
    this.#log = options.logger.child({ component: "execution" });
    this.#limits = limits;
    this.#retention = resolveRetention(options.retention);
    this.#slackMs = slackMs;
    this.#controlMs = controlMs;
    this.#snapshotStallMs = snapshotStallMs;
    this.#workerUrl = options.workerUrl ?? new URL("./worker.js", import.meta.url);
    this.#atRestKeys =
      options.atRestKey === undefined ? [] : [options.atRestKey, ...(options.olderAtRestKeys ?? [])];
  }

  /**
   * Starts the worker, opens the KV and re-applies `replaySource(committedVersion)`. Throws
   * TreatyError `InvalidArgs` for bad options, `LedgerCorrupt` when the KV on disk fails its
   * checks (runtime/lmdb-check.ts, its markers), `Unavailable` when no worker could be started
   * (the KV cannot be opened, the worker script is missing, ...).
   */
  static async start(options: ExecutionServiceOptions): Promise<ExecutionService> {
    if (options.kvPath !== null && (typeof options.kvPath !== "string" || options.kvPath.length === 0)) {
      throw new TreatyError("InvalidArgs", "kvPath: expected a directory path or null");
    }
    const slackMs = checkMs(options.watchdogSlackMs, "watchdogSlackMs", DEFAULT_WATCHDOG_SLACK_MS, 0);
    const controlMs = checkMs(options.controlDeadlineMs, "controlDeadlineMs", DEFAULT_CONTROL_DEADLINE_MS, 1);
    const snapshotStallMs = checkMs(
      options.snapshotReadStallMs,
      "snapshotReadStallMs",
      SNAPSHOT_READ_STALL_MS,
      1,
    );
    const limits = resolveLimits(options.limits ?? DEFAULT_LIMITS);
    const service = new ExecutionService(options, limits, slackMs, controlMs, snapshotStallMs);
    await service.#recover(null);
    return service;
  }

  /** Highest version applied to the KV, as last reported by the worker. */
  get appliedVersion(): number {
    return this.#applied;
  }

  /** Highest version durably persisted in the KV, as last reported by the worker. */
  get committedVersion(): number {
    return this.#committed;
  }

  /** The sandbox limits in force. */
  get limits(): SandboxLimits {
    return this.#limits;
  }

  /** Counters for metrics. */
  stats(): ExecutionStats {
    return {
      restarts: this.#restarts,
      batches: this.#batches,
      calls: this.#calls,
      requests: { ...this.#requestsByOp },
    };
  }

  /**
   * Loads (or upgrades) contract `name` from its compiled bundle; it is reloaded into every
   * future worker. Throws TreatyError `InvalidContract` when the bundle does not load (the
   * previous version keeps serving), `Unavailable` when loading it killed the worker.
   */
  loadContract(name: string, bundle: string): Promise<ContractManifest> {
    return this.#enqueue(async () => {
      const manifest = await this.#control({ id: 0, op: "load", name, bundle }, false);
      this.#bundles.set(name, bundle);
      return manifest;
    });
  }

  /**
   * Loads the constitution into the worker ahead of the next governance call, and into every
   * future worker. Throws TreatyError `InvalidContract` when it does not load (the previous one
   * stays), `Unavailable` when loading it killed the worker.
   */
  loadConstitution(record: ConstitutionRecord): Promise<void> {
    return this.#enqueue(async () => {
      await this.#control({ id: 0, op: "constitution", record }, false);
      this.#constitution = record;
    });
  }

  /** Unloads contract `name` (no-op when it is not loaded). */
  unloadContract(name: string): Promise<void> {
    return this.#enqueue(async () => {
      this.#bundles.delete(name);
      await this.#control({ id: 0, op: "unload", name }, true);
    });
  }

  /**
   * Applies new sandbox limits from the next call on (and to every future worker). Throws
   * TreatyError `InvalidArgs` naming the field for bad limits.
   */
  setLimits(limits: SandboxLimits): Promise<void> {
    return this.#enqueue(async () => {
      const resolved = resolveLimits(limits);
      await this.#control({ id: 0, op: "setLimits", limits: resolved }, false);
      this.#limits = resolved;
    });
  }

  /**
   * Leader: runs `calls` in order against the applied state. Each successful call gets the next
   * seqno starting at `firstSeqno` (txid `${view}.${seqno}`) and its write set is applied to the
   * KV at that version before the next call runs; failed calls consume no seqno and write
   * nothing. Returns one result per call. A call that outruns the watchdog fails with
   * `ExecutionLimit` and the others run again on a fresh worker (see the module comment).
   * Rejects with AssertionFailure when `firstSeqno` is not above the applied version.
   */
  executeBatch(view: number, firstSeqno: number, calls: readonly ExecCall[]): Promise<ExecResult[]> {
    return this.#enqueue(async () => {
      this.#batches++;
      this.#calls += calls.length;
      assert(
        Number.isSafeInteger(firstSeqno) && firstSeqno > this.#journal.head,
        "executeBatch: firstSeqno is above the applied version",
      );
      return this.#runCalls({ kind: "batch", view, firstSeqno, calls });
    });
  }

  /** Sends the calls of `job` at `indices` (all of them the first time; see #runCalls). */
  async #sendCalls(job: CallsJob, indices: readonly number[]): Promise<ExecResult[]> {
    const { calls } = job;
    if (job.kind === "read") {
      const call = calls[indices[0]!]!;
      return [
        await this.#request({ id: 0, op: "read", call, version: job.version }, this.#callBudget([call])),
      ];
    }
    // The whole batch, unless a call was blamed for a lost worker (then a copy without it).
    let subset = calls;
    if (indices.length !== calls.length) {
      const rest = new Array<ExecCall>(indices.length);
      for (let k = 0; k < indices.length; k++) rest[k] = calls[indices[k]!]!;
      subset = rest;
    }
    const results = await this.#request(
      { id: 0, op: "batch", view: job.view, firstSeqno: job.firstSeqno, calls: subset },
      this.#callBudget(subset),
    );
    assert(results.length === subset.length, "executeBatch: the worker returned one result per call");
    const applied: VersionedWriteSet[] = [];
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r.ok) applied.push({ version: r.seqno, writeSet: r.writeSet });
    }
    this.#journal.record(applied);
    // Nothing else that applies or rolls back is in flight during a batch.
    assert(this.#applied === this.#journal.head, "executeBatch: the KV is where the journal says");
    return results;
  }

  /**
   * Runs a call read-only (any node) at `version`, or at the applied version when omitted: no
   * seqno, writes are refused (`ReadonlyViolation`). The result's `seqno` is the version read
   * at, its `txid` empty. The read takes its place in the queue when called, so a version the
   * caller saw applied (every apply is queued before it) and not below a commit queued earlier
   * is always held; otherwise the call fails with `Unavailable`.
   */
  read(call: ExecCall, version?: number): Promise<ExecResult> {
    return this.#enqueue(async () => {
      this.#calls++;
      const [result] = await this.#runCalls({ kind: "read", version, calls: [call] });
      return result!;
    });
  }

  /**
   * Follower / recovery: applies write sets at their versions, in order (versions increase above
   * the version the requests queued before it leave the KV at: assert). A malformed write set is
   * TreatyError `LedgerCorrupt`. Pipelined: requests queued after it are sent without waiting for
   * its answer. Recorded in the journal when sent, so a worker lost meanwhile needs no resend.
   */
  apply(items: readonly VersionedWriteSet[]): Promise<void> {
    // An async function runs up to its first await at once: the request is posted in the turn.
    return this.#enqueuePipelined(async () => {
      checkVersions(items, this.#journal.head);
      if (items.length === 0) return;
      this.#journal.record(items);
      // Posted in this turn (#request posts synchronously), so the queue may move on at once.
      const answer = this.#request({ id: 0, op: "apply", items }, this.#controlBudget("apply"));
      try {
        await answer;
      } catch (err) {
        // A lost worker: its replacement replayed the journal, this apply included.
        if (err instanceof WorkerLost) return this.#recover(err.generation);
        // The worker stopped at a malformed write set: the items after it are not in the KV.
        this.#journal.forget(items.filter((item) => item.version > this.#applied));
        throw err;
      }
    });
  }

  /**
   * Leader: applies an empty write set (a signature entry's) at `version` without a message of its
   * own. It takes its place in the queue like `apply` (the version is above the one the requests
   * queued before it leave the KV at: assert) and is recorded in the journal then; the next
   * request posted to the worker, whatever it is (a batch, a commit, a read...), carries it
   * (protocol.ts `applyFirst`), and the worker applies it just before running that request. So the
   * worker sees the same sequence of versions as with an `apply` sent in its place, one message
   * fewer. Resolves once queued, not once applied (nothing reaches the worker until a request
   * follows): if the worker fails to apply it, the request that carried it fails with that error
   * and the journal forgets it; a worker lost before or after it was carried replays it from the
   * journal.
   */
  applyEmpty(version: number): Promise<void> {
    return this.#enqueue(async () => {
      assert(
        Number.isSafeInteger(version) && version > this.#journal.head,
        "applyEmpty: the version is above the applied version",
      );
      const item: VersionedWriteSet = { version, writeSet: EMPTY };
      this.#journal.record([item]);
      this.#carry.push(item);
    });
  }

  /**
   * Durably persists the KV up to `version` (<= applied version: assert); one LMDB commit.
   * Resolves once durable. Pipelined: requests queued after it do not wait for the disk.
   */
  commit(version: number): Promise<void> {
    return this.#enqueuePipelined(async () => {
      await this.#control({ id: 0, op: "commit", version }, true);
    });
  }

  /** Drops applied versions > `version` (after a consensus truncation); never below committed. */
  rollback(version: number): Promise<void> {
    return this.#enqueue(async () => {
      await this.#control({ id: 0, op: "rollback", version }, true);
      this.#journal.rollback(version);
    });
  }

  /** The applied value of `key` in `map`, or undefined. */
  get(map: string, key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#enqueue(() => this.#control({ id: 0, op: "get", map, key }, true));
  }

  /**
   * Up to `limit` entries of `map` (all when omitted) at the applied version, in bytewise key
   * order: governance tables, tooling. Throws TreatyError `InvalidArgs` for a bad limit.
   */
  scan(map: string, limit?: number): Promise<Array<[Uint8Array, Uint8Array]>> {
    return this.#enqueue(() => this.#control({ id: 0, op: "scan", map, limit }, true));
  }

  /**
   * Replaces the whole KV by `maps` (a verified snapshot's state) committed at `version`, above
   * the committed version (ExecutionEngine.installState); applied-but-uncommitted versions go.
   */
  installState(version: number, maps: readonly MapWrites[]): Promise<void> {
    return this.#enqueue(async () => {
      this.#installing = true;
      try {
        // A worker lost after the install committed opens at `version`: nothing left to do.
        await this.#control({ id: 0, op: "installState", version, maps }, true, (request) =>
          this.#committed >= request.version ? undefined : request,
        );
      } finally {
        this.#installing = false;
      }
      this.#journal.reset(version);
    });
  }

  /** Every row of the maps named `prefix*` at the committed version (ExecutionEngine.committedMaps). */
  committedMaps(prefix: string): Promise<{ version: number; maps: MapWrites[] }> {
    return this.#enqueue(() => this.#control({ id: 0, op: "committedMaps", prefix }, true));
  }

  /**
   * The committed state at `version` in a snapshot body's layout (ExecutionEngine.snapshotRows),
   * or null when the KV's committed version is not `version` once the commits queued before it
   * are done. Pipelined: the read is queued now (order it against commits by calling this between
   * them), and the worker reads it in slices while the requests queued after it run. It has no
   * total deadline: the worker is restarted when no slice of it finishes within the stall window
   * (`snapshotReadStallMs`), and the read then fails with Unavailable naming the window, without
   * a retry (see `retriesAfter`). A read in flight on a worker lost for another reason (another
   * request's deadline, a crash) is retried once on the new worker, like other control requests.
   */
  snapshotRows(version: number): Promise<SnapshotRows | null> {
    return this.#enqueuePipelined(() => this.#control({ id: 0, op: "snapshotRows", version }, true));
  }

  /**
   * At-rest rekey, step 1: private values are sealed with `key` from the next commit on; the
   * keys held so far still open them (also in a restarted worker).
   */
  useAtRestKey(key: Uint8Array): Promise<void> {
    return this.#enqueue(async () => {
      this.#atRestKeys = [key, ...this.#atRestKeys];
      await this.#control({ id: 0, op: "useAtRestKey", key }, true);
    });
  }

  /**
   * Step 2, repeated: re-seals up to `limit` committed private values after `after` under the
   * newest key; returns where to continue, or null when every value is under it. Each step is
   * one request in the queue, so calls and commits run between steps.
   */
  resealAtRest(after: ResealCursor | null, limit: number): Promise<ResealCursor | null> {
    return this.#enqueue(() => this.#control({ id: 0, op: "resealAtRest", after, limit }, true));
  }

  /** Step 3: forgets the older at-rest keys here and in the worker. */
  retireOlderAtRestKeys(): Promise<void> {
    return this.#enqueue(async () => {
      await this.#control({ id: 0, op: "retireOlderAtRestKeys" }, true);
      this.#atRestKeys = this.#atRestKeys.slice(0, 1);
    });
  }

  /**
   * Runs the requests already queued, closes the KV (after any commit in flight) and ends the
   * worker. Later requests fail with `Unavailable`. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#tail;
    const done = this.#enqueue(async () => {
      const generation = this.#generation;
      if (generation === null) return;
      // Asked to close, the worker ends on its own (serve.ts), and that exit may be seen before
      // the close's reply (Node delivers a worker's last messages with its exit, in one go):
      // expected from here on, not a crash.
      generation.lost = "was closed";
      try {
        await this.#request({ id: 0, op: "close" }, { totalMs: this.#controlMs, stallMs: null });
      } catch (err) {
        // A worker lost while closing has nothing left to close.
        if (!(err instanceof WorkerLost)) throw err;
      } finally {
        await this.#retire(generation, "was closed");
      }
    }, false);
    this.#closing = true;
    return done;
  }

  /**
   * Sets `hook`, called synchronously at the start of every request queued from now on, before
   * the request takes its place in the queue (a request the hook queues itself goes first). A
   * follower's replica holds KV applies back between its KV commits (node/replica-batch.ts) and
   * hands them on here, so every request still finds each version the caller saw appended
   * queued before it, as if each apply had been sent at once. One hook; a later call replaces it.
   */
  setRequestHook(hook: (() => void) | undefined): void {
    this.#requestHook = hook;
  }

  /** Queues `work` after every earlier request; starts a worker first when there is none. */
  #enqueue<T>(work: () => Promise<T>, boot = true): Promise<T> {
    if (this.#closing) return Promise.reject(new TreatyError("Unavailable", "execution service: closed"));
    this.#requestHook?.();
    const run = this.#tail.then(async () => {
      if (boot && (this.#booting !== null || this.#generation === null)) await this.#recover(null);
      return work();
    });
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Queues `send` like #enqueue, but the queue moves on once `send` has posted its request (it
   * posts synchronously, see #control), not once it is answered; the result is the answer.
   */
  #enqueuePipelined<T>(send: () => Promise<T>): Promise<T> {
    let answered: Promise<T> | undefined;
    const sent = this.#enqueue(async () => {
      answered = send();
      // Observed through the promise returned below; never an unhandled rejection here.
      answered.catch(() => undefined);
    });
    return sent.then(() => answered!);
  }

  /**
   * The watchdog budget of a request running `calls`. A governance call may run up to six
   * constitution calls (validate, resolve, apply, and the three-call replaceability probe of a
   * new constitution), each with at least the governance floor's wall clock
   * (runtime/executor/constitution.ts); a proposal also loads each bundle it carries in a
   * throwaway sandbox (node/gov/engine.ts), whose contract-run stages (evaluating the bundle,
   * describe()) each have the sandbox's boot wall clock.
   */
  #callBudget(calls: readonly ExecCall[]): WatchBudget {
    const wallClockMs = this.#limits.wallClockMs;
    const governanceMs = 6 * Math.max(wallClockMs, GOVERNANCE_FLOOR.wallClockMs);
    let totalMs = 0;
    let longestMs = wallClockMs;
    for (const call of calls) {
      const callMs =
        call.contract === GOV_CONTRACT
          ? governanceMs + 2 * BOOT_WALL_CLOCK_MS * codeCount(call)
          : wallClockMs;
      totalMs += callMs;
      longestMs = Math.max(longestMs, callMs);
    }
    return {
      totalMs: Math.max(totalMs, wallClockMs) + this.#slackMs,
      stallMs: longestMs + this.#slackMs,
    };
  }

  /**
   * Runs the calls of `job` (#sendCalls, given the indices still to run), failing any call that
   * kills the worker with ExecutionLimit and re-sending the others to a fresh worker. A method
   * and a plain job object, not a closure per batch: a closure made per call loses its optimized
   * code at every major GC (docs/performance.md, "Hot closures recompiled after every major GC").
   */
  async #runCalls(job: CallsJob): Promise<ExecResult[]> {
    const { calls } = job;
    let indices = new Array<number>(calls.length);
    for (let i = 0; i < calls.length; i++) indices[i] = i;
    let unblamed = 0;
    let results: (ExecResult | undefined)[] | undefined;
    while (indices.length > 0) {
      let got: ExecResult[];
      try {
        got = await this.#sendCalls(job, indices);
        // Every call answered at the first attempt (the common case): the worker's array as is.
        if (results === undefined) return got;
      } catch (err) {
        results ??= new Array<ExecResult | undefined>(calls.length).fill(undefined);
        if (!(err instanceof WorkerLost)) throw err;
        await this.#recover(err.generation);
        const culprit = err.runningIndex >= 0 ? indices[err.runningIndex] : undefined;
        if (culprit === undefined) {
          // The worker died between calls: retry once, then give up on the whole request.
          unblamed++;
          if (unblamed > 1)
            throw new TreatyError("Unavailable", `execution worker lost twice: ${err.reason}`);
          continue;
        }
        results[culprit] = this.#killedBy(calls[culprit]!, err.reason);
        indices = indices.filter((index) => index !== culprit);
        continue;
      }
      for (let k = 0; k < indices.length; k++) results[indices[k]!] = got[k];
      indices = [];
    }
    results ??= [];
    assert(
      results.length === calls.length && results.every((r) => r !== undefined),
      "execution: one result per call",
    );
    return results as ExecResult[];
  }

  /** The result of a call that made the worker miss its deadline or crash. */
  #killedBy(call: ExecCall, reason: string): ExecResult {
    this.#log.warn("contract call stopped by restarting the execution worker", {
      contract: call.contract,
      method: call.method,
      reason,
    });
    return {
      ok: false,
      error: {
        code: "ExecutionLimit",
        message: `${call.contract}.${call.method}: the call ${reason}; it was stopped by restarting the execution worker`,
      },
    };
  }

  /**
   * A request that runs no contract code, under the control deadline. When the worker is lost,
   * a new one is started; the request is then retried once when `retry` and `retriesAfter` the
   * loss (after `adjust`, which may drop it), else it fails with `Unavailable`.
   */
  async #control<R extends Request>(
    request: R,
    retry: boolean,
    adjust: (request: R) => R | undefined = (r) => r,
  ): Promise<ReplyValues[R["op"]]> {
    const budget = this.#controlBudget(request.op);
    for (let attempt = 1; ; attempt++) {
      const next = attempt === 1 ? request : adjust(request);
      if (next === undefined) return null as ReplyValues[R["op"]];
      try {
        return await this.#request(next, budget);
      } catch (err) {
        if (!(err instanceof WorkerLost)) throw err;
        await this.#recover(err.generation);
        if (!retry || attempt === 2 || !retriesAfter(err)) {
          throw new TreatyError(
            "Unavailable",
            `${request.op}: the execution worker was lost (it ${err.reason})`,
          );
        }
      }
    }
  }

  /** The watchdog budget of a request that runs no contract code. */
  #controlBudget(op: Request["op"]): WatchBudget {
    return op === "snapshotRows"
      ? { totalMs: null, stallMs: null, readStallMs: this.#snapshotStallMs }
      : { totalMs: this.#controlMs, stallMs: null };
  }

  /**
   * Sends one request to the current worker under `budget`. Resolves with the reply's value,
   * rejects with the rebuilt error of an error reply, or with WorkerLost once the worker died or
   * the watchdog killed it (the thread has exited by then; `#boot` starts the next).
   */
  #request<R extends Request>(request: R, budget: WatchBudget): Promise<ReplyValues[R["op"]]> {
    const generation = this.#generation;
    if (generation === null) return Promise.reject(new WorkerLost("had no worker", -1, null));
    const id = this.#nextId++;
    const runsCalls = request.op === "batch" || request.op === "read";
    // The empty applies queued since the last request posted go with this one (applyEmpty).
    const carried = this.#carry.length > 0 ? this.#carry : undefined;
    const carry = carried === undefined ? undefined : { applyFirst: carried.map((item) => item.version) };
    if (runsCalls) {
      // A loop over the map, not an array of it per batch.
      for (const p of this.#pending.values())
        assert(!p.runsCalls, "execution: one request running contract calls in flight");
    }
    return new Promise<ReplyValues[R["op"]]>((resolve, reject) => {
      const watchdog = new Watchdog(generation.progress, budget, () => performance.now());
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        clearTimeout(timer);
        this.#pending.delete(id);
      };
      const pending: Pending = {
        id,
        runsCalls,
        generation,
        carried,
        postedAtMs: performance.timeOrigin + performance.now(),
        resolve: (value) => {
          settle();
          resolve(value as ReplyValues[R["op"]]);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      this.#pending.set(id, pending);
      const poll = () => {
        const reason = watchdog.check();
        // A pipelined control request answers after the contract calls queued behind it; their
        // own watchdog bounds them, so its deadline waits while they run.
        const behindCalls =
          !runsCalls && [...this.#pending.values()].some((p) => p.runsCalls && p.generation === generation);
        if (reason === undefined || behindCalls) {
          timer = setTimeout(poll, watchdog.pollMs);
        } else if (generation.terminated === null) {
          this.#log.warn("execution watchdog: terminating the worker", { reason, op: request.op });
          if (generation.lost === null) generation.killed = { id, reason };
          void this.#retire(
            generation,
            describeKill(reason, budget, this.#limits.wallClockMs, this.#slackMs),
          );
        }
        // Else another request of this worker already ended it: its exit fails this one too.
      };
      try {
        // An apply's write sets and a batch's seeds cross packed, in transferred buffers
        // (pack.ts); the journal and the caller keep their own arrays.
        if (request.op === "apply") {
          const packed = packItems(request.items);
          const posted: PostedRequest = { id, op: "apply", items: packed.items, ...carry };
          generation.worker.postMessage(posted, packed.transfer);
        } else if (request.op === "batch") {
          const packed = packCalls(request.calls);
          if (packed.wire === null) generation.worker.postMessage({ ...request, id, ...carry });
          else {
            const { view, firstSeqno } = request;
            const posted: PostedRequest = {
              id,
              op: "batch",
              view,
              firstSeqno,
              wire: packed.wire,
              seeds: new Uint8Array(packed.buffer),
              ...carry,
            };
            generation.worker.postMessage(posted, [packed.buffer]);
          }
        } else generation.worker.postMessage({ ...request, id, ...carry });
        // Sent: the journal holds them, so a worker lost from here on replays them.
        if (carried !== undefined) this.#carry = [];
        this.#requestsByOp[request.op] = (this.#requestsByOp[request.op] ?? 0) + 1;
      } catch (err) {
        // Not structured-cloneable (a function, a symbol...): nothing was sent.
        pending.reject(
          new TreatyError(
            "InvalidArgs",
            `${request.op}: cannot be passed to the execution worker (${describe(err)})`,
          ),
        );
        return;
      }
      timer = setTimeout(poll, watchdog.pollMs);
    });
  }

  /**
   * Ends `generation` (idempotent: one `terminate()` per worker, however many requests missed
   * their deadline at once) and waits for its exit, which fails every request pending on it
   * (see #onExit). The first `reason` says why, for their errors.
   */
  async #retire(generation: Generation, reason: string): Promise<void> {
    if (generation.lost === null) generation.lost = reason;
    await terminateOnce(generation);
    await generation.exited;
  }

  /** The thread of `generation` exited, whether we ended it or it died. */
  #onExit(generation: Generation, detail: string): void {
    if (generation.lost === null) {
      generation.lost = `crashed the worker (${detail})`;
      this.#log.error("execution worker crashed", { detail });
    }
    if (this.#generation === generation) this.#generation = null;
    const running = Atomics.load(generation.progress, PROGRESS_RUNNING);
    for (const pending of [...this.#pending.values()]) {
      if (pending.generation !== generation) continue;
      // The running index is the contract request's (the only one that runs calls).
      const ownKill = generation.killed?.id === pending.id ? generation.killed.reason : null;
      pending.reject(new WorkerLost(generation.lost, pending.runsCalls ? running : -1, generation, ownKill));
    }
  }

  #onMessage(generation: Generation, message: WorkerMessage): void {
    if (message.kind === "replies") {
      for (const reply of message.replies) this.#onMessage(generation, reply);
      return;
    }
    if (message.kind !== "reply") return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined || pending.generation !== generation) {
      // Only a worker already given up may still answer (its requests were failed).
      assert(generation.lost !== null, "execution: a reply answers a request in flight");
      return;
    }
    this.#applied = message.appliedVersion;
    this.#committed = message.committedVersion;
    this.#journal.committedUpTo(message.committedVersion);
    // A batch's service time in the worker, beside the round trip the sequencer times.
    if (message.ok && message.serviceMs !== undefined) {
      addStageTime("executionWorker", message.serviceMs);
      // And the waits on either side of it: the request's until the worker started it (the
      // worker busy with earlier requests, or not yet scheduled), the reply's until this thread
      // took it (busy with other work, or not scheduled). Each thread maps its monotonic clock to
      // the epoch at its own start, so the two may disagree by a few µs: never below zero.
      if (message.startedAtMs !== undefined) {
        addStageTime("executionToWorker", Math.max(0, message.startedAtMs - pending.postedAtMs));
        const replied = message.startedAtMs + message.serviceMs;
        addStageTime(
          "executionFromWorker",
          Math.max(0, performance.timeOrigin + performance.now() - replied),
        );
      }
    }
    if (message.ok) pending.resolve(message.batch === undefined ? message.value : unpackBatch(message.batch));
    else {
      // Carried empty applies the worker did not make (it refused them, so the request did not run).
      const applied = message.appliedVersion;
      if (pending.carried !== undefined)
        this.#journal.forget(pending.carried.filter((item) => item.version > applied));
      const error = fromWireError(message.error);
      if (error instanceof TreatyError && error.code === "LedgerCorrupt") this.#ledgerCorrupt?.(error);
      pending.reject(error);
    }
  }

  /**
   * `handler` is called when the worker answers a request with `LedgerCorrupt`: its KV store on
   * disk is damaged (an LMDB read or write failed on a damaged page, runtime/kv/lmdb-backend.ts,
   * or stored bytes fail their checks). The node stops on it (node/service.ts); the request still
   * fails with the error.
   */
  onLedgerCorrupt(handler: (err: TreatyError) => void): void {
    this.#ledgerCorrupt = handler;
  }

  /**
   * `handler` is called each time a restarted worker is ready (it has reloaded the contracts and
   * replayed the journal), before the requests waiting for it are sent; the node retries its
   * failed governance loads then (node/gov/load-retry.ts). It must not throw.
   */
  onRestart(handler: () => void): void {
    this.#restarted = handler;
  }

  /**
   * Replaces the worker `lost` (null: the service has none) unless that was done already: every
   * request in flight on a lost worker fails with WorkerLost and recovers here, so one boot
   * serves them all, and requests wait for it before they are sent.
   */
  #recover(lost: Generation | null): Promise<void> {
    if (this.#booting !== null) return this.#booting;
    if (this.#generation !== null && this.#generation !== lost) return Promise.resolve();
    if (this.#closing && this.#booted)
      return Promise.reject(new TreatyError("Unavailable", "execution service: closed"));
    const boot = this.#boot().finally(() => {
      this.#booting = null;
    });
    this.#booting = boot;
    return boot;
  }

  /**
   * (Re)starts the worker, retrying a few times: reopens the KV, reloads the contracts and
   * replays the uncommitted versions. Throws TreatyError `Unavailable` when no worker started,
   * and the worker's `LedgerCorrupt` at once (no retry) when the KV on disk fails its checks.
   * Only #recover calls it.
   */
  async #boot(): Promise<void> {
    if (this.#generation !== null) await this.#retire(this.#generation, "was replaced");
    const isRestart = this.#booted;
    const lastApplied = this.#applied;
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_BOOT_ATTEMPTS; attempt++) {
      try {
        await this.#spawn();
        await this.#reload();
        this.#booted = true;
        if (isRestart) {
          this.#restarts++;
          this.#log.warn("execution worker restarted", {
            restarts: this.#restarts,
            appliedVersion: this.#applied,
            committedVersion: this.#committed,
          });
          if (this.#applied !== lastApplied) {
            // A batch the old worker ran but never answered, or a rollback it never ran: the
            // request is retried from the state it was sent against.
            this.#log.info("execution worker restarted at the journal's version", {
              lastApplied,
              appliedVersion: this.#applied,
            });
          }
          this.#restarted?.();
        }
        return;
      } catch (err) {
        if (err instanceof AssertionFailure) throw err;
        lastError = err;
        const generation = this.#generation;
        if (generation !== null) await this.#retire(generation, "failed to start");
        this.#log.error("execution worker failed to start", { attempt, error: describe(err) });
        // State on disk that fails its checks (the KV's LMDB file, its markers) does not heal by
        // retrying: the start fails with that code and message.
        if (err instanceof TreatyError && err.code === "LedgerCorrupt") throw err;
      }
    }
    throw new TreatyError("Unavailable", `execution worker: could not start (${describe(lastError)})`);
  }

  /** Starts a worker thread and waits until its engine is open; it becomes the current one. */
  async #spawn(): Promise<void> {
    const progress = new Int32Array(new SharedArrayBuffer(PROGRESS_SLOTS * 4));
    const init: WorkerInit = {
      kvPath: this.#options.kvPath,
      ...(this.#atRestKeys.length > 0 && {
        atRestKey: this.#atRestKeys[0]!,
        olderAtRestKeys: this.#atRestKeys.slice(1),
      }),
      limits: this.#limits,
      retention: this.#retention,
      ...(this.#options.measurement !== undefined && { measurement: this.#options.measurement }),
      progress: progress.buffer as SharedArrayBuffer,
    };
    const worker = new Worker(this.#workerUrl, { workerData: init });
    let markExited = () => {};
    const exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const generation: Generation = {
      worker,
      progress,
      lost: null,
      exited,
      terminated: null,
      killed: null,
    };
    let errorDetail = "";
    let started = false;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        generation.lost = `did not start within ${this.#controlMs} ms`;
        void terminateOnce(generation);
      }, this.#controlMs);
      worker.on("message", (message: WorkerMessage) => {
        if (started) {
          this.#onMessage(generation, message);
        } else if (message.kind === "ready") {
          clearTimeout(timer);
          started = true;
          this.#applied = message.appliedVersion;
          this.#committed = message.committedVersion;
          this.#generation = generation;
          resolve();
        } else if (message.kind === "fatal") {
          generation.lost = `failed to open: ${message.error.message}`;
          reject(fromWireError(message.error));
          void terminateOnce(generation);
        }
      });
      worker.on("error", (error) => {
        errorDetail = describe(error);
      });
      worker.on("exit", (code) => {
        clearTimeout(timer);
        markExited();
        const detail = errorDetail === "" ? `exit code ${code}` : errorDetail;
        if (started) this.#onExit(generation, detail);
        else
          reject(
            new TreatyError("Unavailable", `execution worker ${generation.lost ?? `exited (${detail})`}`),
          );
      });
    });
  }

  /** Loads every known bundle into the new worker and re-applies the uncommitted versions. */
  async #reload(): Promise<void> {
    const budget: WatchBudget = { totalMs: this.#controlMs, stallMs: null };
    // Empty applies not carried yet are in the journal, which the new worker replays below.
    this.#carry = [];
    for (const [name, bundle] of [...this.#bundles]) {
      try {
        await this.#request({ id: 0, op: "load", name, bundle }, budget);
      } catch (err) {
        if (err instanceof WorkerLost)
          throw new TreatyError("Unavailable", `reloading contract "${name}": ${err.reason}`);
        // It loaded before; if it no longer does, serve without it rather than not at all.
        this.#bundles.delete(name);
        this.#log.error("contract failed to reload into the new worker", {
          contract: name,
          error: describe(err),
        });
      }
    }
    const constitution = this.#constitution;
    if (constitution !== undefined) {
      try {
        await this.#request({ id: 0, op: "constitution", record: constitution }, budget);
      } catch (err) {
        if (err instanceof WorkerLost)
          throw new TreatyError("Unavailable", `reloading the constitution: ${err.reason}`);
        // The engine loads it lazily at the next governance call anyway.
        this.#constitution = undefined;
        this.#log.error("constitution failed to reload into the new worker", { error: describe(err) });
      }
    }
    const items = this.#replayItems();
    let previous = this.#committed;
    for (const { version } of items) {
      assert(
        Number.isSafeInteger(version) && version > previous,
        "replaySource: versions increase above committed",
      );
      previous = version;
    }
    if (!this.#booted) {
      // At start the KV's state is the ledger's: the journal starts from it.
      this.#journal.reset(this.#committed);
      this.#journal.record(items);
    }
    if (items.length > 0) {
      try {
        await this.#request({ id: 0, op: "apply", items }, budget);
      } catch (err) {
        if (err instanceof WorkerLost)
          throw new TreatyError("Unavailable", `replaying uncommitted versions: ${err.reason}`);
        throw err;
      }
    }
    assert(this.#applied === this.#journal.head, "execution restart: the KV is at the journal's version");
  }

  /**
   * What a worker whose KV opened at `#committed` must apply. At start: the ledger above it (the
   * journal starts from there, see #reload). After a restart: the journal above it, preceded (an
   * in-memory KV lost everything) by the committed versions from the ledger, which never change.
   */
  #replayItems(): VersionedWriteSet[] {
    const opened = this.#committed;
    if (!this.#booted) return [...this.#options.replaySource(opened)];
    if (this.#installing) {
      // The install either committed (the KV is the snapshot's state, nothing above it) or is
      // retried (it drops whatever is above the committed version first): nothing to replay.
      this.#journal.reset(opened);
      return [];
    }
    this.#journal.committedUpTo(opened);
    const lost =
      opened < this.#journal.committed
        ? [...this.#options.replaySource(opened)].filter((item) => item.version <= this.#journal.committed)
        : [];
    return [...lost, ...this.#journal.above(opened)];
  }
}

/** Terminates the worker of `generation` once; later calls share that termination. */
function terminateOnce(generation: Generation): Promise<void> {
  generation.terminated ??= generation.worker.terminate().then(() => undefined);
  return generation.terminated;
}

/** Bundles a governance `propose` carries (prepare.ts puts them in `args.code`); 0 otherwise. */
function codeCount(call: ExecCall): number {
  if (call.method !== "propose") return 0;
  const code = (call.args as { code?: unknown } | null)?.code;
  return Array.isArray(code) ? code.filter((entry) => entry !== null).length : 0;
}

/**
 * Whether a control request lost with its worker is retried on the new one (when its op allows
 * a retry at all: not load, constitution or setLimits, which run or configure contract code, so
 * a crash while they are in flight is most likely theirs). Not when its own bound killed the
 * worker, whatever its kind (its control deadline, or a snapshot read's stall window): the kill
 * says it is the request that hangs, and every control request is deterministic on the state it
 * is sent against, which the new worker rebuilds (a read on a damaged page, a commit on a stalled
 * disk, an install or a reseal of a large state), so a retry would most likely hang again,
 * costing a second restart and a second window of stalled execution. Its caller gets
 * `Unavailable` (a KV commit or rollback failing stops the node, so a leader hands over instead
 * of stalling twice). Lost for another reason (another request's deadline, a crash), it is
 * retried once.
 */
function retriesAfter(lost: WorkerLost): boolean {
  return lost.ownKill === null;
}

function describeKill(reason: KillReason, budget: WatchBudget, wallClockMs: number, slackMs: number): string {
  if (reason === "readStalled") return `made no progress in a snapshot read for ${budget.readStallMs} ms`;
  return reason === "deadline"
    ? `exceeded the request deadline of ${budget.totalMs} ms`
    : `ran longer than ${budget.stallMs} ms (wall clock ${wallClockMs} ms + watchdog slack ${slackMs} ms)`;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function checkMs(value: number | undefined, field: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min || value > 3_600_000) {
    throw new TreatyError(
      "InvalidArgs",
      `${field}: expected an integer from ${min} to 3600000 ms, got ${String(value)}`,
    );
  }
  return value;
}

/** Re-exported so callers can type write sets without reaching into runtime/. */
export type { WriteSet };

/**
 * Asserts `items`' versions increase above `head` (the journal's head: where the KV is once every
 * request queued before them has run). A module function, not a loop inside `apply`'s async arrow:
 * an arrow made per call and hot within it loses its optimized code at every major GC, and
 * TurboFan compiled it again
 * (docs/performance.md, "Hot closures recompiled after every major GC").
 */
function checkVersions(items: readonly VersionedWriteSet[], head: number): void {
  let previous = head;
  for (let i = 0; i < items.length; i++) {
    const { version } = items[i]!;
    assert(
      Number.isSafeInteger(version) && version > previous,
      "apply: versions increase above the applied version",
    );
    previous = version;
  }
}
