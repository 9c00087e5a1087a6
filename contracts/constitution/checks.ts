/**
 * Argument checks for the actions: each names the offending field by its full path
 * (`actions[0].args.publicKey: ...`), so a member reading the refusal knows what to fix. They
 * throw `Invalid`, which `validate` turns into `{valid: false, description}`.
 */
import { fromHex, sha256, utf8Encode } from "treaty/contract";
import type { Curve } from "./tables.js";

/** A proposal that does not fit the rules; the message names the field. */
export class Invalid extends Error {
  override readonly name = "Invalid";
}

export function fail(path: string, message: string): never {
  throw new Invalid(`${path}: ${message}`);
}

/** Human-readable type of a JSON value, for messages. */
export function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`.slice(0, 80);
}

/**
 * `value` as a plain object with only `allowed` keys and every `required` key present.
 * Unknown keys are refused: a typo (`publickey`) must not silently fall back to a default.
 */
export function object(
  value: unknown,
  path: string,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    fail(path, `expected an object, got ${kind(value)}`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!required.includes(key) && !optional.includes(key)) fail(`${path}.${key}`, "unknown field");
  }
  for (const key of required) if (record[key] === undefined) fail(`${path}.${key}`, "required");
  return record;
}

export function string(value: unknown, path: string, pattern: RegExp, what: string): string {
  if (typeof value !== "string") fail(path, `expected ${what}, got ${kind(value)}`);
  if (!pattern.test(value)) fail(path, `expected ${what}, got ${JSON.stringify(value.slice(0, 80))}`);
  return value;
}

export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") fail(path, `expected true or false, got ${kind(value)}`);
  return value;
}

export function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max)
    fail(path, `expected an integer from ${min} to ${max}, got ${kind(value)}`);
  return value;
}

const HEX_ID = /^[0-9a-f]{64}$/;

/** A member, user or node id: the hex SHA-256 `keyId` of a public key. */
export function id(value: unknown, path: string): string {
  return string(value, path, HEX_ID, "an id (64 lowercase hex digits)");
}

/** An Ethereum address: 0x and 40 lowercase hex digits (the id of a wallet user or member). */
export function ethereumAddress(value: unknown, path: string): string {
  return string(value, path, /^0x[0-9a-f]{40}$/, "an Ethereum address (0x and 40 lowercase hex digits)");
}

/** A member or user id: a key id, or an Ethereum address. */
export function callerId(value: unknown, path: string): string {
  return typeof value === "string" && value.startsWith("0x") ? ethereumAddress(value, path) : id(value, path);
}

/** A code measurement: hex SHA-256. */
export function measurement(value: unknown, path: string): string {
  return string(value, path, HEX_ID, "a measurement (64 lowercase hex digits)");
}

const CURVES: readonly Curve[] = ["ed25519", "p256", "secp256k1"];

export function curve(value: unknown, path: string): Curve {
  if (value === undefined) return "ed25519";
  if (typeof value !== "string" || !(CURVES as readonly string[]).includes(value))
    fail(path, `expected one of ${CURVES.join(", ")}, got ${kind(value)}`);
  return value as Curve;
}

/**
 * A public key in hex for `curveName`: 32 bytes for ed25519, a 33-byte compressed point
 * (02/03 prefix) otherwise. Returned lowercase, so one key has one spelling and one id. (Whether
 * the point is on the curve is checked by the node when the proposal arrives: the sandbox has no
 * curve arithmetic.)
 */
export function publicKey(value: unknown, path: string, curveName: Curve): string {
  const pattern = curveName === "ed25519" ? /^[0-9a-fA-F]{64}$/ : /^0[23][0-9a-fA-F]{64}$/;
  const what =
    curveName === "ed25519" ? "32 bytes in hex (64 digits)" : "a 33-byte compressed point in hex (02/03...)";
  return string(value, path, pattern, `an ${curveName} public key, ${what}`).toLowerCase();
}

/** An x25519 public key in hex (32 bytes), lowercase. */
export function encryptionKey(value: unknown, path: string): string {
  return string(value, path, /^[0-9a-fA-F]{64}$/, "an x25519 public key, 32 bytes in hex").toLowerCase();
}

/** Free-form JSON data (an object) kept with an identity. */
export function data(value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    fail(path, `expected an object, got ${kind(value)}`);
  return value as Record<string, unknown>;
}

const CONTRACT_NAME = /^[a-z][a-z0-9_-]{0,63}$/;
const RESERVED_NAMES = ["gov", "treaty"];

export function contractName(value: unknown, path: string): string {
  const name = string(value, path, CONTRACT_NAME, `a contract name matching ${String(CONTRACT_NAME)}`);
  if (RESERVED_NAMES.includes(name)) fail(path, `"${name}" is reserved`);
  return name;
}

const MAX_FILES = 256;

/** Source files: relative path → TypeScript text, with an `index.ts` entry. */
export function files(value: unknown, path: string): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    fail(path, `expected an object {"index.ts": "...", ...}, got ${kind(value)}`);
  const record = value as Record<string, unknown>;
  const names = Object.keys(record);
  if (names.length > MAX_FILES) fail(path, `at most ${MAX_FILES} files`);
  for (const name of names) {
    if (typeof record[name] !== "string")
      fail(`${path}[${JSON.stringify(name)}]`, `expected the file's text, got ${kind(record[name])}`);
  }
  if (typeof record["index.ts"] !== "string") fail(path, "must contain index.ts");
  return record as Record<string, string>;
}

/** The id of an identity, exactly as sdk/keys.ts `keyId`: SHA-256(curve || 0x00 || publicKey). */
export function keyId(curveName: Curve, publicKeyHex: string): string {
  const name = utf8Encode(curveName);
  const key = fromHex(publicKeyHex);
  const bytes = new Uint8Array(name.length + 1 + key.length);
  bytes.set(name, 0);
  bytes.set(key, name.length + 1);
  return sha256(bytes);
}
