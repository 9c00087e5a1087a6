/**
 * Records read back from a ledger store have the shape of the records replication makes: their
 * seqno and view are small integers, not heap numbers. A view read back as a heap number once
 * turned the shared `{seqno, view, bytes}` shape's field into a double, which deprecated that
 * shape: V8 deoptimized every function reading records (ledger, store, consensus log) and
 * compiled them again, mid-run (docs/performance.md, "A follower's V8 threads ...").
 *
 * V8's representation is only visible with `--allow-natives-syntax`, so the checks run in a
 * child process.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setU64 } from "../../runtime/ledger/chunk-format.js";
import { getU64 } from "../../sdk/bytes.js";

const moduleUrl = (path: string) => new URL(path, import.meta.url).href;

/** Runs `body` (an ES module's text) with natives syntax; returns what it prints, parsed. */
function withNatives(body: string): unknown {
  const out = execFileSync(process.execPath, ["--allow-natives-syntax", "--input-type=module", "-e", body], {
    encoding: "utf8",
  });
  return JSON.parse(out);
}

describe("ledger record shapes", () => {
  it("getU64 reads 64-bit values exactly, small ones as small integers", () => {
    const view = new DataView(new ArrayBuffer(8));
    for (const value of [0, 1, 7, 2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
      setU64(view, 0, value);
      assert.equal(getU64(view, 0), value);
    }
    const smi = withNatives(`
      import { setU64 } from ${JSON.stringify(moduleUrl("../../runtime/ledger/chunk-format.js"))};
      import { getU64 } from ${JSON.stringify(moduleUrl("../../sdk/bytes.js"))};
      const view = new DataView(new ArrayBuffer(8));
      const out = [];
      for (const value of [0, 1, 7, 1000000]) { setU64(view, 0, value); out.push(%IsSmi(getU64(view, 0))); }
      console.log(JSON.stringify(out));
    `);
    assert.deepEqual(smi, [true, true, true, true]);
  });

  for (const kind of ["chunk", "lmdb"] as const) {
    it(`a record read back from the ${kind} store has a replicated record's shape`, () => {
      const dir = mkdtempSync(join(tmpdir(), "treaty-record-shape-"));
      try {
        const result = withNatives(`
          import { ChunkedLedgerStore } from ${JSON.stringify(moduleUrl("../../runtime/ledger/chunk-store.js"))};
          import { LmdbLedgerStore } from ${JSON.stringify(moduleUrl("../../runtime/ledger/lmdb-store.js"))};
          const store = ${kind === "chunk" ? "ChunkedLedgerStore.open" : "LmdbLedgerStore.open"}(${JSON.stringify(dir)});
          // As replication builds them (node/replica.ts): a decoded view, a byte view.
          const fresh = (seqno) => ({ seqno, view: 3, bytes: new Uint8Array([seqno, 1, 2, 3]) });
          store.append([fresh(1), fresh(2), fresh(3)]);
          const back = store.get(2);
          console.log(JSON.stringify({
            view: back.view,
            seqnoSmi: %IsSmi(back.seqno),
            viewSmi: %IsSmi(back.view),
            sameShape: %HaveSameMap(back, fresh(4)),
          }));
          await store.close();
        `);
        assert.deepEqual(result, { view: 3, seqnoSmi: true, viewSmi: true, sameShape: true });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
