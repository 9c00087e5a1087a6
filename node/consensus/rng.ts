/**
 * The `Rng` for real nodes: uniform integers from the platform CSPRNG (`crypto.getRandomValues`,
 * a global in Node and browsers). Entry points hand it to `ConsensusNode`; the core itself never
 * reaches for randomness. Tests and the simulator pass seeded generators instead.
 */
import { assert } from "../../sdk/assert.js";
import type { Rng } from "./types.js";

const buffer = new Uint32Array(1);

/** Uniform in [0, maxExclusive) by rejection sampling (no modulo bias). */
export const cryptoRng: Rng = {
  nextInt(maxExclusive: number): number {
    assert(
      Number.isSafeInteger(maxExclusive) && maxExclusive >= 1 && maxExclusive <= 2 ** 32,
      "bound in range",
    );
    const limit = 2 ** 32 - (2 ** 32 % maxExclusive);
    for (let attempt = 0; attempt < 64; attempt++) {
      globalThis.crypto.getRandomValues(buffer);
      const x = buffer[0]!;
      if (x < limit) return x % maxExclusive;
    }
    assert(false, "the CSPRNG returned 64 values in the rejected tail");
  },
};
