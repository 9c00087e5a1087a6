/**
 * The 32-byte random seed of each contract call (its host randomness, recorded in the ledger
 * entry), cut from a block of CSPRNG output filled once per `SEEDS_PER_FILL` calls: one
 * `randomFillSync` per block instead of a `randomBytes` call (and its Buffer) per call, which
 * cost the leader's main thread ~3 µs per write. Each seed is its own copy: nothing outside the
 * call shares its buffer, and a block's bytes are handed out once.
 */
import { randomFillSync } from "node:crypto";

export const SEED_BYTES = 32;
const SEEDS_PER_FILL = 256;

const block = new Uint8Array(SEED_BYTES * SEEDS_PER_FILL);
let next = block.length;

/** A fresh 32-byte random seed. */
export function callSeed(): Uint8Array {
  if (next === block.length) {
    randomFillSync(block);
    next = 0;
  }
  const seed = block.slice(next, next + SEED_BYTES);
  // Handed out once: the block's copy is cleared, so no later reader of the block sees it.
  block.fill(0, next, next + SEED_BYTES);
  next += SEED_BYTES;
  return seed;
}
