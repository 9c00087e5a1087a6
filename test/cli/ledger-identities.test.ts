/**
 * `treaty ledger verify` across a disaster recovery (node/cli/ledger-identities.ts): a ledger
 * signed first under one service identity, then, after an entry recording the next identity
 * endorsed by the first, under the next, verifies against the first (pinned) through the
 * endorsement; without the chain, with a forged or unrelated endorsement, or with a malformed
 * one it is refused with LedgerCorrupt naming the seqno.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EndorsementChain, recordedEndorsementChain } from "../../node/cli/ledger-identities.js";
import { publicWriteSet } from "../../node/genesis.js";
import { GOV } from "../../node/gov/tables.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { type LedgerStore, MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { LmdbLedgerStore, ledgerStoreDir } from "../../runtime/ledger/lmdb-store.js";
import { runLedgerConsistency, runLedgerReceipt } from "../../node/cli/ledger.js";
import { verifyConsistencyProof } from "../../sdk/consistency.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { verifyLedger } from "../../runtime/ledger/verify.js";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { type KeyPair, sign } from "../../sdk/keys.js";
import { serviceEndorsementMessage } from "../../sdk/receipt.js";
import {
  SERVICE,
  signerFor,
  testKey,
  testRandom,
  testSecrets,
  txFor,
  VALID_FROM_MS,
} from "../ledger/fixtures.js";
import { captureLedgerIo } from "../support/cli.js";

const NEXT = testKey("service-after-recovery");
const STRANGER = testKey("stranger");
const NODE_AFTER = testKey("node-after-recovery");

/** 6 transactions signed under SERVICE, the endorsement entry `value`, 6 signed under NEXT. */
function recoveredLedger<S extends LedgerStore = MemoryLedgerStore>(
  value: unknown,
  store: S = new MemoryLedgerStore() as LedgerStore as S,
): S {
  const ledger = Ledger.open({ store, secrets: testSecrets(), random: testRandom() });
  for (let i = 0; i < 6; i++) ledger.appendTransaction(2, txFor(i));
  ledger.appendSignature(2, signerFor(), VALID_FROM_MS + 3000);
  ledger.appendTransaction(3, {
    kind: "internal",
    writeSet: publicWriteSet([{ map: GOV.serviceEndorsements, key: toHex(NEXT.publicKey), value }]),
    meta: { timeMs: VALID_FROM_MS + 3500, contract: null, method: "recover_service", callerId: null },
  });
  for (let i = 6; i < 12; i++) ledger.appendTransaction(3, txFor(i));
  ledger.appendSignature(3, signerFor(NODE_AFTER, NEXT), VALID_FROM_MS + 6000);
  ledger.persist();
  return store;
}

const endorsement = (by: KeyPair, signer: KeyPair = by) => ({
  endorsedBy: toHex(by.publicKey),
  signature: toHex(sign(signer, serviceEndorsementMessage(NEXT.publicKey))),
  timeMs: VALID_FROM_MS + 3500,
});

const verify = (store: MemoryLedgerStore, chain = true) =>
  verifyLedger(store.range(1), {
    serviceKey: SERVICE,
    ...(chain && { identities: new EndorsementChain() }),
  });

const corruptAt = (seqno: number, field: RegExp) => (err: unknown) =>
  isTreatyError(err) &&
  err.code === "LedgerCorrupt" &&
  err.details?.seqno === seqno &&
  field.test(err.message);

describe("ledger verify follows the service endorsement chain", () => {
  it("verifies both services' signatures against the original identity", () => {
    const store = recoveredLedger(endorsement(SERVICE));
    const identities = new EndorsementChain();
    const report = verifyLedger(store.range(1), { serviceKey: SERVICE, identities });
    assert.equal(report.signatures, 2);
    assert.deepEqual(identities.identities, [toHex(SERVICE.publicKey), toHex(NEXT.publicKey)]);
  });

  it("without the chain, the recovered service's signature is refused", () => {
    assert.throws(() => verify(recoveredLedger(endorsement(SERVICE)), false), corruptAt(15, /service key/));
  });

  it("a forged endorsement claiming the pinned identity is refused where it is recorded", () => {
    const forged = endorsement(SERVICE, STRANGER);
    assert.throws(() => verify(recoveredLedger(forged)), corruptAt(8, /not signed by/));
  });

  it("an endorsement by an identity the pinned one never endorsed establishes nothing", () => {
    assert.throws(
      () => verify(recoveredLedger(endorsement(STRANGER))),
      corruptAt(15, /neither the pinned service identity nor one it endorsed/),
    );
  });

  it("a malformed endorsement is a coded error naming its seqno", () => {
    for (const value of [{ endorsedBy: "zz", signature: "00" }, "not a record", 42]) {
      assert.throws(() => verify(recoveredLedger(value)), corruptAt(8, /gov\.serviceEndorsements/));
    }
  });
});

describe("offline receipts and consistency proofs carry the recorded endorsement chain", () => {
  /** Runs `body` with a data dir holding the recovered ledger; removes it after. */
  async function withDataDir(body: (dir: string) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), "treaty-ledger-chain-"));
    try {
      const store = recoveredLedger(endorsement(SERVICE), LmdbLedgerStore.open(ledgerStoreDir(dir)));
      await store.close();
      await body(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const expectedChain = [
    {
      publicKey: toHex(NEXT.publicKey),
      endorsedBy: toHex(SERVICE.publicKey),
      signature: endorsement(SERVICE).signature,
    },
  ];

  it("a consistency proof across the recovery verifies against the original identity", async () => {
    await withDataDir(async (dir) => {
      const io = captureLedgerIo();
      // Tree 6 was signed (seqno 7) under SERVICE, tree 14 (seqno 15) under NEXT.
      assert.equal(await runLedgerConsistency([dir, "6", "14"], io), 0, io.stdout);
      const proof = JSON.parse(io.stdout) as { serviceEndorsements?: unknown };
      assert.deepEqual(proof.serviceEndorsements, expectedChain);
      const proved = verifyConsistencyProof(proof, SERVICE);
      assert.deepEqual([proved.from.txid, proved.to.txid], ["2.7", "3.15"]);
      // The chain is what makes it verify: without it the newer head is refused.
      const { serviceEndorsements: _chain, ...bare } = proof;
      assert.throws(
        () => verifyConsistencyProof(bare, SERVICE),
        (e) => isTreatyError(e, "ReceiptInvalid"),
      );
    });
  });

  it("a receipt signed by the recovered service verifies against the original identity", async () => {
    await withDataDir(async (dir) => {
      const io = captureLedgerIo();
      assert.equal(await runLedgerReceipt([dir, "3.10"], io), 0, io.stdout);
      const receipt = JSON.parse(io.stdout) as { serviceEndorsements?: unknown };
      assert.deepEqual(receipt.serviceEndorsements, expectedChain);
      assert.equal(verifyReceipt(receipt, SERVICE).signedBy, "3.15");
      // Before the recovery entry commits (--commit-seqno 7), nothing is attached.
      const before = captureLedgerIo();
      assert.equal(await runLedgerReceipt([dir, "2.3", "--commit-seqno", "7"], before), 0, before.stdout);
      assert.equal(
        (JSON.parse(before.stdout) as { serviceEndorsements?: unknown }).serviceEndorsements,
        undefined,
      );
    });
  });
});

describe("recordedEndorsementChain from a snapshot's state", () => {
  const THIRD = testKey("service-after-second-recovery");
  /** The gov.serviceEndorsements row endorsing `identity` by `by`, as a snapshot's state holds it. */
  const row = (identity: KeyPair, by: KeyPair) =>
    [
      utf8.encode(toHex(identity.publicKey)),
      utf8.encode(
        JSON.stringify({
          endorsedBy: toHex(by.publicKey),
          signature: toHex(sign(by, serviceEndorsementMessage(identity.publicKey))),
          timeMs: VALID_FROM_MS,
        }),
      ),
    ] as const;
  const links = [row(NEXT, SERVICE), row(THIRD, NEXT)];
  const expected = [
    { publicKey: toHex(NEXT.publicKey), endorsedBy: toHex(SERVICE.publicKey) },
    { publicKey: toHex(THIRD.publicKey), endorsedBy: toHex(NEXT.publicKey) },
  ];

  it("leads to the last identity endorsed whatever the rows' key order (a ledger that starts after a snapshot)", () => {
    // A state holds rows in key order, not in the order the recoveries recorded them.
    for (const writes of [links, [...links].reverse()]) {
      const chain = recordedEndorsementChain([], {
        seqno: 20,
        state: [
          { map: "public:other", writes: [] },
          { map: GOV.serviceEndorsements, writes },
        ],
      });
      assert.deepEqual(
        chain.map(({ publicKey, endorsedBy }) => ({ publicKey, endorsedBy })),
        expected,
      );
    }
    assert.deepEqual(recordedEndorsementChain([], { seqno: 20, state: [] }), []);
  });
});
