/**
 * A control request (one that runs no contract code) whose own deadline killed the execution
 * worker fails with `Unavailable` at once, whatever its kind: the kill is the evidence that it is
 * the request that hangs, and a retry on the restarted worker would most likely hang again,
 * costing a second restart and a second control deadline of stalled execution (on the leader,
 * every write waits behind it). The requests lost with that worker for no fault of their own are
 * retried once on the new worker and complete. (A snapshot read's stall window is the same rule:
 * test/execution/snapshot-read-stall.test.ts.) The real worker, hooked to hang on the next
 * request of an op (fixtures/hooked-worker.ts), with a 3 s control deadline (1 s was met by the requests behind on a loaded machine).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { VersionedWriteSet } from "../../node/execution/protocol.js";
import { ExecutionService } from "../../node/execution/service.js";
import { createLogger } from "../../node/log.js";
import { utf8 } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { TempDirs } from "./support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const HOOKED_WORKER = new URL("./fixtures/hooked-worker.js", import.meta.url);
const CONTROL_DEADLINE_MS = 3000;

/** Counter `key` set to `value` at `version`. */
function counterWrite(version: number, key: string, value: number): VersionedWriteSet {
  return {
    version,
    writeSet: {
      public: [],
      private: [{ map: "counter.counters", writes: [[utf8.encode(key), utf8.encode(String(value))]] }],
    },
  };
}

/** A service on the hooked worker, versions 1 to 3 applied and 1 committed; counts restarts. */
async function hookedService(kvPath: string) {
  const service = await ExecutionService.start({
    kvPath,
    logger: createLogger({ write: () => {} }),
    replaySource: () => [],
    controlDeadlineMs: CONTROL_DEADLINE_MS,
    workerUrl: HOOKED_WORKER,
  });
  await service.apply([1, 2, 3].map((v) => counterWrite(v, "k", v)));
  await service.commit(1);
  const restarts = { count: 0 };
  service.onRestart(() => {
    restarts.count++;
  });
  return { service, restarts };
}

/** The counters in the KV, as text. */
async function counters(service: ExecutionService): Promise<Array<[string, string]>> {
  return (await service.scan("counter.counters")).map(([k, v]) => [utf8.decode(k), utf8.decode(v)]);
}

/** The refusal of a control request `op` whose own deadline killed the worker. */
function ownDeadline(op: string) {
  return (err: unknown) => {
    assert.ok(isTreatyError(err, "Unavailable"), String(err));
    assert.match(
      err.message,
      new RegExp(
        `^${op}: the execution worker was lost \\(it exceeded the request deadline of ${CONTROL_DEADLINE_MS} ms\\)`,
      ),
    );
    return true;
  };
}

describe("a control request whose own deadline killed the worker", () => {
  test("a commit fails with Unavailable, not retried; the apply and commit behind it are retried and land", async () => {
    const kvPath = dirs.make();
    const { service, restarts } = await hookedService(kvPath);
    try {
      writeFileSync(join(kvPath, "hang-next-commit"), "");
      const hung = service.commit(2);
      const behind = [service.apply([counterWrite(4, "k", 4)]), service.commit(4)];
      await assert.rejects(hung, ownDeadline("commit"));
      await Promise.all(behind);
      assert.equal(restarts.count, 1, "one restart: the commit was not sent again");
      assert.equal(service.stats().restarts, 1);
      assert.equal(service.committedVersion, 4);
      assert.deepEqual(await counters(service), [["k", "4"]]);
    } finally {
      await service.close();
    }
  });

  test("a read (scan) fails with Unavailable, not retried; the service serves the next one", async () => {
    const kvPath = dirs.make();
    const { service, restarts } = await hookedService(kvPath);
    try {
      writeFileSync(join(kvPath, "hang-next-scan"), "");
      await assert.rejects(service.scan("counter.counters"), ownDeadline("scan"));
      assert.equal(restarts.count, 1);
      assert.deepEqual(await counters(service), [["k", "3"]]);
      assert.equal(restarts.count, 1);
    } finally {
      await service.close();
    }
  });

  test("committedMaps fails with Unavailable, not retried; a commit queued behind it runs on the new worker", async () => {
    const kvPath = dirs.make();
    const { service, restarts } = await hookedService(kvPath);
    try {
      writeFileSync(join(kvPath, "hang-next-committedMaps"), "");
      const hung = service.committedMaps("counter.");
      const behind = service.commit(3);
      await assert.rejects(hung, ownDeadline("committedMaps"));
      await behind;
      assert.equal(restarts.count, 1);
      assert.equal(service.committedVersion, 3);
      assert.equal((await service.committedMaps("counter.")).version, 3);
    } finally {
      await service.close();
    }
  });
});
