/**
 * The transport's cryptography, all through node:crypto (OpenSSL) because it runs per frame:
 * ed25519 signing (~16x faster than @noble/curves here; signatures are deterministic, so the
 * bytes are identical to `sdk/keys.sign`, which `test/transport/channel.test.ts` checks), x25519
 * ECDH, HKDF-SHA256, AES-256-GCM and HMAC-SHA256.
 *
 * Key choice: the x25519 key is derived from the ed25519 node identity key (the standard
 * birational map, as libsodium's `crypto_sign_ed25519_pk_to_curve25519` and age's ssh-ed25519
 * recipients do) rather than carried as a second key. The identity key is the one governance
 * trusts and attestation binds; a second key would need its own distribution, endorsement and
 * rotation, and a mismatch between the two would be a new way to misconfigure a node. Using one
 * key for EdDSA and X25519 is analysed as safe (Thormarker, "On using the same key pair for
 * Ed25519 and an X25519 based KEM", 2021); every use is domain-separated (signatures cover a
 * transport-specific prefix, DH outputs only ever feed HKDF with a transport-specific label).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  sign as nodeSign,
  timingSafeEqual,
} from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { concatBytes, fromHex } from "../../sdk/bytes.js";
import { assert } from "../../sdk/assert.js";
import type { KeyPair } from "../../sdk/keys.js";

const ED25519_PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");
const X25519_PKCS8_PREFIX = fromHex("302e020100300506032b656e04220420");
const X25519_SPKI_PREFIX = fromHex("302a300506032b656e032100");

/** AES-256-GCM nonce and tag sizes, in bytes. */
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

/** Signs bytes with a node identity key; the returned signature is 64 bytes. */
export type Signer = (message: Uint8Array) => Uint8Array;

/**
 * An ed25519 signer over node:crypto for `identity` (which must be an ed25519 key pair whose
 * `privateKey` is the 32-byte seed, as `sdk/keys.ts` produces). Asserts on anything else: the
 * caller validates the identity first.
 */
export function ed25519Signer(identity: KeyPair): Signer {
  assert(
    identity.curve === "ed25519" && identity.privateKey.length === 32,
    "ed25519Signer needs an ed25519 seed",
  );
  const key = createPrivateKey({
    key: Buffer.from(concatBytes(ED25519_PKCS8_PREFIX, identity.privateKey)),
    format: "der",
    type: "pkcs8",
  });
  return (message) => new Uint8Array(nodeSign(null, message, key));
}

/** The x25519 private key that corresponds to an ed25519 identity (see the module comment). */
export function x25519PrivateKey(identity: KeyPair): KeyObject {
  assert(
    identity.curve === "ed25519" && identity.privateKey.length === 32,
    "x25519PrivateKey needs an ed25519 seed",
  );
  const scalar = ed25519.utils.toMontgomerySecret(identity.privateKey);
  return createPrivateKey({
    key: Buffer.from(concatBytes(X25519_PKCS8_PREFIX, scalar)),
    format: "der",
    type: "pkcs8",
  });
}

/**
 * True when `publicKey` is a valid ed25519 point of large order, the only keys a peer may have:
 * a small-order key would make the x25519 shared secret predictable.
 */
export function isUsableEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  try {
    return !ed25519.Point.fromBytes(publicKey).isSmallOrder();
  } catch {
    return false;
  }
}

/**
 * The static x25519 shared secret between our identity and a peer's ed25519 public key, or
 * undefined (never a throw) when the key has no Montgomery form or the result would be all zeros,
 * as for low-order keys. `isUsableEd25519PublicKey` rejects those first; this is the second line.
 */
export function x25519SharedSecret(
  privateKey: KeyObject,
  peerEd25519PublicKey: Uint8Array,
): Uint8Array | undefined {
  let shared: Uint8Array;
  try {
    const u = ed25519.utils.toMontgomery(peerEd25519PublicKey);
    const publicKey = createPublicKey({
      key: Buffer.from(concatBytes(X25519_SPKI_PREFIX, u)),
      format: "der",
      type: "spki",
    });
    // OpenSSL itself refuses an all-zero result ("failed during derivation").
    shared = new Uint8Array(diffieHellman({ privateKey, publicKey }));
  } catch {
    return undefined;
  }
  let bits = 0;
  for (const b of shared) bits |= b;
  return bits === 0 ? undefined : shared;
}

/** HKDF-SHA256 to one AES-256 key. `info` must name the key's purpose and its parties. */
export function deriveAeadKey(sharedSecret: Uint8Array, salt: Uint8Array, info: Uint8Array): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync("sha256", sharedSecret, salt, info, 32)));
}

/**
 * HKDF-SHA256 to `count` independent 32-byte keys (one HKDF output of 32 × `count` bytes, cut in
 * order). `info` must name the keys' purpose and their parties.
 */
export function deriveSecretKeys(
  sharedSecret: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  count: number,
): KeyObject[] {
  const okm = new Uint8Array(hkdfSync("sha256", sharedSecret, salt, info, 32 * count));
  return Array.from({ length: count }, (_, i) =>
    createSecretKey(Buffer.from(okm.subarray(32 * i, 32 * i + 32))),
  );
}

/** AES-256-GCM encryption: returns ciphertext followed by the 16-byte tag. */
export function aeadSeal(
  key: KeyObject,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  const { ciphertext, tag } = aeadSealDetached(key, nonce, aad, plaintext);
  return concatBytes(ciphertext, tag);
}

/** AES-256-GCM encryption with the 16-byte tag apart from the ciphertext. */
export function aeadSealDetached(
  key: KeyObject,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): { readonly ciphertext: Uint8Array; readonly tag: Uint8Array } {
  assert(nonce.length === GCM_NONCE_BYTES, "GCM nonce must be 12 bytes");
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  return {
    ciphertext:
      tail.length === 0 ? new Uint8Array(head.buffer, head.byteOffset, head.length) : concatBytes(head, tail),
    tag: new Uint8Array(tag.buffer, tag.byteOffset, tag.length),
  };
}

/** AES-256-GCM decryption; undefined (never a throw) when the tag does not verify. */
export function aeadOpen(
  key: KeyObject,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array | undefined {
  if (sealed.length < GCM_TAG_BYTES) return undefined;
  const split = sealed.length - GCM_TAG_BYTES;
  return aeadOpenDetached(key, nonce, aad, sealed.subarray(0, split), sealed.subarray(split));
}

/**
 * AES-256-GCM decryption with the tag apart from the ciphertext; undefined (never a throw) when
 * the tag is not 16 bytes or does not verify.
 */
export function aeadOpenDetached(
  key: KeyObject,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | undefined {
  if (nonce.length !== GCM_NONCE_BYTES || tag.length !== GCM_TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const head = decipher.update(ciphertext);
    const tail = decipher.final();
    // GCM's final() returns no bytes: the plaintext is `head`, a buffer of its own (viewed as a
    // plain Uint8Array, not copied again).
    if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
    return concatBytes(head, tail);
  } catch {
    return undefined;
  }
}

/** HMAC-SHA256 of the concatenation of `parts` (fed in order, not copied together). */
export function hmacSha256(key: KeyObject, parts: readonly Uint8Array[]): Uint8Array {
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  const digest = mac.digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.length);
}

/** True when `mac` is the HMAC-SHA256 of `parts` under `key`; compared in constant time. */
export function hmacSha256Verify(key: KeyObject, parts: readonly Uint8Array[], mac: Uint8Array): boolean {
  const expected = hmacSha256(key, parts);
  return mac.length === expected.length && timingSafeEqual(expected, mac);
}
