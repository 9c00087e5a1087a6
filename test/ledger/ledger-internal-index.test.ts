/**
 * The ledger's internal-entry index under `compact` with `retainInternal` (what a node passes:
 * keep configuration entries): it stays bounded by the internal entries after the compaction
 * point plus the configuration entries, and the answers its users need (the configuration in
 * force at a seqno: node/replica.ts loadPersistedState, node/snapshot/ #stateAt) and the view
 * history are the same as an uncompacted ledger's.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { utf8 } from "../../sdk/bytes.js";
import { ChunkedLedgerStore } from "../../runtime/ledger/chunk-store.js";
import { Ledger, type TransactionInput } from "../../runtime/ledger/ledger.js";
import { type LedgerStore, MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { CONFIG_KEY, CONFIG_MAP, configOf } from "../../node/replica.js";
import { SERVICE, signerFor, testRandom, testSecrets, txFor, VALID_FROM_MS } from "./fixtures.js";

const signer = signerFor();
const retainInternal = (record: Parameters<typeof configOf>[0]) => configOf(record) !== undefined;

/** An internal entry: a configuration change (`nodes`) or a record of another kind (snapshot evidence). */
function internalTx(i: number, nodes?: readonly string[]): TransactionInput {
  const writes =
    nodes === undefined
      ? { map: "public:treaty.snapshot_evidence", writes: [[utf8.encode(`${i}`), utf8.encode(`"d${i}"`)]] }
      : { map: CONFIG_MAP, writes: [[utf8.encode(CONFIG_KEY), utf8.encode(JSON.stringify(nodes))]] };
  return {
    kind: "internal",
    writeSet: { public: [writes as { map: string; writes: [Uint8Array, Uint8Array][] }], private: [] },
    meta: { timeMs: VALID_FROM_MS + 1000 + i, contract: null, method: "internal", callerId: null },
  };
}

/** A transaction of a user (the fixtures' rotate kinds, internal among them). */
function userTx(i: number): TransactionInput {
  return { ...txFor(i), kind: "user" };
}

function open(store: LedgerStore, compacted: boolean): Ledger {
  return Ledger.open({
    store,
    secrets: testSecrets(),
    random: testRandom(),
    serviceKey: SERVICE,
    ...(compacted && { retainInternal }),
  });
}

/** The configuration in force at `seqno`, found as node/replica.ts and node/snapshot/ find it. */
function configAt(ledger: Ledger, seqno: number): string | undefined {
  for (const s of ledger.internalSeqnosDownFrom(seqno)) {
    const nodes = configOf(ledger.get(s)!);
    if (nodes !== undefined) return `${s}:${nodes.join(",")}`;
  }
  return undefined;
}

type Step =
  | { op: "tx" }
  | { op: "evidence" }
  | { op: "config" }
  | { op: "sign" }
  | { op: "view" }
  | { op: "compact"; lag: number }
  | { op: "truncate"; back: number };

/** Applies `step` to both ledgers (the compacted one and the reference). */
function apply(
  ledger: Ledger,
  reference: Ledger,
  step: Exclude<Step, { op: "truncate" }>,
  i: number,
  view: { v: number },
): void {
  const both = (f: (l: Ledger) => void) => {
    f(ledger);
    f(reference);
  };
  switch (step.op) {
    case "tx":
      both((l) => l.appendTransaction(view.v, userTx(i)));
      break;
    case "evidence":
      both((l) => l.appendTransaction(view.v, internalTx(i)));
      break;
    case "config":
      both((l) => l.appendTransaction(view.v, internalTx(i, [`n${i % 7}`, `m${i % 5}`])));
      break;
    case "sign":
      both((l) => l.appendSignature(view.v, signer, VALID_FROM_MS + 1000 + i));
      break;
    case "view":
      view.v++;
      break;
    case "compact":
      ledger.compact(Math.max(0, ledger.lastSeqno - step.lag));
      break;
  }
  both((l) => l.persist());
}

function sameAnswers(ledger: Ledger, reference: Ledger): void {
  assert.equal(ledger.lastSeqno, reference.lastSeqno);
  assert.deepEqual(ledger.viewStarts(), reference.viewStarts());
  for (let seqno = 0; seqno <= ledger.lastSeqno; seqno++)
    assert.equal(configAt(ledger, seqno), configAt(reference, seqno), `configuration at ${seqno}`);
}

describe("Ledger internal index under compact", () => {
  it("stays bounded by the entries after the compaction point and the configuration entries", () => {
    const [ledger, reference] = [open(new MemoryLedgerStore(), true), open(new MemoryLedgerStore(), false)];
    let highest = 0;
    let configs = 0;
    for (let i = 0; i < 6000; i++) {
      // A snapshot's evidence every 10 entries, a configuration change every 1000.
      const tx = i % 1000 === 999 ? internalTx(i, [`n${i}`]) : i % 10 === 0 ? internalTx(i) : userTx(i);
      if (i % 1000 === 999) configs++;
      for (const l of [ledger, reference]) {
        l.appendTransaction(2, tx);
        if (i % 5 === 4) l.appendSignature(2, signer, VALID_FROM_MS + 1000 + i);
        l.persist();
      }
      if (i % 100 === 99) {
        ledger.compact(Math.max(0, ledger.lastSeqno - 200));
        highest = Math.max(highest, ledger.resident.internal);
      }
    }
    // ≤ 300 entries since the compaction point hold ≤ 30 evidence records; plus the configurations.
    assert.ok(highest <= 31 + configs, `internal index: ${highest}`);
    assert.ok(reference.resident.internal >= 600, "without compaction it holds every internal entry");
    sameAnswers(ledger, reference);
  });

  it("answers the configuration in force and the view history as an uncompacted ledger (property)", () => {
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 6, arbitrary: fc.constant({ op: "tx" } as const) },
      { weight: 3, arbitrary: fc.constant({ op: "evidence" } as const) },
      { weight: 1, arbitrary: fc.constant({ op: "config" } as const) },
      { weight: 3, arbitrary: fc.constant({ op: "sign" } as const) },
      { weight: 1, arbitrary: fc.constant({ op: "view" } as const) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant("compact" as const), lag: fc.nat(12) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), back: fc.nat(6) }) },
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 150 }), (steps) => {
        const [ledger, reference] = [
          open(new MemoryLedgerStore(), true),
          open(new MemoryLedgerStore(), false),
        ];
        const view = { v: 1 };
        let compactedAt = 0;
        steps.forEach((s, i) => {
          if (s.op === "truncate") {
            const from = ledger.lastSeqno - s.back + 1;
            if (s.back === 0 || from <= compactedAt) return;
            for (const l of [ledger, reference]) l.truncate(from);
            // The view goes back with the entries (appends must not go below the last one's).
            view.v = Math.max(ledger.lastView, 1);
            return;
          }
          if (s.op === "compact") compactedAt = Math.max(compactedAt, ledger.lastSeqno - s.lag);
          apply(ledger, reference, s, i, view);
        });
        sameAnswers(ledger, reference);
      }),
      { numRuns: 200 },
    );
  });

  it("over chunk files: a reopened, recompacted ledger answers as before", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-internal-index-"));
    try {
      const reference = open(new MemoryLedgerStore(), false);
      let store = ChunkedLedgerStore.open(dir, { maxChunkBytes: 4096 });
      let ledger = open(store, true);
      let view = 1;
      for (let i = 0; i < 1500; i++) {
        if (i % 400 === 399) view++;
        const tx = i % 300 === 7 ? internalTx(i, [`n${i}`]) : i % 9 === 0 ? internalTx(i) : userTx(i);
        for (const l of [ledger, reference]) {
          l.appendTransaction(view, tx);
          if (i % 5 === 4) l.appendSignature(view, signer, VALID_FROM_MS + 1000 + i);
          l.persist();
        }
        if (i % 50 === 49) {
          const commit = ledger.lastSignatureAtOrBefore(ledger.lastSeqno - 30);
          store.markCommitted(commit);
          ledger.compact(commit);
        }
      }
      assert.ok(ledger.resident.internal < reference.resident.internal / 4);
      sameAnswers(ledger, reference);
      await store.close();
      // Reopened: the index is rebuilt from the files (whole), and compaction bounds it again.
      store = ChunkedLedgerStore.open(dir, { maxChunkBytes: 4096 });
      ledger = open(store, true);
      assert.equal(ledger.resident.internal, reference.resident.internal);
      ledger.compact(ledger.lastSignatureAtOrBefore(ledger.lastSeqno));
      assert.ok(ledger.resident.internal <= 5 + 1, `after reopen: ${ledger.resident.internal}`);
      sameAnswers(ledger, reference);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Ledger view history", () => {
  it("opens and rebases at a base whose history holds 200,000 views (one per election)", () => {
    // A snapshot's base after 200k elections (the consensus accepts up to MAX_SNAPSHOT_VIEWS).
    const seqno = 400_000;
    const views = Array.from({ length: 200_000 }, (_, i) => ({ view: i + 1, startSeqno: 2 * i + 1 }));
    const frontier = [...seqno.toString(2)]
      .filter((bit) => bit === "1")
      .map((_, i) => new Uint8Array(32).fill(i));
    const base = { seqno, view: 200_000, frontier, views };
    const store = new MemoryLedgerStore();
    store.rebase(seqno);
    const ledger = Ledger.open({ store, serviceKey: SERVICE, base });
    assert.deepEqual(ledger.viewStarts(), views);
    assert.equal(ledger.resident.views, 200_000);
    ledger.rebase(base);
    assert.deepEqual(ledger.viewStarts(), views);
  });
});
