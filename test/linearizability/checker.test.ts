/**
 * The linearizability checker on hand-made histories: ones that must pass, ones that must fail
 * (stale reads, reads from the future, values no write produced, a dirty read), and a property
 * test: histories generated from a real sequential execution always pass, and corrupting one
 * read of such a history to a value that was never current is caught.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  checkHistory,
  checkRegister,
  type HistoryRecord,
  type ReadRecord,
  type RegisterOp,
  type WriteRecord,
} from "./checker.js";

const w = (value: string, invokeMs: number, completeMs: number): RegisterOp => ({
  kind: "write",
  value,
  invokeMs,
  completeMs,
});
const r = (value: string | null, invokeMs: number, completeMs: number): RegisterOp => ({
  kind: "read",
  value,
  invokeMs,
  completeMs,
});
const INF = Number.POSITIVE_INFINITY;

test("linearizable register histories pass", () => {
  assert.deepEqual(checkRegister([]), { ok: true });
  assert.deepEqual(checkRegister([r(null, 0, 1)]), { ok: true }, "initially absent");
  assert.deepEqual(checkRegister([w("a", 0, 1), r("a", 2, 3)]), { ok: true });
  // Concurrent write and read: the read may see either value.
  assert.deepEqual(checkRegister([w("a", 0, 1), w("b", 2, 6), r("a", 3, 4)]), { ok: true });
  assert.deepEqual(checkRegister([w("a", 0, 1), w("b", 2, 6), r("b", 3, 4)]), { ok: true });
  // Two overlapping writes, later reads agree on one order.
  assert.deepEqual(checkRegister([w("a", 0, 5), w("b", 1, 4), r("a", 6, 7), r("a", 8, 9)]), { ok: true });
  // A write with an unknown outcome may take effect late, or never.
  assert.deepEqual(checkRegister([w("a", 0, 1), w("x", 2, INF), r("a", 3, 4), r("x", 5, 6)]), { ok: true });
  assert.deepEqual(checkRegister([w("a", 0, 1), w("x", 2, INF), r("a", 3, 4), r("a", 5, 6)]), { ok: true });
});

test("non-linearizable register histories fail, naming the operation", () => {
  // A stale read: b completed before the read began.
  const stale = checkRegister([w("a", 0, 1), w("b", 2, 3), r("a", 4, 5)]);
  assert.equal(stale.ok, false);
  assert.match((stale as { message: string }).message, /not linearizable/);
  // A read from the future: it returned before the write was invoked.
  assert.equal(checkRegister([r("a", 0, 1), w("a", 2, 3)]).ok, false);
  // A value nobody wrote.
  assert.equal(checkRegister([w("a", 0, 1), r("z", 2, 3)]).ok, false);
  // Two reads disagreeing on the order of two concurrent writes.
  assert.equal(
    checkRegister([w("a", 0, 10), w("b", 0, 10), r("a", 11, 12), r("b", 13, 14), r("a", 15, 16)]).ok,
    false,
  );
  // A value read, then an older one, with no write in between.
  assert.equal(checkRegister([w("a", 0, 1), w("b", 2, 3), r("b", 4, 5), r("a", 6, 7)]).ok, false);
  // Absent again after a completed write.
  assert.equal(checkRegister([w("a", 0, 1), r(null, 2, 3)]).ok, false);
});

test("bad input is refused, and the search is bounded", () => {
  assert.throws(() => checkRegister([w("a", 5, 1)]), RangeError);
  assert.throws(() => checkRegister([r("a", 0, INF)]), RangeError);
  // Many overlapping writes and a read no order allows: the bound stops the search.
  const ops = [
    ...Array.from({ length: 40 }, (_, i) => w(`v${i}`, 0, 100)),
    r("v0", 101, 102),
    r("v1", 103, 104),
  ];
  const verdict = checkRegister([...ops, r("v0", 105, 106)], 5_000);
  assert.notEqual(verdict.ok, true);
});

/** A sequential register execution with random overlaps: every read returns the then-current value. */
const executions = fc
  .array(
    fc.record({
      write: fc.boolean(),
      gap: fc.integer({ min: 0, max: 3 }),
      spread: fc.integer({ min: 0, max: 6 }),
    }),
    {
      minLength: 1,
      maxLength: 30,
    },
  )
  .map((steps) => {
    const ops: RegisterOp[] = [];
    let current: string | null = null;
    let time = 0;
    steps.forEach((step, i) => {
      time += step.gap + 1;
      // The operation takes effect at `time`; its call and return are spread around it.
      const invokeMs = time - step.spread;
      const completeMs = time + step.spread;
      if (step.write) {
        current = `v${i}`;
        ops.push(w(current, invokeMs, completeMs));
      } else {
        ops.push(r(current, invokeMs, completeMs));
      }
    });
    return ops;
  });

test("property: every history of a real execution passes; a corrupted read is caught", () => {
  fc.assert(
    fc.property(executions, (ops) => {
      assert.deepEqual(checkRegister(ops), { ok: true });
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(executions, fc.nat(), (ops, pick) => {
      const reads = ops.map((op, i) => [op, i] as const).filter(([op]) => op.kind === "read");
      fc.pre(reads.length > 0);
      const [read, index] = reads[pick % reads.length]!;
      const corrupted = ops.map((op, i) => (i === index ? { ...read, value: "never-written" } : op));
      assert.equal(checkRegister(corrupted).ok, false);
    }),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------- recorded histories

const write = (
  key: string,
  value: string,
  invokeMs: number,
  committedMs: number,
  seqno: number | null,
  final: WriteRecord["final"] = "Committed",
): WriteRecord => ({ kind: "write", key, value, invokeMs, committedMs, seqno, final });
const read = (
  key: string,
  consistency: ReadRecord["consistency"],
  value: string | null,
  invokeMs: number,
  completeMs: number,
  seqno: number,
  status = "Committed",
): ReadRecord => ({ kind: "read", key, consistency, value, invokeMs, completeMs, seqno, status });

test("a clean recorded history passes every check", () => {
  const history: HistoryRecord[] = [
    write("k", "a", 0, 10, 5),
    write("k", "b", 20, 30, 9),
    read("k", "committed", "a", 25, 26, 7), // stale but exact: the state @7 holds a
    read("k", "linearizable", "b", 31, 32, 9),
    read("k", "latest", "b", 33, 34, 9),
    read("k", "latest", "c", 40, 41, 12, "Pending"), // a pending value, later rolled back: allowed
    read("k", "latest", "a", 35, 36, 8), // a lagging node: stale in real time, exact at @8
    read("k", "latest", "a", 42, 43, 12, "Pending"), // a branch not yet truncated: any written value
    write("k", "c", 38, Number.POSITIVE_INFINITY, 12, "Invalid"),
    read("other", "committed", null, 0, 1, 3),
  ];
  const report = checkHistory(history);
  assert.deepEqual(report.violations, []);
  assert.deepEqual(report.reads, { committed: 2, linearizable: 1, latest: 4 });
  assert.equal(report.keys, 2);
});

test("an injected dirty read is caught, at every consistency level that promises committed state", () => {
  // The leader executed c @12, answered a read with it, then lost leadership: c was rolled back.
  const base: HistoryRecord[] = [
    write("k", "a", 0, 10, 5),
    write("k", "c", 20, Number.POSITIVE_INFINITY, 12, "Invalid"),
  ];
  for (const consistency of ["committed", "linearizable"] as const) {
    const report = checkHistory([...base, read("k", consistency, "c", 21, 22, 12)]);
    assert.ok(
      report.violations.some((v) => /dirty read: that write @12 was rolled back/.test(v)),
      report.violations.join("\n"),
    );
  }
  // A linearizable read of the rolled-back value also breaks linearizability itself.
  const lin = checkHistory([...base, read("k", "linearizable", "c", 21, 22, 12)]);
  assert.ok(
    lin.violations.some((v) => /not linearizable/.test(v)),
    lin.violations.join("\n"),
  );
});

test("stale, wrong and mislabelled reads are caught", () => {
  const writes: HistoryRecord[] = [write("k", "a", 0, 10, 5), write("k", "b", 20, 30, 9)];
  const cases: Array<[ReadRecord, RegExp]> = [
    // Linearizable but stale: b was committed (and seen so) before the read began.
    [read("k", "linearizable", "a", 31, 32, 7), /not linearizable/],
    // Committed read whose value is not the state its txid names.
    [read("k", "committed", "a", 31, 32, 9), /the committed state @9 holds "b"/],
    // Committed read answered Pending.
    [read("k", "committed", "b", 31, 32, 9, "Pending"), /answered Pending/],
    // Latest read answered Committed whose value is not the committed state it names.
    [read("k", "latest", "a", 31, 32, 9), /the committed state @9 holds "b"/],
    // A value no write produced.
    [read("k", "latest", "zzz", 31, 32, 9), /no write ever wrote that value/],
  ];
  for (const [bad, message] of cases) {
    const report = checkHistory([...writes, bad]);
    assert.ok(
      report.violations.some((v) => message.test(v)),
      `${message}: ${report.violations.join("\n")}`,
    );
  }
});

test("reads of writes whose txid was never learned are counted, not judged", () => {
  const report = checkHistory([
    write("k", "a", 0, 10, 5),
    write("k", "u", 12, Number.POSITIVE_INFINITY, null, "Unknown"),
    read("k", "committed", "u", 20, 21, 8),
  ]);
  assert.deepEqual(report.violations, []);
  assert.equal(report.unverifiable, 1);
});
