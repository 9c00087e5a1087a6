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
