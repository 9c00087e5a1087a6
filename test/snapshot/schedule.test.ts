/**
 * node/snapshot/schedule.ts (the stride that grows with the newest snapshot's size, and the point
 * rule) and the evidence's `bytes` field (node/snapshot/evidence.ts), which the stride reads.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeEntry, encodeEntry } from "../../runtime/ledger/entry.js";
import { EVIDENCE_KEY, EVIDENCE_MAP, evidenceOf, evidenceWriteSet } from "../../node/snapshot/evidence.js";
import { isSnapshotPoint, type SnapshotSchedule, strideAfter } from "../../node/snapshot/schedule.js";
import { publicWriteSet } from "../../node/genesis.js";

const MIB = 1024 * 1024;
const schedule: SnapshotSchedule = { everyEntries: 10_000, everyMs: 600_000, strideBytes: 4 * MIB };

describe("strideAfter", () => {
  it("is everyEntries / everyMs up to strideBytes, and doubles per doubling past it", () => {
    assert.deepEqual(strideAfter(schedule, 0), { entries: 10_000, ms: 600_000 });
    assert.deepEqual(strideAfter(schedule, 4 * MIB), { entries: 10_000, ms: 600_000 });
    assert.deepEqual(strideAfter(schedule, 4 * MIB + 1), { entries: 20_000, ms: 1_200_000 });
    assert.deepEqual(strideAfter(schedule, 8 * MIB), { entries: 20_000, ms: 1_200_000 });
    assert.deepEqual(strideAfter(schedule, 8 * MIB + 1), { entries: 40_000, ms: 2_400_000 });
    assert.deepEqual(strideAfter(schedule, 48 * MIB), { entries: 160_000, ms: 9_600_000 });
  });

  it("keeps the work per entry bounded: between strideBytes / everyEntries / 2 and strideBytes / everyEntries bytes of the snapshot per entry", () => {
    const most = schedule.strideBytes / schedule.everyEntries;
    for (let bytes = 1; bytes < 2 ** 36; bytes = Math.ceil(bytes * 1.37)) {
      const { entries } = strideAfter(schedule, bytes);
      assert.ok(bytes / entries <= most, `${bytes} bytes`);
      // ...and no sparser than it must be (once past the base stride).
      if (entries > schedule.everyEntries) assert.ok(bytes / entries > most / 2, `${bytes} bytes`);
    }
  });

  it("never grows with strideBytes 0, and stops doubling at 2^20", () => {
    assert.deepEqual(strideAfter({ ...schedule, strideBytes: 0 }, 2 ** 40), { entries: 10_000, ms: 600_000 });
    assert.equal(strideAfter({ ...schedule, strideBytes: 1 }, 2 ** 50).entries, 10_000 * 2 ** 20);
  });
});

describe("isSnapshotPoint", () => {
  const stride = { entries: 100, ms: 1000 };
  it("marks the first signature past each multiple of the stride's entries", () => {
    assert.equal(isSnapshotPoint(stride, { seqno: 95, timeMs: 0 }, { seqno: 100, timeMs: 0 }), true);
    assert.equal(isSnapshotPoint(stride, { seqno: 95, timeMs: 0 }, { seqno: 104, timeMs: 0 }), true);
    assert.equal(isSnapshotPoint(stride, { seqno: 100, timeMs: 0 }, { seqno: 104, timeMs: 0 }), false);
    assert.equal(isSnapshotPoint(stride, { seqno: 0, timeMs: undefined }, { seqno: 99, timeMs: 5 }), false);
    assert.equal(isSnapshotPoint(stride, { seqno: 0, timeMs: undefined }, { seqno: 150, timeMs: 5 }), true);
  });

  it("marks the first signature whose recorded time enters a new period of the stride's ms", () => {
    assert.equal(isSnapshotPoint(stride, { seqno: 10, timeMs: 1999 }, { seqno: 12, timeMs: 2000 }), true);
    assert.equal(isSnapshotPoint(stride, { seqno: 10, timeMs: 2000 }, { seqno: 12, timeMs: 2999 }), false);
    // A time not known here (the signature before is outside this node's ledger) marks nothing.
    assert.equal(
      isSnapshotPoint(stride, { seqno: 10, timeMs: undefined }, { seqno: 12, timeMs: 9999 }),
      false,
    );
    assert.equal(isSnapshotPoint(stride, { seqno: 10, timeMs: 0 }, { seqno: 12, timeMs: undefined }), false);
  });
});

describe("snapshot evidence", () => {
  /** An internal entry holding `value` under the evidence map's key, decoded as a node reads it. */
  function evidenceEntry(value: unknown) {
    const writeSet = publicWriteSet([{ map: EVIDENCE_MAP, key: EVIDENCE_KEY, value }]);
    return entryOf(writeSet);
  }
  function entryOf(writeSet: ReturnType<typeof publicWriteSet>) {
    const meta = { timeMs: 1, contract: null, method: "snapshot_evidence", callerId: null };
    const header = {
      view: 1,
      seqno: 7,
      kind: "internal" as const,
      secretVersion: 0,
      requestDigest: null,
      meta,
    };
    const { bytes } = encodeEntry({
      header,
      publicWrites: writeSet.public,
      privatePart: null,
      signatureBytes: null,
    });
    return decodeEntry(bytes, 7);
  }
  const digest = new Uint8Array(32).fill(9);

  it("records the body's size beside its seqno and digest", () => {
    const entry = entryOf(evidenceWriteSet({ seqno: 40, digest, bytes: 123_456 }));
    assert.deepEqual(evidenceOf(entry), { seqno: 40, digest, bytes: 123_456 });
  });

  it("reads evidence recorded before sizes were as 0 bytes, and refuses a size that is not a count", () => {
    const hex = Buffer.from(digest).toString("hex");
    assert.deepEqual(evidenceOf(evidenceEntry({ seqno: 40, digest: hex })), { seqno: 40, digest, bytes: 0 });
    for (const bytes of [-1, 1.5, "12", null, 2 ** 60])
      assert.equal(evidenceOf(evidenceEntry({ seqno: 40, digest: hex, bytes })), undefined, String(bytes));
  });
});
