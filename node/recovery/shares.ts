/**
 * Recovery shares, service side. What a service needs to come back after losing every node —
 * its ledger secrets (every version) and its identity key — is encrypted under a fresh
 * ledger-secret wrapping key W (AES-256-GCM). W is split k-of-n with Shamir's scheme
 * (`shamir-secret-sharing`; k = the recovery threshold, n = the active members with an encryption
 * key) and each share is sealed to one member's x25519 key (sdk/recovery.ts). The wrapped secrets,
 * the sealed shares and a SHA-256 commitment to each share go into public governance tables, so
 * the ledger alone plus k members bring the secrets back; nobody else learns anything.
 *
 * The leader makes the shares (with the host's randomness) in one internal transaction; the other
 * nodes apply its write set like any other, so every replica records the same shares.
 * With k = 1 every member's share is W itself (Shamir needs k >= 2).
 */
import { combine, split } from "shamir-secret-sharing";
import { sha256 } from "@noble/hashes/sha2.js";
import { fromHex, toHex, utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { KeyFile } from "../../sdk/keys.js";
import { type SealedShare, sealShare, shareDigest } from "../../sdk/recovery.js";
import { aeadOpen, aeadSeal, deriveAeadKey, GCM_NONCE_BYTES } from "../transport/crypto.js";

export const WRAPPING_KEY_BYTES = 32;
const WRAP_AAD = utf8.encode("treaty/recovery-wrapped-secrets/v1");

/** `public:gov.recovery` (key "current"): the latest share round. */
export interface RecoveryRecord {
  readonly round: number;
  readonly threshold: number;
  /** The inputs the round was made from (members' keys, threshold, secret versions, identity). */
  readonly fingerprint: string;
  /** Ledger secret versions inside `wrapped`. */
  readonly ledgerSecretVersions: readonly number[];
  /** The service identity (public key hex) whose private key is inside `wrapped`. */
  readonly serviceIdentity: string;
  /** AES-256-GCM of `WrappedSecrets` under W. */
  readonly wrapped: { readonly nonce: string; readonly ciphertext: string };
  /** memberId → commitment to its share (sdk/recovery.ts `shareDigest`). */
  readonly digests: Readonly<Record<string, string>>;
}

/** What W protects. */
export interface WrappedSecrets {
  readonly ledgerSecrets: ReadonlyArray<{ readonly version: number; readonly key: string }>;
  readonly serviceKey: KeyFile;
}

/** One member who can hold a share. */
export interface ShareHolder {
  readonly memberId: string;
  readonly encryptionKey: string;
}

/** The inputs of a share round, in a stable form: when they change, shares are issued again. */
export function shareFingerprint(input: {
  threshold: number;
  holders: readonly ShareHolder[];
  ledgerSecretVersions: readonly number[];
  serviceIdentity: string;
}): string {
  const holders = [...input.holders].sort((a, b) => (a.memberId < b.memberId ? -1 : 1));
  return toHex(
    sha256(
      utf8.encode(
        JSON.stringify([
          input.threshold,
          holders.map((h) => [h.memberId, h.encryptionKey]),
          [...input.ledgerSecretVersions].sort((a, b) => a - b),
          input.serviceIdentity,
        ]),
      ),
    ),
  );
}

/**
 * Makes a share round. Throws TreatyError Conflict when fewer holders than the threshold exist.
 * The caller records `record` and `shares` in one transaction.
 */
export async function issueShares(input: {
  round: number;
  threshold: number;
  holders: readonly ShareHolder[];
  secrets: WrappedSecrets;
  serviceIdentity: string;
  randomBytes: (length: number) => Uint8Array;
}): Promise<{ record: RecoveryRecord; shares: SealedShare[] }> {
  const { threshold, holders, round, randomBytes } = input;
  if (holders.length < threshold || threshold < 1)
    throw new TreatyError(
      "Conflict",
      `recovery shares: threshold ${threshold} needs at least that many members with an encryption key, there are ${holders.length}`,
    );
  if (holders.length > 255)
    throw new TreatyError("Conflict", "recovery shares: at most 255 members can hold shares");
  const wrappingKey = randomBytes(WRAPPING_KEY_BYTES);
  const nonce = randomBytes(GCM_NONCE_BYTES);
  const ciphertext = aeadSeal(
    deriveAeadKey(wrappingKey, nonce, WRAP_AAD),
    nonce,
    WRAP_AAD,
    utf8.encode(JSON.stringify(input.secrets)),
  );
  const parts =
    threshold === 1 ? holders.map(() => wrappingKey) : await split(wrappingKey, holders.length, threshold);
  const shares: SealedShare[] = [];
  const digests: Record<string, string> = {};
  for (const [i, holder] of holders.entries()) {
    shares.push(await sealShare(holder.memberId, holder.encryptionKey, round, parts[i]!, randomBytes));
    digests[holder.memberId] = shareDigest(holder.memberId, round, parts[i]!);
  }
  const ledgerSecretVersions = input.secrets.ledgerSecrets.map((s) => s.version);
  return {
    record: {
      round,
      threshold,
      fingerprint: shareFingerprint({
        threshold,
        holders,
        ledgerSecretVersions,
        serviceIdentity: input.serviceIdentity,
      }),
      ledgerSecretVersions,
      serviceIdentity: input.serviceIdentity,
      wrapped: { nonce: toHex(nonce), ciphertext: toHex(ciphertext) },
      digests,
    },
    shares,
  };
}

/**
 * Checks one submitted share against the round's commitment. Throws TreatyError
 * InvalidRecoveryShare for a share that is not the one sealed to `memberId` in this round.
 */
export function checkShare(record: RecoveryRecord, memberId: string, share: Uint8Array): void {
  const expected = record.digests[memberId];
  if (expected === undefined)
    throw new TreatyError(
      "InvalidRecoveryShare",
      `member ${memberId}: holds no share of round ${record.round}`,
    );
  if (shareDigest(memberId, record.round, share) !== expected)
    throw new TreatyError(
      "InvalidRecoveryShare",
      `member ${memberId}: this is not the share sealed to you in round ${record.round}`,
    );
}

/**
 * Rebuilds W from `threshold` checked shares and opens the wrapped secrets. Throws TreatyError
 * DecryptionFailed when they do not open (which checked shares make a bug, or a forged record).
 */
export async function recoverSecrets(
  record: RecoveryRecord,
  shares: readonly Uint8Array[],
): Promise<WrappedSecrets> {
  if (shares.length < record.threshold)
    throw new TreatyError("Conflict", `recovery: ${shares.length} of ${record.threshold} shares`);
  const wrappingKey =
    record.threshold === 1 ? shares[0]! : await combine(shares.slice(0, record.threshold) as Uint8Array[]);
  const nonce = fromHex(record.wrapped.nonce, "recovery.wrapped.nonce");
  const plain = aeadOpen(
    deriveAeadKey(wrappingKey, nonce, WRAP_AAD),
    nonce,
    WRAP_AAD,
    fromHex(record.wrapped.ciphertext, "recovery.wrapped.ciphertext"),
  );
  if (plain === undefined)
    throw new TreatyError(
      "DecryptionFailed",
      `recovery: the shares of round ${record.round} do not open the secrets`,
    );
  return JSON.parse(utf8.decode(plain)) as WrappedSecrets;
}
