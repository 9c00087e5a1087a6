/**
 * How the worker's answers cross (node/execution/serve.ts): value-less answers wait for the end
 * of the turn, and an answer with a value made meanwhile goes out after them in one message.
 */
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import { describe, it } from "node:test";
import { packItems } from "../../node/execution/pack.js";
import { PROGRESS_SLOTS, type WorkerMessage } from "../../node/execution/protocol.js";
import { DEFAULT_RETENTION } from "../../node/execution/retention.js";
import { serveEngine } from "../../node/execution/serve.js";
import { DEFAULT_LIMITS } from "../../runtime/sandbox/limits.js";

describe("serveEngine answers", () => {
  it("sends a batch answered right after an apply in one message, after the apply's answer", async () => {
    const { port1, port2 } = new MessageChannel();
    const received: WorkerMessage[] = [];
    let notify = () => {};
    port2.on("message", (message: WorkerMessage) => {
      received.push(message);
      notify();
    });
    const next = async (count: number) => {
      while (received.length < count) await new Promise<void>((resolve) => (notify = resolve));
    };
    try {
      void serveEngine(port1, {
        kvPath: null,
        limits: DEFAULT_LIMITS,
        retention: DEFAULT_RETENTION,
        progress: new SharedArrayBuffer(PROGRESS_SLOTS * Int32Array.BYTES_PER_ELEMENT),
      });
      await next(1);
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
});
