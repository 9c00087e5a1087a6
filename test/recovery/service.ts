/**
 * What the one-process disaster-recovery tests (recover, snapshot) share: a 2-of-3 member
 * service's members, node configs in a test folder, and a decision by two members' votes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type NodeConfig, parseConfig } from "../../node/config.js";
import { toHex } from "../../sdk/bytes.js";
import type { Client } from "../../sdk/client.js";
import { type GovAction, Governance } from "../../sdk/governance.js";
import { generateKeyPair, type KeyPair } from "../../sdk/keys.js";
import { type EncryptionKeyPair, generateEncryptionKeyPair } from "../../sdk/recovery.js";

export interface RecoveryMember {
  readonly key: KeyPair;
  readonly enc: EncryptionKeyPair;
}

/** Three members, each with a signing key and a share encryption key. */
export function recoveryMembers(): RecoveryMember[] {
  return Array.from({ length: 3 }, () => ({
    key: generateKeyPair("ed25519"),
    enc: generateEncryptionKeyPair(),
  }));
}

/** The genesis `members` entries of `members`. */
export function genesisMembers(members: readonly RecoveryMember[]): Array<Record<string, string>> {
  return members.map((m) => ({ publicKey: toHex(m.key.publicKey), encryptionKey: toHex(m.enc.publicKey) }));
}

/**
 * The config of node `name` in `dir` (its data folder and sealing key there, a signature every
 * 20 ms, quiet logs), with `extra`.
 */
export function nodeConfig(dir: string, name: string, extra: Record<string, unknown>): NodeConfig {
  return parseConfig(
    {
      dataDir: join(dir, name),
      sealing: { provider: "virtual", keyFile: join(dir, `${name}.key`) },
      ledger: { signatureIntervalMs: 20 },
      logLevel: "error",
      ...extra,
    },
    dir,
  );
}

/**
 * Proposes `action` as member 0 and votes for it as members 0 and 1 (the 2-of-3 threshold);
 * checks it is Accepted and waits for the deciding ballot's commit.
 */
export async function decideByTwo(
  client: Client,
  members: readonly RecoveryMember[],
  action: GovAction,
): Promise<void> {
  const gov = new Governance(client, members[0]!.key);
  const { proposalId } = await gov.propose([action]);
  await gov.vote(proposalId, "for");
  const result = await new Governance(client, members[1]!.key).vote(proposalId, "for");
  assert.equal(result.state, "Accepted");
  await client.waitForCommit(result.txid);
}
