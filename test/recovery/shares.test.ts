/**
 * Recovery shares: the share round itself (node/recovery/shares.ts, sdk/recovery.ts) and a node
 * that issues a new round whenever the service opens, the threshold changes or a member's
 * encryption key changes, each share sealed to one member and recorded in public governance.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseConfig } from "../../node/config.js";
import { silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import { checkShare, issueShares, type RecoveryRecord, recoverSecrets } from "../../node/recovery/shares.js";
import { createSealingProvider } from "../../node/secrets/sealing.js";
import { TreatyNode } from "../../node/service.js";
import { toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair, type KeyPair, toKeyFile } from "../../sdk/keys.js";
import {
  type EncryptionKeyPair,
  generateEncryptionKeyPair,
  openRecoveryShare,
  type SealedShare,
} from "../../sdk/recovery.js";
import { until } from "../support/poll.js";

const random = (n: number) => new Uint8Array(randomBytes(n));
const secrets = {
  ledgerSecrets: [
    { version: 1, key: toHex(random(32)) },
    { version: 2, key: toHex(random(32)) },
  ],
  serviceKey: toKeyFile(generateKeyPair("ed25519")),
};

describe("a share round", () => {
  const members = Array.from({ length: 3 }, (_, i) => ({ id: `m${i}`, enc: generateEncryptionKeyPair() }));
  const holders = members.map((m) => ({ memberId: m.id, encryptionKey: toHex(m.enc.publicKey) }));

  it("any 2 of 3 opened shares bring the secrets back; 1 does not; each share checks against its commitment", async () => {
    const { record, shares } = await issueShares({
      round: 7,
      threshold: 2,
      holders,
      secrets,
      serviceIdentity: "ab",
      randomBytes: random,
    });
    assert.equal(shares.length, 3);
    const opened = await Promise.all(shares.map((s, i) => openRecoveryShare(members[i]!.enc, s)));
    for (const [i, share] of opened.entries()) checkShare(record, members[i]!.id, share);
    for (const pair of [
      [0, 1],
      [0, 2],
      [1, 2],
    ] as const)
      assert.deepEqual(
        await recoverSecrets(
          record,
          pair.map((i) => opened[i]!),
        ),
        secrets,
      );
    await assert.rejects(recoverSecrets(record, [opened[0]!]), (e) => isTreatyError(e, "Conflict"));
    // A share presented by another member, a flipped byte, a share of another member: refused.
    assert.throws(
      () => checkShare(record, "m1", opened[0]!),
      (e) => isTreatyError(e, "InvalidRecoveryShare"),
    );
    const forged = opened[0]!.slice();
    forged[5]! ^= 1;
    assert.throws(
      () => checkShare(record, "m0", forged),
      (e) => isTreatyError(e, "InvalidRecoveryShare"),
    );
    assert.throws(
      () => checkShare(record, "stranger", opened[0]!),
      (e) => isTreatyError(e, "InvalidRecoveryShare"),
    );
    // The public record and shares hold none of the secrets in clear.
    const published = JSON.stringify({ record, shares });
    for (const s of secrets.ledgerSecrets) assert.ok(!published.includes(s.key));
    assert.ok(!published.includes(secrets.serviceKey.privateKey));
  });

  it("a share opens only with its member's key, and not once altered", async () => {
    const { shares } = await issueShares({
      round: 1,
      threshold: 2,
      holders,
      secrets,
      serviceIdentity: "ab",
      randomBytes: random,
    });
    await assert.rejects(openRecoveryShare(members[1]!.enc, shares[0]!), (e) =>
      isTreatyError(e, "DecryptionFailed"),
    );
    const altered: SealedShare = { ...shares[0]!, memberId: "m1" };
    await assert.rejects(openRecoveryShare(members[0]!.enc, altered), (e) =>
      isTreatyError(e, "DecryptionFailed"),
    );
    const wrongRound: SealedShare = { ...shares[0]!, round: 2 };
    await assert.rejects(openRecoveryShare(members[0]!.enc, wrongRound), (e) =>
      isTreatyError(e, "DecryptionFailed"),
    );
  });

  it("threshold 1: one share suffices; fewer holders than the threshold is a Conflict", async () => {
    const { record, shares } = await issueShares({
      round: 1,
      threshold: 1,
      holders,
      secrets,
      serviceIdentity: "ab",
      randomBytes: random,
    });
    assert.deepEqual(
      await recoverSecrets(record, [await openRecoveryShare(members[2]!.enc, shares[2]!)]),
      secrets,
    );
    await assert.rejects(
      issueShares({ round: 1, threshold: 4, holders, secrets, serviceIdentity: "ab", randomBytes: random }),
      (e) => isTreatyError(e, "Conflict"),
    );
  });
});

describe("a node keeps recovery shares current", () => {
  let dir: string;
  let node: TreatyNode;
  let client: Client;
  const members: Array<{ key: KeyPair; enc: EncryptionKeyPair }> = Array.from({ length: 3 }, () => ({
    key: generateKeyPair("ed25519"),
    enc: generateEncryptionKeyPair(),
  }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-shares-"));
    const config = parseConfig(
      {
        dataDir: join(dir, "data"),
        sealing: { provider: "virtual", keyFile: join(dir, "sealing.key") },
        http: { host: "127.0.0.1", port: 0, tls: false },
        ledger: { signatureIntervalMs: 20 },
        genesis: {
          members: members.map((m) => ({
            publicKey: toHex(m.key.publicKey),
            encryptionKey: toHex(m.enc.publicKey),
          })),
          open: true,
        },
        logLevel: "error",
      },
      dir,
    );
    node = await TreatyNode.start(config, realRuntime(config, silentLogger));
    client = new Client({ nodes: [node.url], serviceKey: node.serviceKey });
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const round = (n: number) =>
    until(`share round ${n}`, async () => {
      try {
        const r = await client.get<{ round: number; threshold: number; holders: string[] }>("/gov/recovery");
        return r.round >= n ? r : undefined;
      } catch {
        return undefined;
      }
    });
  const decide = async (action: ReturnType<typeof actions.setRecoveryThreshold>) => {
    const gov0 = new Governance(client, members[0]!.key);
    const { proposalId } = await gov0.propose([action]);
    await gov0.vote(proposalId, "for");
    const result = await new Governance(client, members[1]!.key).vote(proposalId, "for");
    assert.equal(result.state, "Accepted");
  };
  const opened = (i: number) =>
    client
      .get<SealedShare>(`/gov/recovery/shares/${members[i]!.key.id}`)
      .then((s) => openRecoveryShare(members[i]!.enc, s));

  it("issues shares at open, and again when the threshold or a member's encryption key changes", async () => {
    const first = await round(1);
    assert.equal(first.threshold, 1);
    assert.deepEqual(first.holders, members.map((m) => m.key.id).sort());
    const sealed = createSealingProvider(node.config.sealing, node.config.dataDir, {
      randomBytes: random,
    }).unseal()!;
    const expected = { ledgerSecrets: sealed.secrets!.ledgerSecrets, serviceKey: sealed.secrets!.serviceKey };

    await decide(actions.setRecoveryThreshold(2));
    const second = await round(2);
    assert.equal(second.threshold, 2);
    const record = node.gov.row<RecoveryRecord>("public:gov.recovery", "current")!;
    const shares = [await opened(0), await opened(2)];
    assert.deepEqual(await recoverSecrets(record, shares), expected);

    // Member 2 rotates its encryption key: its share of the new round is sealed to the new key.
    const oldEnc = members[2]!.enc;
    members[2]!.enc = generateEncryptionKeyPair();
    await decide(actions.setMember(members[2]!.key, undefined, toHex(members[2]!.enc.publicKey)));
    await round(3);
    const share = await client.get<SealedShare>(`/gov/recovery/shares/${members[2]!.key.id}`);
    assert.equal(share.encryptionKey, toHex(members[2]!.enc.publicKey));
    await assert.rejects(openRecoveryShare(oldEnc, share), (e) => isTreatyError(e, "DecryptionFailed"));
    const third = node.gov.row<RecoveryRecord>("public:gov.recovery", "current")!;
    assert.deepEqual(await recoverSecrets(third, [await opened(1), await opened(2)]), expected);
  });

  it("a member's signing key rotated by proposal: its old id holds no share, its new id does", async () => {
    const oldId = members[0]!.key.id;
    const newKey = generateKeyPair("ed25519");
    const before = node.gov.row<RecoveryRecord>("public:gov.recovery", "current")!.round;
    await decide(actions.rotateMemberKey(oldId, newKey));
    members[0]!.key = newKey;
    const after = await round(before + 1);
    assert.ok(after.holders.includes(newKey.id) && !after.holders.includes(oldId));
    await assert.rejects(client.get(`/gov/recovery/shares/${oldId}`), (e) => isTreatyError(e, "NotFound"));
    // The rotated member signs with its new key (it proposes here) and opens its new share.
    const record = node.gov.row<RecoveryRecord>("public:gov.recovery", "current")!;
    const sealed = createSealingProvider(node.config.sealing, node.config.dataDir, {
      randomBytes: random,
    }).unseal()!;
    assert.deepEqual(await recoverSecrets(record, [await opened(0), await opened(1)]), {
      ledgerSecrets: sealed.secrets!.ledgerSecrets,
      serviceKey: sealed.secrets!.serviceKey,
    });
  });
});
