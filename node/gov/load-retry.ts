/**
 * Retries of governance loads that failed on this node after their decision committed: a
 * contract's committed code, the constitution, the sandbox limits (node/service.ts
 * `#syncContracts`, node/gov/reactions.ts). A failure may be transient (the execution worker
 * restarting or missing its deadline mid-load: `Unavailable`) or not (a bundle this node's
 * worker refuses every time): both are retried, with exponential backoff, so a transient
 * failure heals without a new deploy or a restart and a deterministic one costs one load
 * attempt per `maxMs` at most, never a busy loop.
 *
 * Each failing load has a key (`contract:<name>`, `constitution`, `limits`) and a version (the
 * code's digest, the limits' JSON). Attempt `n` (the first failed load is attempt 1) is
 * followed by a retry after `min(maxMs, baseMs × 2^(n-1))`: 1 s, 2 s, 4 s, ... 256 s, then
 * every 300 s with the defaults. Attempts are not capped in number: a cap would leave a node
 * whose worker was down longer than the cap answering `InvalidContract` forever, the defect
 * this fixes. A failure of another version (a new deploy) starts over at attempt 1; a success,
 * or the load no longer being wanted (the contract removed), ends the retries of that key.
 *
 * When the execution worker restarts (`retryNow`: a likely cause of the failure, now gone), every
 * retry waiting for its timer runs at once instead of up to `maxMs` later; a retry that fails
 * again goes on with the next delay of its backoff.
 *
 * A retry is a new load of what governance committed *now* (`run(key)`, which the node queues
 * behind its other governance reactions so loads never overlap): it does not hold the node's
 * commit point (`TreatyNode.committedSeqno`), which the failed load already released. Every
 * failure is logged (`error`, with `attempt` and `retryInMs`) and counted (`stats()`, the metrics
 * `treaty_gov_load_failures_total{load}` and `treaty_gov_loads_failing`); a retry that loads is
 * logged (`info`, `"... loaded on retry"`).
 */
import type { Logger } from "../log.js";

/** Delays of the retries (ms): the first after `baseMs`, doubling up to `maxMs`. */
export interface LoadRetryDelays {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_LOAD_RETRY_DELAYS: LoadRetryDelays = Object.freeze({ baseMs: 1_000, maxMs: 300_000 });

/** What a key names, for logs and metrics: `contract`, `constitution` or `limits`. */
export type LoadKind = "contract" | "constitution" | "limits";

/** Timers (tests pass fake ones). */
export interface RetryTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: RetryTimers = {
  set(fn, ms) {
    const handle = setTimeout(fn, ms);
    // A pending retry never keeps a stopping process alive.
    handle.unref();
    return handle;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

export interface LoadRetriesOptions {
  readonly logger: Logger;
  /** Runs the retry of `key` (the node queues it behind its governance reactions). */
  readonly run: (key: string) => void;
  readonly delays?: LoadRetryDelays;
  readonly timers?: RetryTimers;
}

interface Failing {
  readonly version: string;
  attempts: number;
  timer: unknown;
}

/** The key of contract `name`'s load. */
export function contractLoadKey(name: string): string {
  return `contract:${name}`;
}

function kindOf(key: string): LoadKind {
  return key.startsWith("contract:") ? "contract" : (key as LoadKind);
}

/** See the module comment. One per node. */
export class LoadRetries {
  readonly #options: LoadRetriesOptions;
  readonly #delays: LoadRetryDelays;
  readonly #timers: RetryTimers;
  readonly #failing = new Map<string, Failing>();
  readonly #failures: Record<LoadKind, number> = { contract: 0, constitution: 0, limits: 0 };
  #stopped = false;

  constructor(options: LoadRetriesOptions) {
    this.#options = options;
    this.#delays = options.delays ?? DEFAULT_LOAD_RETRY_DELAYS;
    this.#timers = options.timers ?? realTimers;
    const { baseMs, maxMs } = this.#delays;
    if (!Number.isSafeInteger(baseMs) || baseMs < 1 || !Number.isSafeInteger(maxMs) || maxMs < baseMs)
      throw new RangeError(
        `load retry delays: expected integers 1 <= baseMs <= maxMs, got ${baseMs}, ${maxMs}`,
      );
  }

  /** The delay after failed attempt `attempt` (1-based). */
  delayAfter(attempt: number): number {
    const { baseMs, maxMs } = this.#delays;
    // 2^40 × 1 ms is far beyond any max: stop doubling there (no overflow to Infinity).
    return Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 40));
  }

  /**
   * The load of `key` at `version` failed: logs it and schedules its retry. Returns the attempt
   * number and the delay before the retry.
   */
  failed(
    key: string,
    version: string,
    err: unknown,
    fields: Record<string, unknown> = {},
  ): { attempt: number; retryInMs: number } {
    const kind = kindOf(key);
    this.#failures[kind]++;
    let failing = this.#failing.get(key);
    if (failing === undefined || failing.version !== version) {
      if (failing !== undefined) this.#timers.clear(failing.timer);
      failing = { version, attempts: 0, timer: undefined };
      this.#failing.set(key, failing);
    } else {
      this.#timers.clear(failing.timer);
    }
    failing.attempts++;
    const attempt = failing.attempts;
    const retryInMs = this.delayAfter(attempt);
    this.#options.logger.error(`${kind} failed to load on this node: retrying`, {
      ...fields,
      attempt,
      retryInMs,
      err,
    });
    if (!this.#stopped) {
      failing.timer = this.#timers.set(() => {
        const current = this.#failing.get(key);
        if (current !== failing || this.#stopped) return;
        current.timer = undefined;
        this.#options.run(key);
      }, retryInMs);
    }
    return { attempt, retryInMs };
  }

  /**
   * Runs now every retry that waits for its timer (one whose run is already under way is left to
   * it), logged (`info`, with `why` and the keys); nothing once stopped. The node calls it when its
   * execution worker restarts.
   */
  retryNow(why: string): void {
    if (this.#stopped) return;
    const due: string[] = [];
    for (const [key, failing] of this.#failing) {
      if (failing.timer === undefined) continue;
      this.#timers.clear(failing.timer);
      failing.timer = undefined;
      due.push(key);
    }
    if (due.length === 0) return;
    this.#options.logger.info("retrying failed loads now", { why, loads: due });
    for (const key of due) this.#options.run(key);
  }

  /** The load of `key` succeeded: its retries end (logged when it had failed). */
  succeeded(key: string, fields: Record<string, unknown> = {}): void {
    const failing = this.#failing.get(key);
    if (failing === undefined) return;
    this.#timers.clear(failing.timer);
    this.#failing.delete(key);
    this.#options.logger.info(`${kindOf(key)} loaded on retry`, { ...fields, attempts: failing.attempts });
  }

  /** `key` is no longer wanted (its contract was removed): its retries end. */
  dropped(key: string): void {
    const failing = this.#failing.get(key);
    if (failing === undefined) return;
    this.#timers.clear(failing.timer);
    this.#failing.delete(key);
  }

  /** Failed attempts of `key`'s current version so far (0: not failing). */
  attempts(key: string): number {
    return this.#failing.get(key)?.attempts ?? 0;
  }

  /** Failed load attempts by kind since start, and the loads failing now (awaiting a retry). */
  stats(): { failures: Readonly<Record<LoadKind, number>>; failing: number } {
    return { failures: { ...this.#failures }, failing: this.#failing.size };
  }

  /** The node stops: no retry runs any more. */
  stop(): void {
    this.#stopped = true;
    for (const failing of this.#failing.values()) this.#timers.clear(failing.timer);
  }
}
