/**
 * `ExecutionService.onRestart`: its handler runs once per restarted worker, once that worker is
 * ready (the node retries its failed governance loads then, node/gov/load-retry.ts), and not for
 * the first start.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { ExecutionService } from "../../node/execution/service.js";
import { createLogger } from "../../node/log.js";
import { call, codeOf, counterBundle, okResult, TEST_LIMITS, TempDirs, TestLedger } from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

test("onRestart runs once per restarted worker, when it serves", async () => {
  const ledger = new TestLedger();
  const service = await ExecutionService.start({
    kvPath: dirs.make(),
    limits: TEST_LIMITS,
    logger: createLogger({ write: () => {} }),
    replaySource: ledger.replaySource,
    workerUrl: new URL("./fixtures/hooked-worker.js", import.meta.url),
  });
  try {
    const seen: number[] = [];
    service.onRestart(() => seen.push(service.stats().restarts));
    await service.loadContract("counter", counterBundle());
    ledger.record(await service.executeBatch(1, 1, [call("counter", "add", { key: "a", by: 1 })]));
    assert.deepEqual(seen, [], "no restart yet");
    // `explode`: the hooked worker exits before the call runs (a crash).
    const results = await service.executeBatch(1, 2, [call("counter", "explode", { key: "a" })]);
    assert.deepEqual(results.map(codeOf), ["ExecutionLimit"]);
    assert.deepEqual(seen, [1], "called once, after the restart was counted");
    // The restarted worker serves (its contracts reloaded) when the handler has run.
    assert.equal(okResult(await service.read(call("counter", "get", { key: "a" }))).result, 1);
  } finally {
    await service.close();
  }
});
