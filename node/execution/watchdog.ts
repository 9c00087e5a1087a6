/**
 * `Watchdog`: decides when the execution worker must be killed. It is pure logic over the
 * progress slots (protocol.ts) and an injected clock; the service polls it with a timer.
 *
 * Three bounds, whichever trips first:
 * - the request's total deadline (for a batch: calls × wallClockMs + slack), unless it has none;
 * - a stall bound for requests that run contract calls: the same call has been running for
 *   `stallMs` (wallClockMs + slack) without another call starting. A poison call in a long batch
 *   is therefore caught in about one call's budget, not the whole batch's;
 * - a progress bound for a snapshot read, which has no total deadline (its time grows with the
 *   state): `readStallMs` without a slice of it finishing (PROGRESS_SNAPSHOT_SLICES).
 * The wall-clock interrupt inside QuickJS normally stops a call at wallClockMs; these bounds only
 * trip when it fails to (a native builtin running to out-of-memory, a host bug, a deadlock).
 *
 * Time counts only while the main thread runs: between two checks at most `MAX_COUNTED_GAP_MS`
 * (or two poll periods) counts. A longer gap means the process was frozen (SIGSTOP, a VM pause)
 * or the main thread was starved: the worker may have answered meanwhile, and its reply waits in
 * the queue behind this timer (timers run before I/O), so killing it then would blame an innocent
 * call. The bounds stay finite: every check counts at least the poll period it waited.
 */
import { assert } from "../../sdk/assert.js";
import { PROGRESS_RUNNING, PROGRESS_SNAPSHOT_SLICES, PROGRESS_STARTED } from "./protocol.js";

/** What a request may take. */
export interface WatchBudget {
  /** Total deadline of the request, ms; null for none (a snapshot read: see readStallMs). */
  readonly totalMs: number | null;
  /** Longest one contract call may run, ms; null for requests that run no contract code. */
  readonly stallMs: number | null;
  /**
   * Longest time without a snapshot-read slice finishing (PROGRESS_SNAPSHOT_SLICES), ms; only for
   * a snapshot read (absent: no such bound).
   */
  readonly readStallMs?: number;
}

/**
 * Why the worker is to be killed ("readStalled": a snapshot read stopped making progress; the
 * service does not retry that read, see service.ts `retriesAfter`).
 */
export type KillReason = "deadline" | "stalled" | "readStalled";

/** Shortest and longest poll period, ms. */
const MIN_POLL_MS = 5;
const MAX_POLL_MS = 250;
/** Most time counted between two checks (at least two poll periods), ms; see the module comment. */
export const MAX_COUNTED_GAP_MS = 1_000;

/** Watches one request. Owns nothing: `progress` belongs to the worker's generation. */
export class Watchdog {
  readonly #progress: Int32Array;
  readonly #budget: WatchBudget;
  readonly #now: () => number;
  #lastCheckMs: number;
  /** Time counted since the request was sent, and since a call last started. */
  #elapsedMs = 0;
  #sinceChangeMs = 0;
  #lastStarted: number;
  /** Time counted since a snapshot-read slice last finished, and the slices seen then. */
  #sinceSliceMs = 0;
  #lastSlices: number;

  constructor(progress: Int32Array, budget: WatchBudget, now: () => number) {
    const bounds = [budget.totalMs, budget.stallMs, budget.readStallMs ?? null];
    assert(
      bounds.every((ms) => ms === null || ms > 0) &&
        (budget.totalMs !== null || budget.readStallMs !== undefined),
      "watchdog: positive budgets, and a total deadline or a progress bound",
    );
    this.#progress = progress;
    this.#budget = budget;
    this.#now = now;
    this.#lastCheckMs = now();
    this.#lastStarted = Atomics.load(progress, PROGRESS_STARTED);
    this.#lastSlices =
      budget.readStallMs !== undefined ? Atomics.load(progress, PROGRESS_SNAPSHOT_SLICES) : 0;
  }

  /** How long to wait before the next `check`, ms: a quarter of the tightest bound, clamped. */
  get pollMs(): number {
    const { totalMs, stallMs, readStallMs } = this.#budget;
    const tightest = Math.min(
      totalMs ?? Number.POSITIVE_INFINITY,
      stallMs ?? Number.POSITIVE_INFINITY,
      readStallMs ?? Number.POSITIVE_INFINITY,
    );
    return Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, Math.floor(tightest / 4)));
  }

  /** The reason to kill the worker now, or undefined while it is within its budget. */
  check(): KillReason | undefined {
    const nowMs = this.#now();
    const countedMs = Math.min(
      Math.max(0, nowMs - this.#lastCheckMs),
      Math.max(MAX_COUNTED_GAP_MS, 2 * this.pollMs),
    );
    this.#lastCheckMs = nowMs;
    this.#elapsedMs += countedMs;
    this.#sinceChangeMs += countedMs;
    this.#sinceSliceMs += countedMs;
    if (this.#budget.totalMs !== null && this.#elapsedMs >= this.#budget.totalMs) return "deadline";
    const { readStallMs } = this.#budget;
    if (readStallMs !== undefined) {
      const slices = Atomics.load(this.#progress, PROGRESS_SNAPSHOT_SLICES);
      if (slices !== this.#lastSlices) {
        this.#lastSlices = slices;
        this.#sinceSliceMs = 0;
      } else if (this.#sinceSliceMs >= readStallMs) {
        return "readStalled";
      }
    }
    const started = Atomics.load(this.#progress, PROGRESS_STARTED);
    if (started !== this.#lastStarted) {
      this.#lastStarted = started;
      this.#sinceChangeMs = 0;
      return undefined;
    }
    const running = Atomics.load(this.#progress, PROGRESS_RUNNING) >= 0;
    if (running && this.#budget.stallMs !== null && this.#sinceChangeMs >= this.#budget.stallMs) {
      return "stalled";
    }
    return undefined;
  }
}
