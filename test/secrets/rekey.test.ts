/**
 * Ledger rekey on three in-process nodes (in-memory transport): `trigger_ledger_rekey` makes a
 * new ledger secret version that every node receives through the ledger, new private writes use
 * it, old entries stay readable everywhere, recovery shares are issued again, and a second rekey
 * survives the leader stopping right after the proposal is accepted. The stopped-node ledger and
 * a survivor's pass `treaty ledger verify --ledger-secret` with every version. Each committed
 * rekey also rotates every node's at-rest key: its KV is re-sealed and the old key opens nothing.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { GOV } from "../../node/gov/tables.js";
import { createSealingProvider } from "../../node/secrets/sealing.js";
import type { TreatyNode } from "../../node/service.js";
import { memoryNodes, until } from "../support/memory-nodes.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { toHex } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { Client } from "../../sdk/client.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { generateEncryptionKeyPair } from "../../sdk/recovery.js";
import { treaty } from "../support/cli.js";
import { JOIN_PATH, type JoinResponse, openSecrets } from "../../node/join.js";
import { REKEY_METHOD } from "../../node/secrets/rekey.js";
import { signRequest } from "../../sdk/request.js";
import { readPrivateRows } from "./private-rows.js";

const member = generateKeyPair("ed25519");
const user = generateKeyPair("ed25519");
const {
  network,
  running,
  start: startNode,
  startNetwork,
  stopAll,
} = memoryNodes({
  dir: () => dir,
  config: (index, dir) => ({
    sealing: { provider: "virtual", keyFile: join(dir, `node${index}.key`) },
    http: { host: "127.0.0.1", port: 0, tls: false },
    autoTrustNodes: true,
  }),
});
let dir: string;

const leaderOf = () =>
  until("a leader", () => [...running].find((n) => n.replica.consensus.status().role === "Leader"));
const sealedSecrets = (node: TreatyNode) =>
  createSealingProvider(node.config.sealing, node.config.dataDir, {
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
  }).unseal()!.secrets!;

const secretVersion = (node: TreatyNode) =>
  node.gov.row<{ version: number }>(GOV.ledgerSecret, "current")?.version ?? 1;

describe("ledger rekey", () => {
  let founder: TreatyNode;
  let next = 1;
  /** Each node's at-rest key after the first rekey. */
  const atRestAfterFirst = new Map<string, string>();
  const written: Array<{ id: number; txid: string }> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-rekey-"));
    ({ founder } = await startNetwork(
      {
        genesis: {
          members: [
            {
              publicKey: toHex(member.publicKey),
              encryptionKey: toHex(generateEncryptionKeyPair().publicKey),
            },
          ],
          users: [{ publicKey: toHex(user.publicKey) }],
          contracts: [{ name: "log", path: resolve(findPackageRoot(), "contracts/examples/log") }],
          open: true,
        },
      },
      { contracts: ["log"] },
    ));
  });

  after(async () => {
    await stopAll();
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
    const atRestBefore = new Map([...running].map((n) => [n, sealedSecrets(n).atRestKey!]));
    await rekey();
    await until("version 2 active on every node", () =>
      [...running].every((n) => secretVersion(n) === 2) ? true : undefined,
    );
    await write(4);
    for (const node of running) {
      await until("the at-rest re-seal", async () => {
        await node.atRest.idle();
        return node.atRest.rotations >= 1 ? true : undefined;
      });
      const sealed = sealedSecrets(node);
      assert.notEqual(sealed.atRestKey, atRestBefore.get(node), "a new at-rest key");
      assert.equal(sealed.olderAtRestKeys, undefined, "the old at-rest key is no longer sealed");
      assert.equal(sealed.atRestKeyFor, 2);
      atRestAfterFirst.set(node.identity.id, sealed.atRestKey!);
    }
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

  it("a leader change between an accepted rekey and its delivery's commit: one version wins, nothing is lost; a joiner waits for it", async () => {
    await write(2);
    const before = secretVersion(founder);
    // Mute every node whose log holds an uncommitted rekey delivery: the delivery never commits
    // while the filter is on, whoever leads.
    const holdsDelivery = (node: TreatyNode) => {
      const { commitSeqno } = node.replica.consensus.status();
      for (let seqno = commitSeqno + 1; seqno <= node.ledger.lastSeqno; seqno++)
        if (node.ledger.entry(seqno)?.header.meta.method === REKEY_METHOD) return true;
      return false;
    };
    network.setDropFilter((from) => [...running].some((n) => n.identity.id === from && holdsDelivery(n)));
    const old = await rekey();
    await until("the leader to hold an uncommitted delivery", () => (holdsDelivery(old) ? true : undefined));
    assert.equal(secretVersion(old), before, "the delivery is not committed");

    // A trusted node asking for the secrets now is told to wait (it may not be a recipient of
    // the delivery in flight), never sent an uncommitted version.
    const joiner = [...running].find((n) => n !== old)!;
    const poll = async (url: string) => {
      const request = signRequest(joiner.identity, joiner.serviceId, JOIN_PATH, {
        publicKey: toHex(joiner.identity.publicKey),
        measurement: joiner.measurement,
        url: joiner.url,
      });
      const response = await fetch(url + JOIN_PATH, {
        method: "POST",
        body: request.body as Uint8Array<ArrayBuffer>,
        headers: request.headers,
      });
      return (await response.json()) as JoinResponse;
    };
    const answer = await poll(old.url);
    assert.equal(answer.status, "pending");
    assert.match((answer as { waitingFor?: string }).waitingFor ?? "", /ledger rekey/);

    // The leader dies before its delivery commits; the others take over once the network heals.
    const oldLastSeqno = old.ledger.lastSeqno;
    await old.stop();
    running.delete(old);
    network.setDropFilter(undefined);
    await until("the rekey to commit on the survivors", () =>
      [...running].every((n) => secretVersion(n) === before + 1) ? true : undefined,
    );
    await write(2);
    // The old leader comes back (its sealed secrets never held its own, uncommitted version): its
    // delivery is overwritten by the new leader's and it converges on the committed version.
    const index = Number(old.config.dataDir.slice(-1));
    await startNode(index, {
      join: { nodes: [(await leaderOf()).url], serviceKey: toHex(old.serviceKey.publicKey) },
    });
    await until("the old leader to catch up", () =>
      [...running].every((n) => secretVersion(n) === before + 1 && n.ledger.lastSeqno >= oldLastSeqno)
        ? true
        : undefined,
    );
    const keys = [...running].map((n) =>
      sealedSecrets(n)
        .ledgerSecrets.map((s) => `${s.version}:${s.key}`)
        .join(),
    );
    assert.equal(new Set(keys).size, 1, "every node holds the same versions and keys");
    for (const node of running) await readAll(node);

    // Now the trusted node receives exactly the committed versions, the new one included.
    const leader = await leaderOf();
    const trusted = await until("a trusted answer", () =>
      poll(leader.url).then((r) => (r.status === "trusted" ? r : undefined)),
    );
    const opened = openSecrets(joiner.identity, joiner.serviceKey, trusted.sealed, Date.now());
    assert.equal(opened.ledgerSecrets.map((s) => `${s.version}:${s.key}`).join(), keys[0]);
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
    await until("the survivor's at-rest re-seal for the last rekey", async () => {
      await survivor.atRest.idle();
      const sealed = sealedSecrets(survivor);
      return sealed.atRestKeyFor === secretVersion(survivor) && sealed.olderAtRestKeys === undefined
        ? true
        : undefined;
    });
    await survivor.stop();
    running.delete(survivor);
    const sealed = createSealingProvider(survivor.config.sealing, survivor.config.dataDir, {
      randomBytes: (n) => new Uint8Array(randomBytes(n)),
    }).unseal()!;
    const versions = sealed.secrets!.ledgerSecrets.map((s) => s.version);
    assert.ok(versions.includes(1) && versions.includes(2) && versions.some((v) => v >= 3));
    // Its KV is sealed under the at-rest key of the last rekey only.
    assert.ok((await readPrivateRows(survivor.config.dataDir, sealed.secrets!.atRestKey!)) >= written.length);
    await assert.rejects(
      readPrivateRows(survivor.config.dataDir, atRestAfterFirst.get(survivor.identity.id)!),
      (err: unknown) => isTreatyError(err) && err.code === "LedgerCorrupt",
    );
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
      baseSeqno: number;
      privateEntries: number;
      decryptedEntries: number;
    };
    assert.equal(report.ok, true);
    // A survivor that rejoined from a snapshot (one falls due at each 10-minute wall-clock period)
    // keeps, and is audited from, only the entries after it.
    const audited = written.filter((w) => Number(w.txid.split(".")[1]) > report.baseSeqno);
    assert.ok(report.privateEntries >= audited.length);
    assert.equal(report.decryptedEntries, report.privateEntries);
  });
});
