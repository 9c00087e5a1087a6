import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decode, encodeCanonical } from "../../sdk/codec.js";
import { isTreatyError, type TreatyError } from "../../sdk/errors.js";
import { LedgerSecret, LedgerSecrets } from "../../runtime/ledger/secrets.js";
import { type AuditRecord, verifyLedger } from "../../runtime/ledger/verify.js";
import {
  buildFixtureLedger,
  forgeEntry,
  NODE,
  recordsOf,
  SERVICE,
  signerFor,
  testKey,
  testSecrets,
  VALID_FROM_MS,
} from "./fixtures.js";

// 30 transactions with a signature after every 6th: 35 entries, signatures at 7, 14, 21, 28 and 35.
const fixture = buildFixtureLedger({ transactions: 30, signEvery: 6, signLast: true });
const RECORDS: readonly AuditRecord[] = recordsOf(fixture.store);

function copy(): AuditRecord[] {
  return RECORDS.map((r) => ({ seqno: r.seqno, view: r.view, bytes: new Uint8Array(r.bytes) }));
}

/** Runs the audit and returns its error (the test fails if there is none). */
function auditError(
  records: Iterable<AuditRecord>,
  options: Parameters<typeof verifyLedger>[1] = { serviceKey: SERVICE },
): TreatyError {
  try {
    verifyLedger(records, options);
  } catch (err) {
    assert.ok(isTreatyError(err), `expected a TreatyError, got ${String(err)}`);
    return err;
  }
  assert.fail("the audit accepted a damaged ledger");
}

function expectCorrupt(err: TreatyError, seqno: number, field?: RegExp): void {
  assert.equal(err.code, "LedgerCorrupt", err.message);
  assert.equal(err.details?.seqno, seqno, err.message);
  assert.match(err.message, new RegExp(`^entry ${seqno}: `));
  if (field !== undefined) assert.match(String(err.details?.field), field, err.message);
}

/** Rewrites the signature record of a signature entry (digest recomputed, as an attacker would). */
function editSignature(bytes: Uint8Array, edit: (record: Record<string, unknown>) => void): Uint8Array {
  return forgeEntry(bytes, (outer) => {
    const record = decode<Record<string, unknown>>(outer.s!);
    edit(record);
    outer.s = encodeCanonical(record);
  });
}

describe("verifyLedger: a sound ledger", () => {
  it("verifies every entry, root and signature, and decrypts every private part", () => {
    const report = verifyLedger(RECORDS, { serviceKey: SERVICE, secrets: testSecrets() });
    assert.equal(report.entries, 35);
    assert.equal(report.lastSeqno, 35);
    assert.equal(report.signatures, 5);
    assert.equal(report.lastSignedSeqno, 35);
    assert.equal(report.unsignedTail, 0);
    assert.equal(report.signedRoot, Buffer.from(fixture.ledger.tree.root(34)).toString("hex"));
    assert.equal(report.privateEntries, 20);
    assert.equal(report.decryptedEntries, 20);
    assert.deepEqual(report.kinds, { user: 12, member: 6, governance: 6, signature: 5, internal: 6 });
    assert.deepEqual(report.serviceKey, {
      curve: "ed25519",
      publicKey: Buffer.from(SERVICE.publicKey).toString("hex"),
      pinned: true,
    });
    assert.deepEqual(report.signingNodes, [NODE.id]);
    assert.equal(
      report.bytes,
      RECORDS.reduce((sum, r) => sum + r.bytes.length, 0),
    );
  });

  it("without a pinned key, reports the service identity it found; without secrets, decrypts nothing", () => {
    const report = verifyLedger(RECORDS);
    assert.equal(report.serviceKey?.pinned, false);
    assert.equal(report.decryptedEntries, 0);
    assert.equal(report.privateEntries, 20);
  });

  it("reports an unsigned tail and an empty ledger honestly, and calls back with progress", () => {
    const seen: number[] = [];
    const report = verifyLedger(RECORDS.slice(0, 33), {
      onProgress: (p) => seen.push(p.seqno),
      progressEveryEntries: 10,
    });
    assert.equal(report.lastSignedSeqno, 28);
    assert.equal(report.unsignedTail, 5);
    assert.deepEqual(seen, [10, 20, 30]);
    assert.equal(verifyLedger([]).entries, 0);
  });
});

describe("verifyLedger: bad input, each detected at the exact seqno", () => {
  it("flipping any byte of any stored entry is LedgerCorrupt at that entry", () => {
    // Every entry, every byte position class: a deterministic sweep, then random samples.
    for (const record of RECORDS) {
      for (const offset of [0, 1, 5, Math.floor(record.bytes.length / 2), record.bytes.length - 1]) {
        const records = copy();
        records[record.seqno - 1]!.bytes[offset]! ^= 0x01;
        expectCorrupt(auditError(records), record.seqno);
      }
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: RECORDS.length - 1 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (index, at, xor) => {
          const records = copy();
          const bytes = records[index]!.bytes;
          bytes[at % bytes.length]! ^= xor;
          expectCorrupt(auditError(records), index + 1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a stored view that disagrees with the entry header is LedgerCorrupt at that entry", () => {
    const records = copy();
    records[9] = { ...records[9]!, view: 3 };
    expectCorrupt(auditError(records), 10, /^view$/);
  });

  it("dropping an entry is reported as missing at its seqno", () => {
    for (const dropped of [1, 7, 20, 34]) {
      const records = copy().filter((r) => r.seqno !== dropped);
      const err = auditError(records);
      expectCorrupt(err, dropped, /^entry$/);
      assert.match(err.message, /missing/);
    }
  });

  it("reordering two entries is reported at the first of them", () => {
    // Stored under each other's seqno (how a store shows a swap).
    const swapped = copy();
    const a = swapped[11]!.bytes;
    swapped[11] = { ...swapped[11]!, bytes: swapped[12]!.bytes };
    swapped[12] = { ...swapped[12]!, bytes: a };
    const err = auditError(swapped);
    expectCorrupt(err, 12, /header\.seqno/);
    // Presented out of order (how concatenated files show a swap).
    const outOfOrder = copy();
    [outOfOrder[11], outOfOrder[12]] = [outOfOrder[12]!, outOfOrder[11]!];
    expectCorrupt(auditError(outOfOrder), 12, /^entry$/);
  });

  it("truncating the tail of the last entry is LedgerCorrupt at that entry", () => {
    for (const cut of [1, 40, RECORDS[34]!.bytes.length - 1]) {
      const records = copy();
      records[34] = { ...records[34]!, bytes: records[34]!.bytes.subarray(0, cut) };
      expectCorrupt(auditError(records), 35);
    }
  });

  it("an entry edited with its digest recomputed is caught by the next signature's root", () => {
    const records = copy();
    records[15] = {
      ...records[15]!,
      bytes: forgeEntry(records[15]!.bytes, (outer) => {
        const header = decode<Record<string, unknown>>(outer.h);
        outer.h = encodeCanonical({
          ...header,
          meta: { ...(header.meta as object), caller: "someone-else" },
        });
      }),
    };
    const err = auditError(records);
    expectCorrupt(err, 21, /signature\.root/);
    assert.match(err.message, /entries 1\.\.20/);
  });

  it("replacing a signature (bytes, root or tree size) is LedgerCorrupt at that signature", () => {
    const otherSig = decode<{ sig: Uint8Array; root: Uint8Array }>(
      decode<{ s: Uint8Array }>(RECORDS[6]!.bytes).s,
    );
    const cases: [string, (record: Record<string, unknown>) => void, RegExp][] = [
      [
        "signature bytes from another signature",
        (r) => {
          r.sig = otherSig.sig;
        },
        /signature\.sig/,
      ],
      [
        "an older root",
        (r) => {
          r.root = otherSig.root;
        },
        /signature\.root/,
      ],
      [
        "a different tree size",
        (r) => {
          r.tree = 20;
        },
        /signature\.tree/,
      ],
    ];
    for (const [what, edit, field] of cases) {
      const records = copy();
      records[13] = { ...records[13]!, bytes: editSignature(records[13]!.bytes, edit) };
      const err = auditError(records);
      expectCorrupt(err, 14, field);
      assert.ok(err.message.length > 20, what);
    }
  });

  it("a signing key the pinned service identity did not endorse is LedgerCorrupt at its first signature", () => {
    // A rogue node, endorsed by a rogue service key.
    const rogueService = testKey("rogue-service");
    const rogue = buildFixtureLedger({
      transactions: 6,
      signEvery: 6,
      signer: signerFor(testKey("rogue-node"), rogueService),
      serviceKey: rogueService,
    });
    expectCorrupt(auditError(recordsOf(rogue.store)), 7, /signature\.service/);
    // A forged endorsement that claims the real service identity.
    const records = copy();
    records[6] = {
      ...records[6]!,
      bytes: editSignature(records[6]!.bytes, (r) => {
        (r.endorsement as Record<string, unknown>).from = 0;
      }),
    };
    expectCorrupt(auditError(records), 7, /signature\.endorsement/);
    // Unpinned: the service identity may not change halfway.
    const mixed = [...recordsOf(rogue.store).slice(0, 7), ...copy().slice(7, 14)];
    expectCorrupt(auditError(mixed, {}), 14);
  });

  it("a remembered endorsement covers exactly the validity it was verified for", () => {
    // The good ledger first: its endorsement verifies and is remembered.
    verifyLedger(RECORDS, { serviceKey: SERVICE, secrets: testSecrets() });
    for (const field of ["from", "to"]) {
      const records = copy();
      records[6] = {
        ...records[6]!,
        bytes: editSignature(records[6]!.bytes, (r) => {
          const endorsement = r.endorsement as Record<string, number>;
          endorsement[field] = endorsement[field]! + (field === "from" ? -1 : 1);
        }),
      };
      expectCorrupt(auditError(records), 7, /signature\.endorsement/);
    }
  });

  it("a root signed outside the node's endorsed validity is LedgerCorrupt", () => {
    const records = copy();
    records[6] = {
      ...records[6]!,
      bytes: forgeEntry(records[6]!.bytes, (outer) => {
        const header = decode<Record<string, unknown>>(outer.h);
        outer.h = encodeCanonical({
          ...header,
          meta: { ...(header.meta as object), time: VALID_FROM_MS - 1 },
        });
      }),
    };
    const err = auditError(records);
    expectCorrupt(err, 7, /signature\.endorsement/);
    assert.match(err.message, /validity/);
  });

  it("a wrong ledger secret is DecryptionFailed at the first private entry", () => {
    const wrong = new LedgerSecrets([new LedgerSecret(1, new Uint8Array(32).fill(9))]);
    const err = auditError(RECORDS, { serviceKey: SERVICE, secrets: wrong });
    assert.equal(err.code, "DecryptionFailed");
    assert.equal(err.details?.seqno, 1);
    const missing = auditError(RECORDS, {
      serviceKey: SERVICE,
      secrets: new LedgerSecrets([new LedgerSecret(2, new Uint8Array(32))]),
    });
    assert.equal(missing.code, "DecryptionFailed");
    assert.match(missing.message, /no ledger secret with version 1/);
  });

  it("parts that do not belong to an entry's kind are LedgerCorrupt (digest recomputed)", () => {
    const sealedPart = decode<{ x: Uint8Array }>(RECORDS[0]!.bytes).x;
    const cases: [
      number,
      (outer: { x: Uint8Array | null; s: Uint8Array | null; h: Uint8Array }) => void,
      RegExp,
    ][] = [
      [7, (o) => void Object.assign(o, { x: sealedPart }), /entry\.x/],
      [7, (o) => void Object.assign(o, { s: null }), /entry\.s/],
      [8, (o) => void Object.assign(o, { s: decode<{ s: Uint8Array }>(RECORDS[6]!.bytes).s }), /entry\.s/],
      [3, (o) => void Object.assign(o, { x: sealedPart }), /header\.secret/],
      [1, (o) => void Object.assign(o, { x: null }), /header\.secret/],
    ];
    for (const [seqno, edit, field] of cases) {
      const records = copy();
      records[seqno - 1] = { ...records[seqno - 1]!, bytes: forgeEntry(records[seqno - 1]!.bytes, edit) };
      expectCorrupt(auditError(records), seqno, field);
    }
  });

  it("hostile bytes in place of entries never crash the audit", () => {
    const hostile: Uint8Array[] = [
      new Uint8Array(0),
      new Uint8Array([0xc1]),
      new Uint8Array([0x80]),
      new Uint8Array([0xde, 0xff, 0xff]),
      Uint8Array.from(Buffer.from("85a168c0a170c0a178c0a173c0a164c0", "hex")),
      new Uint8Array(100).fill(0xff),
    ];
    for (const bytes of hostile) {
      const records = copy();
      records[4] = { ...records[4]!, bytes };
      expectCorrupt(auditError(records), 5);
    }
  });
});
