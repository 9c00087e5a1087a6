import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildConsistencyProof, parseTreeSize } from "../../runtime/ledger/consistency.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { type ConsistencyProof, verifyConsistencyProof } from "../../sdk/consistency.js";
import { TreatyError } from "../../sdk/errors.js";
import type { KeyPair, PublicKey } from "../../sdk/keys.js";
import {
  buildFixtureLedger,
  SERVICE,
  signerFor,
  testKey,
  testRandom,
  testSecrets,
  txFor,
  VALID_FROM_MS,
} from "./fixtures.js";

const publicKeyOf = (key: KeyPair): PublicKey => ({ curve: key.curve, publicKey: key.publicKey });
const serviceKey = publicKeyOf(SERVICE);

function signedSizes(ledger: Ledger): number[] {
  const sizes: number[] = [];
  for (let seqno = 1; seqno <= ledger.lastSeqno; seqno++) {
    if (ledger.entry(seqno)!.header.kind === "signature") sizes.push(seqno - 1);
  }
  return sizes;
}

function rejects(fn: () => unknown, field: RegExp): void {
  assert.throws(
    fn,
    (err: unknown) => err instanceof TreatyError && err.code === "ReceiptInvalid" && field.test(err.message),
  );
}

describe("consistency proofs between signed roots", () => {
  const { ledger } = buildFixtureLedger({ transactions: 23, signEvery: 3, signLast: true, residentLevel: 2 });
  const commit = ledger.lastSeqno;
  const sizes = signedSizes(ledger);

  it("verify between any two signed sizes", () => {
    assert.ok(sizes.length >= 8);
    for (const from of sizes) {
      for (const to of sizes.filter((s) => s >= from)) {
        const proof = buildConsistencyProof(ledger, from, to, commit);
        const kept = proof.from;
        const checked = verifyConsistencyProof(JSON.parse(JSON.stringify(proof)), serviceKey, {
          trusted: kept,
        });
        assert.equal(checked.from.treeSize, from);
        assert.equal(checked.to.treeSize, to);
        assert.equal(checked.to.txid, `2.${to + 1}`);
      }
    }
  });

  it("fails when the ledger was rewritten under a root the client kept", () => {
    // Same keys, same history except one transaction before the kept root.
    const kept = buildConsistencyProof(ledger, sizes[3]!, sizes[3]!, commit).from;
    const forged = Ledger.open({
      store: new MemoryLedgerStore(),
      secrets: testSecrets(),
      random: testRandom(),
      serviceKey,
    });
    const signer = signerFor();
    for (let i = 0; i < 23; i++) {
      const tx = i === 5 ? { ...txFor(i), requestDigest: new Uint8Array(32).fill(7) } : txFor(i);
      forged.appendTransaction(2, tx);
      if ((i + 1) % 3 === 0) forged.appendSignature(2, signer, VALID_FROM_MS + 2000 + i);
    }
    forged.appendSignature(2, signer, VALID_FROM_MS + 5000);
    const last = sizes.at(-1)!;
    const honestForger = buildConsistencyProof(forged, sizes[3]!, last, forged.lastSeqno);
    // The forged ledger's own heads are signed and consistent with each other...
    verifyConsistencyProof(honestForger, serviceKey);
    // ...but not with the root the client kept,
    rejects(() => verifyConsistencyProof(honestForger, serviceKey, { trusted: kept }), /consistency\.from/);
    // and splicing the kept head in front of the forged proof does not verify either.
    const spliced: ConsistencyProof = { ...honestForger, from: kept };
    rejects(() => verifyConsistencyProof(spliced, serviceKey, { trusted: kept }), /consistency\.proof/);
  });

  it("fails on a changed proof hash, a foreign service key or swapped heads", () => {
    const proof = buildConsistencyProof(ledger, sizes[1]!, sizes[6]!, commit);
    assert.ok(proof.proof.length > 0);
    for (let i = 0; i < proof.proof.length; i++) {
      const path = [...proof.proof];
      path[i] = `${path[i]!.slice(0, 10)}${path[i]![10] === "0" ? "1" : "0"}${path[i]!.slice(11)}`;
      rejects(() => verifyConsistencyProof({ ...proof, proof: path }, serviceKey), /consistency\.proof/);
    }
    rejects(() => verifyConsistencyProof(proof, publicKeyOf(testKey("other"))), /endorsement/);
    rejects(
      () => verifyConsistencyProof({ ...proof, from: proof.to, to: proof.from }, serviceKey),
      /treeSize/,
    );
    rejects(
      () => verifyConsistencyProof({ ...proof, to: { ...proof.to, root: proof.from.root } }, serviceKey),
      /consistency\.to\.signature/,
    );
  });

  it("refuses sizes that were never signed, are not committed, or are out of order", () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as TreatyError).code;
      }
      return "ok";
    };
    assert.equal(
      code(() => buildConsistencyProof(ledger, sizes[0]! + 1, sizes[2]!, commit)),
      "TxNotFound",
    );
    assert.equal(
      code(() => buildConsistencyProof(ledger, sizes[0]!, sizes.at(-1)!, sizes[2]! + 1)),
      "TxNotCommitted",
    );
    assert.equal(
      code(() => buildConsistencyProof(ledger, sizes[2]!, sizes[0]!, commit)),
      "MalformedRequest",
    );
    assert.equal(
      code(() => buildConsistencyProof(ledger, 0, sizes[0]!, commit)),
      "MalformedRequest",
    );
    assert.equal(
      code(() => buildConsistencyProof(ledger, sizes[0]!, commit + 5, commit)),
      "TxNotFound",
    );
    for (const bad of [null, "", "0", "-1", "1.5", "01", "1e3", "99999999999999999"]) {
      assert.equal(
        code(() => parseTreeSize(bad, "from")),
        "MalformedRequest",
        String(bad),
      );
    }
  });
});
