/**
 * Ledger rekey on three in-process nodes (in-memory transport): `trigger_ledger_rekey` makes a
 * new ledger secret version that every node receives through the ledger, new private writes use
 * it, old entries stay readable everywhere, recovery shares are issued again, and a second rekey
 * survives the leader stopping right after the proposal is accepted. The stopped-node ledger and
 * a survivor's pass `treaty ledger verify --ledger-secret` with every version.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { parseConfig } from "../../node/config.js";
import { GOV } from "../../node/gov/tables.js";
import { silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import { createSealingProvider } from "../../node/secrets/sealing.js";
import { type NodeRuntime, TreatyNode } from "../../node/service.js";
import { MemoryNetwork } from "../../node/transport/memory.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { generateEncryptionKeyPair } from "../../sdk/recovery.js";
import { treaty } from "../support/cli.js";

const member = generateKeyPair("ed25519");
const user = generateKeyPair("ed25519");
const network = new MemoryNetwork();
const running = new Set<TreatyNode>();
let dir: string;

async function startNode(index: number, extra: Record<string, unknown>): Promise<TreatyNode> {
  const config = parseConfig(
    {
      dataDir: join(dir, `node${index}`),
      sealing: { provider: "virtual", keyFile: join(dir, `node${index}.key`) },
      http: { host: "127.0.0.1", port: 0, tls: false },
      ledger: { signatureIntervalMs: 20 },
      autoTrustNodes: true,
      logLevel: "error",
      ...extra,
    },
    dir,
  );
  const runtime: NodeRuntime = {
    ...realRuntime(config, silentLogger),
    transport: async ({ serviceId, identity, sessionEpoch }) =>
      network.createTransport({ serviceId, nodeId: identity.id, identity, sessionEpoch }),
  };
  const node = await TreatyNode.start(config, runtime);
  running.add(node);
  return node;
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const leaderOf = () =>
  until("a leader", () => [...running].find((n) => n.replica.consensus.status().role === "Leader"));
const secretVersion = (node: TreatyNode) =>
  node.gov.row<{ version: number }>(GOV.ledgerSecret, "current")?.version ?? 1;

describe("ledger rekey", () => {
  let founder: TreatyNode;
  let next = 1;
  const written: Array<{ id: number; txid: string }> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-rekey-"));
    founder = await startNode(0, {
      genesis: {
        members: [
          { publicKey: toHex(member.publicKey), encryptionKey: toHex(generateEncryptionKeyPair().publicKey) },
        ],
        users: [{ publicKey: toHex(user.publicKey) }],
        contracts: [{ name: "log", path: resolve(findPackageRoot(), "contracts/examples/log") }],
        open: true,
      },
    });
    await until("the founder to lead and load log", () =>
      founder.replica.consensus.status().role === "Leader" && founder.manifests.has("log") ? true : undefined,
    );
    const joining = { join: { nodes: [founder.url], serviceKey: toHex(founder.serviceKey.publicKey) } };
    await Promise.all([startNode(1, joining), startNode(2, joining)]);
    await until("three voting nodes", () =>
      founder.replica.consensus.status().config?.length === 3 ? true : undefined,
    );
  });

  after(async () => {
    await Promise.all([...running].map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const write = async (count: number) => {
    const leader = await leaderOf();
    const log = new Client({
      nodes: [...running].map((n) => n.url),
      serviceKey: leader.serviceKey,
      key: user,
    });
    for (let i = 0; i < count; i++) {
      const id = next++;
      const { txid } = await log.contract<typeof logContract>("log").writePrivate({ id, msg: `value ${id}` });
      await log.waitForCommit(txid!);
      written.push({ id, txid: txid! });
    }
  };
  const rekey = async () => {
    const leader = await leaderOf();
    const gov = new Governance(new Client({ nodes: [leader.url], serviceKey: leader.serviceKey }), member);
    const { proposalId } = await gov.propose([actions.triggerLedgerRekey()]);
    const result = await gov.vote(proposalId, "for");
    assert.equal(result.state, "Accepted");
    return leader;
  };
  const readAll = async (node: TreatyNode) => {
    const log = new Client({ nodes: [node.url], serviceKey: node.serviceKey, key: user }).contract<
      typeof logContract
    >("log");
    for (const { id } of written) {
      const read = await until(`value ${id} on ${node.identity.id.slice(0, 8)}`, () =>
        log.readPrivate({ id }).then(
          (r) => r.result,
          () => undefined,
        ),
      );
      assert.deepEqual(read, { msg: `value ${id}` });
    }
  };
  const versionOfTx = (node: TreatyNode, txid: string) =>
    node.ledger.entry(Number(txid.split(".")[1]))!.header.secretVersion;

  it("switches new private writes to a new version; every node reads old and new; shares are re-issued", async () => {
    await write(4);
    const client = new Client({ nodes: [founder.url], serviceKey: founder.serviceKey });
    await rekey();
    await until("version 2 active on every node", () =>
      [...running].every((n) => secretVersion(n) === 2) ? true : undefined,
    );
    await write(4);
    const leader = await leaderOf();
    assert.deepEqual(
      written.map((w) => versionOfTx(leader, w.txid)),
      [1, 1, 1, 1, 2, 2, 2, 2],
    );
    for (const node of running) await readAll(node);
    await until("shares for versions 1 and 2", () =>
      client.get<{ ledgerSecretVersions: number[] }>("/gov/recovery").then(
        (r) => (r.ledgerSecretVersions.join() === "1,2" ? true : undefined),
        () => undefined,
      ),
    );
  });

  it("a leader stopped right after a rekey is accepted: the new leader completes it", async () => {
    const old = await rekey();
    await old.stop();
    running.delete(old);
    await until("version 3 active on the survivors", () =>
      [...running].every((n) => secretVersion(n) >= 3) ? true : undefined,
    );
    await write(3);
    const leader = await leaderOf();
    for (const w of written.slice(-3)) assert.ok(versionOfTx(leader, w.txid) >= 3);
    for (const node of running) await readAll(node);

    // Offline audit of a survivor's ledger with every version it holds.
    const survivor = [...running].find((n) => n !== leader)!;
    const lastSeqno = leader.ledger.lastSeqno;
    await until("the survivor to catch up", () =>
      survivor.ledger.lastSeqno >= lastSeqno ? true : undefined,
    );
    await survivor.stop();
    running.delete(survivor);
    const sealed = createSealingProvider(survivor.config.sealing, survivor.config.dataDir, {
      randomBytes: (n) => new Uint8Array(randomBytes(n)),
    }).unseal()!;
    const versions = sealed.secrets!.ledgerSecrets.map((s) => s.version);
    assert.ok(versions.includes(1) && versions.includes(2) && versions.some((v) => v >= 3));
    writeFileSync(join(dir, "secrets.json"), JSON.stringify(sealed.secrets!.ledgerSecrets));
    writeFileSync(
      join(dir, "service.json"),
      JSON.stringify({ curve: "ed25519", publicKey: toHex(survivor.serviceKey.publicKey) }),
    );
    const run = await treaty(
      "ledger",
      "verify",
      survivor.config.dataDir,
      "--service-key",
      join(dir, "service.json"),
      "--ledger-secret",
      join(dir, "secrets.json"),
      "--quiet",
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      privateEntries: number;
      decryptedEntries: number;
    };
    assert.equal(report.ok, true);
    assert.ok(report.privateEntries >= written.length);
    assert.equal(report.decryptedEntries, report.privateEntries);
  });
});
