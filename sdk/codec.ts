/**
 * The one codec for the wire and the ledger: MessagePack through msgpackr, with every option
 * written out so that a msgpackr upgrade cannot silently change bytes we hash or sign.
 *
 * - Plain maps (no msgpackr "records"): every message is self-describing and interoperable with
 *   any MessagePack library, which matters for a ledger that must outlive this code.
 * - `encodeCanonical` sorts object keys recursively. Use it for anything that is hashed or
 *   signed by a party that may re-create the bytes; otherwise hash and sign the exact bytes you
 *   received and never re-encode in order to verify.
 * - Binary comes back as `Uint8Array` (a Node `Buffer` is one too).
 * - Decoding never trusts its input: any failure is a TreatyError `MalformedEncoding`.
 */
import { Packr } from "msgpackr";
import { TreatyError } from "./errors.js";
import { checkMapKeys } from "./msgpack-keys.js";

const OPTIONS = {
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  sequential: false,
  useFloat32: 0,
  encodeUndefinedAsNil: true,
  int64AsType: "number",
  largeBigIntToFloat: false,
  largeBigIntToString: false,
  useBigIntExtension: false,
  variableMapSize: false,
  useTimestamp32: false,
} as const;

const packr = new Packr({ ...OPTIONS, copyBuffers: true });

/** `packr` but decoding byte strings as views into the input (`decodeViews`). */
const viewUnpackr = new Packr({ ...OPTIONS, copyBuffers: false });

/** A value the codec can carry: JSON-like data plus byte arrays. */
export type Encodable =
  | null
  | undefined
  | boolean
  | number
  | string
  | Uint8Array
  | readonly Encodable[]
  | { readonly [key: string]: Encodable };

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Length of the MessagePack bin header `encode` writes before `n` bytes (bin8, bin16 or bin32):
 * for code that writes byte strings into its own buffers, byte for byte as the codec would.
 */
export function binHeaderLength(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Writes the bin header of `n` bytes at `pos` (see binHeaderLength); returns the position after it. */
export function writeBinHeader(out: Uint8Array, pos: number, n: number): number {
  if (n < 0x100) {
    out[pos] = 0xc4;
    out[pos + 1] = n;
    return pos + 2;
  }
  if (n < 0x10000) {
    out[pos] = 0xc5;
    out[pos + 1] = n >>> 8;
    out[pos + 2] = n & 0xff;
    return pos + 3;
  }
  out[pos] = 0xc6;
  out[pos + 1] = n >>> 24;
  out[pos + 2] = (n >>> 16) & 0xff;
  out[pos + 3] = (n >>> 8) & 0xff;
  out[pos + 4] = n & 0xff;
  return pos + 5;
}

/** Writes a uint16 (big-endian) at `pos` after the type byte `type`; returns the position after it. */
function writeType16(out: Uint8Array, pos: number, type: number, n: number): number {
  out[pos] = type;
  out[pos + 1] = n >>> 8;
  out[pos + 2] = n & 0xff;
  return pos + 3;
}

/** Writes a uint32 (big-endian) at `pos` after the type byte `type`; returns the position after it. */
function writeType32(out: Uint8Array, pos: number, type: number, n: number): number {
  out[pos] = type;
  out[pos + 1] = n >>> 24;
  out[pos + 2] = (n >>> 16) & 0xff;
  out[pos + 3] = (n >>> 8) & 0xff;
  out[pos + 4] = n & 0xff;
  return pos + 5;
}

/** Length of the array header `encode` writes before `n` items. */
export function arrayHeaderLength(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/** Writes the array header `encode` writes for `n` items (fixarray, array16, array32); returns the position after it. */
export function writeArrayHeader(out: Uint8Array, pos: number, n: number): number {
  if (n < 16) {
    out[pos] = 0x90 | n;
    return pos + 1;
  }
  return n < 0x10000 ? writeType16(out, pos, 0xdc, n) : writeType32(out, pos, 0xdd, n);
}

/** Length of the string header `encode` writes before a UTF-8 string of `n` bytes. */
export function strHeaderLength(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Writes the string header of `n` UTF-8 bytes (fixstr, str8, str16, str32); returns the position after it. */
export function writeStrHeader(out: Uint8Array, pos: number, n: number): number {
  if (n < 32) {
    out[pos] = 0xa0 | n;
    return pos + 1;
  }
  if (n < 0x100) {
    out[pos] = 0xd9;
    out[pos + 1] = n;
    return pos + 2;
  }
  return n < 0x10000 ? writeType16(out, pos, 0xda, n) : writeType32(out, pos, 0xdb, n);
}

/** Decodes one complete value; trailing bytes, truncation or garbage throw MalformedEncoding. */
export function decode<T = unknown>(bytes: Uint8Array, what = "message"): T {
  return decodeWith(packr, bytes, what);
}

/**
 * `decode`, but byte strings come back as views into `bytes` instead of copies: one allocation
 * fewer per byte string. Only for bytes nobody modifies afterwards, and for results that stay on
 * this thread (posting a view to a worker copies its whole underlying buffer) and do not outlive
 * `bytes` by much (a view keeps all of it alive).
 */
export function decodeViews<T = unknown>(bytes: Uint8Array, what = "message"): T {
  return decodeWith(viewUnpackr, bytes, what);
}

function decodeWith<T>(unpackr: Packr, bytes: Uint8Array, what: string): T {
  if (!(bytes instanceof Uint8Array)) {
    throw new TreatyError("MalformedEncoding", `${what}: expected bytes`);
  }
  try {
    const values = unpackr.unpackMultiple(bytes) as unknown[];
    if (values.length !== 1) {
      throw new Error(values.length === 0 ? "empty input" : "trailing bytes after the value");
    }
    checkPlain(values[0], 0);
    return values[0] as T;
  } catch (err) {
    throw new TreatyError(
      "MalformedEncoding",
      `${what}: not valid MessagePack (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

/**
 * `decode` for untrusted, signed input (request bodies): also refuses a map that names a key
 * twice, a key that is not a UTF-8 string, and `__proto__` (sdk/msgpack-keys.ts), all of which
 * would let the bytes a caller signed say something other than what the node reads. Throws
 * MalformedEncoding.
 */
export function decodeStrict<T = unknown>(bytes: Uint8Array, what = "message"): T {
  const value = decode<T>(bytes, what);
  try {
    checkMapKeys(bytes);
  } catch (err) {
    throw new TreatyError("MalformedEncoding", `${what}: ${(err as Error).message}`);
  }
  return value;
}

const MAX_DEPTH = 64;

/**
 * Only plain data may come out of a decode: msgpackr would otherwise turn the reserved byte 0xC1
 * and extension types (timestamps, ...) into objects no Treaty code expects.
 */
function checkPlain(value: unknown, depth: number): void {
  if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean")
    return;
  if (depth > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} levels`);
  if (value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    for (const item of value) checkPlain(item, depth + 1);
    return;
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const key in value) checkPlain((value as Record<string, unknown>)[key], depth + 1);
    return;
  }
  throw new Error(
    `unsupported value type ${typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value}`,
  );
}

/** Encodes with object keys sorted (by UTF-16 code unit, as Array.prototype.sort), recursively. */
export function encodeCanonical(value: unknown): Uint8Array {
  return packr.pack(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(sortKeys);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = sortKeys(v);
  }
  return out;
}
