/**
 * The node's V8 heap settings (node/heap.ts) reach every thread: the `treaty` bin's first line
 * passes MAIN_THREAD_V8_FLAGS to node, the test cluster and `treaty dev` start nodes with them,
 * and the execution and signature-check worker threads are created with WORKER_RESOURCE_LIMITS
 * (a 96 MiB young generation; without it a worker gets V8's default, 48 MiB on 64-bit).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { ExecutionService } from "../../node/execution/service.js";
import { MAIN_THREAD_V8_FLAGS, SEMI_SPACE_MB, WORKER_RESOURCE_LIMITS } from "../../node/heap.js";
import { createLogger, silentLogger } from "../../node/log.js";
import { generateKeyPair, sign } from "../../sdk/keys.js";
import { utf8 } from "../../sdk/bytes.js";
import { createVerifier } from "../../node/verify/index.js";
import { counterBundle, TEST_LIMITS, TempDirs, TestLedger } from "../execution/support.js";

const CLI = fileURLToPath(new URL("../../node/cli.js", import.meta.url));

const dirs = new TempDirs();
after(() => dirs.cleanup());

/** Every worker thread a message is posted to while `run` runs. */
async function workersPostedTo(run: () => Promise<void>): Promise<Set<Worker>> {
  const workers = new Set<Worker>();
  const original = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker["postMessage"]>) {
    workers.add(this);
    original.apply(this, args);
  };
  try {
    await run();
  } finally {
    Worker.prototype.postMessage = original;
  }
  return workers;
}

describe("node heap settings", () => {
  test("the constants: 32 MiB semi-spaces on the main thread and in the workers", () => {
    assert.equal(SEMI_SPACE_MB, 32);
    assert.deepEqual(MAIN_THREAD_V8_FLAGS, ["--max-semi-space-size=32"]);
    assert.deepEqual(WORKER_RESOURCE_LIMITS, { maxYoungGenerationSizeMb: 96 });
  });

  test("the treaty bin starts node with MAIN_THREAD_V8_FLAGS, and runs as an executable", () => {
    const first = readFileSync(CLI, "utf8").split("\n", 1)[0];
    assert.equal(first, `#!/usr/bin/env -S node ${MAIN_THREAD_V8_FLAGS.join(" ")}`);
    // Run through its first line (not `node cli.js`): env -S splits the flags from `node`.
    const help = execFileSync(CLI, ["--help"], { encoding: "utf8" });
    assert.match(help, /node start/);
  });

  test("the execution worker runs with WORKER_RESOURCE_LIMITS' young generation", async () => {
    const ledger = new TestLedger();
    let service: ExecutionService | undefined;
    const workers = await workersPostedTo(async () => {
      service = await ExecutionService.start({
        kvPath: dirs.make(),
        limits: TEST_LIMITS,
        logger: createLogger({ write: () => {} }),
        replaySource: ledger.replaySource,
      });
      await service.loadContract("counter", counterBundle());
    });
    try {
      assert.ok(workers.size >= 1);
      for (const worker of workers) {
        assert.equal(
          worker.resourceLimits?.maxYoungGenerationSizeMb,
          WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb,
        );
      }
    } finally {
      await service?.close();
    }
  });

  test("the signature-check workers run with WORKER_RESOURCE_LIMITS' young generation", async () => {
    const verifier = createVerifier(2, silentLogger);
    try {
      const signer = generateKeyPair("ed25519");
      const workers = await workersPostedTo(async () => {
        const input = utf8.encode("treaty-request-v1\nservice\n/app/log/writePublic\n{}");
        await verifier.verify({
          kind: "key",
          key: { curve: signer.curve, publicKey: signer.publicKey },
          input,
          signature: sign(signer, input),
        });
      });
      assert.ok(workers.size >= 1);
      for (const worker of workers) {
        assert.equal(
          worker.resourceLimits?.maxYoungGenerationSizeMb,
          WORKER_RESOURCE_LIMITS.maxYoungGenerationSizeMb,
        );
      }
    } finally {
      await verifier.close();
    }
  });
});
