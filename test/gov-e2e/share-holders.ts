/**
 * What the disaster-recovery end-to-end tests share: three members who hold recovery shares
 * (keys made as an operator would, with `treaty keygen --encryption`), a decision by vote, and
 * the 2-of-3 share round.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Client } from "../../sdk/client.js";
import { actions, type GovAction, Governance } from "../../sdk/governance.js";
import { fromKeyFile, type KeyPair } from "../../sdk/keys.js";
import { treaty } from "../support/cli.js";
import type { Cluster } from "../support/cluster.js";

export interface ShareHolders {
  /** Their key files (what `treaty recovery share --key` takes). */
  readonly keyFiles: readonly string[];
  readonly members: readonly KeyPair[];
  /** Their genesis entries (`startCluster`'s `extraMembers`): members with an encryption key. */
  readonly extraMembers: readonly { publicKey: string; encryptionKey: string }[];
}

/** Makes the key files of three share holders in `dir`. */
export async function shareHolders(dir: string): Promise<ShareHolders> {
  const keyFiles: string[] = [];
  const members: KeyPair[] = [];
  const extraMembers: { publicKey: string; encryptionKey: string }[] = [];
  for (let i = 1; i <= 3; i++) {
    const file = join(dir, `member${i}.json`);
    const run = await treaty("keygen", "--out", file, "--encryption");
    assert.equal(run.code, 0, run.stderr);
    const keyFile = JSON.parse(readFileSync(file, "utf8")) as {
      publicKey: string;
      encryption: { publicKey: string };
    };
    keyFiles.push(file);
    members.push(fromKeyFile(keyFile));
    extraMembers.push({ publicKey: keyFile.publicKey, encryptionKey: keyFile.encryption.publicKey });
  }
  return { keyFiles, members, extraMembers };
}

/** `voters[0]` proposes `action`, every voter votes for it; resolves once the decision is committed. */
export async function decide(client: Client, voters: readonly KeyPair[], action: GovAction): Promise<void> {
  const first = new Governance(client, voters[0]!);
  const { proposalId } = await first.propose([action]);
  let result = await first.vote(proposalId, "for");
  for (const voter of voters.slice(1)) result = await new Governance(client, voter).vote(proposalId, "for");
  assert.equal(result.state, "Accepted");
  await client.waitForCommit(result.txid);
}

/** `voters` set the recovery threshold to 2; resolves once the cluster issued the 2-of-3 share round. */
export async function setThresholdTwo(cluster: Cluster, voters: readonly KeyPair[]): Promise<void> {
  await decide(cluster.client(null), voters, actions.setRecoveryThreshold(2));
  await cluster.waitFor("a 2-of-3 share round", async () => {
    const r = await cluster
      .client(null)
      .get<{ threshold: number; holders: string[] }>("/gov/recovery")
      .catch(() => undefined);
    return r?.threshold === 2 && r.holders.length === 3 ? r : undefined;
  });
}
