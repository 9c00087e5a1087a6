/**
 * `treaty ledger verify` over a node's live chunk folder (a Ledger written through the
 * ChunkedLedgerStore): a sound folder audits, and damage to committed chunks (a flipped byte, a
 * forged entry with its digest and CRC recomputed, a middle chunk removed, the last chunk cut
 * short) is reported at the first bad seqno and the chunk that fails to supply it.
 */
import assert from "node:assert/strict";
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  chmodSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { decode, encodeCanonical } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { toHex } from "../../sdk/bytes.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { runLedgerVerify } from "../../node/cli/ledger.js";
import { ChunkedLedgerStore } from "../../runtime/ledger/chunk-store.js";
import { encodeChunk, parseChunkFileName, readChunkFiles } from "../../runtime/ledger/chunks.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { ledgerStoreDir } from "../../runtime/ledger/lmdb-store.js";
import { buildFixtureLedger, forgeEntry, SERVICE, testSecrets } from "./fixtures.js";
import { captureLedgerIo } from "../support/cli.js";

let root: string;
let dataDir: string;
let chunks: string[];

before(async () => {
  root = mkdtempSync(join(tmpdir(), "treaty-chunk-audit-"));
  dataDir = join(root, "node");
  const store = ChunkedLedgerStore.open(ledgerStoreDir(dataDir), { maxChunkBytes: 4000 });
  const { ledger } = buildFixtureLedger({ transactions: 63, signEvery: 6, store });
  store.markCommitted(ledger.lastSignature!.seqno);
  await store.close();
  chunks = readdirSync(ledgerStoreDir(dataDir))
    .filter((name) => parseChunkFileName(name) !== undefined)
    .sort((a, b) => parseChunkFileName(a)!.firstSeqno - parseChunkFileName(b)!.firstSeqno);
});

after(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the node's data dir, damaged by `damage(ledgerDir)`. */
function damagedCopy(damage: (ledgerDir: string) => void): string {
  const copy = mkdtempSync(join(root, "copy-"));
  cpSync(dataDir, copy, { recursive: true });
  const dir = ledgerStoreDir(copy);
  for (const name of readdirSync(dir)) chmodSync(join(dir, name), 0o644);
  damage(dir);
  return copy;
}

async function verifyError(
  path: string,
): Promise<{ code: string; seqno: number; chunk?: string; message: string }> {
  const io = captureLedgerIo();
  assert.equal(
    await runLedgerVerify([path, "--quiet", "--service-key", toHex(SERVICE.publicKey)], io),
    1,
    io.stdout,
  );
  return (io.json() as { error: { code: string; seqno: number; chunk?: string; message: string } }).error;
}

function rangeOf(name: string): { firstSeqno: number; lastSeqno: number } {
  return parseChunkFileName(name)!;
}

describe("treaty ledger verify over a live chunk folder", () => {
  it("holds several committed, read-only chunks, each ending on a signature, and an uncommitted tail", () => {
    assert.ok(chunks.length >= 4, `chunks: ${chunks.join(", ")}`);
    for (const name of chunks) assert.equal(statSync(join(ledgerStoreDir(dataDir), name)).mode & 0o222, 0);
    assert.ok(readdirSync(ledgerStoreDir(dataDir)).some((name) => name.endsWith(".open")));
  });

  it("audits the data dir and the chunk folder: every chunk, root and signature", async () => {
    for (const path of [dataDir, ledgerStoreDir(dataDir)]) {
      const io = captureLedgerIo();
      assert.equal(
        await runLedgerVerify([path, "--quiet", "--service-key", toHex(SERVICE.publicKey)], io),
        0,
        io.stdout,
      );
      const report = io.json();
      assert.equal(report.lastSeqno, 73);
      assert.equal(report.lastSignedSeqno, 70);
      assert.match(String(report.source), new RegExp(`${chunks.length} committed chunk file`));
    }
  });

  it("serves receipts for early entries from committed chunks after a reopen", async () => {
    const store = ChunkedLedgerStore.open(ledgerStoreDir(dataDir), { readOnly: true });
    try {
      const ledger = Ledger.open({ store, serviceKey: SERVICE, secrets: testSecrets() });
      const receipt = ledger.receipt(`2.2`, 70);
      assert.equal(verifyReceipt(receipt, SERVICE).seqno, 2);
    } finally {
      await store.close();
    }
  });

  it("a flipped byte in a committed chunk: LedgerCorrupt at that entry, naming the chunk", async () => {
    const name = chunks[1]!;
    const copy = damagedCopy((dir) => {
      const bytes = readFileSync(join(dir, name));
      bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
      writeFileSync(join(dir, name), bytes);
    });
    const error = await verifyError(copy);
    assert.equal(error.code, "LedgerCorrupt");
    assert.equal(error.chunk, name);
    const { firstSeqno, lastSeqno } = rangeOf(name);
    assert.ok(error.seqno >= firstSeqno && error.seqno <= lastSeqno, error.message);
  });

  it("an entry forged with digest and CRC recomputed: caught by the Merkle root at the next signature", async () => {
    const name = chunks[2]!;
    const copy = damagedCopy((dir) => {
      const records = [...readChunkFiles([join(dir, name)])].map((r) => ({
        seqno: r.seqno,
        view: r.view,
        bytes: r.bytes,
      }));
      records[0] = {
        ...records[0]!,
        bytes: forgeEntry(records[0]!.bytes, (outer) => {
          const header = decode<Record<string, unknown>>(outer.h);
          outer.h = encodeCanonical({
            ...header,
            meta: { ...(header.meta as object), caller: "someone-else" },
          });
        }),
      };
      writeFileSync(join(dir, name), encodeChunk(records));
    });
    const error = await verifyError(copy);
    assert.equal(error.code, "LedgerCorrupt");
    assert.match(error.message, /signature\.root/);
    const { firstSeqno, lastSeqno } = rangeOf(name);
    assert.ok(error.seqno > firstSeqno && error.seqno <= lastSeqno, error.message);
    assert.equal(error.chunk, name);
  });

  it("a middle chunk removed: LedgerCorrupt at its first seqno", async () => {
    const name = chunks[1]!;
    const copy = damagedCopy((dir) => rmSync(join(dir, name)));
    const error = await verifyError(copy);
    assert.equal(error.code, "LedgerCorrupt");
    assert.equal(error.seqno, rangeOf(name).firstSeqno);
    assert.match(error.message, /missing/);
    // The node's own store refuses to open over the gap, with the same seqno.
    assert.throws(
      () => ChunkedLedgerStore.open(ledgerStoreDir(copy)),
      (err) =>
        isTreatyError(err) && err.code === "LedgerCorrupt" && err.details?.seqno === rangeOf(name).firstSeqno,
    );
  });

  it("the last committed chunk cut short: LedgerCorrupt inside it, naming it", async () => {
    const name = chunks.at(-1)!;
    const copy = damagedCopy((dir) => truncateSync(join(dir, name), statSync(join(dir, name)).size - 30));
    const error = await verifyError(copy);
    assert.equal(error.code, "LedgerCorrupt");
    assert.equal(error.chunk, name);
    assert.equal(error.seqno, rangeOf(name).lastSeqno);
  });

  it("an archive without the first chunks: the audit names seqno 1 as missing", async () => {
    const copy = damagedCopy((dir) => rmSync(join(dir, chunks[0]!)));
    const error = await verifyError(copy);
    assert.equal(error.code, "LedgerCorrupt");
    assert.equal(error.seqno, 1);
  });
});
