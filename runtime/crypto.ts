/**
 * Node-side crypto for the hot path: SHA-256 and signature verification through node:crypto
 * (OpenSSL), ~12x faster than @noble/curves for ed25519 verify. Answers must equal those of
 * `sdk/keys.ts` (the portable path) for every input; `test/sdk/keys.test.ts` checks both on the
 * same vectors, including hostile ones.
 */
import { createPublicKey, hash, type KeyObject, randomBytes, verify as nodeVerify } from "node:crypto";
import { concatBytes, toHex } from "../sdk/bytes.js";
import { type PublicKey, uncompressedPoint } from "../sdk/keys.js";

export function sha256(data: Uint8Array | string): Uint8Array {
  // One-shot: no Hash object, and the digest's own 32-byte buffer viewed instead of copied.
  const digest = hash("sha256", data, "buffer");
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.length);
}

export function secureRandomBytes(length: number): Uint8Array {
  return new Uint8Array(randomBytes(length));
}

const ED25519_SPKI_PREFIX = new Uint8Array([
  0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
]);
const P256_ORDER_HALF = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n >> 1n;
const SECP256K1_ORDER_HALF = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n >> 1n;
const KEY_CACHE_LIMIT = 4096;

/** KeyObjects are costly to build (~100 µs); callers are few and stable, so cache them. */
const keyCache = new Map<string, KeyObject>();

function keyObject(key: PublicKey): KeyObject {
  const cacheKey = `${key.curve}:${toHex(key.publicKey)}`;
  let object = keyCache.get(cacheKey);
  if (object === undefined) {
    if (key.curve === "ed25519") {
      object = createPublicKey({
        key: Buffer.from(concatBytes(ED25519_SPKI_PREFIX, key.publicKey)),
        format: "der",
        type: "spki",
      });
    } else {
      const point = uncompressedPoint(key);
      object = createPublicKey({
        key: {
          kty: "EC",
          crv: key.curve === "p256" ? "P-256" : "secp256k1",
          x: Buffer.from(point.subarray(1, 33)).toString("base64url"),
          y: Buffer.from(point.subarray(33, 65)).toString("base64url"),
        },
        format: "jwk",
      });
    }
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(cacheKey, object);
  }
  return object;
}

/** Same contract as `sdk/keys.verify`: false for any malformed key or signature, never a throw. */
export function verifySignature(key: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (signature.length !== 64) return false;
    if (key.curve === "ed25519") {
      if (key.publicKey.length !== 32) return false;
      return nodeVerify(null, message, keyObject(key), signature);
    }
    if (key.publicKey.length !== 33) return false;
    const s = BigInt(`0x${toHex(signature.subarray(32))}`);
    const r = BigInt(`0x${toHex(signature.subarray(0, 32))}`);
    if (r === 0n || s === 0n || s > (key.curve === "p256" ? P256_ORDER_HALF : SECP256K1_ORDER_HALF))
      return false;
    return nodeVerify("sha256", message, { key: keyObject(key), dsaEncoding: "ieee-p1363" }, signature);
  } catch {
    return false;
  }
}
