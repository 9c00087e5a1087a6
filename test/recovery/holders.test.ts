/**
 * Who holds a recovery share: active members with a usable encryption key. A wallet member
 * (recorded by address, no encryption key) never does, whatever else its record carries; nor does
 * a member whose key is of small order (a ledger from before governance refused them), whose
 * share could never be sealed: it must not stop every other member's round.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GovView } from "../../node/gov/view.js";
import { GOV, type MemberRecord, tableKey, tableValue } from "../../node/gov/tables.js";
import { RecoveryShareIssuer } from "../../node/recovery/issuer.js";

describe("recovery share holders", () => {
  it("are the active key members with an encryption key; wallet members are not", () => {
    const members: Record<string, MemberRecord> = {
      alice: {
        curve: "ed25519",
        publicKey: "aa".repeat(32),
        encryptionKey: "11".repeat(32),
        status: "active",
      },
      bob: { curve: "secp256k1", publicKey: `02${"bb".repeat(32)}`, status: "active" },
      carol: {
        curve: "ed25519",
        publicKey: "cc".repeat(32),
        encryptionKey: "00".repeat(32), // x25519's point of order 1: every shared secret is zero
        status: "active",
      },
      [`0x${"cd".repeat(20)}`]: { address: `0x${"cd".repeat(20)}`, data: { name: "dao" }, status: "active" },
    };
    const gov = new GovView();
    gov.applyWrites([
      {
        map: GOV.members,
        writes: Object.entries(members).map(([id, record]) => [tableKey(id), tableValue(record)] as const),
      },
    ]);
    assert.deepEqual(RecoveryShareIssuer.holders(gov), [
      { memberId: "alice", encryptionKey: "11".repeat(32) },
    ]);
  });
});
