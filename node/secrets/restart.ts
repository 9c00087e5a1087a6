/**
 * What a node does at start-up with what its sealing provider gave back: which identity it runs
 * with, and what happens to a data folder whose secrets are gone (memory sealing after a
 * restart): its ledger and KV cannot be read by this process, so they are moved aside (the
 * ledger files stay available for disaster recovery) and the node rejoins the service afresh.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { TreatyError } from "../../sdk/errors.js";
import { fromKeyFile, generateKeyPair, type KeyPair, toKeyFile } from "../../sdk/keys.js";
import type { NodeConfig } from "../config.js";
import type { Logger } from "../log.js";
import { readJsonFile, writeDurable } from "../state-file.js";
import type { SealedState, SealingProvider } from "./sealing.js";

/**
 * Files and folders of a data folder that only make sense with the secrets and the hard state
 * that wrote them: all of them move together. The snapshot files (`snapshots/`) are among them: a
 * node restarts from the newest committed snapshot it finds (snapshot/restart.ts), and one of the
 * old life's, left behind while its hard state (`consensus.json`) was archived, made the rejoined
 * node's ledger start at a base whose view the fresh hard state (view 0) had never reached: the
 * start threw LedgerCorrupt. The Merkle node archive (`merkle/`) is derived from the old ledger.
 *
 * The ledger moves last: a ledger with entries is what makes a start archive, so a start stopped
 * part way through (a crash between two renames) archives the rest at the next start, and never
 * opens the folder with some of the old state gone and some left.
 */
const NODE_STATE = ["kv", "consensus.json", "snapshots", "merkle", "secrets.json", "ledger"] as const;

/**
 * The identity this run uses: the configured key file (kept in clear by the operator's choice;
 * created when missing), else the sealed one, else a fresh key. Throws TreatyError Conflict when a key file and the
 * sealed state name different identities.
 */
export function nodeIdentity(identityFile: string | null, sealed: SealedState | undefined): KeyPair {
  if (identityFile !== null) {
    const file = readJsonFile<unknown>(identityFile);
    const identity = file === undefined ? generateKeyPair("ed25519") : fromKeyFile(file);
    if (file === undefined) writeDurable(identityFile, `${JSON.stringify(toKeyFile(identity), null, 2)}\n`);
    if (sealed !== undefined && fromKeyFile(sealed.identity).id !== identity.id)
      throw new TreatyError(
        "Conflict",
        `config identityFile: ${identityFile} is not the identity this data folder was sealed with`,
      );
    return identity;
  }
  return sealed !== undefined ? fromKeyFile(sealed.identity) : generateKeyPair("ed25519");
}

/**
 * A data folder holds ledger entries but the provider returned no secrets for them. With memory
 * sealing and a `join` section, moves the node state (`NODE_STATE`: ledger, KV, hard state,
 * snapshot files, Merkle archive) into `archive/<nowMs>/` so the node can rejoin from nothing;
 * otherwise throws TreatyError SecretsUnavailable saying what to do.
 */
export function archiveUnreadableState(
  config: NodeConfig,
  kind: SealingProvider["kind"],
  nowMs: number,
  logger: Logger,
): void {
  const legacy = existsSync(join(config.dataDir, "secrets.json"))
    ? " (its secrets.json is from an earlier Treaty that kept secrets in clear: delete it after recovering the service)"
    : "";
  if (kind !== "memory")
    throw new TreatyError(
      "SecretsUnavailable",
      `${config.dataDir}: holds a ledger but no sealed secrets${legacy}; start it with memory sealing and a join section to rejoin the service`,
    );
  if (config.join === null)
    throw new TreatyError(
      "SecretsUnavailable",
      `${config.dataDir}: memory sealing keeps secrets only while the node runs, and this node's were lost when it stopped; start it with a join section (treaty node start --join service.json) to rejoin the service`,
    );
  const archive = join(config.dataDir, "archive", String(nowMs));
  mkdirSync(archive, { recursive: true });
  for (const name of NODE_STATE) {
    const from = join(config.dataDir, name);
    if (existsSync(from)) renameSync(from, join(archive, name));
  }
  logger.warn("secrets lost at the last stop (memory sealing): state archived, rejoining the service", {
    archive,
  });
}
