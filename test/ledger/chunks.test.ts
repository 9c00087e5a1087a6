import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { isTreatyError, type TreatyError } from "../../sdk/errors.js";
import {
  chunkFileName,
  encodeChunk,
  exportChunks,
  listChunkFiles,
  parseChunkFileName,
  readChunkFiles,
} from "../../runtime/ledger/chunks.js";
import { ChunkedLedgerStore } from "../../runtime/ledger/chunk-store.js";
import { decodeEntry } from "../../runtime/ledger/entry.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { verifyLedger } from "../../runtime/ledger/verify.js";
import { buildFixtureLedger, recordsOf, SERVICE, storeOf, testSecrets } from "./fixtures.js";

const root = mkdtempSync(join(tmpdir(), "treaty-chunks-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `case-${dirs++}`);

// 40 transactions, a signature after every 5th, then 3 unsigned: 51 entries, signatures every 6th.
const fixture = buildFixtureLedger({ transactions: 43, signEvery: 5 });
const RECORDS = recordsOf(fixture.store);

function auditError(paths: string[]): TreatyError {
  try {
    verifyLedger(readChunkFiles(paths), { serviceKey: SERVICE });
  } catch (err) {
    assert.ok(isTreatyError(err), String(err));
    return err;
  }
  assert.fail("the audit accepted damaged chunks");
}

describe("ledger chunk export", () => {
  it("writes the signed prefix as chunks that each end on a signature", () => {
    const dir = freshDir();
    const result = exportChunks(fixture.store, dir, { maxChunkBytes: 3000 });
    assert.equal(result.lastExportedSeqno, 48);
    assert.equal(result.unsignedTail, 3);
    assert.ok(result.files.length >= 3, `expected several chunks, got ${result.files.length}`);
    let next = 1;
    for (const file of result.files) {
      assert.equal(file.firstSeqno, next);
      assert.equal(file.name, chunkFileName(file.firstSeqno, file.lastSeqno));
      assert.equal(
        decodeEntry(fixture.store.get(file.lastSeqno)!.bytes, file.lastSeqno).header.kind,
        "signature",
      );
      next = file.lastSeqno + 1;
    }
    assert.deepEqual(
      listChunkFiles(dir).map((p) => p.slice(dir.length + 1)),
      result.files.map((f) => f.name),
    );
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith(".tmp")),
      [],
    );
  });

  it("chunks audit exactly like the store they came from, private parts included", () => {
    const dir = freshDir();
    exportChunks(fixture.store, dir, { maxChunkBytes: 3000 });
    const fromChunks = verifyLedger(readChunkFiles(listChunkFiles(dir)), {
      serviceKey: SERVICE,
      secrets: testSecrets(),
    });
    const fromStore = verifyLedger(fixture.store.range(1, 48), {
      serviceKey: SERVICE,
      secrets: testSecrets(),
    });
    assert.deepEqual(fromChunks, fromStore);
    assert.equal(fromChunks.unsignedTail, 0);
  });

  it("exports up to a given seqno only, and nothing when nothing is signed", () => {
    const dir = freshDir();
    assert.equal(exportChunks(fixture.store, dir, { upToSeqno: 20 }).lastExportedSeqno, 18);
    assert.deepEqual(exportChunks(fixture.store, freshDir(), { upToSeqno: 5 }), {
      files: [],
      lastExportedSeqno: 0,
      unsignedTail: 5,
    });
  });

  it("exports a store that starts after a snapshot from there, and the folder opens at that base", async () => {
    // A node that joined or caught up from a snapshot at 18 holds only the entries after it;
    // the export failed with `entry 1 missing` (LedgerCorrupt) for it.
    const rebased = new MemoryLedgerStore();
    rebased.rebase(18);
    rebased.append(RECORDS.filter((r) => r.seqno > 18));
    const dir = freshDir();
    const result = exportChunks(rebased, dir, { maxChunkBytes: 1 });
    assert.equal(result.files[0]?.firstSeqno, 19);
    assert.equal(result.lastExportedSeqno, 48);
    assert.equal(readFileSync(join(dir, "ledger.base"), "utf8"), "18");
    const reopened = ChunkedLedgerStore.open(dir, { readOnly: true });
    try {
      assert.equal(reopened.baseSeqno, 18);
      assert.deepEqual(
        [...reopened.range(19)].map((r) => r.seqno),
        RECORDS.filter((r) => r.seqno > 18 && r.seqno <= 48).map((r) => r.seqno),
      );
    } finally {
      await reopened.close();
    }
    const full = freshDir();
    exportChunks(fixture.store, full);
    assert.equal(existsSync(join(full, "ledger.base")), false, "a ledger from seqno 1 gets no base file");
    for (const file of readdirSync(dir)) rmSync(join(dir, file));
    writeFileSync(join(dir, "ledger.base"), "18"); // an earlier export's, into the same folder
    exportChunks(fixture.store, dir);
    assert.equal(existsSync(join(dir, "ledger.base")), false, "a stale base file is removed");
  });

  it("refuses to export a store with a damaged entry", () => {
    const records = recordsOf(fixture.store);
    records[9]!.bytes[20]! ^= 0xff;
    assert.throws(
      () => exportChunks(storeOf(records), freshDir()),
      (err) => isTreatyError(err, "LedgerCorrupt") && err.details?.seqno === 10,
    );
  });
});

describe("ledger chunks: damaged files, each reported at the first seqno they fail to supply", () => {
  function exported(): string[] {
    const dir = freshDir();
    exportChunks(fixture.store, dir, { maxChunkBytes: 3000 });
    return listChunkFiles(dir);
  }

  it("a file cut short", () => {
    const paths = exported();
    const bytes = readFileSync(paths[1]!);
    const range = parseChunkFileName(paths[1]!)!;
    writeFileSync(paths[1]!, bytes.subarray(0, bytes.length - 10));
    const err = auditError(paths);
    assert.equal(err.code, "LedgerCorrupt");
    assert.equal(err.details?.seqno, range.lastSeqno);
    assert.match(err.message, /file ends at byte/);
  });

  it("entries dropped from the end of a file (header rewritten to match)", () => {
    const paths = exported();
    const range = parseChunkFileName(paths[0]!)!;
    writeFileSync(paths[0]!, encodeChunk(RECORDS.slice(0, range.lastSeqno - 2)));
    const err = auditError(paths);
    assert.equal(err.details?.seqno, range.lastSeqno - 1);
    assert.match(err.message, /its name says/);
  });

  it("a chunk that does not end on a signature (file renamed to match)", () => {
    const paths = exported();
    const range = parseChunkFileName(paths[0]!)!;
    rmSync(paths[0]!);
    const renamed = join(paths[0]!, "..", chunkFileName(1, range.lastSeqno - 1));
    writeFileSync(renamed, encodeChunk(RECORDS.slice(0, range.lastSeqno - 1)));
    const err = auditError([renamed, ...paths.slice(1)]);
    assert.equal(err.details?.seqno, range.lastSeqno - 1);
    assert.match(err.message, /must end on a signature/);
  });

  it("a whole chunk missing", () => {
    const paths = exported();
    const range = parseChunkFileName(paths[1]!)!;
    const err = auditError([paths[0]!, ...paths.slice(2)]);
    assert.equal(err.details?.seqno, range.firstSeqno);
    assert.match(err.message, /missing/);
  });

  it("bad magic, trailing bytes, and a name that is not a chunk name", () => {
    const paths = exported();
    const first = readFileSync(paths[0]!);
    writeFileSync(paths[0]!, Buffer.concat([Buffer.from("NOTLEDGR"), first.subarray(8)]));
    assert.match(auditError(paths).message, /bad magic/);
    writeFileSync(paths[0]!, Buffer.concat([first, Buffer.from([0])]));
    assert.match(auditError(paths).message, /1 bytes after the last entry/);
    assert.throws(
      () => [...readChunkFiles([join(root, "ledger.bin")])],
      (err) => isTreatyError(err, "MalformedRequest"),
    );
  });
});
