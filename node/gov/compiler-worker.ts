/** Entry of the compiler thread (see compiler-thread.ts): compiles one request at a time. */
import { parentPort } from "node:worker_threads";
import { isTreatyError } from "../../sdk/errors.js";
import type { CompileReply, CompileRequest } from "./compiler-thread.js";
import { nameThisThread, THREAD_NAMES } from "../thread-name.js";
import { buildContractRecord } from "./contracts.js";

nameThisThread(THREAD_NAMES.compiler);

parentPort!.on("message", ({ id, files }: CompileRequest) => {
  let reply: CompileReply;
  try {
    const { digest, bundle } = buildContractRecord(files, 1);
    reply = { id, ok: true, digest, bundle };
  } catch (err) {
    reply = isTreatyError(err)
      ? {
          id,
          ok: false,
          code: err.code,
          message: err.message,
          ...(err.details && { details: { ...err.details } }),
        }
      : { id, ok: false, code: "Internal", message: "the compiler failed unexpectedly" };
  }
  parentPort!.postMessage(reply);
});
