/**
 * Disaster recovery in one process: a service with three members holding 2-of-3 shares loses its
 * only node; a new node started with `recover` on a copy of the ledger waits in RecoveryShares,
 * refuses a forged share and says how many it has, rebuilds the secrets at the threshold, and
 * after the members' vote serves every private value; receipts from before and after the
 * disaster verify against the original service identity.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import type { NodeConfig } from "../../node/config.js";
import { MemoryNetwork } from "../../node/transport/memory.js";
import { silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import { type NodeRuntime, TreatyNode } from "../../node/service.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, type GovAction } from "../../sdk/governance.js";
import { generateKeyPair, keyId, type PublicKey } from "../../sdk/keys.js";
import { type Receipt, verifyReceipt } from "../../sdk/receipt.js";
import { RECOVERY_SHARES_PATH, sealShare, submitRecoveryShare } from "../../sdk/recovery.js";
import { signRequest } from "../../sdk/request.js";
import { type ConsistencyProof, verifyConsistencyProof } from "../../sdk/consistency.js";
import { runLedgerVerify } from "../../node/cli/ledger.js";
import { freePorts } from "../support/cluster.js";
import { decideByTwo, genesisMembers, nodeConfig, recoveryMembers } from "./service.js";
import { until } from "../support/poll.js";

/** `/node/status` of a node in the RecoveryShares phase (node/recovery/phase.ts). */
interface RecoveryStatus {
  readonly state?: string;
  readonly encryptionKey: string;
  readonly previousServiceKey: { readonly publicKey: string };
  readonly recovery: { readonly round: number; readonly received: number; readonly needed: number };
}

const random = (n: number) => new Uint8Array(randomBytes(n));
const members = recoveryMembers();
const user = generateKeyPair("ed25519");

describe("disaster recovery from a ledger copy with 2 of 3 member shares", () => {
  let dir: string;
  let original: TreatyNode | undefined;
  let recovered: TreatyNode | undefined;
  let joiner: TreatyNode | undefined;
  const network = new MemoryNetwork();
  const networked = (c: NodeConfig): NodeRuntime => ({
    ...realRuntime(c, silentLogger),
    transport: async ({ serviceId, identity, sessionEpoch }) =>
      network.createTransport({ serviceId, nodeId: identity.id, identity, sessionEpoch }),
  });
  let originalKey: PublicKey;
  const receipts: Receipt[] = [];
  const txids: string[] = [];

  const config = (name: string, extra: Record<string, unknown>) => nodeConfig(dir, name, extra);
  const decide = (client: Client, action: GovAction) => decideByTwo(client, members, action);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-recover-"));
    const c = config("a", {
      http: { host: "127.0.0.1", port: 0, tls: false },
      genesis: {
        members: genesisMembers(members),
        users: [{ publicKey: toHex(user.publicKey) }],
        contracts: [{ name: "log", path: resolve(findPackageRoot(), "contracts/examples/log") }],
        open: true,
        // Service state: the recovered service keeps it, so the joiner below needs no vote.
        autoTrustNodes: true,
      },
    });
    original = await TreatyNode.start(c, realRuntime(c, silentLogger));
    originalKey = original.serviceKey;
    const client = new Client({ nodes: [original.url], serviceKey: originalKey, key: user });
    await until("log loaded", async () => (original!.manifests.has("log") ? true : undefined));
    await decide(client, actions.setRecoveryThreshold(2));
    await until("a 2-of-3 share round", async () => {
      try {
        const r = await client.get<{ threshold: number }>("/gov/recovery");
        return r.threshold === 2 ? true : undefined;
      } catch {
        return undefined;
      }
    });
    const log = client.contract<typeof logContract>("log");
    for (let id = 1; id <= 5; id++) {
      const { txid } = await log.writePrivate({ id, msg: `secret ${id}` });
      txids.push(txid!);
    }
    for (const txid of txids) {
      await client.waitForCommit(txid);
      receipts.push(
        await until("a receipt", () =>
          client.receipt(txid).then(
            (r) => r.receipt,
            () => undefined,
          ),
        ),
      );
    }
    await original.stop();
    original = undefined;
    cpSync(join(dir, "a", "ledger"), join(dir, "surviving-ledger"), { recursive: true });
    rmSync(join(dir, "a"), { recursive: true, force: true });
    rmSync(join(dir, "a.key"));
  });

  after(async () => {
    await original?.stop();
    await joiner?.stop();
    await recovered?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("waits for shares, refuses a forged one, recovers at the threshold and opens by vote", async () => {
    const [port] = await freePorts(1);
    const url = `http://127.0.0.1:${port}`;
    const c = config("b", {
      http: { host: "127.0.0.1", port, tls: false },
      recover: { ledgerDir: join(dir, "surviving-ledger") },
    });
    const starting = TreatyNode.start(c, networked(c));
    let failure: unknown;
    starting.catch((err: unknown) => {
      failure = err;
    });
    const status = () => fetch(`${url}/node/status`).then((r) => r.json() as Promise<RecoveryStatus>);
    const waiting = await until("RecoveryShares", () => {
      if (failure !== undefined) throw failure;
      return status().then(
        (s) => (s.state === "RecoveryShares" ? s : undefined),
        () => undefined,
      );
    });
    assert.deepEqual(waiting.recovery.needed, 2);
    assert.equal(waiting.recovery.received, 0);
    assert.equal(waiting.previousServiceKey.publicKey, toHex(originalKey.publicKey));

    // A forged share: well sealed to the node and signed by a member, but not its share.
    const forged = await sealShare(
      members[2]!.key.id,
      waiting.encryptionKey,
      waiting.recovery.round,
      random(33),
      random,
    );
    const request = signRequest(members[2]!.key, keyId(originalKey), RECOVERY_SHARES_PATH, { share: forged });
    const refused = await fetch(url + request.path, {
      method: "POST",
      body: request.body as Uint8Array<ArrayBuffer>,
      headers: request.headers,
    });
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "InvalidRecoveryShare");
    // A share submitted by a stranger is refused too.
    await assert.rejects(
      submitRecoveryShare({
        node: url,
        member: generateKeyPair(),
        encryption: members[0]!.enc,
        serviceKey: originalKey,
      }),
    );
    assert.equal((await status()).recovery.received, 0, "refused shares change nothing");

    const first = await submitRecoveryShare({
      node: url,
      member: members[0]!.key,
      encryption: members[0]!.enc,
      serviceKey: originalKey,
    });
    assert.deepEqual(first, { received: 1, needed: 2, state: "RecoveryShares" });
    const oneShort = await status();
    assert.equal(oneShort.state, "RecoveryShares");
    assert.equal(oneShort.recovery.received, 1);
    const second = await submitRecoveryShare({
      node: url,
      member: members[2]!.key,
      encryption: members[2]!.enc,
      serviceKey: originalKey,
    });
    assert.equal(second.state, "Recovering");
    recovered = await starting;

    const serviceKey = recovered.serviceKey;
    assert.notEqual(toHex(serviceKey.publicKey), toHex(originalKey.publicKey), "a new service identity");
    const client = new Client({ nodes: [url], serviceKey, key: user });
    await until("the recovering service", async () =>
      recovered!.gov.service()?.status === "recovering" ? true : undefined,
    );
    // The recovering node's record announces what its code reads (the lost node's is retired).
    assert.deepEqual(recovered.gov.node(recovered.identity.id)?.features, ["nonceLog"]);
    const log = client.contract<typeof logContract>("log");
    await assert.rejects(log.writePrivate({ id: 9, msg: "too early" }), (e) =>
      isTreatyError(e, "ServiceNotOpen"),
    );
    await decide(new Client({ nodes: [url], serviceKey }), actions.transitionServiceToOpen());

    for (let id = 1; id <= 5; id++)
      assert.deepEqual((await log.readPrivate({ id })).result, { msg: `secret ${id}` });
    const { txid } = await log.writePrivate({ id: 6, msg: "after the disaster" });
    await client.waitForCommit(txid!);
    assert.deepEqual((await log.readPrivate({ id: 6 })).result, { msg: "after the disaster" });

    // Receipts: from before (kept), re-issued after, and new ones all verify against the original identity.
    for (const [i, receipt] of receipts.entries()) verifyReceipt(receipt, originalKey, { txid: txids[i]! });
    const plain = new Client({ nodes: [url], serviceKey: originalKey });
    for (const old of txids) await plain.receipt(old);
    const fresh = await until("a new receipt", () =>
      plain.receipt(txid!).then(
        (r) => r.receipt,
        () => undefined,
      ),
    );
    assert.ok(fresh.serviceEndorsements?.length === 1);
    verifyReceipt(fresh, originalKey, { txid: txid! });
    verifyReceipt(fresh, serviceKey, { txid: txid! });
    // Without the chain, the new receipt does not verify against the original identity.
    const { serviceEndorsements: _, ...bare } = fresh;
    assert.throws(
      () => verifyReceipt(bare, originalKey),
      (e) => isTreatyError(e, "ReceiptInvalid"),
    );
    // A node joins the recovered service: it replicates the whole ledger, signatures of both
    // identities, and serves the private state recovered.
    const j = config("c", {
      http: { host: "127.0.0.1", port: 0, tls: false },
      join: { nodes: [url], serviceKey: toHex(serviceKey.publicKey) },
    });
    joiner = await TreatyNode.start(j, networked(j));
    const joined = new Client({ nodes: [joiner.url], serviceKey, key: user }).contract<typeof logContract>(
      "log",
    );
    const read = await until("the joiner to serve recovered private state", () =>
      joined.readPrivate({ id: 6 }).then(
        (r) => r.result,
        () => undefined,
      ),
    );
    assert.deepEqual(read, { msg: "after the disaster" });
    assert.deepEqual((await joined.readPrivate({ id: 1 })).result, { msg: "secret 1" });

    // A consistency proof from a root signed before the disaster to one signed after verifies
    // against the original identity through the chain it carries, and not without it.
    const response = await fetch(
      `${url}/node/consistency?from=${receipts[0]!.signature.treeSize}&to=${fresh.signature.treeSize}`,
    );
    const proof = (await response.json()) as ConsistencyProof;
    assert.equal(proof.serviceEndorsements?.length, 1);
    const checked = verifyConsistencyProof(proof, originalKey, {
      trusted: { treeSize: receipts[0]!.signature.treeSize, root: receipts[0]!.signature.root },
    });
    assert.equal(checked.to.treeSize, fresh.signature.treeSize);
    const { serviceEndorsements: _chain, ...unchained } = proof;
    assert.throws(
      () => verifyConsistencyProof(unchained, originalKey),
      (e) => isTreatyError(e, "ReceiptInvalid") && /consistency\.to\.node\.endorsement/.test(e.message),
    );

    // Offline audit of the recovered node's ledger, pinned to the original identity: the
    // signatures of both services verify, the later ones through the recorded endorsement.
    await joiner.stop();
    await recovered.stop();
    const pin = ["--service-key", `ed25519:${toHex(originalKey.publicKey)}`, "--quiet"];
    const audit = await ledgerVerify([recovered.config.dataDir, ...pin]);
    assert.equal(audit.code, 0, audit.out);
    const report = JSON.parse(audit.out) as { serviceIdentities: string[]; signatures: number };
    assert.deepEqual(report.serviceIdentities, [toHex(originalKey.publicKey), toHex(serviceKey.publicKey)]);
    // Pinned to the new identity, the signatures before the disaster are refused.
    const wrongPin = await ledgerVerify([
      recovered.config.dataDir,
      "--service-key",
      `ed25519:${toHex(serviceKey.publicKey)}`,
      "--quiet",
    ]);
    assert.equal(wrongPin.code, 1);
    assert.match(wrongPin.out, /signature\.service/);
  });
});

async function ledgerVerify(argv: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const code = await runLedgerVerify(argv, { out: (t) => (out += t), err: () => {}, nowMs: () => 0 });
  return { code, out };
}
