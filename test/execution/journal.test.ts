/** ApplyJournal: the bookkeeping a restarted execution worker replays (pure logic). */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ApplyJournal } from "../../node/execution/journal.js";
import type { VersionedWriteSet } from "../../node/execution/protocol.js";
import { AssertionFailure } from "../../sdk/assert.js";

function entry(version: number): VersionedWriteSet {
  return { version, writeSet: { public: [], private: [] } };
}

const versions = (items: readonly VersionedWriteSet[]) => items.map((item) => item.version);

describe("ApplyJournal", () => {
  test("records, rolls back, prunes commits and says what a worker opened at a version lacks", () => {
    const journal = new ApplyJournal(2);
    assert.equal(journal.head, 2);
    journal.record([entry(3), entry(4), entry(6)]);
    assert.equal(journal.head, 6);
    assert.deepEqual(versions(journal.above(3)), [4, 6]);
    journal.rollback(4);
    assert.equal(journal.head, 4);
    journal.record([entry(5)]);
    journal.committedUpTo(4);
    assert.equal(journal.committed, 4);
    assert.deepEqual(versions(journal.above(0)), [5]);
    journal.committedUpTo(3);
    assert.equal(journal.committed, 4, "commits never go back");
    journal.committedUpTo(5);
    assert.equal(journal.head, 5, "nothing above committed: the head is the committed version");
    journal.reset(9);
    assert.deepEqual([journal.head, journal.committed, journal.above(0).length], [9, 9, 0]);
  });

  test("versions increase above the head (assert); forgetting drops exactly the items given", () => {
    const journal = new ApplyJournal(0);
    const items = [entry(1), entry(2), entry(3)];
    journal.record(items);
    assert.throws(() => journal.record([entry(3)]), AssertionFailure);
    assert.throws(() => journal.record([entry(5), entry(4)]), AssertionFailure);
    journal.forget([items[2]!]);
    assert.equal(journal.head, 2);
    journal.forget([]);
    assert.deepEqual(versions(journal.above(0)), [1, 2]);
  });

  test("keeps no reference to a write set once its version is committed", () => {
    // In a child with --expose-gc: a committed item the journal still referenced would survive a
    // full GC (held write sets pin the replicated messages their views point into).
    const journalModule = fileURLToPath(new URL("../../node/execution/journal.js", import.meta.url));
    const script = `
      const { ApplyJournal } = await import(${JSON.stringify(journalModule)});
      const journal = new ApplyJournal(0);
      const items = [];
      for (let v = 1; v <= 100; v++) items.push({ version: v, writeSet: { public: [], private: [] } });
      journal.record(items);
      const committed = new WeakRef(items[9]);
      const pending = new WeakRef(items[50]);
      items.length = 0;
      journal.committedUpTo(50);
      // A WeakRef holds its target until the job that made it ends.
      await new Promise((resolve) => setTimeout(resolve, 0));
      globalThis.gc();
      process.stdout.write(JSON.stringify([committed.deref() === undefined, pending.deref()?.version, journal.above(0).length]));
    `;
    const out = execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.deepEqual(JSON.parse(out), [true, 51, 50]);
  });
});
