/**
 * End to end on one real node: SDK → HTTP → admission → sequencer → sandbox → ledger → commit →
 * receipt, verified offline against the pinned service key (and refused when tampered with);
 * the typed client; auth policies for signed and unsigned calls; both body encodings.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import type bankContract from "../../contracts/examples/bank/index.js";
import type logContract from "../../contracts/examples/log/index.js";
import type meterContract from "../../contracts/examples/meter/index.js";
import { equalBytes, toHex } from "../../sdk/bytes.js";
import type { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair, keyId, toKeyFile } from "../../sdk/keys.js";
import { parseTxId, type Receipt, verifyReceipt } from "../../sdk/receipt.js";
import { signingInput, signRequest } from "../../sdk/request.js";
import { sha256 } from "../../runtime/crypto.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { runScript } from "../support/cli.js";

/** Asserts that `promise` rejects with a TreatyError carrying `code`. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isTreatyError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

type DeepMutable<T> = { -readonly [K in keyof T]: DeepMutable<T[K]> };
type MutableReceipt = DeepMutable<Receipt>;

/** A deep copy of a receipt with one field changed by `mutate`. */
function tampered(receipt: Receipt, mutate: (r: MutableReceipt) => void): unknown {
  const copy = structuredClone(receipt) as MutableReceipt;
  mutate(copy);
  return copy;
}

/** Flips the last hex digit of a hex string. */
function flip(hex: string): string {
  return hex.slice(0, -1) + (hex.at(-1) === "0" ? "1" : "0");
}

describe("end to end on one node", () => {
  let net: TestNode;
  let user: Client;
  let member: Client;
  let anonymous: Client;
  before(async () => {
    net = await startTestNode();
    user = net.client();
    member = net.client(net.member);
    anonymous = net.client(null);
  });
  after(() => net?.dispose());

  it("a signed write commits and its receipt verifies against the pinned service key", async () => {
    const path = "/app/log/writePrivate";
    const request = signRequest(net.user, keyId(net.serviceKey), path, { id: 1, msg: "secret hello" });
    const { result, txid } = await user.post<{ result: unknown; txid: string }>(request);
    assert.equal(result, null);
    assert.match(txid, /^[0-9]+\.[0-9]+$/);
    await user.waitForCommit(txid);
    assert.equal(await user.txStatus(txid), "Committed");

    const { receipt, verified } = await user.receipt(txid);
    assert.equal(verified.txid, txid);
    assert.equal(verified.kind, "user");
    assert.equal(verified.nodeId, net.node.identity.id);
    // The receipt binds the exact request bytes the user signed.
    const digest = sha256(signingInput(keyId(net.serviceKey), path, request.body));
    assert.ok(verified.requestDigest !== null && equalBytes(verified.requestDigest, digest));
    verifyReceipt(receipt, net.serviceKey, { txid, requestDigest: digest });
    // The entry the receipt names is the one in the node's ledger.
    const entry = net.node.ledger.get(verified.seqno);
    assert.ok(entry !== undefined);
    assert.equal(entry.view, verified.view);

    const read = await user.call("log", "readPrivate", { id: 1 });
    assert.deepEqual(read.result, { msg: "secret hello" });
    // A read names the committed state it observed: at or after the write.
    assert.equal(read.status, "Committed");
    assert.ok(parseTxId(read.txid).seqno >= verified.seqno);
    assert.deepEqual(read.events, []);
  });

  it("a tampered receipt, or one checked against another service key, fails as ReceiptInvalid", async () => {
    const { txid } = await user.call("log", "writePublic", { id: 2, msg: "public hello" });
    await user.waitForCommit(txid!);
    const receipt = await user.get<Receipt>(`/node/receipt?txid=${txid}`);
    verifyReceipt(receipt, net.serviceKey, { txid: txid! });
    const cases: Array<[string, (r: MutableReceipt) => void]> = [
      ["entryDigest", (r) => (r.leaf.entryDigest = flip(r.leaf.entryDigest))],
      ["requestDigest", (r) => (r.leaf.requestDigest = flip(r.leaf.requestDigest!))],
      ["kind", (r) => (r.leaf.kind = "member")],
      ["seqno", (r) => (r.leaf.seqno += 1)],
      ["root", (r) => (r.signature.root = flip(r.signature.root))],
      ["root signature", (r) => (r.signature.signature = flip(r.signature.signature))],
      ["signing time", (r) => (r.signature.timeMs += 1)],
      ["node key", (r) => (r.node.publicKey = toHex(generateKeyPair().publicKey))],
      ["endorsement", (r) => (r.node.endorsement.signature = flip(r.node.endorsement.signature))],
      ["endorsement validity", (r) => (r.node.endorsement.validToMs += 1)],
    ];
    if (receipt.proof.length > 0) {
      cases.push(["proof", (r) => (r.proof[0] = flip(r.proof[0]!))]);
    }
    for (const [name, mutate] of cases) {
      assert.throws(
        () => verifyReceipt(tampered(receipt, mutate), net.serviceKey, { txid: txid! }),
        (err: unknown) => isTreatyError(err, "ReceiptInvalid"),
        `tampered ${name} must not verify`,
      );
    }
    const otherService = generateKeyPair();
    assert.throws(
      () => verifyReceipt(receipt, otherService, { txid: txid! }),
      (err: unknown) => isTreatyError(err, "ReceiptInvalid"),
    );
    // A receipt for one txid is not a receipt for another.
    assert.throws(
      () => verifyReceipt(receipt, net.serviceKey, { txid: "1.1" }),
      (err: unknown) => isTreatyError(err, "ReceiptInvalid"),
    );
  });

  it("the typed client carries the contract's own argument and result types", async () => {
    const log = user.contract<typeof logContract>("log");
    const written = await log.writePublic({ id: 3, msg: "typed" });
    assert.ok(written.txid !== undefined);
    await user.waitForCommit(written.txid); // reads see committed state
    const read = await log.readPublic({ id: 3 });
    const msg: string = read.result.msg;
    assert.equal(msg, "typed");
    await rejectsWith(log.readPublic({ id: 404 }), "MessageNotFound");
    // Type-level checks: each line below must fail to compile (tsc checks the test files).
    const typeChecks = () => {
      // @ts-expect-error id must be a number
      void log.writePublic({ id: "3", msg: "x" });
      // @ts-expect-error msg is required
      void log.writePublic({ id: 3 });
      // @ts-expect-error no such method
      void log.erase({ id: 3 });
    };
    assert.equal(typeof typeChecks, "function");
  });

  it("members and users get the methods their policies allow, and receipts say which kind", async () => {
    const bankAsUser = user.contract<typeof bankContract>("bank");
    const bankAsMember = member.contract<typeof bankContract>("bank");
    assert.deepEqual((await bankAsUser.openAccount({})).result, { id: net.user.id });
    const minted = await bankAsMember.mint({ to: net.user.id, amount: 500 });
    assert.deepEqual(minted.result, { supply: 500 });
    await user.waitForCommit(minted.txid); // reads see committed state
    assert.deepEqual((await bankAsUser.balance({})).result, { balance: 500 });
    assert.deepEqual((await bankAsMember.totalSupply({})).result, { supply: 500 });
    await rejectsWith(bankAsUser.mint({ to: net.user.id, amount: 1 }), "Forbidden");
    await rejectsWith(bankAsUser.totalSupply({}), "Forbidden");
    await rejectsWith(bankAsMember.openAccount({}), "Forbidden");
    await rejectsWith(bankAsUser.transfer({ to: "nobody", amount: 1 }), "AccountNotFound");
    await member.waitForCommit(minted.txid!);
    const { verified } = await member.receipt(minted.txid!);
    assert.equal(verified.kind, "member");
  });

  it("readonly methods open to anyone answer unsigned calls; every other method refuses them", async () => {
    const meterAsMember = member.contract<typeof meterContract>("meter");
    const set = await meterAsMember.setTariff({ bands: [{ startHour: 0, centsPerKwh: 12 }] });
    await member.waitForCommit(set.txid);
    const tariff = await anonymous.contract<typeof meterContract>("meter").tariff({});
    assert.deepEqual(tariff.result.bands, [{ startHour: 0, centsPerKwh: 12 }]);
    assert.equal(tariff.status, "Committed");
    // Readonly but for users only, and readwrite: both need a signature.
    await rejectsWith(anonymous.call("log", "readPublic", { id: 2 }), "Forbidden");
    await rejectsWith(anonymous.call("meter", "myBill", {}), "Forbidden");
    const before = await net.settled();
    await rejectsWith(anonymous.call("log", "writePublic", { id: 9, msg: "anon" }), "Forbidden");
    assert.equal(net.node.ledger.lastSeqno, before);
    await rejectsWith(user.call("log", "readPublic", { id: 9 }), "MessageNotFound");
  });

  it("MessagePack bodies and answers work like JSON ones", async () => {
    const packed = net.client(net.user, { encoding: "msgpack" });
    const { txid } = await packed.call("log", "writePublic", { id: 4, msg: "über packed ✓" });
    await packed.waitForCommit(txid);
    assert.deepEqual((await packed.call("log", "readPublic", { id: 4 })).result, { msg: "über packed ✓" });
    assert.deepEqual((await user.call("log", "readPublic", { id: 4 })).result, { msg: "über packed ✓" });
  });

  it("a contract's own error comes back with its code and status 422, and nothing is written", async () => {
    const before = await net.settled();
    const answer = await net.post("/app/log/readPublic", JSON.stringify({ args: { id: 777 } }), {
      "content-type": "application/json",
    });
    // Unsigned: refused by policy before the contract runs.
    assert.equal(answer.status, 403);
    const request = signRequest(net.user, keyId(net.serviceKey), "/app/bank/transfer", {
      to: net.member.id,
      amount: 10,
    });
    const refused = await net.post(request.path, request.body, request.headers);
    assert.equal(refused.status, 422);
    assert.equal(refused.code, "AccountNotFound");
    assert.equal(net.node.ledger.lastSeqno, before);
    assert.deepEqual((await user.contract<typeof bankContract>("bank").balance({})).result, { balance: 500 });
  });

  it("/node/status and /node/network describe this node, with the URL it really serves on", async () => {
    const status = await anonymous.status();
    assert.equal(status.nodeId, net.node.identity.id);
    assert.equal(status.role, "leader");
    assert.deepEqual(status.serviceKey, { curve: "ed25519", publicKey: toHex(net.serviceKey.publicKey) });
    const network = await anonymous.get<{ leader: string; nodes: { nodeId: string; url: string | null }[] }>(
      "/node/network",
    );
    assert.equal(network.leader, net.node.identity.id);
    // The node was configured with port 0 (ephemeral): the record must hold the bound port.
    assert.deepEqual(network.nodes, [
      { nodeId: net.node.identity.id, status: "trusted", role: "leader", url: net.url },
    ]);
  });

  it("the README's SDK example runs against the node", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-example-"));
    try {
      writeFileSync(join(dir, "service.json"), JSON.stringify(net.serviceFile));
      writeFileSync(join(dir, "user0.json"), JSON.stringify(toKeyFile(net.user)));
      const script = fileURLToPath(new URL("../../examples/sdk-call.js", import.meta.url));
      const run = await runScript(script, [join(dir, "service.json"), join(dir, "user0.json")]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout,
        /^message \d+ "hello from the SDK" is in transaction \d+\.\d+: receipt verified \(user\)\n$/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
