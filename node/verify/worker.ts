/**
 * Entry of a verify worker thread (started by VerifierPool from the compiled `worker.js` next to
 * `pool.js`). The loop is in serve.ts.
 */
import { parentPort, workerData } from "node:worker_threads";
import { assert } from "../../sdk/assert.js";
import type { VerifyWorkerInit } from "./protocol.js";
import { nameThisThread, THREAD_NAMES } from "../thread-name.js";
import { serveVerifier } from "./serve.js";

assert(parentPort !== null, "verify worker: started as a worker thread");
nameThisThread(THREAD_NAMES.verify);
serveVerifier(parentPort, new Int32Array((workerData as VerifyWorkerInit).progress));
