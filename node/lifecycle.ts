/**
 * Where a node is between "process started" and "serving", for `/node/status` and the logs. A
 * node binds its HTTP port first and answers `/node/status` at once; until it serves, app and
 * governance calls get a retryable `Unavailable` (503) that says which phase it is in.
 *
 *   starting     reading its files
 *   joining      asking the service to admit it (no answer yet)
 *   pending      admitted, waiting to be trusted (`waitingFor` says for what)
 *   replaying    rebuilding its state from its own ledger (`step`, `done` of `total` entries)
 *   catching_up  running, receiving from the leader what was committed before it started
 *   serving      up to date with the commit point the leader reported when it came up
 *
 * Long passes over the ledger go through `pace`, which yields to the event loop every
 * `YIELD_EVERY_MS` (so the HTTP server answers meanwhile) and logs a structured progress line
 * every `LOG_EVERY_MS`. The clock is handed in.
 */
import type { Logger } from "./log.js";

export type Phase =
  | "starting"
  | "recovering"
  | "joining"
  | "pending"
  | "replaying"
  | "catching_up"
  | "serving";

/** What `/node/status` reports as `progress`. */
export interface Progress {
  readonly phase: Phase;
  /** replaying: which pass over the ledger ("ledger": verifying the entries after the latest snapshot). */
  readonly step?: string;
  /** replaying: entries done of `total`; catching_up: committed seqno of `total` (the target). */
  readonly done?: number;
  readonly total?: number;
  /**
   * pending: what the node waits for, e.g. a `trust_node` vote; catching_up: why no leader may
   * ever replicate to it (`waiting`), until one does.
   */
  readonly waitingFor?: string;
}

/** Called at each yield of a replay (tests use it to hold a node in `replaying`). */
export type ReplayHook = (progress: Progress) => Promise<void> | void;

/** Yield to the event loop after this much uninterrupted work. */
const YIELD_EVERY_MS = 50;
/** Check the clock every this many entries (reading it per entry would cost more than the work). */
const CLOCK_EVERY_ENTRIES = 256;
const LOG_EVERY_MS = 2000;

export class Lifecycle {
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #hook: ReplayHook | undefined;
  #progress: Progress = { phase: "starting" };
  #lastYieldMs: number;
  #lastLogMs: number;
  /** catching_up: the leader's commit seqno when this node first heard from it. */
  #target: number | null = null;

  constructor(options: { logger: Logger; now: () => number; hook?: ReplayHook }) {
    this.#logger = options.logger;
    this.#now = options.now;
    this.#hook = options.hook;
    this.#lastYieldMs = this.#now();
    this.#lastLogMs = this.#lastYieldMs;
  }

  get progress(): Progress {
    return this.#progress;
  }

  get serving(): boolean {
    return this.#progress.phase === "serving";
  }

  /** Moves to `phase` (logged when the phase changes). */
  enter(phase: Exclude<Phase, "replaying" | "pending">): void {
    if (this.#progress.phase !== phase) this.#logger.info(`phase: ${phase}`);
    this.#progress = { phase };
  }

  /** pending, with what the node waits for (logged by the join loop). */
  pending(waitingFor: string): void {
    this.#progress = { phase: "pending", waitingFor };
  }

  /** catching_up, with why it may wait for good (cleared once a leader reports its commit point). */
  waiting(waitingFor: string): void {
    if (this.#progress.phase === "catching_up") this.#progress = { phase: "catching_up", waitingFor };
  }

  /**
   * A replay pass over `total` entries: returns the pacer to call after each entry (it returns
   * a promise, to await, when the node should yield). Logs the start and end of the pass.
   */
  replay(step: string, total: number): (done: number) => Promise<void> | undefined {
    this.#progress = { phase: "replaying", step, done: 0, total };
    this.#logger.info("replaying", { step, done: 0, total });
    const started = this.#now();
    return (done) => {
      if (done !== total && done % CLOCK_EVERY_ENTRIES !== 0) return undefined;
      this.#progress = { phase: "replaying", step, done, total };
      const now = this.#now();
      if (done === total) {
        this.#logger.info("replayed", { step, total, ms: now - started });
      } else if (now - this.#lastLogMs >= LOG_EVERY_MS) {
        this.#lastLogMs = now;
        this.#logger.info("replaying", { step, done, total });
      }
      if (this.#hook === undefined && now - this.#lastYieldMs < YIELD_EVERY_MS) return undefined;
      this.#lastYieldMs = now;
      return this.#yield();
    };
  }

  async #yield(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.#hook?.(this.#progress);
  }

  /**
   * catching_up → serving: called on every tick with the consensus state. A leader serves at
   * once; a follower once its commit point reaches the leader's as first reported to it (so it
   * holds everything committed before it started; later lag is ordinary replication).
   */
  observe(state: { isLeader: boolean; commitSeqno: number; leaderCommitSeqno: number | null }): void {
    if (this.#progress.phase !== "catching_up") return;
    if (!state.isLeader) {
      if (state.leaderCommitSeqno === null) return;
      this.#target ??= state.leaderCommitSeqno;
      if (state.commitSeqno < this.#target) {
        this.#progress = { phase: "catching_up", done: state.commitSeqno, total: this.#target };
        const now = this.#now();
        if (now - this.#lastLogMs >= LOG_EVERY_MS) {
          this.#lastLogMs = now;
          this.#logger.info("catching up", { done: state.commitSeqno, total: this.#target });
        }
        return;
      }
    }
    this.enter("serving");
  }
}
