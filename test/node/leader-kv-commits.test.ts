/**
 * A leader's KV commit requests are paced like a follower's (node/replica-batch.ts): at most one
 * per `KV_COMMIT_REQUEST_INTERVAL_MS` (or per `KV_COMMIT_REQUEST_ENTRIES` entries), not one per
 * consensus commit. Before, the leader's replica flushed everything it held before each of its
 * own sends, a held-back KV commit included, so every Ready after a commit posted a commit to the
 * execution worker (and the KV wrote to LMDB every 20 ms).
 *
 * The bound is the pacing rule itself (requests per elapsed interval), not a speed: a slower
 * machine only makes fewer requests.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { KV_COMMIT_REQUEST_INTERVAL_MS } from "../../node/replica-batch.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("a leader's KV commits", () => {
  let net: TestNode;
  before(async () => {
    net = await startTestNode();
  });
  after(async () => {
    await net?.dispose();
  });

  it("are requested at most once per request interval while writes commit one by one", async () => {
    const client = net.client();
    // Warm: contracts loaded, a first commit made.
    const first = await client.call("log", "writePublic", { id: 0, msg: "warm" });
    await client.waitForCommit(first.txid, { pollMs: 2 });
    let commits = 0;
    const original = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker["postMessage"]>) {
      if ((args[0] as { op?: string } | undefined)?.op === "commit") commits++;
      original.apply(this, args);
    };
    const writes = 40;
    const started = performance.now();
    try {
      for (let i = 1; i <= writes; i++) {
        const { txid } = await client.call("log", "writePublic", { id: i, msg: `m${i}` });
        await client.waitForCommit(txid, { pollMs: 2 });
      }
    } finally {
      Worker.prototype.postMessage = original;
    }
    const elapsed = performance.now() - started;
    // Each write committed on its own (one consensus commit each), so one request per commit
    // would make `writes` of them. Paced, the replica decides at most one per interval; one more
    // for a decision made before `started` and posted after it.
    const bound = Math.floor(elapsed / KV_COMMIT_REQUEST_INTERVAL_MS) + 2;
    assert.ok(
      commits <= bound,
      `${commits} KV commit requests for ${writes} commits in ${Math.round(elapsed)} ms (at most ${bound})`,
    );
  });
});
