/**
 * Memory sealing (the default): a node keeps its secrets only while it runs. Restarted, it finds
 * a ledger it cannot read, moves it aside, rejoins the service with a fresh identity and is sent
 * the current secrets sealed to that identity; it then serves private state again. Three
 * in-process nodes on the in-memory transport; joiners trusted by `autoTrustNodes`.
 *
 * Snapshots every few entries, so the restarted node holds committed snapshot files of its old
 * state (as any node that ran past `snapshots.everyMs` or `everyEntries` does): they go to the archive with its
 * ledger. Left in place, the rejoining node took the newest as its base, under a hard state it
 * had just archived, and its start threw LedgerCorrupt (base view ahead of the hard state's).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { parseConfig } from "../../node/config.js";
import { silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import { SEALED_FILE } from "../../node/secrets/sealing.js";
import { TreatyNode } from "../../node/service.js";
import { memoryNodes, until } from "../support/memory-nodes.js";

/** Small enough that the few writes below cross snapshot points. */
const SNAPSHOT_EVERY = 8;
const member = generateKeyPair("ed25519");
const user = generateKeyPair("ed25519");
const {
  running,
  start: startNode,
  startNetwork,
  stopAll,
} = memoryNodes({
  dir: () => dir,
  config: () => ({
    http: { host: "127.0.0.1", port: 0, tls: false },
    autoTrustNodes: true,
    snapshots: { everyEntries: SNAPSHOT_EVERY },
  }),
});
let dir: string;

/** Committed snapshot files in a node's snapshot folder (node/snapshot/files.ts names). */
function committedSnapshots(folder: string): string[] {
  return existsSync(folder) ? readdirSync(folder).filter((n) => n.endsWith(".committed")) : [];
}

describe("memory sealing: a restarted node rejoins and is sent the secrets", () => {
  let founder: TreatyNode;
  let joining: Record<string, unknown>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-memory-"));
    ({ founder, joining } = await startNetwork(
      {
        sealing: { provider: "virtual", keyFile: join(dir, "node0.key") },
        genesis: {
          members: [{ publicKey: toHex(member.publicKey) }],
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

  it("a memory-sealed node writes no sealed state; restarted, it archives, rejoins as a new node and reads private state", async () => {
    const log = new Client({ nodes: [founder.url], serviceKey: founder.serviceKey, key: user }).contract<
      typeof logContract
    >("log");
    const { txid } = await log.writePrivate({ id: 1, msg: "kept across the restart" });
    const node2 = [...running].find((n) => n.config.dataDir.endsWith("node2"))!;
    await until("node 2 to apply the write", () =>
      node2.replica.consensus.status().commitSeqno >= Number(txid!.split(".")[1]) ? true : undefined,
    );
    assert.ok(!existsSync(join(dir, "node2", SEALED_FILE)), "memory sealing writes nothing");
    // Node 2 holds a committed snapshot of its old state when it stops (writes until it does).
    let filler = 100;
    const oldSnapshots = await until("node 2 to hold a committed snapshot", async () => {
      const files = committedSnapshots(join(dir, "node2", "snapshots"));
      if (files.length > 0) return files;
      await log.writePublic({ id: filler++, msg: "towards a snapshot point" });
      return undefined;
    });
    const oldId = node2.identity.id;
    await node2.stop();
    running.delete(node2);

    const again = await startNode(2, joining);
    assert.notEqual(again.identity.id, oldId, "a fresh identity");
    const archived = readdirSync(join(dir, "node2", "archive"));
    assert.equal(archived.length, 1);
    assert.ok(
      existsSync(join(dir, "node2", "archive", archived[0]!, "ledger")),
      "the old ledger is kept aside",
    );
    for (const name of oldSnapshots)
      assert.ok(
        existsSync(join(dir, "node2", "archive", archived[0]!, "snapshots", name)),
        `the old snapshot ${name} is kept aside with it`,
      );
    assert.equal(founder.gov.node(again.identity.id)?.status, "trusted");
    const local = new Client({ nodes: [again.url], serviceKey: founder.serviceKey, key: user }).contract<
      typeof logContract
    >("log");
    const read = await until("the rejoined node to serve the private value", async () => {
      try {
        return (await local.readPrivate({ id: 1 })).result;
      } catch {
        return undefined;
      }
    });
    assert.deepEqual(read, { msg: "kept across the restart" });
    // The service goes on: a new private write commits with the rejoined node in the configuration.
    await until("the rejoined node to vote", () =>
      founder.replica.consensus.status().config?.includes(again.identity.id) ? true : undefined,
    );
    const next = await log.writePrivate({ id: 2, msg: "after" });
    assert.ok(next.txid);
  });

  it("a memory-sealed founder cannot restart alone: SecretsUnavailable says to rejoin", async () => {
    const config = parseConfig(
      {
        dataDir: join(dir, "node1"),
        http: { host: "127.0.0.1", port: 0, tls: false },
        genesis: { members: [{ publicKey: toHex(member.publicKey) }] },
        logLevel: "error",
      },
      dir,
    );
    const node1 = [...running].find((n) => n.config.dataDir.endsWith("node1"))!;
    await node1.stop();
    running.delete(node1);
    await assert.rejects(
      TreatyNode.start(config, realRuntime(config, silentLogger)),
      (e: Error) => /SecretsUnavailable/.test((e as { code?: string }).code ?? "") && /join/.test(e.message),
    );
  });
});
