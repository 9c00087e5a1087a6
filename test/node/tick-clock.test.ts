import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TickClock } from "../../node/tick-clock.js";

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
