/**
 * Proof endpoints over a real node: COSE receipts verified by an outside implementation (a
 * python3 script with Debian's cbor2 and cryptography, test/support/verify_cose_receipt.py) and
 * refused on any flipped byte; consistency proofs between the signed roots of two receipts.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { toHex } from "../../sdk/bytes.js";
import type { Client } from "../../sdk/client.js";
import { verifyConsistencyProof } from "../../sdk/consistency.js";
import { verifyCoseReceipt } from "../../sdk/cose-receipt.js";
import { startTestNode, type TestNode } from "../support/node.js";

const VERIFIER = fileURLToPath(new URL("../../../test/support/verify_cose_receipt.py", import.meta.url));
/** Debian's interpreter, where python3-cbor2 and python3-cryptography are installed. */
const PYTHON = "/usr/bin/python3";

describe("proof endpoints", () => {
  let net: TestNode;
  let user: Client;
  let dir: string;
  before(async () => {
    net = await startTestNode();
    user = net.client();
    dir = mkdtempSync(join(tmpdir(), "treaty-proofs-"));
  });
  after(async () => {
    await net?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function write(id: number): Promise<string> {
    const { txid } = await user.call<null>("log", "writePublic", { id, msg: `hello ${id}` });
    await user.waitForCommit(txid!);
    return txid!;
  }

  it("serves COSE receipts that an outside implementation verifies, and no flipped byte verifies", async () => {
    const txid = await write(1);
    await net.settled();
    const res = await fetch(`${net.url}/node/receipt/cose?txid=${txid}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/cose");
    const bytes = new Uint8Array(await res.arrayBuffer());
    const ours = verifyCoseReceipt(bytes, net.serviceKey, { txid });
    assert.equal(ours.kind, "user");

    const file = join(dir, "receipt.cose");
    writeFileSync(file, bytes);
    // Offline, from the file: Node reads it as a Buffer (a Uint8Array subclass), which verifies too.
    const fromFile = readFileSync(file);
    assert.ok(Buffer.isBuffer(fromFile));
    assert.deepEqual(verifyCoseReceipt(fromFile, net.serviceKey, { txid }), ours);
    const out = JSON.parse(
      execFileSync(PYTHON, [VERIFIER, file, toHex(net.serviceKey.publicKey), "--flip-every-byte"], {
        encoding: "utf8",
      }),
    ) as { ok: boolean; txid: string; root: string; flips: number; accepted: number[] };
    assert.equal(out.ok, true);
    assert.equal(out.txid, txid);
    assert.equal(out.root, toHex(ours.root));
    assert.equal(out.flips, bytes.length * 2);
    assert.deepEqual(out.accepted, [], "flipped bytes the outside verifier still accepted");

    // Another service's key does not verify it (the script exits 1).
    const other = "11".repeat(32);
    assert.throws(() => execFileSync(PYTHON, [VERIFIER, file, other], { stdio: "pipe" }));

    const missing = await fetch(`${net.url}/node/receipt/cose?txid=9.99999`);
    assert.equal(missing.status, 404);
    const bad = await fetch(`${net.url}/node/receipt/cose?txid=nope`);
    assert.equal(bad.status, 400);
  });

  it("serves consistency proofs between the signed roots of two receipts", async () => {
    const first = await write(2);
    await net.settled();
    const old = (await user.receipt(first)).receipt.signature;
    for (let i = 3; i < 6; i++) await write(i);
    await net.settled();
    const latest = (await user.receipt(await write(6))).receipt.signature;
    assert.ok(latest.treeSize > old.treeSize);
    const res = await fetch(`${net.url}/node/consistency?from=${old.treeSize}&to=${latest.treeSize}`);
    assert.equal(res.status, 200);
    const proved = verifyConsistencyProof(await res.json(), net.serviceKey, { trusted: old });
    assert.equal(proved.to.treeSize, latest.treeSize);
    assert.equal(toHex(proved.to.root), latest.root);

    const unsigned = await fetch(
      `${net.url}/node/consistency?from=${old.treeSize + 1}&to=${latest.treeSize}`,
    );
    assert.equal(unsigned.status, 404);
    const reversed = await fetch(`${net.url}/node/consistency?from=${latest.treeSize}&to=${old.treeSize}`);
    assert.equal(reversed.status, 400);
    const junk = await fetch(`${net.url}/node/consistency?from=abc&to=1`);
    assert.equal(junk.status, 400);
  });
});
