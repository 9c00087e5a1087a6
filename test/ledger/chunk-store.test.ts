import assert from "node:assert/strict";
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isTreatyError } from "../../sdk/errors.js";
import { ChunkedLedgerStore, INDEX_CACHE_CHUNKS } from "../../runtime/ledger/chunk-store.js";
import { listChunkFiles, parseChunkFileName, readChunkFiles } from "../../runtime/ledger/chunks.js";
import { Ledger, type LedgerBase } from "../../runtime/ledger/ledger.js";
import { toHex } from "../../sdk/bytes.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { buildFixtureLedger, SERVICE } from "./fixtures.js";
import type { LedgerRecord } from "../../runtime/ledger/store.js";
import { ledgerStoreConformance } from "./store-conformance.js";
import { batch, openSmall, record } from "./records.js";
import { withTempDir } from "../support/temp-dir.js";

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), "treaty-chunk-store-"));
}

const withDir = (body: (dir: string) => Promise<void> | void) => withTempDir("treaty-chunk-store-", body);

function seqnos(store: ChunkedLedgerStore, from = 1): number[] {
  return [...store.range(from)].map((r) => r.seqno);
}

function same(actual: LedgerRecord | undefined, expected: LedgerRecord): void {
  assert.ok(actual !== undefined, `record ${expected.seqno} is missing`);
  assert.equal(actual.view, expected.view);
  assert.deepEqual([...actual.bytes], [...expected.bytes]);
}

describe("ChunkedLedgerStore conformance (one chunk)", () => {
  ledgerStoreConformance(async () => {
    const dir = freshDir();
    const store = ChunkedLedgerStore.open(dir);
    return {
      store,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describe("ChunkedLedgerStore conformance (many small chunks)", () => {
  ledgerStoreConformance(async () => {
    const dir = freshDir();
    const store = ChunkedLedgerStore.open(dir, { maxChunkBytes: 1, isSignature: (r) => r.seqno % 2 === 0 });
    return {
      store,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describe("ChunkedLedgerStore chunks", () => {
  it("closes a chunk at the first signature past the size and commits closed chunks", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      store.append(batch(1, 2));
      assert.deepEqual(readdirSync(dir), ["ledger_1.open"]);
      // 3 is a signature at ~370 bytes: the chunk closes there, 4..5 start the next one.
      store.append(batch(3, 3));
      assert.deepEqual(readdirSync(dir).sort(), ["ledger_1-3.uncommitted", "ledger_4.open"]);
      store.append(batch(6, 4));
      assert.deepEqual(
        store.files().map((f) => `${f.name}:${f.state}`),
        ["ledger_1-3.uncommitted:closed", "ledger_4-6.uncommitted:closed", "ledger_7-9.uncommitted:closed"],
      );
      store.markCommitted(5); // only chunks wholly committed become .chunk
      assert.deepEqual(readdirSync(dir).sort(), [
        "ledger_1-3.chunk",
        "ledger_4-6.uncommitted",
        "ledger_7-9.uncommitted",
      ]);
      store.markCommitted(100);
      assert.equal(store.committedSeqno, 9);
      for (const name of readdirSync(dir)) {
        assert.match(name, /\.chunk$/);
        assert.equal(statSync(join(dir, name)).mode & 0o222, 0, `${name} is read-only`);
      }
      // Committed chunks are complete portable chunks: the export reader takes them as they are.
      assert.deepEqual(
        [...readChunkFiles(listChunkFiles(dir))].map((r) => r.seqno),
        [1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
      store.append(batch(10, 1));
      await store.close();

      const reopened = openSmall(dir);
      assert.equal(reopened.lastSeqno, 10);
      assert.equal(reopened.committedSeqno, 9);
      assert.deepEqual(seqnos(reopened), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      for (const r of batch(1, 10)) same(reopened.get(r.seqno), r);
      await reopened.close();
    }));

  it("splits one batch across chunks at each signature", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      store.append(batch(1, 10));
      assert.deepEqual(
        store.files().map((f) => f.name),
        ["ledger_1-3.uncommitted", "ledger_4-6.uncommitted", "ledger_7-9.uncommitted", "ledger_10.open"],
      );
      assert.deepEqual(seqnos(store, 2), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await store.close();
    }));

  it("truncates into closed chunks, reopening the one cut as the tail", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      store.append(batch(1, 10));
      store.markCommitted(3);
      store.truncate(5);
      assert.equal(store.lastSeqno, 4);
      assert.deepEqual(readdirSync(dir).sort(), ["ledger_1-3.chunk", "ledger_4.open"]);
      const replacement = batch(5, 3, 2);
      store.append(replacement);
      same(store.get(5), replacement[0]!);
      assert.deepEqual(seqnos(store), [1, 2, 3, 4, 5, 6, 7]);
      store.truncate(4); // a whole file
      assert.deepEqual(readdirSync(dir).sort(), ["ledger_1-3.chunk"]);
      await store.close();

      const reopened = openSmall(dir);
      assert.equal(reopened.lastSeqno, 3);
      reopened.append(batch(4, 2, 3));
      assert.deepEqual(seqnos(reopened), [1, 2, 3, 4, 5]);
      await reopened.close();
    }));

  it("cuts a torn last record of the open tail on reopen (crash mid-write)", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      store.append(batch(1, 5));
      await store.close();
      const tail = join(dir, "ledger_4.open");
      const whole = statSync(tail).size;
      // A crash inside the next write: its framing and half its bytes reached the file.
      const next = readFileSync(tail).subarray(24); // records 4 and 5, framed
      appendFileSync(tail, next.subarray(0, 16 + 40));
      const reopened = openSmall(dir);
      assert.equal(reopened.lastSeqno, 5);
      assert.equal(statSync(tail).size, whole, "the torn record is cut from the file");
      assert.deepEqual(seqnos(reopened), [1, 2, 3, 4, 5]);
      same(reopened.get(5), record(5));
      await reopened.close();

      // Garbage with a plausible length (bytes never written: a CRC mismatch) is cut too.
      const size = statSync(tail).size;
      appendFileSync(tail, Buffer.concat([next.subarray(0, 16), Buffer.alloc(100)]));
      const again = openSmall(dir);
      assert.equal(again.lastSeqno, 5);
      assert.equal(statSync(tail).size, size);
      await again.close();

      // Zeros where the next record should be (an OS crash after the file grew, before its data
      // reached the disk): they would pass the CRC as empty records; they are cut too.
      appendFileSync(tail, Buffer.alloc(3 * 16 + 5));
      const zeros = openSmall(dir);
      assert.equal(zeros.lastSeqno, 5);
      assert.equal(statSync(tail).size, size, "the zeros are cut from the file");
      await zeros.close();
      // In a closed chunk they are damage.
      appendFileSync(join(dir, "ledger_1-3.uncommitted"), Buffer.alloc(32));
      assert.throws(
        () => openSmall(dir),
        (err) => isTreatyError(err) && err.code === "LedgerCorrupt" && /entry 4 is empty/.test(err.message),
      );
      const closed = join(dir, "ledger_1-3.uncommitted");
      truncateSync(closed, statSync(closed).size - 32);

      // A file cut inside its header (created, then the crash): holds nothing, removed.
      truncateSync(tail, 10);
      const third = openSmall(dir);
      assert.equal(third.lastSeqno, 3);
      assert.deepEqual(readdirSync(dir), ["ledger_1-3.uncommitted"]);
      await third.close();
    }));

  it("keeps one descriptor open however many chunks it holds, and a bounded index cache", () =>
    withDir(async (dir) => {
      const fds = () => readdirSync("/proc/self/fd").length;
      const before = fds();
      const store = openSmall(dir);
      store.append(batch(1, 300));
      store.markCommitted(300);
      assert.equal(store.files().length, 100);
      for (let seqno = 1; seqno <= 300; seqno += 7) same(store.get(seqno), record(seqno));
      assert.equal(seqnos(store).length, 300);
      assert.ok(fds() <= before + 1, `descriptors: ${before} before, ${fds()} after`);
      assert.ok(INDEX_CACHE_CHUNKS < 100);
      await store.close();
      assert.equal(fds(), before);
    }));

  it("reports archived entries with LedgerArchived and serves the rest", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      store.append(batch(1, 10));
      store.markCommitted(9);
      await store.close();
      rmSync(join(dir, "ledger_1-3.chunk"), { force: true });
      rmSync(join(dir, "ledger_4-6.chunk"), { force: true });
      const reopened = openSmall(dir);
      assert.equal(reopened.firstSeqno, 7);
      assert.equal(reopened.lastSeqno, 10);
      same(reopened.get(8), record(8));
      assert.deepEqual(seqnos(reopened, 7), [7, 8, 9, 10]);
      for (const read of [() => reopened.get(2), () => [...reopened.range(1)]]) {
        assert.throws(
          read,
          (err) => isTreatyError(err) && err.code === "LedgerArchived" && err.details?.seqno !== undefined,
        );
      }
      await reopened.close();
    }));

  it("refuses a gap between files and a committed chunk altered on disk", () =>
    withDir(async (dir) => {
      const store = openSmall(dir);
      store.append(batch(1, 10));
      store.markCommitted(9);
      await store.close();
      const middle = join(dir, "ledger_4-6.chunk");
      const saved = readFileSync(middle);
      rmSync(middle);
      assert.throws(
        () => openSmall(dir),
        (err) => isTreatyError(err) && err.code === "LedgerCorrupt" && err.details?.seqno === 4,
      );
      // Flip one byte of entry 5's bytes: reading it is LedgerCorrupt at 5 (CRC), naming the chunk.
      const flipped = Buffer.from(saved);
      flipped[24 + 116 + 16 + 10]! ^= 1;
      writeFileSync(middle, flipped);
      const damaged = openSmall(dir, true);
      assert.throws(
        () => damaged.get(5),
        (err) =>
          isTreatyError(err) &&
          err.code === "LedgerCorrupt" &&
          err.details?.seqno === 5 &&
          err.details.chunk === "ledger_4-6.chunk",
      );
      same(damaged.get(8), record(8));
      await damaged.close();
    }));

  it("opens read-only without changing any file", () =>
    withDir(async (dir) => {
      assert.throws(
        () => ChunkedLedgerStore.open(join(dir, "nothing"), { readOnly: true }),
        (err) => isTreatyError(err) && err.code === "NotFound",
      );
      const store = openSmall(dir);
      store.append(batch(1, 5));
      await store.close();
      appendFileSync(join(dir, "ledger_4.open"), Buffer.alloc(7));
      const size = statSync(join(dir, "ledger_4.open")).size;
      const reader = openSmall(dir, true);
      assert.equal(reader.lastSeqno, 5);
      assert.equal(statSync(join(dir, "ledger_4.open")).size, size);
      await reader.close();
    }));
});

describe("Ledger over a chunked store with archived chunks", () => {
  it("opens at a snapshot's base, serves receipts for local entries and LedgerArchived for archived ones", () =>
    withDir(async (dir) => {
      const store = ChunkedLedgerStore.open(dir, { maxChunkBytes: 2000 });
      const { ledger } = buildFixtureLedger({
        transactions: 120,
        signEvery: 5,
        signLast: true,
        store,
        residentLevel: 3,
      });
      const last = ledger.lastSignature!.seqno;
      store.markCommitted(last);
      // The base a snapshot at the last signature but one would give.
      const at = ledger.lastSignatureAtOrBefore(last - 1);
      const base: LedgerBase = {
        seqno: at,
        view: ledger.get(at)!.view,
        frontier: ledger.tree.frontier(at),
        views: ledger.viewStarts().filter((v) => v.startSeqno <= at),
      };
      await store.close();
      // Archive the committed chunks wholly before a little before the base.
      const keepFrom = at - 20;
      const archived = readdirSync(dir).filter((name) => {
        const range = parseChunkFileName(name);
        return range !== undefined && range.lastSeqno < keepFrom;
      });
      assert.ok(archived.length >= 2, `archived: ${archived.join(", ")}`);
      for (const name of archived) rmSync(join(dir, name), { force: true });

      const reopened = ChunkedLedgerStore.open(dir, { readOnly: true });
      try {
        const opened = Ledger.open({ store: reopened, serviceKey: SERVICE, residentLevel: 3, base });
        assert.equal(opened.openedFromSeqno, at, "read from the base on");
        assert.equal(toHex(opened.root()), toHex(ledger.root()));
        const recent = last - 1;
        assert.equal(verifyReceipt(opened.receipt(`2.${recent}`, last), SERVICE).seqno, recent);
        assert.throws(
          () => opened.receipt("2.2", last),
          (err) => isTreatyError(err) && err.code === "LedgerArchived" && err.details?.seqno !== undefined,
        );
      } finally {
        await reopened.close();
      }
    }));
});
