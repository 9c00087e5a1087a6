/**
 * Recovery shares, member side (runs in Node and in browsers). A member registers an x25519
 * encryption public key; the service seals each member's recovery share to it. Sealing: an
 * ephemeral x25519 key, ECDH with the member's key, HKDF-SHA256 (salt: both public keys; info:
 * a label naming the member and the share round), AES-256-GCM with that info as associated
 * data, so a share sealed for one member or round cannot be passed off as another's.
 *
 * @example
 * const enc = generateEncryptionKeyPair();              // keep enc.privateKey with the member key
 * const share = await openRecoveryShare(enc, sealed);   // sealed: from GET /gov/recovery/share
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, fromHex, toHex, utf8 } from "./bytes.js";
import { TreatyError } from "./errors.js";
import { exchangeJson } from "./json-exchange.js";
import { type KeyPair, keyId, type PublicKey } from "./keys.js";
import { signRequest } from "./request.js";

/** A member's x25519 encryption key pair (hex in key files, under `encryption`). */
export interface EncryptionKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** One member's share as the service records it (public: only the member can open it). */
export interface SealedShare {
  /** The share round (increases every time shares are issued). */
  readonly round: number;
  readonly memberId: string;
  /** The member's encryption key it is sealed to (hex). */
  readonly encryptionKey: string;
  /** The ephemeral x25519 public key (hex). */
  readonly ephemeralKey: string;
  readonly nonce: string;
  readonly ciphertext: string;
}

const NONCE_BYTES = 12;

/** A fresh x25519 key pair for recovery shares. */
export function generateEncryptionKeyPair(): EncryptionKeyPair {
  const { secretKey, publicKey } = x25519.keygen();
  return { privateKey: secretKey, publicKey };
}

/** The `encryption` section of a key file: `{publicKey, privateKey}` in hex. */
export function toEncryptionKeyFile(key: EncryptionKeyPair): { publicKey: string; privateKey: string } {
  return { publicKey: toHex(key.publicKey), privateKey: toHex(key.privateKey) };
}

/**
 * The encryption key pair in a member key file (its `encryption` section). Throws TreatyError
 * MalformedRequest when it is missing or its private key does not match its public key.
 */
export function encryptionKeyFromFile(value: unknown): EncryptionKeyPair {
  const section = (value as { encryption?: unknown } | null)?.encryption as
    | { publicKey?: unknown; privateKey?: unknown }
    | undefined;
  if (
    section === undefined ||
    section === null ||
    typeof section.publicKey !== "string" ||
    typeof section.privateKey !== "string"
  )
    throw new TreatyError(
      "MalformedRequest",
      "key file encryption: expected {publicKey, privateKey} (create one with treaty keygen --encryption)",
    );
  const privateKey = fromHex(section.privateKey, "key file encryption.privateKey");
  if (privateKey.length !== 32)
    throw new TreatyError("MalformedRequest", "key file encryption.privateKey: expected 32 bytes");
  const publicKey = x25519.getPublicKey(privateKey);
  if (toHex(publicKey) !== section.publicKey.toLowerCase())
    throw new TreatyError("MalformedRequest", "key file encryption: privateKey does not match publicKey");
  return { publicKey, privateKey };
}

/** A clamped x25519 scalar: every clamped scalar is a multiple of 8, see `encryptionKeyProblem`. */
const PROBE_SCALAR = new Uint8Array(32).fill(9);

/**
 * Why `publicKey` (32 bytes) cannot take a sealed share, or undefined when it can. A point of
 * small order (all zeros, 1, ...: there are a handful) gives the all-zero shared secret with every
 * scalar, which noble refuses: `sealShare` would throw for it at every share round, and no round
 * could be issued for any member. Governance and genesis refuse such a key up front.
 */
export function encryptionKeyProblem(publicKey: Uint8Array): string | undefined {
  if (publicKey.length !== 32) return "expected an x25519 public key, 32 bytes";
  try {
    x25519.getSharedSecret(PROBE_SCALAR, publicKey);
  } catch {
    return "not a usable x25519 public key (a point of small order)";
  }
  return undefined;
}

function label(memberId: string, round: number): Uint8Array {
  return utf8.encode(`treaty/recovery-share/v1|${memberId}|${round}`);
}

async function aesKey(raw: Uint8Array, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  return await globalThis.crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, "AES-GCM", false, [
    usage,
  ]);
}

/**
 * Seals `share` to a member's encryption key (service side). `randomBytes` supplies the
 * ephemeral key and the nonce. Throws TreatyError MalformedRequest for an unusable key.
 */
export async function sealShare(
  memberId: string,
  encryptionKeyHex: string,
  round: number,
  share: Uint8Array,
  randomBytes: (length: number) => Uint8Array,
): Promise<SealedShare> {
  const recipient = fromHex(encryptionKeyHex, "encryptionKey");
  const ephemeralPrivate = randomBytes(32);
  const ephemeral = x25519.getPublicKey(ephemeralPrivate);
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(ephemeralPrivate, recipient);
  } catch {
    throw new TreatyError("MalformedRequest", `member ${memberId}: encryptionKey is not usable for x25519`);
  }
  const info = label(memberId, round);
  const key = hkdf(sha256, shared, concatBytes(ephemeral, recipient), info, 32);
  const nonce = randomBytes(NONCE_BYTES);
  const ciphertext = new Uint8Array(
    await globalThis.crypto.subtle.encrypt(
      {
        name: "AES-GCM",
        iv: nonce as Uint8Array<ArrayBuffer>,
        additionalData: info as Uint8Array<ArrayBuffer>,
      },
      await aesKey(key, "encrypt"),
      share as Uint8Array<ArrayBuffer>,
    ),
  );
  return {
    round,
    memberId,
    encryptionKey: toHex(recipient),
    ephemeralKey: toHex(ephemeral),
    nonce: toHex(nonce),
    ciphertext: toHex(ciphertext),
  };
}

/**
 * Opens a member's sealed share with its encryption key pair. Throws TreatyError
 * DecryptionFailed when the share was sealed to another key or altered.
 */
export async function openRecoveryShare(key: EncryptionKeyPair, sealed: SealedShare): Promise<Uint8Array> {
  if (sealed.encryptionKey !== toHex(key.publicKey))
    throw new TreatyError(
      "DecryptionFailed",
      `recovery share of ${sealed.memberId}: sealed to encryption key ${sealed.encryptionKey.slice(0, 16)}…, not this key file's`,
    );
  const ephemeral = fromHex(sealed.ephemeralKey, "share.ephemeralKey");
  const info = label(sealed.memberId, sealed.round);
  try {
    const shared = x25519.getSharedSecret(key.privateKey, ephemeral);
    const aes = hkdf(sha256, shared, concatBytes(ephemeral, key.publicKey), info, 32);
    return new Uint8Array(
      await globalThis.crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: fromHex(sealed.nonce, "share.nonce") as Uint8Array<ArrayBuffer>,
          additionalData: info as Uint8Array<ArrayBuffer>,
        },
        await aesKey(aes, "decrypt"),
        fromHex(sealed.ciphertext, "share.ciphertext") as Uint8Array<ArrayBuffer>,
      ),
    );
  } catch {
    throw new TreatyError(
      "DecryptionFailed",
      `recovery share of ${sealed.memberId}: does not open with this encryption key (altered, or another key)`,
    );
  }
}

/** The public commitment to a share the service records, so a forged share is refused on arrival. */
export function shareDigest(memberId: string, round: number, share: Uint8Array): string {
  return toHex(sha256(concatBytes(label(memberId, round), share)));
}

/** A recovering node's answer to a share submission. */
export interface ShareSubmission {
  readonly received: number;
  readonly needed: number;
  /** "RecoveryShares" while more are needed; "Recovering" once the node has enough. */
  readonly state: "RecoveryShares" | "Recovering";
}

/**
 * A member's part in a disaster recovery: fetches its sealed share from the recovering `node`,
 * opens it with its encryption key, re-seals it to the node's key (so it never crosses the
 * network in clear) and submits it in a request signed with its member key for the lost service
 * (`serviceKey`, the identity the member pinned). Throws a TreatyError: the node's (for example
 * InvalidRecoveryShare, Conflict, with its details; Internal for an error answer without an
 * error body), DecryptionFailed when the share is not sealed to this key,
 * Unavailable when a request got no answer (Timeout when `fetch` gave up at a deadline, e.g.
 * `AbortSignal.timeout`), MalformedEncoding when an answer is not JSON. Nothing is retried.
 *
 * @example
 * const { received, needed } = await submitRecoveryShare({ node, member, encryption, serviceKey });
 */
export async function submitRecoveryShare(options: {
  readonly node: string;
  readonly member: KeyPair;
  readonly encryption: EncryptionKeyPair;
  readonly serviceKey: PublicKey;
  readonly randomBytes?: (length: number) => Uint8Array;
  /** How to reach the node (default the platform fetch). */
  readonly fetch?: typeof fetch;
}): Promise<ShareSubmission> {
  const random = options.randomBytes ?? ((n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
  const fetchImpl = options.fetch ?? fetch;
  const status = await exchangeJson<{
    state?: string;
    encryptionKey?: string;
    recovery?: { round?: number };
  }>(fetchImpl, options.node, "/node/status");
  if (status.state !== "RecoveryShares" || typeof status.encryptionKey !== "string")
    throw new TreatyError(
      "Conflict",
      `${options.node}: not waiting for recovery shares (state ${status.state ?? "open"})`,
    );
  const sealed = await exchangeJson<SealedShare>(
    fetchImpl,
    options.node,
    `/gov/recovery/shares/${options.member.id}`,
  );
  const share = await openRecoveryShare(options.encryption, sealed);
  const forNode = await sealShare(options.member.id, status.encryptionKey, sealed.round, share, random);
  const request = signRequest(options.member, keyId(options.serviceKey), RECOVERY_SHARES_PATH, {
    share: forNode,
  });
  return exchangeJson<ShareSubmission>(fetchImpl, options.node, request.path, {
    method: "POST",
    body: request.body,
    headers: request.headers,
  });
}

/** Where members submit shares to a recovering node. */
export const RECOVERY_SHARES_PATH = "/gov/recovery/shares";
