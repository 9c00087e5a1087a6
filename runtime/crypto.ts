/**
 * Node-side crypto for the hot path: SHA-256 and signature verification through node:crypto
 * (OpenSSL), ~12x faster than @noble/curves for ed25519 verify, with libsodium (sodium-native)
 * in front of OpenSSL for ed25519 (see `verifySignature`), and the signer of an Ethereum
 * wallet signature through libsecp256k1 (tiny-secp256k1, WebAssembly), ~5x faster than noble's
 * recovery. Answers must equal those of the portable path in sdk/ (`sdk/keys.ts`,
 * `sdk/ethereum.ts` `recoverSigner`) for every input; `test/sdk/keys.test.ts` and
 * `test/verify/wallet-recovery.test.ts` check both on the same inputs, hostile ones included.
 */
import { createPublicKey, hash, type KeyObject, randomBytes, verify as nodeVerify } from "node:crypto";
import { createRequire } from "node:module";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { concatBytes, toHex } from "../sdk/bytes.js";
import { isSmallOrderEd25519, type PublicKey, uncompressedPoint } from "../sdk/keys.js";

/**
 * SHA-256 of `data` (a string is hashed as UTF-8). One-shot (no Hash object), and the digest
 * comes back as a 32-character latin1 ("binary") string copied into a fresh 32-byte array: V8 keeps an
 * array that small in its heap, where the digest as a Buffer was an ArrayBuffer of its own,
 * with an off-heap backing store the GC tracks and frees one by one. A node hashes about three
 * times per entry it writes or replicates (content digest, Merkle leaf, Merkle nodes); per hash
 * this costs ~0.4 µs of process CPU instead of ~0.8-1.3 µs (GC included).
 */
export function sha256(data: Uint8Array | string): Uint8Array {
  return sha256Into(data, new Uint8Array(32));
}

/**
 * `sha256(data)` written into `out` (32 bytes or more), which it returns: for a digest that is
 * copied where it goes at once (a Merkle leaf into the tree), no array of its own (a 32-byte
 * typed array is ~230 bytes of V8 heap with its buffer object; the latin1 string stays).
 */
export function sha256Into(data: Uint8Array | string, out: Uint8Array): Uint8Array {
  const digest = hash("sha256", data, "binary"); // "binary" is latin1: one char per byte
  for (let i = 0; i < 32; i++) out[i] = digest.charCodeAt(i);
  return out;
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

/**
 * KeyObjects are costly to build (~100 µs); callers are few and stable, so cache them. null: a
 * small-order ed25519 key, under which no signature is accepted (see `isSmallOrderEd25519`).
 */
const keyCache = new Map<string, KeyObject | null>();

function keyObject(key: PublicKey): KeyObject | null {
  const cacheKey = `${key.curve}:${toHex(key.publicKey)}`;
  let object = keyCache.get(cacheKey);
  if (object === undefined) {
    if (key.curve === "ed25519") {
      object = isSmallOrderEd25519(key.publicKey)
        ? null
        : createPublicKey({
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

/** The ed25519 functions used of libsodium (sodium-native). */
interface SodiumEd25519 {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
}
/** Loaded at the first ed25519 use; null where the addon does not load (OpenSSL alone then). */
let sodiumEd25519: SodiumEd25519 | null | undefined;

function sodium(): SodiumEd25519 | null {
  if (sodiumEd25519 === undefined) {
    try {
      const loaded = createRequire(import.meta.url)("sodium-native") as Partial<SodiumEd25519>;
      sodiumEd25519 =
        typeof loaded.crypto_sign_verify_detached === "function" &&
        typeof loaded.crypto_sign_detached === "function" &&
        typeof loaded.crypto_sign_seed_keypair === "function"
          ? (loaded as SodiumEd25519)
          : null;
    } catch {
      sodiumEd25519 = null;
    }
  }
  return sodiumEd25519;
}

/**
 * An ed25519 signer for the 32-byte private key `seed` through libsodium (~20-29 µs a signature on
 * the bench machine, OpenSSL ~53), or null without the addon or for a seed of another length.
 * ed25519 signatures are deterministic: the bytes are OpenSSL's and noble's (the public key is
 * derived from the seed, as they do). The signer holds the expanded key; drop it with the key.
 */
export function ed25519Signer(seed: Uint8Array): ((message: Uint8Array) => Uint8Array) | null {
  const lib = sodium();
  if (lib === null || seed.length !== 32) return null;
  const publicKey = new Uint8Array(32);
  const secretKey = new Uint8Array(64);
  lib.crypto_sign_seed_keypair(publicKey, secretKey, seed);
  return (message) => {
    const signature = new Uint8Array(64);
    lib.crypto_sign_detached(signature, message, secretKey);
    return signature;
  };
}

/** Whether libsodium accepts the ed25519 signature (false too when it is absent or throws). */
function sodiumAccepts(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  const lib = sodium();
  if (lib === null) return false;
  try {
    return lib.crypto_sign_verify_detached(signature, message, publicKey) === true;
  } catch {
    return false;
  }
}

/**
 * Which implementations check ed25519 signatures in this process: `libsodium+openssl` (libsodium
 * first, see `verifySignature`) or `openssl` where sodium-native does not load.
 */
export function ed25519Verifier(): "libsodium+openssl" | "openssl" {
  return sodium() === null ? "openssl" : "libsodium+openssl";
}

/**
 * Same contract as `sdk/keys.verify`: false for any malformed key or signature, never a throw.
 *
 * ed25519: libsodium first (~55 µs of CPU per check on the bench machine, OpenSSL ~108 µs: OpenSSL
 * has no optimised ed25519 arithmetic). libsodium accepts a subset of what OpenSSL accepts: the
 * same cofactorless equation over the same bytes, plus refusals of its own (a non-canonical or
 * small-order key or R). So its `true` is OpenSSL's answer, and only a signature it refuses is
 * checked again by OpenSSL, whose answer stands: the answers are OpenSSL's, input for input
 * (test/sdk/keys.test.ts checks the two on hostile inputs), except under a small-order key, where
 * OpenSSL accepts forgeries (R = the key, S = 0, for any message) and nothing is accepted here, as
 * in `sdk/keys.verify`. A valid signature costs one libsodium check; an invalid one both.
 */
export function verifySignature(key: PublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (signature.length !== 64) return false;
    if (key.curve === "ed25519") {
      if (key.publicKey.length !== 32) return false;
      if (sodiumAccepts(signature, message, key.publicKey)) return true;
      const object = keyObject(key);
      return object !== null && nodeVerify(null, message, object, signature);
    }
    if (key.publicKey.length !== 33) return false;
    const s = BigInt(`0x${toHex(signature.subarray(32))}`);
    const r = BigInt(`0x${toHex(signature.subarray(0, 32))}`);
    if (r === 0n || s === 0n || s > (key.curve === "p256" ? P256_ORDER_HALF : SECP256K1_ORDER_HALF))
      return false;
    return nodeVerify("sha256", message, { key: keyObject(key)!, dsaEncoding: "ieee-p1363" }, signature);
  } catch {
    return false;
  }
}

/** libsecp256k1 compiled to WebAssembly: loaded at the first wallet check (compiling it takes ms). */
type Secp256k1Wasm = typeof import("tiny-secp256k1");
let secp256k1Wasm: Secp256k1Wasm | undefined;

function wasmSecp256k1(): Secp256k1Wasm {
  secp256k1Wasm ??= createRequire(import.meta.url)("tiny-secp256k1") as Secp256k1Wasm;
  return secp256k1Wasm;
}

/**
 * The Ethereum address (`0x` and 40 lowercase hex digits) whose key made the 65-byte
 * `r ‖ s ‖ v` signature over the 32-byte `hash`, or undefined when the signature is malformed,
 * has a `v` other than 27/28 or 0/1, an `r` or `s` of 0 or not below the group order, a high `s`
 * (EIP-2), an `r` that is no point's x coordinate, or recovers no key. Same contract and answers
 * as `sdk/ethereum.ts` `recoverSigner` (noble: 1.5–1.8 ms of CPU per check in bench/verify.ts),
 * through libsecp256k1's `secp256k1_ecdsa_recover` (0.28–0.37 ms): a forged signature costs what a
 * genuine one does.
 */
export function recoverWalletAddress(hash: Uint8Array, signature: Uint8Array): string | undefined {
  if (hash.length !== 32 || signature.length !== 65) return undefined;
  const v = signature[64]!;
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) return undefined;
  const compact = signature.subarray(0, 64);
  const s = BigInt(`0x${toHex(compact.subarray(32))}`);
  if (s === 0n || s > SECP256K1_ORDER_HALF) return undefined;
  try {
    // Throws for r or s of 0 or ≥ the order and for an r that is no x coordinate; null when the
    // recovered point would be the point at infinity.
    const point = wasmSecp256k1().recover(hash, compact, recovery, false);
    if (point === null) return undefined;
    return `0x${toHex(keccak_256(point.subarray(1)).subarray(12))}`;
  } catch {
    return undefined;
  }
}
