/**
 * Identity keys for members, users and nodes: generation, key files, signing and verification
 * on three curves. Pure @noble/curves, so it runs unchanged in browsers. Node processes verify
 * on the hot path with `runtime/crypto.ts` (node:crypto), which must give identical answers;
 * `test/sdk/keys.test.ts` holds both to that.
 *
 * Validity options are explicit, because they decide which signatures are valid:
 * - ed25519: RFC 8032 strict verification (`zip215: false`).
 * - p256 and secp256k1: ECDSA over SHA-256 of the message (`prehash: true`), 64-byte compact
 *   `r || s` signatures, and only low-S signatures are produced or accepted (`lowS: true`), so
 *   a signature cannot be mangled into a second valid one.
 * - Public keys: 32 raw bytes (ed25519) or 33-byte compressed points (ECDSA curves).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, fromHex, toHex, utf8 } from "./bytes.js";
import { TreatyError } from "./errors.js";

export const CURVES = ["ed25519", "p256", "secp256k1"] as const;
export type Curve = (typeof CURVES)[number];

/** A public identity: the curve and the public key bytes. */
export interface PublicKey {
  readonly curve: Curve;
  readonly publicKey: Uint8Array;
}

/** A key pair. Keep `privateKey` secret; key files hold it in hex. */
export interface KeyPair extends PublicKey {
  readonly privateKey: Uint8Array;
  /** Stable identity id derived from the public key (see `keyId`). */
  readonly id: string;
}

/** The JSON key file written by `treaty keygen`. */
export interface KeyFile {
  curve: Curve;
  id: string;
  publicKey: string;
  privateKey: string;
}

const PUBLIC_KEY_BYTES: Record<Curve, number> = { ed25519: 32, p256: 33, secp256k1: 33 };
const ECDSA = { prehash: true, lowS: true, format: "compact" } as const;

export function isCurve(value: unknown): value is Curve {
  return typeof value === "string" && (CURVES as readonly string[]).includes(value);
}

/**
 * The id of an identity: hex SHA-256 over the curve name, a zero byte and the public key. Ids
 * name members, users and nodes everywhere (maps, requests, receipts), as CCF derives ids from
 * certificates.
 */
export function keyId(key: PublicKey): string {
  return toHex(sha256(concatBytes(utf8.encode(key.curve), new Uint8Array([0]), key.publicKey)));
}

/** Generates a fresh key pair from the platform's CSPRNG. */
export function generateKeyPair(curve: Curve = "ed25519"): KeyPair {
  const privateKey = curveImpl(curve).utils.randomSecretKey();
  return keyPairFromPrivate(curve, privateKey);
}

export function keyPairFromPrivate(curve: Curve, privateKey: Uint8Array): KeyPair {
  const publicKey =
    curve === "ed25519" ? ed25519.getPublicKey(privateKey) : curveImpl(curve).getPublicKey(privateKey, true);
  return { curve, publicKey, privateKey, id: keyId({ curve, publicKey }) };
}

/** Signs `message` (raw bytes; ECDSA curves hash it with SHA-256 first). */
export function sign(key: KeyPair, message: Uint8Array): Uint8Array {
  switch (key.curve) {
    case "ed25519":
      return ed25519.sign(message, key.privateKey);
    case "p256":
      return p256.sign(message, key.privateKey, ECDSA);
    case "secp256k1":
      return secp256k1.sign(message, key.privateKey, ECDSA);
  }
}

/**
 * Signs like `sign`, the same bytes, faster where the platform's WebCrypto implements Ed25519
 * (Node 20 and later, current browsers): an ed25519 key is imported once per key pair (the
 * pair must not be mutated afterwards) and signs through `crypto.subtle` (measured here at
 * ~50-80 µs of CPU against noble's ~650). Ed25519 signatures are deterministic (RFC 8032), so
 * the signature is `sign`'s. ECDSA keys, and platforms without WebCrypto Ed25519 (or a
 * non-secure browser context without `crypto.subtle`), sign with `sign`.
 */
export async function signAsync(key: KeyPair, message: Uint8Array): Promise<Uint8Array> {
  if (key.curve !== "ed25519") return sign(key, message);
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined || subtle === subtleWithoutEd25519) return sign(key, message);
  let cached = webCryptoKeys.get(key);
  if (cached === undefined || cached.subtle !== subtle) {
    cached = { subtle, key: importEd25519(subtle, key.privateKey) };
    webCryptoKeys.set(key, cached);
  }
  const imported = await cached.key;
  if (imported === null) return sign(key, message);
  try {
    return new Uint8Array(await subtle.sign("Ed25519", imported, message as Uint8Array<ArrayBuffer>));
  } catch {
    return sign(key, message);
  }
}

/** The `crypto.subtle` that refused to import an Ed25519 key (no support): not asked again. */
let subtleWithoutEd25519: SubtleCrypto | undefined;
/** Each ed25519 key pair's WebCrypto signing key (null: not importable there), per `subtle`. */
const webCryptoKeys = new WeakMap<KeyPair, { subtle: SubtleCrypto; key: Promise<CryptoKey | null> }>();
/** PKCS#8 DER of an Ed25519 private key, up to the 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");

async function importEd25519(subtle: SubtleCrypto, seed: Uint8Array): Promise<CryptoKey | null> {
  if (seed.length !== 32) return null; // `sign` reports it
  const pkcs8 = new Uint8Array(ED25519_PKCS8_PREFIX.length + 32);
  pkcs8.set(ED25519_PKCS8_PREFIX);
  pkcs8.set(seed, ED25519_PKCS8_PREFIX.length);
  try {
    return await subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  } catch (err) {
    if ((err as { name?: unknown } | null)?.name === "NotSupportedError") subtleWithoutEd25519 = subtle;
    return null;
  } finally {
    pkcs8.fill(0);
  }
}

/** Verifies a signature; false (never a throw) for any malformed key or signature. */
export function verify(key: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (key.publicKey.length !== PUBLIC_KEY_BYTES[key.curve]) return false;
    switch (key.curve) {
      case "ed25519":
        return (
          signature.length === 64 && ed25519.verify(signature, message, key.publicKey, { zip215: false })
        );
      case "p256":
        return signature.length === 64 && p256.verify(signature, message, key.publicKey, ECDSA);
      case "secp256k1":
        return signature.length === 64 && secp256k1.verify(signature, message, key.publicKey, ECDSA);
    }
  } catch {
    return false;
  }
}

/** Validates and parses a public key given as hex, naming `field` in errors. */
export function parsePublicKey(curve: unknown, publicKeyHex: unknown, field = "publicKey"): PublicKey {
  if (!isCurve(curve)) {
    throw new TreatyError(
      "MalformedRequest",
      `${field}.curve: expected one of ${CURVES.join(", ")}, got ${JSON.stringify(curve)}`,
    );
  }
  if (typeof publicKeyHex !== "string") {
    throw new TreatyError("MalformedRequest", `${field}: expected a hex string`);
  }
  let publicKey: Uint8Array;
  try {
    publicKey = fromHex(publicKeyHex, field);
  } catch (err) {
    throw new TreatyError("MalformedRequest", (err as Error).message);
  }
  if (publicKey.length !== PUBLIC_KEY_BYTES[curve] || !isValidPoint(curve, publicKey)) {
    throw new TreatyError("MalformedRequest", `${field}: not a valid ${curve} public key`);
  }
  if (curve === "ed25519" && isSmallOrderEd25519(publicKey)) {
    throw new TreatyError(
      "MalformedRequest",
      `${field}: a small-order ed25519 key (anyone can make signatures that verify under it)`,
    );
  }
  return { curve, publicKey };
}

/**
 * Whether a 32-byte ed25519 public key is a point of small order (or no point at all). Under such
 * a key, signatures that verify under the cofactorless check OpenSSL makes can be made without
 * any private key (for instance R = the key, S = 0 for any message): nodes never register one and
 * never accept a signature under one, as `verify` here never does.
 */
export function isSmallOrderEd25519(publicKey: Uint8Array): boolean {
  try {
    return ed25519.Point.fromBytes(publicKey).isSmallOrder();
  } catch {
    return true;
  }
}

function isValidPoint(curve: Curve, publicKey: Uint8Array): boolean {
  try {
    if (curve === "ed25519") ed25519.Point.fromBytes(publicKey);
    else curveImpl(curve).Point.fromBytes(publicKey).assertValidity();
    return true;
  } catch {
    return false;
  }
}

export function toKeyFile(key: KeyPair): KeyFile {
  return { curve: key.curve, id: key.id, publicKey: toHex(key.publicKey), privateKey: toHex(key.privateKey) };
}

/** Parses a key file's JSON value; checks that the private key matches the public key. */
export function fromKeyFile(value: unknown): KeyPair {
  if (value === null || typeof value !== "object")
    throw new TreatyError("MalformedRequest", "key file: expected a JSON object");
  const file = value as Record<string, unknown>;
  const { curve, publicKey } = parsePublicKey(file.curve, file.publicKey, "key file publicKey");
  if (typeof file.privateKey !== "string")
    throw new TreatyError("MalformedRequest", "key file privateKey: expected a hex string");
  let pair: KeyPair;
  try {
    pair = keyPairFromPrivate(curve, fromHex(file.privateKey, "privateKey"));
  } catch {
    throw new TreatyError("MalformedRequest", `key file privateKey: not a valid ${curve} private key`);
  }
  if (toHex(pair.publicKey) !== toHex(publicKey)) {
    throw new TreatyError("MalformedRequest", "key file: privateKey does not match publicKey");
  }
  return pair;
}

/** Uncompressed SEC1 point for an ECDSA public key (used to build node:crypto keys). */
export function uncompressedPoint(key: PublicKey): Uint8Array {
  if (key.curve === "ed25519") throw new TypeError("ed25519 keys have no uncompressed form");
  return curveImpl(key.curve).Point.fromBytes(key.publicKey).toBytes(false);
}

function curveImpl(curve: Curve) {
  switch (curve) {
    case "ed25519":
      return ed25519;
    case "p256":
      return p256;
    case "secp256k1":
      return secp256k1;
  }
}
