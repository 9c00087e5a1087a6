/**
 * A prune pass rides on a signed call's transaction, but never changes the call's outcome: a call
 * whose own writes fit the transaction write limit (MAX_TX_WRITE_BYTES) succeeds whether or not a
 * pass is due, and the pass forgets only what still fits beside the call's writes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ExecutionEngine } from "../../node/execution/engine.js";
import { NONCE_PRUNE_SLACK_MS } from "../../node/execution/nonces.js";
import { INTERNAL, readTableValue, SINGLETON_KEY, tableKey } from "../../node/gov/tables.js";
import type { WriteSet } from "../../runtime/kv/types.js";
import { MAX_TX_WRITE_BYTES, WRITE_OVERHEAD_BYTES } from "../../runtime/sandbox/limits.js";
import { blobBundle, call, counterBundle, okResult, TEST_LIMITS } from "./support.js";

const T0 = 1_700_000_000_000;
const WINDOW_MS = 60_000;
const COPIES = 3;
const TEXT = "t".repeat(300_000);

/** What a write set counts against MAX_TX_WRITE_BYTES (runtime/executor/runtime.ts). */
function writeSetBytes(writeSet: WriteSet): number {
  let bytes = 0;
  for (const maps of [writeSet.public, writeSet.private]) {
    for (const { map, writes } of maps) {
      bytes += Buffer.byteLength(map);
      for (const [key, value] of writes) bytes += key.length + (value?.length ?? 0) + WRITE_OVERHEAD_BYTES;
    }
  }
  return bytes;
}

function horizon(engine: ExecutionEngine): number | undefined {
  const row = engine.get(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY));
  return row === undefined ? undefined : readTableValue<{ throughMs: number }>(row).throughMs;
}

describe("a prune pass and the transaction write limit", () => {
  let engine: ExecutionEngine;
  before(async () => {
    engine = await ExecutionEngine.open({
      kvPath: null,
      limits: TEST_LIMITS,
      retention: { nonceMs: WINDOW_MS },
    });
    await engine.loadContract("counter", counterBundle());
    await engine.loadContract("blob", blobBundle());
  });
  after(() => engine.close());

  function run(nonce: string, timeMs: number, args: unknown, contract = "blob", method = "fill") {
    const [result] = engine.executeBatch(1, engine.appliedVersion + 1, [
      call(contract, method, args, { nonce, timeMs, createdMs: timeMs }),
    ]);
    return result!;
  }

  test("a call writing just under the limit succeeds when a pass is due, and the pass waits", () => {
    // Nonces that will have expired, by distinct callers' calls (so the pass has rows to forget).
    for (let i = 0; i < 40; i++) okResult(run(`old-${i}`, T0 + i, { key: "k", by: 1 }, "counter", "add"));
    // The size of a fill call with no `extra`, measured while no pass is due.
    const probe = okResult(run("probe-000", T0 + 100, { text: TEXT, copies: COPIES, extra: "" }));
    const probeBytes = writeSetBytes(probe.writeSet);
    // `extra` fills what is left but 8 bytes: far less than any pass would add.
    const extra = "e".repeat(MAX_TX_WRITE_BYTES - probeBytes - 8);
    const late = T0 + WINDOW_MS + 10 * NONCE_PRUNE_SLACK_MS;
    const big = run("large-00", late, { text: TEXT, copies: COPIES, extra });
    assert.equal(
      big.ok,
      true,
      `the call fits the limit on its own: ${JSON.stringify(big.ok ? "" : big.error)}`,
    );
    assert.ok(writeSetBytes(okResult(big).writeSet) <= MAX_TX_WRITE_BYTES);
    assert.equal(horizon(engine), undefined, "no room for the pass: it did not run");
    // The next call has room, and prunes.
    okResult(run("small-00", late, { key: "k", by: 1 }, "counter", "add"));
    assert.equal(horizon(engine), T0 + 100, "the old nonces and the probe's");
  });

  test("a call over the limit on its own still fails with PayloadTooLarge", () => {
    const late = T0 + 2 * WINDOW_MS;
    const probe = okResult(run("probe-001", late, { text: TEXT, copies: COPIES, extra: "" }));
    const extra = "e".repeat(MAX_TX_WRITE_BYTES - writeSetBytes(probe.writeSet) + 1);
    const over = run("over-000", late, { text: TEXT, copies: COPIES, extra });
    assert.equal(over.ok ? "ok" : over.error.code, "PayloadTooLarge");
  });
});
