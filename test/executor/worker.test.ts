/**
 * The runtime works inside a worker_thread, and terminating the worker stops a call that no
 * in-runtime limit would stop soon (the node's watchdog backstop).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import type { CallOutcome, ContractCall } from "../../runtime/executor.js";
import { guestBundle } from "../sandbox/guest.js";
import { TEST_LIMITS } from "../sandbox/harness.js";

const BUNDLE = guestBundle({
  write: '(args, ctx, host) => { host.kvSet("m", "k", JSON.stringify(args.v)); return args.v; }',
  spin: "() => { for (;;) {} }",
});

const call = (method: string, args: unknown): ContractCall => ({
  contract: "w",
  method,
  args,
  caller: { id: "u", role: "user" },
  txid: "1.1",
  timeMs: 0,
  seed: new Uint8Array(32),
});

async function startWorker(limits: unknown): Promise<Worker> {
  const worker = new Worker(new URL("./worker-main.js", import.meta.url), {
    workerData: { bundle: BUNDLE, limits },
  });
  const [first] = (await once(worker, "message")) as [unknown];
  assert.equal(first, "ready");
  return worker;
}

describe("the runtime in a worker_thread", () => {
  it("runs calls and returns outcomes with write sets", async () => {
    const worker = await startWorker(TEST_LIMITS);
    try {
      worker.postMessage(call("write", { v: 42 }));
      assert.equal((await once(worker, "message"))[0], "running");
      const [outcome] = (await once(worker, "message")) as [CallOutcome];
      assert.ok(outcome.ok);
      assert.equal(outcome.result, 42);
      assert.deepEqual(
        outcome.writeSet.private.map((w) => w.map),
        ["w.m"],
      );
      worker.postMessage(call("spin", {}));
      await once(worker, "message");
      const [limited] = (await once(worker, "message")) as [CallOutcome];
      assert.deepEqual(limited.ok ? undefined : limited.error.code, "ExecutionLimit");
    } finally {
      await worker.terminate();
    }
  });

  it("terminating the worker stops a call the limits would let run for minutes", async () => {
    const worker = await startWorker({ ...TEST_LIMITS, executionBudget: 1e12, wallClockMs: 600_000 });
    const exited = once(worker, "exit");
    worker.postMessage(call("spin", {}));
    assert.equal((await once(worker, "message"))[0], "running");
    const code = await worker.terminate();
    assert.equal(code, 1);
    await exited;
  });
});
