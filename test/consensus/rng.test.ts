import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsensusNode, bootstrapState, cryptoRng } from "../../node/consensus/index.js";

test("cryptoRng stays in range, covers it, and drives a real node", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) {
    const x = cryptoRng.nextInt(7);
    assert.ok(Number.isInteger(x) && x >= 0 && x < 7);
    seen.add(x);
  }
  assert.equal(seen.size, 7);
  assert.equal(cryptoRng.nextInt(1), 0);
  assert.throws(() => cryptoRng.nextInt(0));
  const node = new ConsensusNode({ id: "a", rng: cryptoRng }, bootstrapState(["a"]));
  for (let i = 0; i < 40 && node.status().role !== "Leader"; i++) node.tick();
  assert.equal(node.status().role, "Leader");
});
