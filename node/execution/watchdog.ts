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

/** Watches one request. Owns nothing: `progress` belongs to the worker's generation. */
export class Watchdog {
  readonly #progress: Int32Array;
  readonly #budget: WatchBudget;
  readonly #now: () => number;
  readonly #startMs: number;
  #lastStarted: number;
  #lastChangeMs: number;

  constructor(progress: Int32Array, budget: WatchBudget, now: () => number) {
    assert(
      budget.totalMs > 0 && (budget.stallMs === null || budget.stallMs > 0),
      "watchdog: positive budgets",
    );
    this.#progress = progress;
    this.#budget = budget;
    this.#now = now;
    this.#startMs = now();
    this.#lastStarted = Atomics.load(progress, PROGRESS_STARTED);
    this.#lastChangeMs = this.#startMs;
  }

  /** How long to wait before the next `check`, ms: a quarter of the tightest bound, clamped. */
  get pollMs(): number {
    const tightest = Math.min(this.#budget.totalMs, this.#budget.stallMs ?? Number.POSITIVE_INFINITY);
    return Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, Math.floor(tightest / 4)));
  }

  /** The reason to kill the worker now, or undefined while it is within its budget. */
  check(): KillReason | undefined {
    const nowMs = this.#now();
    if (nowMs - this.#startMs >= this.#budget.totalMs) return "deadline";
    const started = Atomics.load(this.#progress, PROGRESS_STARTED);
    if (started !== this.#lastStarted) {
      this.#lastStarted = started;
      this.#lastChangeMs = nowMs;
      return undefined;
    }
    const running = Atomics.load(this.#progress, PROGRESS_RUNNING) >= 0;
    if (running && this.#budget.stallMs !== null && nowMs - this.#lastChangeMs >= this.#budget.stallMs) {
      return "stalled";
    }
    return undefined;
  }
}
