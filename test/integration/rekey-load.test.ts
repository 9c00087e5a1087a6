/**
 * Rekey under load, over real node processes and a real nats-server: six clients write private
 * values without pause while members rekey the ledger twice. Every write acknowledged as
 * committed is read back from every node; the nodes converge on the same ledger secret versions
 * (each also rotated its at-rest key); and each node's ledger passes
 * `treaty ledger verify --ledger-secret` with every private entry, old and new versions,
 * decrypted, while the first version alone does not open the entries written after the rekey.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createSealingProvider } from "../../node/secrets/sealing.js";
import { toHex } from "../../sdk/bytes.js";
import type { CallResult } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, Governance } from "../../sdk/governance.js";
import { treaty } from "../support/cli.js";
import { type Cluster, startCluster } from "../support/cluster.js";
import { fastSignedRequest } from "./load.js";

const LOG_ONLY = [{ name: "log", path: "contracts/examples/log" }];
const WRITERS = 6;

interface Written {
  readonly id: number;
  readonly msg: string;
  readonly txid: string;
}

describe("rekey under load", () => {
  let cluster: Cluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: LOG_ONLY, logLevel: "warn" });
  });
  after(async () => {
    await cluster?.dispose();
  });

  it("loses no private write; old and new entries all verify with the ledger secrets", async () => {
    const committed: Written[] = [];
    const failures: Record<string, number> = {};
    let nextId = 1;
    let stopping = false;
    const writer = async () => {
      const client = cluster.client(cluster.user);
      while (!stopping) {
        const id = nextId++;
        const msg = `private ${id}`;
        try {
          const request = fastSignedRequest(cluster.user, cluster.serviceId, "/app/log/writePrivate", {
            id,
            msg,
          });
          const { txid } = await client.post<CallResult>(request);
          await client.waitForCommit(txid!, { timeoutMs: 30_000 });
          committed.push({ id, msg, txid: txid! });
        } catch (err) {
          const code = isTreatyError(err) ? err.code : String(err);
          failures[code] = (failures[code] ?? 0) + 1;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const writers = Promise.all(Array.from({ length: WRITERS }, writer));
    const moreCommits = (count: number) => {
      const target = committed.length + count;
      return cluster.waitFor(
        `${count} more private writes (failures ${JSON.stringify(failures)})`,
        async () => (committed.length >= target ? true : undefined),
        60_000,
      );
    };
    try {
      await moreCommits(40);
      for (let round = 0; round < 2; round++) {
        const gov = new Governance(cluster.client(null), cluster.member);
        const { proposalId } = await gov.propose([actions.triggerLedgerRekey()]);
        assert.equal((await gov.vote(proposalId, "for")).state, "Accepted");
        await moreCommits(40);
      }
    } finally {
      stopping = true;
      await writers;
    }
    assert.ok(committed.length >= 120, `${committed.length} writes committed`);

    await cluster.waitForConvergence();
    for (const node of cluster.nodes) {
      const client = cluster.client(cluster.user, { nodes: [node.url] });
      const problems: string[] = [];
      let next = 0;
      const reader = async () => {
        while (next < committed.length) {
          const w = committed[next++]!;
          const request = fastSignedRequest(cluster.user, cluster.serviceId, "/app/log/readPrivate", {
            id: w.id,
          });
          try {
            const { result } = await client.post<CallResult<{ msg: string }>>(request);
            if (result.msg !== w.msg) problems.push(`${w.id}: got ${JSON.stringify(result.msg)}`);
          } catch (err) {
            problems.push(`${w.id} (txid ${w.txid}): ${String(err)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 8 }, reader));
      assert.deepEqual(problems, [], `node ${node.index} lost or garbled private writes`);
    }

    // Every node's at-rest re-seal for the last rekey has finished before it stops.
    const sealedOf = (index: number) =>
      createSealingProvider(
        { provider: "virtual", keyFile: join(cluster.dir, `node${index}-sealing.key`), keyEnv: null },
        cluster.nodes[index]!.dataDir,
        { randomBytes: (n) => new Uint8Array(n) },
      ).unseal()!.secrets!;
    // Each node re-seals in bounded steps between its other work: give it more than the default
    // 20 s (a CI run once saw it unfinished there).
    const resealState = () =>
      cluster.nodes.map((n) => {
        const s = sealedOf(n.index);
        return {
          node: n.index,
          atRestKeyFor: s.atRestKeyFor,
          olderAtRestKeys: s.olderAtRestKeys?.length ?? 0,
          ledgerSecrets: s.ledgerSecrets.map((v) => v.version),
        };
      });
    let lastState = resealState();
    await cluster
      .waitFor(
        "every at-rest re-seal",
        async () => {
          lastState = resealState();
          // Under load a rekey entry can be rolled back with its leader and reissued by the next
          // one at a higher version: the last version is the highest active one, not always 3.
          return lastState.every(
            (s) => s.atRestKeyFor === Math.max(...s.ledgerSecrets) && s.olderAtRestKeys === 0,
          )
            ? true
            : undefined;
        },
        60_000,
      )
      .catch((err: unknown) => {
        throw new Error(`${String(err)}\nsealed secrets: ${JSON.stringify(lastState)}`);
      });
    for (const node of cluster.nodes) assert.equal(await node.stop(), 0);

    const serviceFile = join(cluster.dir, "service-key.json");
    writeFileSync(
      serviceFile,
      JSON.stringify({ curve: cluster.serviceKey.curve, publicKey: toHex(cluster.serviceKey.publicKey) }),
    );
    const keys = cluster.nodes.map((n) => JSON.stringify(sealedOf(n.index).ledgerSecrets));
    assert.equal(new Set(keys).size, 1, "every node holds the same ledger secrets");
    const secrets = sealedOf(0).ledgerSecrets;
    const versions = secrets.map((s) => s.version);
    assert.ok(versions.length >= 3 && versions[0] === 1, `ledger secret versions ${versions}`);
    assert.deepEqual(
      versions,
      [...versions].sort((a, b) => a - b),
    );
    const allFile = join(cluster.dir, "ledger-secrets.json");
    writeFileSync(allFile, JSON.stringify(secrets));
    for (const node of cluster.nodes) {
      const run = await treaty(
        "ledger",
        "verify",
        node.dataDir,
        "--service-key",
        serviceFile,
        "--ledger-secret",
        allFile,
        "--quiet",
      );
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const report = JSON.parse(run.stdout) as { privateEntries: number; decryptedEntries: number };
      assert.ok(report.privateEntries >= committed.length);
      assert.equal(report.decryptedEntries, report.privateEntries);
    }
    // The first version alone does not open the entries written after the rekey.
    const firstFile = join(cluster.dir, "first-secret.json");
    writeFileSync(firstFile, JSON.stringify(secrets.slice(0, 1)));
    const partial = await treaty(
      "ledger",
      "verify",
      cluster.nodes[0]!.dataDir,
      "--ledger-secret",
      firstFile,
      "--quiet",
    );
    assert.equal(partial.code, 1);
    assert.equal((JSON.parse(partial.stdout) as { error: { code: string } }).error.code, "DecryptionFailed");
  });
});
