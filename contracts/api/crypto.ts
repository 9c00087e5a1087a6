/**
 * Hashing, signature checks and deterministic randomness for contracts, all done by the host
 * (the ABI passes bytes as hex). Randomness comes from the transaction's recorded seed, so
 * every replica draws the same numbers: contracts have no Math.random.
 *
 * Runs inside QuickJS and in Node: no runtime imports besides sibling modules.
 */
import { fromHex, isHex, toHex, utf8Encode } from "./bytes.js";
import { ApiError } from "./errors.js";
import { host } from "./host.js";

/** Bytes as a Uint8Array, or (for `sha256` and signature messages) text hashed as UTF-8. */
export type Data = string | Uint8Array;

/** Signature curves Treaty knows (same rules as sdk/keys.ts). */
export type Curve = "ed25519" | "p256" | "secp256k1";

/** A byte argument: a Uint8Array or a hex string. */
export type Bytes = string | Uint8Array;

/** The host's limit for one randomBytes request; larger requests are split. */
const HOST_RANDOM_CHUNK = 1024;
/** Largest `randomBytes` request, so a runaway call fails clearly instead of exhausting memory. */
export const MAX_RANDOM_BYTES = 65536;

/**
 * Hex SHA-256 of `data`: a string is hashed as its UTF-8 bytes, a Uint8Array as is.
 * @example sha256("hello") === "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
 */
export function sha256(data: Data): string {
  if (typeof data === "string") return host().sha256(data, false);
  if (data instanceof Uint8Array) return host().sha256(toHex(data), true);
  throw new ApiError("ContractFault", "sha256(data): expected a string or a Uint8Array");
}

/** Arguments of `verifySignature`. */
export interface SignatureCheck {
  readonly curve: Curve;
  /** 32 bytes (ed25519) or a 33-byte compressed point, as hex or bytes. */
  readonly publicKey: Bytes;
  /** A string is taken as UTF-8 text; bytes as they are. */
  readonly message: Data;
  /** 64 bytes (`r || s` for ECDSA curves), as hex or bytes. */
  readonly signature: Bytes;
}

/**
 * True when `signature` is a valid signature of `message` under `publicKey`, with the rules of
 * sdk/keys.ts (ed25519 strict; ECDSA over SHA-256, low-S only). False, never a throw, for
 * malformed keys, signatures or hex.
 */
export function verifySignature(check: SignatureCheck): boolean {
  const { curve, publicKey, message, signature } = check;
  if (curve !== "ed25519" && curve !== "p256" && curve !== "secp256k1") return false;
  const keyHex = bytesToHex(publicKey);
  const signatureHex = bytesToHex(signature);
  if (keyHex === undefined || signatureHex === undefined) return false;
  let messageHex: string;
  if (typeof message === "string") messageHex = toHex(utf8Encode(message));
  else if (message instanceof Uint8Array) messageHex = toHex(message);
  else return false;
  return host().verifySignature(curve, keyHex, messageHex, signatureHex) === true;
}

function bytesToHex(value: Bytes): string | undefined {
  if (typeof value === "string") return isHex(value) ? value.toLowerCase() : undefined;
  return value instanceof Uint8Array ? toHex(value) : undefined;
}

/**
 * `length` random bytes from the transaction's seed (deterministic across replicas).
 * Throws ApiError(ContractFault) unless 0 ≤ length ≤ 65536 is an integer.
 */
export function randomBytes(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > MAX_RANDOM_BYTES) {
    throw new ApiError(
      "ContractFault",
      `randomBytes(length): expected an integer from 0 to ${MAX_RANDOM_BYTES}, got ${String(length)}`,
    );
  }
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += HOST_RANDOM_CHUNK) {
    const size = Math.min(HOST_RANDOM_CHUNK, length - offset);
    const chunk = fromHex(host().randomBytes(size), "host randomBytes");
    if (chunk.length !== size)
      throw new Error(`host randomBytes returned ${chunk.length} bytes, expected ${size}`);
    out.set(chunk, offset);
  }
  return out;
}

/** `length` random bytes as lowercase hex (2 × length characters). */
export function randomHex(length: number): string {
  return toHex(randomBytes(length));
}

const TWO_POW_48 = 2 ** 48;

/**
 * A uniformly distributed integer in [0, max), from the transaction's seed. `max` must be an
 * integer from 1 to 2^48. Uses rejection sampling, so no value is more likely than another.
 */
export function randomInt(max: number): number {
  if (!Number.isInteger(max) || max < 1 || max > TWO_POW_48) {
    throw new ApiError(
      "ContractFault",
      `randomInt(max): expected an integer from 1 to 2^48, got ${String(max)}`,
    );
  }
  const limit = TWO_POW_48 - (TWO_POW_48 % max);
  for (;;) {
    const bytes = randomBytes(6);
    let value = 0;
    for (let i = 0; i < 6; i++) value = value * 256 + bytes[i]!;
    if (value < limit) return value % max;
  }
}
