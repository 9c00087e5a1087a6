/**
 * A small, fast, seeded PRNG for the simulator: xoshiro128** (Blackman and Vigna) seeded through
 * splitmix32. Not cryptographic; its only job is to make every run a pure function of its seed.
 */
import { assert } from "../../sdk/assert.js";
import type { Rng } from "../../node/consensus/index.js";

/** One splitmix32 step: a well-mixed 32-bit value from a 32-bit input. */
export function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** xoshiro128**: 128 bits of state, period 2^128 - 1. Implements the core's `Rng`. */
export class Prng implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is any safe integer; both 32-bit halves feed the state. */
  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), "seed is a safe integer");
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    this.s0 = splitmix32(lo ^ splitmix32(hi));
    this.s1 = splitmix32(this.s0);
    this.s2 = splitmix32(this.s1);
    this.s3 = splitmix32(this.s2);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextU32() / 2 ** 32;
  }

  /** An integer in [0, maxExclusive); bias is below 2^-20 for the small bounds the simulator uses. */
  nextInt(maxExclusive: number): number {
    assert(
      Number.isSafeInteger(maxExclusive) && maxExclusive >= 1 && maxExclusive <= 2 ** 20,
      "bound in range",
    );
    return Math.floor(this.nextFloat() * maxExclusive);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.nextInt(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.nextFloat() < p;
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from a non-empty array");
    return items[this.nextInt(items.length)]!;
  }

  /** An independent generator derived from this one (for per-node streams). */
  fork(): Prng {
    return new Prng(this.nextU32() * 2 ** 20 + (this.nextU32() >>> 12));
  }
}
