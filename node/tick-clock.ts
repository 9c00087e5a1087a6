/**
 * Paces the consensus core's ticks by the clock rather than by timer firings. On a loaded
 * machine a 10 ms interval timer fires late, often and by tens of ms; counting one tick per
 * firing stretched every election timeout by as much, so a leader's crash was noticed later.
 * Each firing runs the ticks whose time has come, but at most `maxGapMs` worth: a longer gap means
 * this process itself was frozen (a GC pause, SIGSTOP), and the messages that arrived meanwhile
 * are read only after the timers run, so a node must not find its election timeout or its
 * check-quorum round expired by time it could not observe. A clock that steps back restarts the
 * pacing from the new time.
 */
import { assert } from "../sdk/assert.js";

/** Default: a firing makes up for at most 100 ms (10 ticks of 10 ms). */
const DEFAULT_MAX_GAP_MS = 100;

export class TickClock {
  /** Most ticks one firing runs. */
  readonly maxPerFiring: number;
  #next: number;

  /** `now`: the clock at start (ms); the first tick is due `tickMs` later. */
  constructor(
    readonly tickMs: number,
    now: number,
    maxGapMs = DEFAULT_MAX_GAP_MS,
  ) {
    assert(tickMs > 0 && maxGapMs > 0, "a tick clock needs a positive period and allowance");
    this.maxPerFiring = Math.max(1, Math.floor(maxGapMs / tickMs));
    this.#next = now + tickMs;
  }

  /** How many ticks to run at `now`: 0 to `maxPerFiring`. Time beyond that is dropped. */
  due(now: number): number {
    if (now < this.#next - this.tickMs) {
      // The clock stepped back: one tick now, then pace from here.
      this.#next = now + this.tickMs;
      return 1;
    }
    let ticks = 0;
    while (ticks < this.maxPerFiring && now >= this.#next) {
      ticks++;
      this.#next += this.tickMs;
    }
    if (now >= this.#next) this.#next = now + this.tickMs;
    return ticks;
  }
}

/**
 * Most ticks a `TickTimer` leaves to one firing while they only count time: half of what a firing
 * may make up (`maxPerFiring`), so a timer that fires late by up to that much loses no tick.
 */
export function idleTicksPerFiring(clock: TickClock): number {
  return Math.max(1, Math.floor(clock.maxPerFiring / 2));
}

export interface TickTimerOptions {
  readonly clock: TickClock;
  /** The clock, ms (the one `clock` was started with). */
  readonly now: () => number;
  /** Runs one tick of the core. */
  readonly tick: () => void;
  /** After the ticks of a firing (the driver's `process`). */
  readonly afterFiring: () => void;
  /**
   * Ticks from now until the first one that may do more than count time (the core's
   * `ticksUntilTimeout`; 1: every tick may act).
   */
  readonly ticksUntilTimeout: () => number;
  /** Runs `fire` once after `ms` (default `setTimeout`); returns how to cancel it. */
  readonly setTimer?: (fire: () => void, ms: number) => () => void;
}

/**
 * The node's consensus timer. It fires every tick while ticks may act (a candidate's retries, a
 * follower near its election timeout), and otherwise after as many ticks as come before the
 * first one that may act (a follower's election timeout, a leader's next heartbeat round or
 * quorum check), or `idleTicksPerFiring`, whichever is fewer: a follower hearing its leader every
 * few ms had its main thread woken 100 times a second by a 10 ms timer whose ticks only counted
 * (docs/performance.md, "A follower's cost per append at paced load"), and a leader's ticks
 * between heartbeats only count too ("Small leads on the leader's main thread", session 24).
 * The ticks themselves are the same: each firing runs those the clock says are due,
 * and so does `catchUp`, which the driver calls before it steps received messages, so a message
 * that resets the count comes after the ticks whose time came before it, as with a timer firing
 * every tick.
 */
export class TickTimer {
  readonly #o: TickTimerOptions;
  readonly #setTimer: (fire: () => void, ms: number) => () => void;
  #cancel: (() => void) | undefined;
  #stopped = false;

  constructor(options: TickTimerOptions) {
    this.#o = options;
    this.#setTimer =
      options.setTimer ??
      ((fire, ms) => {
        const timer = setTimeout(fire, ms);
        return () => clearTimeout(timer);
      });
  }

  /** Arms the first firing. */
  start(): void {
    this.#arm();
  }

  /** Runs the ticks whose time has come (before a slice of received messages is stepped); none once stopped. */
  catchUp(): void {
    if (this.#stopped) return;
    const { clock, now, tick } = this.#o;
    for (let due = clock.due(now()); due > 0; due--) tick();
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }

  readonly #fire = (): void => {
    this.#cancel = undefined;
    if (this.#stopped) return;
    try {
      this.catchUp();
      this.#o.afterFiring();
    } finally {
      this.#arm();
    }
  };

  /**
   * Arms the next firing `ticks` periods from now, as an interval timer would (not at the clock's
   * next tick time: libuv's timers run on a millisecond clock cached at the start of each loop
   * turn, so a timer aimed at that time often fired a fraction of a millisecond early, found no
   * tick due and had to be armed again, a wake-up more). A firing may so come up to a tick after
   * the tick that may act, as the 10 ms interval's did.
   */
  #arm(): void {
    if (this.#stopped) return;
    const { clock } = this.#o;
    const ticks = Math.min(Math.max(1, this.#o.ticksUntilTimeout()), idleTicksPerFiring(clock));
    this.#cancel = this.#setTimer(this.#fire, ticks * clock.tickMs);
  }
}
