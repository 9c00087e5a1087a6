import assert from "node:assert/strict";
import { test } from "node:test";
import { Prng, splitmix32 } from "./prng.js";

test("the same seed yields the same stream; different seeds differ", () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const sa = Array.from({ length: 64 }, () => a.nextU32());
  const sb = Array.from({ length: 64 }, () => b.nextU32());
  const sc = Array.from({ length: 64 }, () => c.nextU32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  assert.ok(sa.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32));
});

test("both halves of a large seed matter", () => {
  assert.notEqual(new Prng(2 ** 32 + 1).nextU32(), new Prng(1).nextU32());
  assert.notEqual(splitmix32(0), splitmix32(1));
});

test("nextInt, between and pick stay in range and cover it", () => {
  const rng = new Prng(7);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const x = rng.nextInt(10);
    assert.ok(Number.isInteger(x) && x >= 0 && x < 10);
    seen.add(x);
    const y = rng.between(3, 5);
    assert.ok(y >= 3 && y <= 5);
  }
  assert.equal(seen.size, 10);
  assert.throws(() => rng.nextInt(0));
  assert.throws(() => rng.pick([]));
  assert.equal(rng.pick(["only"]), "only");
});

test("chance follows its probability roughly (a wide band; this is no statistics test)", () => {
  const rng = new Prng(9);
  let hits = 0;
  for (let i = 0; i < 10_000; i++) if (rng.chance(0.3)) hits++;
  assert.ok(hits > 2500 && hits < 3500, `hits=${hits}`);
  assert.equal(rng.chance(0), false);
});

test("forks are deterministic and independent of later parent draws", () => {
  const parent1 = new Prng(5);
  const parent2 = new Prng(5);
  const f1 = parent1.fork();
  const f2 = parent2.fork();
  parent1.nextU32();
  assert.equal(f1.nextU32(), f2.nextU32());
  assert.notEqual(new Prng(5).fork().nextU32(), new Prng(5).nextU32());
});
