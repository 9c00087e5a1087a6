/**
 * node/snapshot/files.ts and format.ts's file parts: a snapshot file is written asynchronously
 * (off the main thread: nothing is on disk when the call returns, everything once it resolves),
 * as the concatenation of its parts, atomically (no temp file left), and the parts are byte for
 * byte the file `encodeFile` defines.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { concatBytes } from "../../sdk/bytes.js";
import { encode } from "../../sdk/codec.js";
import type { Receipt } from "../../sdk/receipt.js";
import { SnapshotFiles } from "../../node/snapshot/files.js";
import { writeDurableParts } from "../../node/state-file.js";
import {
  decodeFile,
  encodeFile,
  encodeFileParts,
  type SnapshotEvidence,
} from "../../node/snapshot/format.js";

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

const evidence: SnapshotEvidence = {
  entry: bytes(90, 1),
  receipt: {
    signature: { signature: bytes(64, 2), treeSize: 12 },
    proof: [bytes(32, 3)],
  } as unknown as Receipt,
  consistency: [bytes(32, 4), bytes(32, 5)],
};

describe("snapshot file parts", () => {
  for (const size of [0, 1, 255, 256, 65_535, 65_536, 300_000]) {
    it(`concatenate to encodeFile's bytes (body of ${size} bytes, pending and committed)`, () => {
      const body = bytes(size, size);
      for (const e of [null, evidence]) {
        const parts = encodeFileParts([body], e);
        assert.equal(parts.length, 3);
        assert.equal(parts[1], body, "the body is a part of its own, not copied");
        const split = encodeFileParts([body.subarray(0, size >> 1), body.subarray(size >> 1)], e);
        assert.ok(Buffer.from(concatBytes(...split)).equals(concatBytes(...parts)), "a body in parts");
        const joined = concatBytes(...parts);
        assert.ok(Buffer.from(joined).equals(encodeFile(body, e)));
        assert.ok(Buffer.from(joined).equals(encode({ b: body, e: e === null ? null : { ...e } })));
        const decoded = decodeFile(joined);
        assert.ok(Buffer.from(decoded.body).equals(body));
        assert.equal(decoded.evidence === null, e === null);
      }
    });
  }
});

describe("SnapshotFiles", () => {
  it("writes a file asynchronously: absent when the call returns, whole once it resolves", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-snapfiles-"));
    try {
      const files = new SnapshotFiles(dir, 2);
      const body = bytes(100_000, 7);
      const parts = encodeFileParts([body], null);
      const writing = files.writePending(20, parts);
      // A synchronous write (writeFileSync, fsyncSync on the caller's thread) would be done here.
      assert.deepEqual(files.list("pending"), []);
      await writing;
      assert.deepEqual(files.list("pending"), [20]);
      assert.ok(Buffer.from(files.read(20, "pending")!).equals(concatBytes(...parts)));
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.endsWith(".tmp")),
        [],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the newest committed files and drops pending files they cover", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-snapfiles-"));
    try {
      const files = new SnapshotFiles(dir, 2);
      await files.writePending(10, encodeFileParts([bytes(10, 1)], null));
      await files.writePending(20, encodeFileParts([bytes(10, 2)], null));
      assert.deepEqual(files.list("pending"), [20], "a newer pending file replaces an older one");
      await files.writeCommitted(20, encodeFileParts([bytes(10, 2)], evidence));
      assert.deepEqual(files.list("pending"), []);
      await files.writePending(30, encodeFileParts([bytes(10, 3)], null));
      await files.writeCommitted(25, [encodeFile(bytes(10, 4), evidence)]);
      await files.writeCommitted(40, [encodeFile(bytes(10, 5), evidence)]);
      assert.deepEqual(files.list("committed"), [25, 40]);
      assert.deepEqual(files.list("pending"), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writeDurableParts replaces a file whole and leaves no temp file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-snapfiles-"));
    try {
      const path = join(dir, "f");
      await writeDurableParts(path, [bytes(5000, 1)]);
      await writeDurableParts(path, [bytes(3, 2), new Uint8Array(0), bytes(70_000, 3)]);
      assert.ok(readFileSync(path).equals(concatBytes(bytes(3, 2), bytes(70_000, 3))));
      assert.equal(existsSync(`${path}.tmp`), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("completePending turns the pending file into the committed one in place, byte for byte", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-snapfiles-"));
    try {
      const files = new SnapshotFiles(dir, 2);
      for (const [seqno, size] of [
        [10, 0],
        [20, 300_000],
      ] as const) {
        const body = bytes(size, seqno);
        await files.writePending(seqno, encodeFileParts([body], null));
        const pendingPath = join(dir, `snapshot-${String(seqno).padStart(16, "0")}.pending`);
        const before = readFileSync(pendingPath);
        assert.equal(
          await files.completePending(
            seqno,
            encodeFileParts([body], null),
            encodeFileParts([body], evidence),
          ),
          true,
        );
        assert.deepEqual(files.list("pending"), []);
        assert.ok(files.read(seqno, "committed")!.length > before.length);
        assert.ok(Buffer.from(files.read(seqno, "committed")!).equals(encodeFile(body, evidence)));
      }
      assert.deepEqual(files.list("committed"), [10, 20]);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.endsWith(".tmp")),
        [],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("completePending changes nothing (false) for a missing, resized or different pending file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-snapfiles-"));
    try {
      const files = new SnapshotFiles(dir, 2);
      const body = bytes(1000, 7);
      const pending = encodeFileParts([body], null);
      const committed = encodeFileParts([body], evidence);
      assert.equal(await files.completePending(30, pending, committed), false, "no pending file");
      const pendingPath = join(dir, `snapshot-${String(30).padStart(16, "0")}.pending`);
      // Another body (one byte longer), then a file of the right length whose end is not the
      // pending evidence field (a pending file that already holds its evidence, cut to size).
      await files.writePending(30, encodeFileParts([bytes(1001, 7)], null));
      assert.equal(await files.completePending(30, pending, committed), false, "another length");
      const wrongEnd = concatBytes(...pending);
      wrongEnd[wrongEnd.length - 1] = 0xc3;
      writeFileSync(pendingPath, wrongEnd);
      assert.equal(await files.completePending(30, pending, committed), false, "another end");
      assert.ok(readFileSync(pendingPath).equals(wrongEnd), "left as it was");
      assert.deepEqual(files.list("committed"), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a pending file whose completion stopped part way keeps its body: it decodes with it, or not at all", () => {
    const body = bytes(5000, 9);
    const pending = concatBytes(...encodeFileParts([body], null));
    const committed = concatBytes(...encodeFileParts([body], evidence));
    const from = pending.length - 1; // the evidence field's nil, where the files start to differ
    assert.ok(Buffer.from(pending.subarray(0, from)).equals(committed.subarray(0, from)));
    let undecodable = 0;
    for (const cut of [1, 2, 10, committed.length - from - 1]) {
      const partial = concatBytes(pending.subarray(0, from), committed.subarray(from, from + cut));
      // Cut short, or grown to its new length with the new bytes not on disk (zeros).
      const zeros = concatBytes(partial, new Uint8Array(committed.length - from - cut));
      for (const file of [partial, zeros]) {
        let decoded: ReturnType<typeof decodeFile> | undefined;
        try {
          decoded = decodeFile(file);
        } catch (err) {
          assert.equal((err as { code?: string }).code, "SnapshotInvalid");
          undecodable++;
          continue;
        }
        assert.ok(Buffer.from(decoded.body).equals(body), `cut after ${cut} bytes: the body`);
      }
    }
    assert.ok(undecodable >= 4, "a cut evidence field does not decode");
  });
});
