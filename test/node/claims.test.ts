/**
 * Application claims (issue 14): a contract binds the digest of its own claim to its transaction
 * (`setClaimsDigest`); the JSON and COSE receipts of that transaction prove it (ours and the
 * outside python verifier), and a tampered claim does not verify. A malformed or repeated
 * digest fails the call.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { sha256 } from "@noble/hashes/sha2.js";
import type board from "../../docs/examples/board/index.js";
import { toHex, utf8 } from "../../sdk/bytes.js";
import type { Client } from "../../sdk/client.js";
import { verifyCoseReceipt } from "../../sdk/cose-receipt.js";
import { TreatyError } from "../../sdk/errors.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { checkClaim } from "../../docs/examples/check-claim.js";

const VERIFIER = fileURLToPath(new URL("../../../test/support/verify_cose_receipt.py", import.meta.url));
const PYTHON = "/usr/bin/python3";
const FIXTURES = join("test", "fixtures", "contracts");

describe("application claims bound to a transaction", () => {
  let net: TestNode;
  let user: Client;
  let dir: string;
  before(async () => {
    net = await startTestNode({
      extraContracts: [
        { name: "board", path: "docs/examples/board" },
        { name: "claims", path: join(FIXTURES, "claims-abuse") },
      ],
    });
    user = net.client();
    dir = mkdtempSync(join(tmpdir(), "treaty-claims-"));
  });
  after(async () => {
    await net?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("proves the claim in the JSON and COSE receipts; a tampered claim fails", async () => {
    const b = user.contract<typeof board>("board");
    await user.waitForCommit((await b.post({ id: 7, text: "the lease is renewed" })).txid);
    const certified = await b.certify({ id: 7 });
    await user.waitForCommit(certified.txid);
    await net.settled();
    const certificate = certified.result.certificate;
    const digest = sha256(utf8.encode(certificate));

    const receipt = await (await fetch(`${net.url}/node/receipt?txid=${certified.txid}`)).json();
    const proved = verifyReceipt(receipt, net.serviceKey, { txid: certified.txid, claimsDigest: digest });
    assert.deepEqual(proved.claimsDigest, digest);
    const tampered = sha256(utf8.encode(certificate.replace("renewed", "cancelled")));
    assert.throws(
      () => verifyReceipt(receipt, net.serviceKey, { claimsDigest: tampered }),
      (err: unknown) =>
        err instanceof TreatyError && err.code === "ReceiptInvalid" && /claimsDigest/.test(err.message),
    );
    // A receipt whose claims digest was swapped for the tampered one no longer leads to the signed root.
    const forged = { ...receipt, leaf: { ...receipt.leaf, claimsDigest: toHex(tampered) } };
    assert.throws(
      () => verifyReceipt(forged, net.serviceKey, { claimsDigest: tampered }),
      (err: unknown) => err instanceof TreatyError && err.code === "ReceiptInvalid",
    );
    // A transaction without claims has none, and requiring one fails.
    const plain = await b.post({ id: 8, text: "no claim" });
    await user.waitForCommit(plain.txid);
    await net.settled();
    const plainReceipt = await (await fetch(`${net.url}/node/receipt?txid=${plain.txid}`)).json();
    assert.equal(verifyReceipt(plainReceipt, net.serviceKey).claimsDigest, null);
    assert.throws(() => verifyReceipt(plainReceipt, net.serviceKey, { claimsDigest: digest }));

    const cose = new Uint8Array(
      await (await fetch(`${net.url}/node/receipt/cose?txid=${certified.txid}`)).arrayBuffer(),
    );
    assert.deepEqual(verifyCoseReceipt(cose, net.serviceKey, { claimsDigest: digest }).claimsDigest, digest);
    assert.throws(() => verifyCoseReceipt(cose, net.serviceKey, { claimsDigest: tampered }));
    // docs/integration.md's check: the certificate passes, a tampered one does not.
    checkClaim(receipt, cose, net.serviceKey, certificate);
    assert.throws(() =>
      checkClaim(receipt, cose, net.serviceKey, certificate.replace("renewed", "cancelled")),
    );
    const file = join(dir, "claims.cose");
    writeFileSync(file, cose);
    const out = JSON.parse(
      execFileSync(PYTHON, [VERIFIER, file, toHex(net.serviceKey.publicKey), "--flip-every-byte"], {
        encoding: "utf8",
      }),
    ) as { ok: boolean; claimsDigest: string | null; accepted: number[] };
    assert.equal(out.ok, true);
    assert.equal(out.claimsDigest, toHex(digest), "the outside verifier reads the proved claims digest");
    assert.deepEqual(out.accepted, [], "no flipped byte verifies");
  });

  it("fails a call that binds a malformed digest or binds twice", async () => {
    for (const method of ["malformed", "twice"]) {
      await assert.rejects(
        user.call("claims", method, {}),
        (err: unknown) =>
          err instanceof TreatyError && err.code === "ContractFault" && /setClaimsDigest/.test(err.message),
      );
    }
    await user.waitForCommit((await user.call("claims", "ok", {})).txid);
  });
});
