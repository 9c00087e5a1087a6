/**
 * How the worker's answers cross (node/execution/serve.ts): value-less answers wait for the end
 * of the turn, and an answer with a value made meanwhile goes out after them in one message; no
 * answer transfers a buffer (a batch's packed write sets and a snapshot read's rows are copied).
 */
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import { describe, it } from "node:test";
import { packItems } from "../../node/execution/pack.js";
import { PROGRESS_SLOTS, type WorkerMessage } from "../../node/execution/protocol.js";
import { DEFAULT_RETENTION } from "../../node/execution/retention.js";
import { serveEngine } from "../../node/execution/serve.js";
import type { SnapshotRows } from "../../node/snapshot/rows.js";
import { DEFAULT_LIMITS } from "../../runtime/sandbox/limits.js";

/**
 * A fresh channel whose `port1` end an engine serves (as the execution worker serves it, after
 * `serve()`, which resolves on its `ready`): `received` collects what it posts, a `replies`
 * message's answers one by one unless `keepBatches`; `next(n)` waits until there are `n`.
 */
function channel(keepBatches = false) {
  const { port1, port2 } = new MessageChannel();
  const received: WorkerMessage[] = [];
  let notify = () => {};
  port2.on("message", (message: WorkerMessage) => {
    if (message.kind === "replies" && !keepBatches) received.push(...message.replies);
    else received.push(message);
    notify();
  });
  const next = async (count: number) => {
    while (received.length < count) await new Promise<void>((resolve) => (notify = resolve));
  };
  const serve = async () => {
    void serveEngine(port1, {
      kvPath: null,
      limits: DEFAULT_LIMITS,
      retention: DEFAULT_RETENTION,
      progress: new SharedArrayBuffer(PROGRESS_SLOTS * Int32Array.BYTES_PER_ELEMENT),
    });
    await next(1);
  };
  return { port1, port2, received, next, serve };
}

describe("serveEngine answers", () => {
  it("applies a request's applyFirst versions just before it; if they fail, the request fails without running", async () => {
    const { port1, port2, received, next, serve } = channel();
    const reply = (id: number) => {
      const found = received.find((m) => m.kind === "reply" && m.id === id);
      assert.ok(found !== undefined && found.kind === "reply", `reply ${id}`);
      return found;
    };
    try {
      await serve();
      // Versions 1 and 2 come with the batch, which then runs from seqno 3.
      port2.postMessage({ id: 1, op: "batch", view: 1, firstSeqno: 3, calls: [], applyFirst: [1, 2] });
      // Version 2 again: refused (versions increase), so the commit does not run.
      port2.postMessage({ id: 2, op: "commit", version: 2, applyFirst: [2] });
      port2.postMessage({ id: 3, op: "commit", version: 4, applyFirst: [4] });
      await next(4);
      const batch = reply(1);
      assert.ok(batch.ok);
      assert.equal(batch.appliedVersion, 2);
      const refused = reply(2);
      assert.ok(!refused.ok);
      assert.equal(refused.error.kind, "assert");
      assert.match(refused.error.message, /applied versions increase/);
      assert.deepEqual([refused.appliedVersion, refused.committedVersion], [2, 0], "nothing committed");
      const committed = reply(3);
      assert.ok(committed.ok);
      assert.deepEqual([committed.appliedVersion, committed.committedVersion], [4, 4]);
    } finally {
      port2.postMessage({ id: 4, op: "close" });
      await next(5);
      port1.close();
      port2.close();
    }
  });

  it("sends a batch answered right after an apply in one message, after the apply's answer", async () => {
    const { port1, port2, received, next, serve } = channel(true);
    try {
      await serve();
      assert.equal(received[0]!.kind, "ready");
      const items = packItems([
        {
          version: 1,
          writeSet: {
            public: [{ map: "public:m", writes: [[Uint8Array.of(1), Uint8Array.of(2)]] }],
            private: [],
          },
        },
      ]);
      port2.postMessage({ id: 1, op: "apply", items: items.items }, items.transfer);
      port2.postMessage({ id: 2, op: "batch", view: 3, firstSeqno: 2, calls: [] });
      await next(2);
      // Nothing else is on its way: a later request's answer is the next message.
      port2.postMessage({ id: 3, op: "get", map: "public:m", key: Uint8Array.of(1) });
      await next(3);
      assert.equal(received.length, 3);
      const merged = received[1]!;
      assert.equal(merged.kind, "replies");
      assert.deepEqual(
        merged.kind === "replies" && merged.replies.map((r) => [r.id, r.ok, r.appliedVersion]),
        [
          [1, true, 1],
          [2, true, 1],
        ],
      );
      const got = received[2]!;
      assert.ok(got.kind === "reply" && got.id === 3 && got.ok);
      assert.deepEqual(got.kind === "reply" && got.ok && got.value, Uint8Array.of(2));
    } finally {
      port2.postMessage({ id: 4, op: "close" });
      await next(4);
      port1.close();
      port2.close();
    }
  });

  it("answers a batch and a snapshot read with their buffers copied: nothing transferred, no ArrayBuffer detached in the worker", async () => {
    const { port1, port2, received, next, serve } = channel();
    // What the worker side posts, and with which transfer lists.
    const posted: { message: WorkerMessage; transfer: readonly unknown[] }[] = [];
    const postMessage = port1.postMessage.bind(port1);
    port1.postMessage = (message: WorkerMessage, transfer?: Parameters<typeof postMessage>[1]) => {
      posted.push({ message, transfer: transfer ?? [] });
      postMessage(message, transfer);
    };
    try {
      await serve();
      const items = packItems([
        {
          version: 1,
          writeSet: {
            public: [{ map: "public:m", writes: [[Uint8Array.of(1), Uint8Array.of(2)]] }],
            private: [{ map: "p", writes: [[Uint8Array.of(3), Uint8Array.of(4)]] }],
          },
        },
      ]);
      port2.postMessage({ id: 1, op: "apply", items: items.items }, items.transfer);
      port2.postMessage({ id: 2, op: "commit", version: 1 });
      port2.postMessage({ id: 3, op: "snapshotRows", version: 1 });
      port2.postMessage({ id: 4, op: "batch", view: 1, firstSeqno: 2, calls: [] });
      await next(5);
      assert.deepEqual(
        posted.map(({ transfer }) => transfer),
        posted.map(() => []),
        "no answer transfers a buffer",
      );
      const batch = received.find((m) => m.kind === "reply" && m.id === 4);
      assert.ok(batch !== undefined && batch.kind === "reply" && batch.ok && batch.batch !== undefined);
      assert.ok(batch.batch.writeSets.bytes instanceof Uint8Array, "the packed write sets crossed (copied)");
      const answer = posted.find(
        ({ message }) =>
          (message.kind === "reply" && message.id === 3) ||
          (message.kind === "replies" && message.replies.some((r) => r.id === 3)),
      );
      assert.ok(answer !== undefined, "the snapshot read was answered");
      assert.deepEqual(answer.transfer, [], "no buffer transferred");
      const reply = received.find((m) => m.kind === "reply" && m.id === 3);
      assert.ok(reply !== undefined && reply.kind === "reply" && reply.ok);
      const rows = reply.value as SnapshotRows;
      assert.equal(rows.version, 1);
      assert.equal(rows.rows, 2);
      assert.ok(rows.publicBytes.length > 0 && rows.privateBytes !== null && rows.privateBytes.length > 0);
    } finally {
      port2.postMessage({ id: 5, op: "close" });
      await next(6);
      port1.close();
      port2.close();
    }
  });
});
