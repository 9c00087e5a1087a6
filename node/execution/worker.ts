/**
 * Entry of the execution worker thread (started by ExecutionService from the compiled
 * `worker.js` next to `service.js`). All the logic is in serve.ts and engine.ts.
 */
import { parentPort, workerData } from "node:worker_threads";
import { assert } from "../../sdk/assert.js";
import type { WorkerInit } from "./protocol.js";
import { nameThisThread, THREAD_NAMES } from "../thread-name.js";
import { serveEngine } from "./serve.js";

assert(parentPort !== null, "execution worker: started as a worker thread");
nameThisThread(THREAD_NAMES.execution);
void serveEngine(parentPort, workerData as WorkerInit);
