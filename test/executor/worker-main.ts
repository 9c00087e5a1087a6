/**
 * A ContractRuntime inside a worker_thread, as the node runs it (its watchdog can terminate the
 * worker). Loads `workerData.bundle` as contract "w", posts "ready", then runs every call it is
 * sent and posts the outcome; posts "running" before each call so a test can time a terminate.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type ContractCall, ContractRuntime, resolveLimits } from "../../runtime/executor.js";
import { KvStore } from "../../runtime/kv/store.js";

// Outside a worker (e.g. a runner picking up every file under test/) there is nothing to do.
if (parentPort !== null) {
  const port = parentPort;
  const { bundle, limits } = workerData as { bundle: string; limits: unknown };
  const runtime = await ContractRuntime.create({ limits: resolveLimits(limits) });
  runtime.load("w", bundle);
  const store = KvStore.open(null);
  port.on("message", (call: ContractCall) => {
    port.postMessage("running");
    port.postMessage(runtime.execute(call, store.begin()));
  });
  port.postMessage("ready");
}
