/**
 * A worker asked to `close` ends on its own once it has closed the KV (serve.ts), and the main
 * thread may see that exit before the close's reply (Node delivers a worker's last messages with
 * its exit, in one go): a clean stop, not a crash, so nothing is logged at error level. A worker
 * that ends unasked is still a crash. The real worker, hooked to end at the next request of an op
 * (fixtures/hooked-worker.ts).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ExecutionService } from "../../node/execution/service.js";
import { createLogger } from "../../node/log.js";
import { TempDirs } from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const HOOKED_WORKER = new URL("./fixtures/hooked-worker.js", import.meta.url);

/** A service on the hooked worker over a KV in a temp dir, logging into `lines`. */
async function hookedService(lines: string[]): Promise<{ service: ExecutionService; kvPath: string }> {
  const kvPath = dirs.make();
  const service = await ExecutionService.start({
    kvPath,
    logger: createLogger({ write: (line) => lines.push(line) }),
    replaySource: () => [],
    workerUrl: HOOKED_WORKER,
  });
  return { service, kvPath };
}

/** The JSON log lines at level error. */
function errors(lines: readonly string[]): string[] {
  return lines.filter((line) => (JSON.parse(line) as { level?: unknown }).level === "error");
}

describe("ExecutionService close", () => {
  test("a worker that ends once asked to close, before its reply is seen, logs no error", async () => {
    const lines: string[] = [];
    const { service, kvPath } = await hookedService(lines);
    writeFileSync(join(kvPath, "exit-next-close"), "");
    await service.close();
    assert.deepEqual(errors(lines), []);
  });

  test("a worker that ends unasked is logged as crashed", async () => {
    const lines: string[] = [];
    const { service, kvPath } = await hookedService(lines);
    try {
      writeFileSync(join(kvPath, "exit-next-scan"), "");
      // Retried on the restarted worker or failed: either way the exit was a crash.
      await service.scan("counter.counters").catch(() => undefined);
      assert.ok(
        errors(lines).some((line) => line.includes("execution worker crashed")),
        lines.join("\n"),
      );
    } finally {
      await service.close();
    }
  });
});
