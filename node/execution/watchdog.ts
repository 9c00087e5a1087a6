/**
 * `Watchdog`: decides when the execution worker must be killed. It is pure logic over the
 * progress slots (protocol.ts) and an injected clock; the service polls it with a timer.
 *
 * Two bounds, whichever trips first:
 * - the request's total deadline (for a batch: calls × wallClockMs + slack);
 * - a stall bound for requests that run contract calls: the same call has been running for
 *   `stallMs` (wallClockMs + slack) without another call starting. A poison call in a long batch
 *   is therefore caught in about one call's budget, not the whole batch's.
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
import { PROGRESS_RUNNING, PROGRESS_STARTED } from "./protocol.js";

/** What a request may take. */
export interface WatchBudget {
  /** Total deadline of the request, ms. */
  readonly totalMs: number;
  /** Longest one contract call may run, ms; null for requests that run no contract code. */
  readonly stallMs: number | null;
}

/** Why the worker is to be killed. */
export type KillReason = "deadline" | "stalled";

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

  constructor(progress: Int32Array, budget: WatchBudget, now: () => number) {
    assert(
      budget.totalMs > 0 && (budget.stallMs === null || budget.stallMs > 0),
      "watchdog: positive budgets",
    );
    this.#progress = progress;
    this.#budget = budget;
    this.#now = now;
    this.#lastCheckMs = now();
    this.#lastStarted = Atomics.load(progress, PROGRESS_STARTED);
  }

  /** How long to wait before the next `check`, ms: a quarter of the tightest bound, clamped. */
  get pollMs(): number {
    const tightest = Math.min(this.#budget.totalMs, this.#budget.stallMs ?? Number.POSITIVE_INFINITY);
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
    if (this.#elapsedMs >= this.#budget.totalMs) return "deadline";
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
