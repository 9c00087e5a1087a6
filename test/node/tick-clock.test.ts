import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { idleTicksPerFiring, TickClock, TickTimer } from "../../node/tick-clock.js";

describe("TickClock", () => {
  it("runs one tick per period when the timer fires on time, none before the first is due", () => {
    const clock = new TickClock(10, 1000);
    assert.equal(clock.due(1005), 0);
    assert.equal(clock.due(1010), 1);
    assert.equal(clock.due(1020), 1);
    assert.equal(clock.due(1029.9), 0, "a timer firing early waits for the next period");
    assert.equal(clock.due(1030), 1);
  });

  it("keeps time when a loaded machine fires the timer late", () => {
    const clock = new TickClock(10, 0);
    let ticks = 0;
    // Firings every 14 ms for 700 ms: 70 periods, not 50 firings; every 60 ms: 70, not 11.
    for (let t = 14; t <= 700; t += 14) ticks += clock.due(t);
    assert.equal(ticks, 70);
    const slower = new TickClock(10, 0);
    ticks = 0;
    for (let t = 60; t <= 720; t += 60) ticks += slower.due(t);
    assert.equal(ticks, 72);
  });

  it("counts a stall of the process itself as at most maxGapMs of ticks, then paces from there", () => {
    const clock = new TickClock(10, 0, 30);
    assert.equal(clock.maxPerFiring, 3);
    assert.equal(clock.due(10), 1);
    assert.equal(clock.due(600), 3, "a 590 ms freeze is not 59 ticks");
    assert.equal(clock.due(605), 0);
    assert.equal(clock.due(610), 1);
    assert.equal(new TickClock(10, 0).maxPerFiring, 10, "100 ms by default");
    assert.equal(new TickClock(250, 0).maxPerFiring, 1, "always at least one tick");
  });

  it("restarts the pacing when the clock steps back", () => {
    const clock = new TickClock(10, 5000);
    assert.equal(clock.due(5010), 1);
    assert.equal(clock.due(100), 1);
    assert.equal(clock.due(105), 0);
    assert.equal(clock.due(110), 1);
  });
});

describe("TickTimer", () => {
  /** A TickTimer on a fake clock and timer: `advance` fires what came due, in order. */
  function fakeTimer(ticksUntilTimeout: () => number, tickMs = 10) {
    let now = 0;
    const armed: { at: number; fire: () => void; cancelled: boolean }[] = [];
    const log: string[] = [];
    let ticks = 0;
    const timer = new TickTimer({
      clock: new TickClock(tickMs, 0),
      now: () => now,
      tick: () => {
        ticks++;
        log.push(`tick@${now}`);
      },
      afterFiring: () => log.push(`fired@${now}`),
      ticksUntilTimeout,
      setTimer: (fire, ms) => {
        const t = { at: now + ms, fire, cancelled: false };
        armed.push(t);
        return () => {
          t.cancelled = true;
        };
      },
    });
    const advance = (to: number) => {
      for (;;) {
        const next = armed.filter((t) => !t.cancelled && t.at <= to).sort((x, y) => x.at - y.at)[0];
        if (next === undefined) break;
        armed.splice(armed.indexOf(next), 1);
        now = next.at;
        next.fire();
      }
      now = to;
    };
    return {
      timer,
      log,
      advance,
      ticks: () => ticks,
      setNow: (t: number) => {
        now = t;
      },
      pending: () => armed.filter((t) => !t.cancelled).length,
    };
  }

  it("fires every tick while ticks may act", () => {
    const f = fakeTimer(() => 1);
    f.timer.start();
    f.advance(50);
    assert.equal(f.ticks(), 5);
    assert.deepEqual(
      f.log.filter((l) => l.startsWith("fired")),
      ["fired@10", "fired@20", "fired@30", "fired@40", "fired@50"],
    );
  });

  it("while ticks only count, fires every idleTicksPerFiring ticks and runs as many ticks as periods passed", () => {
    const f = fakeTimer(() => 60);
    assert.equal(idleTicksPerFiring(new TickClock(10, 0)), 5, "half of the 10 a firing may make up");
    f.timer.start();
    f.advance(200);
    assert.equal(f.ticks(), 20, "the same ticks as a timer firing every 10 ms");
    assert.deepEqual(
      f.log.filter((l) => l.startsWith("fired")),
      ["fired@50", "fired@100", "fired@150", "fired@200"],
    );
  });

  it("arms for the ticks left before the one that may act when they are fewer than idleTicksPerFiring", () => {
    let left = 60;
    const f = fakeTimer(() => left);
    f.timer.start();
    f.advance(100);
    left = 3; // e.g. a follower three ticks from its election timeout
    f.advance(150); // the firing at 150 was armed while 60 ticks were left
    assert.deepEqual(f.log.slice(-1), ["fired@150"]);
    f.advance(180);
    assert.equal(f.log.at(-1), "fired@180", "armed for 3 ticks later, not 5");
    assert.equal(f.ticks(), 18);
  });

  it("catchUp runs the ticks that came due before the caller's messages; stop cancels the timer", () => {
    const f = fakeTimer(() => 60);
    f.timer.start();
    f.setNow(37);
    f.timer.catchUp();
    assert.equal(f.ticks(), 3, "the ticks due at 10, 20 and 30");
    f.advance(50);
    assert.equal(f.ticks(), 5, "the firing at 50 runs only those due since: 40 and 50");
    f.timer.stop();
    assert.equal(f.pending(), 0);
    f.advance(500);
    f.timer.catchUp();
    assert.equal(f.ticks(), 5, "nothing ticks once stopped");
  });
});
