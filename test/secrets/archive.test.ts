/**
 * What a memory-sealed node moves aside when it restarts without its secrets
 * (node/secrets/restart.ts `archiveUnreadableState`): every file that only makes sense with the
 * old secrets and hard state — snapshot files included, which a rejoining node would otherwise
 * take as its ledger's base under a fresh hard state (LedgerCorrupt) — and the ledger last, so a
 * start interrupted between two renames still finds a ledger and archives the rest next time.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseConfig } from "../../node/config.js";
import { silentLogger } from "../../node/log.js";
import { archiveUnreadableState } from "../../node/secrets/restart.js";
import { isTreatyError } from "../../sdk/errors.js";
import { toHex } from "../../sdk/bytes.js";
import { generateKeyPair } from "../../sdk/keys.js";

const root = mkdtempSync(join(tmpdir(), "treaty-archive-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** The folders and files a node that ran for a while leaves in its data folder. */
const STATE_FOLDERS = ["ledger", "kv", "snapshots", "merkle"];
const STATE_FILES = ["consensus.json"];
/** Kept in place: not tied to the lost secrets. */
const KEPT = ["epoch.json"];

function dataFolder(name: string): string {
  const dataDir = join(root, name);
  for (const folder of STATE_FOLDERS) {
    mkdirSync(join(dataDir, folder), { recursive: true });
    writeFileSync(join(dataDir, folder, "data"), folder);
  }
  writeFileSync(join(dataDir, "snapshots", "snapshot-0000000000000009.committed"), "old snapshot");
  for (const file of [...STATE_FILES, ...KEPT]) writeFileSync(join(dataDir, file), "{}");
  return dataDir;
}

function joinerConfig(dataDir: string) {
  const serviceKey = toHex(generateKeyPair("ed25519").publicKey);
  return parseConfig(
    {
      dataDir,
      http: { host: "127.0.0.1", port: 0, tls: false },
      join: { nodes: ["http://127.0.0.1:1"], serviceKey },
      logLevel: "error",
    },
    root,
  );
}

describe("archiveUnreadableState", () => {
  it("moves the ledger, KV, hard state, snapshot files and Merkle archive together", () => {
    const dataDir = dataFolder("whole");
    archiveUnreadableState(joinerConfig(dataDir), "memory", 1000, silentLogger);
    const archive = join(dataDir, "archive", "1000");
    for (const name of [...STATE_FOLDERS, ...STATE_FILES]) {
      assert.ok(!existsSync(join(dataDir, name)), `${name} no longer in the data folder`);
      assert.ok(existsSync(join(archive, name)), `${name} in the archive`);
    }
    assert.deepEqual(readdirSync(join(archive, "snapshots")).sort(), [
      "data",
      "snapshot-0000000000000009.committed",
    ]);
    for (const name of KEPT) assert.ok(existsSync(join(dataDir, name)), `${name} stays`);
  });

  it("moves the ledger last: a start stopped part way archives the rest at the next start", () => {
    const dataDir = dataFolder("interrupted");
    // The first attempt fails at the snapshot folder (its target exists and is not empty).
    mkdirSync(join(dataDir, "archive", "1000", "snapshots"), { recursive: true });
    writeFileSync(join(dataDir, "archive", "1000", "snapshots", "in the way"), "");
    assert.throws(() => archiveUnreadableState(joinerConfig(dataDir), "memory", 1000, silentLogger));
    assert.ok(existsSync(join(dataDir, "ledger", "data")), "the ledger is still in place");
    assert.ok(!existsSync(join(dataDir, "consensus.json")), "the hard state went first");

    archiveUnreadableState(joinerConfig(dataDir), "memory", 2000, silentLogger);
    for (const name of ["snapshots", "merkle", "ledger"]) {
      assert.ok(!existsSync(join(dataDir, name)), `${name} archived at the second start`);
      assert.ok(existsSync(join(dataDir, "archive", "2000", name)));
    }
  });

  it("refuses without memory sealing or a join section, moving nothing", () => {
    const dataDir = dataFolder("refused");
    const noJoin = parseConfig(
      {
        dataDir,
        http: { host: "127.0.0.1", port: 0, tls: false },
        genesis: { members: [{ publicKey: toHex(generateKeyPair("ed25519").publicKey) }] },
        logLevel: "error",
      },
      root,
    );
    for (const [config, kind] of [
      [joinerConfig(dataDir), "virtual"],
      [noJoin, "memory"],
    ] as const)
      assert.throws(
        () => archiveUnreadableState(config, kind, 1000, silentLogger),
        (e: unknown) => isTreatyError(e) && e.code === "SecretsUnavailable",
      );
    assert.ok(!existsSync(join(dataDir, "archive")));
    for (const name of [...STATE_FOLDERS, ...STATE_FILES]) assert.ok(existsSync(join(dataDir, name)));
  });
});
