/**
 * `ReadService`: readonly contract calls at the consistency the caller chose (docs/http.md,
 * "Read consistency"). Every answer names the state it read: `{result, txid, status}`.
 *
 * - committed: reads the KV at this node's commit point: the one the node has folded into its
 *   governance view and reacted to (`committedSeqno`, see TreatyNode.committedSeqno), which can
 *   lag the consensus core's by the entries whose durable step has not run yet (and a contract
 *   load or other governance reaction still running). The KV keeps every applied version
 *   above its durable one in an in-memory overlay (runtime/kv/store.ts), so a read "as of" the
 *   commit point costs the same as one at the applied head, however many pending entries the
 *   leader has applied above it. No dirty read can happen: only committed entries are seen.
 * - linearizable: first a read index (the leader's, via a heartbeat round: node/consensus), then
 *   a committed read once this node's commit point reached it. A follower asks the leader for the
 *   index over the node-to-node request channel and reads locally; reads that arrive while such
 *   a request is in flight share the next one (one request per round trip, not per read).
 * - latest: reads at the end of this node's ledger, pending entries included; `Pending` when it
 *   is above the commit point.
 *
 * The version is chosen on the main thread just before the read is queued to the execution
 * worker: every ledger entry's apply is already queued by then, and every KV commit queued
 * earlier is at most the commit point, so that version is always held (see ExecutionService).
 */
import type { ContractEvent } from "../../runtime/executor/host.js";
import { decode, encode } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import type { ReadConsistency } from "../../sdk/request.js";
import type { Ledger } from "../../runtime/ledger/ledger.js";
import type { TxStatus } from "../consensus/types.js";
import type { ExecCall, ExecutionService } from "../execution/service.js";
import type { Replica } from "../replica.js";
import type { NodeId, Transport } from "../transport/types.js";

/** The answer to a readonly call. */
export interface ReadAnswer {
  readonly result: unknown;
  /** `view.seqno` of the state read (the last entry it includes). */
  readonly txid: string;
  /** `Committed`, or `Pending` for a `latest` read above the commit point. */
  readonly status: TxStatus;
  /** What the method emitted (a readonly call's events are delivered, never recorded). */
  readonly events: readonly ContractEvent[];
}

export interface ReadServiceOptions {
  readonly replica: Replica;
  readonly ledger: Ledger;
  readonly execution: ExecutionService;
  readonly transport: Transport | null;
  /** The leader this node knows, waiting up to `timeoutMs` during an election (null: none). */
  readonly knownLeader: (timeoutMs: number) => Promise<NodeId | null>;
  /** This node's id. */
  readonly self: NodeId;
  /**
   * This node's commit point as the node can act on it (TreatyNode.committedSeqno: folded into
   * its governance view, and the governance reactions up to it done): what committed reads read
   * at and what `commitReached` waits for. Every entry up to it was applied; every KV commit the
   * replica asked for is at most the folded point, which is this seqno unless a reaction holds it.
   */
  readonly committedSeqno: () => number;
  /** How long a linearizable read may wait for a leader, its read index and the local commit, ms. */
  readonly timeoutMs: number;
}

/** The payload a follower sends the leader to ask for a read index. */
const READ_INDEX_REQUEST = encode({ kind: "readIndex" });

/** Whether a decoded node-to-node request is a read-index request. */
export function isReadIndexRequest(request: unknown): boolean {
  return (
    typeof request === "object" && request !== null && (request as { kind?: unknown }).kind === "readIndex"
  );
}

/** Bound on reads and `/node/tx` long polls waiting for this node's commit point. */
const MAX_COMMIT_WAITERS = 10_000;

/** See the module comment. One per node. */
export class ReadService {
  readonly #o: ReadServiceOptions;
  /** Reads waiting until the commit point reaches `seqno`. */
  #waiters: { readonly seqno: number; readonly wake: () => void }[] = [];
  /** The read-index request to the leader in flight, and the one queued behind it. */
  #asking: Promise<number> | null = null;
  #queued: Promise<number> | null = null;

  constructor(options: ReadServiceOptions) {
    this.#o = options;
  }

  /**
   * Runs `call` read-only at `level`. Throws the call's own TreatyError when it fails, and for
   * linearizable reads `NotLeader` (no leader, or leadership moved: retry) or `Timeout`.
   */
  async read(call: ExecCall, level: ReadConsistency): Promise<ReadAnswer> {
    if (level === "linearizable") await this.#reachReadIndex();
    const { execution, ledger } = this.#o;
    const commit = this.#committed();
    const version = level === "latest" ? ledger.lastSeqno : commit;
    const result = await execution.read(call, version);
    if (!result.ok) throw new TreatyError(result.error.code, result.error.message);
    return {
      result: result.result,
      txid: `${this.#viewAt(version)}.${version}`,
      status: version <= commit ? "Committed" : "Pending",
      events: result.events,
    };
  }

  /** Leader: answers a follower's read-index request with the encoded seqno. */
  async serveReadIndex(): Promise<Uint8Array> {
    return encode({ seqno: await this.#o.replica.readIndex() });
  }

  /**
   * The folded commit point moved to `seqno` (`committedSeqno()` answers at least `seqno` by the
   * time the woken reads run): wakes the reads waiting for it.
   */
  onCommit(seqno: number): void {
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((w) => w.seqno <= seqno);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.seqno > seqno);
    for (const w of ready) w.wake();
  }

  /** Obtains a read index (locally when leading, else from the leader) and waits for its commit. */
  async #reachReadIndex(): Promise<void> {
    const deadline = performance.now() + this.#o.timeoutMs;
    const { replica } = this.#o;
    let index: number;
    if (replica.consensus.status().role === "Leader") {
      index = await withDeadline(replica.readIndex(), deadline, "the read index");
    } else {
      index = await this.#sharedAsk(deadline);
    }
    await this.#commitAtLeast(index, deadline);
  }

  /**
   * A read index from the leader, from a request sent after this call: the one in flight was
   * sent too early to count for this read, so it waits for (and shares) the next.
   */
  #sharedAsk(deadline: number): Promise<number> {
    if (this.#asking === null) return this.#startAsk(deadline);
    this.#queued ??= this.#asking
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.#queued = null;
        return this.#startAsk(deadline);
      });
    return this.#queued;
  }

  #startAsk(deadline: number): Promise<number> {
    const asking = this.#askLeader(deadline);
    this.#asking = asking;
    const done = () => {
      if (this.#asking === asking) this.#asking = null;
    };
    asking.then(done, done);
    return asking;
  }

  async #askLeader(deadline: number): Promise<number> {
    const { transport, self } = this.#o;
    const leader = await this.#o.knownLeader(Math.max(0, deadline - performance.now()));
    if (leader === null || transport === null) {
      throw new TreatyError("NotLeader", "linearizable read: no leader is known right now: retry shortly");
    }
    if (leader === self) return withDeadline(this.#o.replica.readIndex(), deadline, "the read index");
    let answer: Uint8Array;
    try {
      answer = await transport.request(leader, READ_INDEX_REQUEST, remaining(deadline));
    } catch (err) {
      // A read changes nothing: whatever happened, asking again is safe.
      const why = err instanceof Error ? err.message : String(err);
      if (err instanceof TreatyError && err.code === "NotLeader") throw err;
      throw new TreatyError("NotLeader", `linearizable read: the leader did not confirm (${why}): retry`);
    }
    const reply = decode<{ seqno?: unknown }>(answer, "read index");
    if (!Number.isSafeInteger(reply.seqno) || (reply.seqno as number) < 0) {
      throw new TreatyError("Internal", "the leader sent a malformed read index");
    }
    return reply.seqno as number;
  }

  async #commitAtLeast(seqno: number, deadline: number): Promise<void> {
    const reached = await this.commitReached(seqno, remaining(deadline));
    if (reached === "busy")
      throw new TreatyError("Unavailable", "too many reads wait for the commit point: retry");
    if (reached === "timeout") {
      throw new TreatyError(
        "Timeout",
        `linearizable read: this node's commit point did not reach ${seqno} in time`,
      );
    }
  }

  /**
   * Waits until this node's commit point (`committedSeqno`, not the KV's floor: a reaction may
   * hold the former below the latter) reaches `seqno`, at most `timeoutMs`: "reached", or
   * "timeout", or "busy" at once when MAX_COMMIT_WAITERS already wait.
   */
  commitReached(seqno: number, timeoutMs: number): Promise<"reached" | "timeout" | "busy"> {
    if (this.#o.committedSeqno() >= seqno) {
      return Promise.resolve("reached");
    }
    if (this.#waiters.length >= MAX_COMMIT_WAITERS) return Promise.resolve("busy");
    return new Promise((resolve) => {
      const waiter = {
        seqno,
        wake: () => {
          clearTimeout(timer);
          resolve("reached");
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve("timeout");
      }, timeoutMs);
      timer.unref(); // a stopping node does not wait out a long poll
      this.#waiters.push(waiter);
    });
  }

  /**
   * The version committed reads read at: the node's commit point, or the KV's committed version
   * when that is above it. The KV's committed version is a floor (a version below it is no
   * longer held); once the node started it is at most the folded point (the replica asks the KV
   * to commit a range just before the node folds it, and a start folds up to the KV's version),
   * but it can pass `committedSeqno` while a governance reaction holds that below the folded
   * point (a contract loading): such a read sees committed, folded state.
   */
  #committed(): number {
    return Math.max(this.#o.committedSeqno(), this.#o.execution.committedVersion);
  }

  #viewAt(seqno: number): number {
    if (seqno === 0) return 0;
    return this.#o.replica.consensus.entry(seqno)?.view ?? this.#o.ledger.get(seqno)?.view ?? 0;
  }
}

function remaining(deadline: number): number {
  return Math.max(1, Math.ceil(deadline - performance.now()));
}

/** `work`, or TreatyError `Timeout` naming `what` at `deadline` (performance.now() ms). */
function withDeadline<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TreatyError("Timeout", `linearizable read: ${what} did not arrive in time`)),
      remaining(deadline),
    );
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
