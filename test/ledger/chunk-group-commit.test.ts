/**
 * Group commit on the chunked store: `ChunkedLedgerStore.appendAsync` resolves only once its
 * bytes are in the files (a second store opened from them sees the batch), resolves in call
 * order, serves records not yet durable from memory, and orders truncations, chunk rotation and
 * commits behind the writes in flight (checked against the in-memory store as a model).
 */
import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AssertionFailure } from "../../sdk/assert.js";
import { compact, type DiskFile, type FileOp } from "../../runtime/ledger/chunk-io.js";
import { type LedgerRecord, MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { batch, openSmall, record } from "./records.js";
import { withTempDir } from "../support/temp-dir.js";

const withDir = (body: (dir: string) => Promise<void>) => withTempDir("treaty-chunk-group-", body);

function summary(records: Iterable<LedgerRecord>): string[] {
  return [...records].map((r) => `${r.seqno}/${r.view}/${Buffer.from(r.bytes).toString("hex").slice(0, 16)}`);
}

describe("ChunkedLedgerStore.appendAsync", () => {
  it("resolves each batch only once its bytes are in the files, in call order", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      const resolved: number[] = [];
      const batches: Promise<void>[] = [];
      let next = 1;
      for (let i = 0; i < 12; i++) {
        const records = batch(next, 1 + (i % 4));
        next += records.length;
        const last = records.at(-1)!.seqno;
        batches.push(
          store.appendAsync(records).then(() => {
            resolved.push(last);
            // Read back from the files by a second store, at the moment of resolution.
            const reader = openSmall(dir, true);
            try {
              assert.ok(reader.lastSeqno >= last, `batch ending at ${last} is in the files`);
              assert.deepEqual(summary(reader.range(1, last)), summary(batch(1, last)));
            } finally {
              void reader.close();
            }
          }),
        );
        // Not yet durable, but readable from the live store (the node replicates them at once).
        assert.equal(store.lastSeqno, last);
        assert.deepEqual(summary(store.range(1)), summary(batch(1, last)));
        assert.deepEqual(summary([store.get(last)!]), summary([record(last)]));
      }
      assert.throws(() => store.append(batch(next, 1)), AssertionFailure);
      await Promise.all(batches);
      store.append(batch(next, 1)); // nothing pending once the last batch resolved
      next++;
      assert.deepEqual(
        resolved,
        [...resolved].sort((a, b) => a - b),
      );
      assert.ok(store.files().length > 3, "the batches rotated through several chunks");
      await store.close();

      const reopened = openSmall(dir);
      assert.deepEqual(summary(reopened.range(1)), summary(batch(1, next - 1)));
      await reopened.close();
    }));

  it("queues truncations, commits and chunk rotation behind writes in flight", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      store.append(batch(1, 4));
      const first = store.appendAsync(batch(5, 4)); // closes 4-6, opens 7
      store.truncate(6); // into the batch in flight: reopens the closed chunk as the tail
      assert.equal(store.lastSeqno, 5);
      assert.equal(store.get(6), undefined);
      const second = store.appendAsync(batch(6, 5, 2));
      store.markCommitted(3); // chunk 1-3 was closed by the synchronous append
      assert.deepEqual(summary(store.range(1)), summary([...batch(1, 5), ...batch(6, 5, 2)]));
      await first;
      await second;
      assert.deepEqual(
        store.files().map((f) => `${f.name}:${f.state}`),
        [
          "ledger_1-3.chunk:committed",
          "ledger_4-6.uncommitted:closed",
          "ledger_7-9.uncommitted:closed",
          "ledger_10.open:open",
        ],
      );
      await store.close(); // waits for the commit queued behind the second batch
      assert.deepEqual(readdirSync(dir).sort(), [
        "ledger_1-3.chunk",
        "ledger_10.open",
        "ledger_4-6.uncommitted",
        "ledger_7-9.uncommitted",
      ]);
      const reopened = openSmall(dir);
      assert.deepEqual(summary(reopened.range(1)), summary([...batch(1, 5), ...batch(6, 5, 2)]));
      await reopened.close();
    }));

  it("a rebase behind writes in flight drops them and continues after the base", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      const cut = store.appendAsync(batch(1, 7));
      store.rebase(20);
      const after = store.appendAsync(batch(21, 2, 3));
      assert.equal(store.get(5), undefined);
      await Promise.all([cut, after]);
      await store.close();
      const reopened = openSmall(dir);
      assert.equal(reopened.baseSeqno, 20);
      assert.deepEqual(summary(reopened.range(1)), summary(batch(21, 2, 3)));
      await reopened.close();
    }));

  it("a failed write rejects the batch and every later one, and stops synchronous writes", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      await store.appendAsync(batch(1, 3)); // closes chunk 1-3; the next batch creates a file
      rmSync(dir, { recursive: true, force: true });
      const failed = store.appendAsync(batch(4, 1));
      const later = store.appendAsync(batch(5, 1));
      await assert.rejects(failed, { code: "ENOENT" });
      await assert.rejects(later, { code: "ENOENT" });
      await assert.rejects(store.appendAsync(batch(6, 1)), { code: "ENOENT" });
      assert.throws(() => store.truncate(2), { code: "ENOENT" });
      await store.close();
    }));

  it("matches the in-memory store under random appends, truncations, commits and waits", async () => {
    type Step =
      | { kind: "append"; count: number }
      | { kind: "truncate"; back: number }
      | { kind: "commit" }
      | { kind: "wait" };
    const step: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({ kind: fc.constant("append" as const), count: fc.integer({ min: 0, max: 5 }) }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant("truncate" as const),
          back: fc.integer({ min: 0, max: 6 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("commit" as const) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("wait" as const) }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 25 }), (steps) =>
        withDir(async (dir) => {
          const store = openSmall(dir);
          const model = new MemoryLedgerStore();
          const pending: Promise<void>[] = [];
          const order: number[] = [];
          let view = 1;
          // Highest seqno known durable (as the ledger counts it) and the commit floor.
          let durable = 0;
          let committed = 0;
          for (const s of steps) {
            if (s.kind === "append") {
              const records = batch(model.lastSeqno + 1, s.count, view);
              model.append(records);
              const index = pending.length;
              const last = model.lastSeqno;
              pending.push(
                store.appendAsync(records).then(() => {
                  order.push(index);
                  durable = Math.max(durable, Math.min(last, model.lastSeqno));
                  // Reads at this moment: the batches still in flight come from memory.
                  assert.deepEqual(summary(store.range(1)), summary(model.range(1)));
                }),
              );
            } else if (s.kind === "truncate") {
              const from = Math.max(committed + 1, model.lastSeqno - s.back);
              if (from > model.lastSeqno) continue;
              model.truncate(from);
              store.truncate(from);
              durable = Math.min(durable, from - 1);
              view++;
            } else if (s.kind === "commit") {
              committed = durable;
              store.markCommitted(committed);
            } else {
              await pending.at(-1);
            }
            assert.equal(store.lastSeqno, model.lastSeqno);
            assert.deepEqual(summary(store.range(1)), summary(model.range(1)));
          }
          await Promise.all(pending);
          assert.deepEqual(
            order,
            [...order].sort((a, b) => a - b),
            "batches resolve in call order",
          );
          await store.close();
          const reopened = openSmall(dir);
          try {
            assert.deepEqual(summary(reopened.range(1)), summary(model.range(1)));
          } finally {
            await reopened.close();
          }
        }),
      ),
      { numRuns: 40 },
    );
  });
});

describe("chunk file operations: compact", () => {
  const file: DiskFile = { name: "ledger_1.open", fd: 3 };
  const other: DiskFile = { name: "ledger_4.open", fd: 4 };
  const bytes = (...values: number[]) => new Uint8Array(values);
  const done = (name: string, log: string[]): FileOp => ({
    kind: "done",
    resolve: () => log.push(name),
    reject: () => undefined,
  });
  const shape = (ops: readonly FileOp[]) =>
    ops.map((op) =>
      op.kind === "write" ? `write ${op.file.name}@${op.position}:${[...op.bytes].join(",")}` : op.kind,
    );

  it("merges contiguous writes of a round into one write and one sync, the dones after it", () => {
    const log: string[] = [];
    const ops = compact([
      { kind: "write", file, position: 10, bytes: bytes(1, 2) },
      { kind: "datasync", file },
      done("a", log),
      { kind: "write", file, position: 12, bytes: bytes(3) },
      { kind: "datasync", file },
      done("b", log),
    ]);
    assert.deepEqual(shape(ops), ["write ledger_1.open@10:1,2,3", "datasync", "done", "done"]);
    for (const op of ops) if (op.kind === "done") op.resolve();
    assert.deepEqual(log, ["a", "b"]);
  });

  it("never moves a write or a done across a barrier, another file or a gap", () => {
    const log: string[] = [];
    const ops = compact([
      { kind: "write", file, position: 10, bytes: bytes(1) },
      { kind: "datasync", file },
      { kind: "close", file },
      { kind: "rename", file, name: "ledger_1-3.uncommitted" },
      { kind: "syncDir" },
      done("a", log),
      { kind: "write", file: other, position: 0, bytes: bytes(2) },
      { kind: "write", file: other, position: 5, bytes: bytes(3) },
      { kind: "datasync", file: other },
      done("b", log),
    ]);
    assert.deepEqual(shape(ops), [
      "write ledger_1.open@10:1",
      "datasync",
      "close",
      "rename",
      "syncDir",
      "done",
      "write ledger_4.open@0:2",
      "write ledger_4.open@5:3",
      "datasync",
      "done",
    ]);
  });
});
