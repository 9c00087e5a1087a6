/** node/call-seeds.ts: every call gets 32 fresh random bytes of its own, across block refills. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { toHex } from "../../sdk/bytes.js";
import { callSeed, SEED_BYTES } from "../../node/call-seeds.js";

test("seeds are 32 bytes in buffers of their own, never repeated across refills", () => {
  const seen = new Set<string>();
  const seeds: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    const seed = callSeed();
    assert.equal(seed.length, SEED_BYTES);
    assert.equal(seed.byteOffset, 0);
    assert.equal(seed.buffer.byteLength, SEED_BYTES, "not a view of the shared block");
    const hex = toHex(seed);
    assert.ok(!seen.has(hex), "no seed handed out twice");
    seen.add(hex);
    seeds.push(seed);
  }
  // Later refills do not touch seeds already handed out.
  const first = toHex(seeds[0]!);
  for (let i = 0; i < 600; i++) callSeed();
  assert.equal(toHex(seeds[0]!), first);
});
