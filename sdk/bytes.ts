/** Byte helpers that work the same in Node and browsers (no Buffer). */

const HEX = "0123456789abcdef";

export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** Parses lowercase or uppercase hex; throws TypeError naming `field` on bad input. */
export function fromHex(hex: string, field = "hex"): Uint8Array {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`${field}: expected an even-length hex string`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * The first index where `needle` occurs in `haystack`, or -1 (an empty needle is found at 0).
 * Works on any Uint8Array view, reading only its own bytes, and makes nothing: wrapping a view
 * in a `Buffer` for `Buffer.indexOf` made an object per search for the GC (node code's commit
 * hooks searched once per committed entry, issue 13).
 */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  const n = needle.length;
  if (n === 0) return 0;
  const first = needle[0]!;
  const last = haystack.length - n;
  // The builtin scan finds each candidate first byte; the rest is compared here.
  for (let i = haystack.indexOf(first); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    let j = 1;
    while (j < n && haystack[i + j] === needle[j]) j++;
    if (j === n) return i;
  }
  return -1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Strings up to this many UTF-16 units are encoded by a JavaScript loop when they are ASCII:
 * TextEncoder.encode costs ~300 ns per call whatever the size (a call into C++), the loop ~100
 * ns for 32 characters and ~160 ns for 64 (measured on Node 20). Past 64 bytes V8 gives a typed
 * array its own off-heap buffer and the loop loses. Keys and nonce records are mostly this short.
 */
const SHORT_ASCII = 64;

export const utf8 = {
  /** The UTF-8 bytes of `text` (a lone surrogate becomes U+FFFD, as TextEncoder writes it). */
  encode: (text: string): Uint8Array => {
    const length = text.length;
    if (length > SHORT_ASCII) return encoder.encode(text);
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) return encoder.encode(text);
      out[i] = c;
    }
    return out;
  },
  /** Throws TypeError on invalid UTF-8. */
  decode: (bytes: Uint8Array): string => decoder.decode(bytes),
};

/** Base64url without padding (as used in JSON key files and HTTP). */
export function toBase64Url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The 6-bit value of each base64url character by char code, -1 for any other character. */
const BASE64URL_VALUES = (() => {
  const values = new Int8Array(128).fill(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  return values;
})();

/**
 * Decodes base64url without padding, as `atob` does after mapping `-_` to `+/` (the "forgiving"
 * decode: bits past the last whole byte are ignored), straight from the characters: no
 * intermediate strings (it runs on every signed request's signature header).
 */
export function fromBase64Url(text: string, field = "base64url"): Uint8Array {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new TypeError(`${field}: expected a base64url string`);
  }
  // atob's refusal, with its message: one character past a group of four encodes no byte.
  if (text.length % 4 === 1) throw new TypeError("The string to be decoded is not correctly encoded.");
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let at = 0;
  let bits = 0;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    bits = (bits << 6) | BASE64URL_VALUES[text.charCodeAt(i)]!;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[at++] = (bits >>> count) & 0xff;
    }
  }
  return out;
}

/**
 * Writes `value` (an integer from 0 to 2^32 - 1) big-endian into `bytes` at `offset`, with byte
 * stores rather than a DataView: `new DataView(bytes.buffer)` on a typed array of 64 bytes or
 * less, which V8 keeps inside its heap, gives the array an ArrayBuffer and backing store of its
 * own, external memory that the GC must then track and sweep (once per entry for the ledger's
 * nonces, issue 13).
 */
export function setU32BE(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

/** Writes `value` (a safe integer, 0 to 2^53 - 1) big-endian into `bytes[offset, offset + 8)`; see `setU32BE`. */
export function setU64BE(bytes: Uint8Array, offset: number, value: number): void {
  setU32BE(bytes, offset, Math.floor(value / 2 ** 32));
  setU32BE(bytes, offset + 4, value % 2 ** 32);
}

/**
 * The unsigned 64-bit big-endian integer at `offset` of `view`: exact up to 2^53 - 1; above it
 * the result is not a safe integer (rounded), and every caller refuses it with
 * `Number.isSafeInteger` (the ledger's stores: LedgerCorrupt; a COSE receipt's leaf:
 * ReceiptInvalid). A value below 2^32 comes back as `getUint32` gives it, a small integer:
 * `high * 2 ** 32 + low` is a heap number even when `high` is 0, and a record's `view` read back
 * as a heap number turned the shared `{seqno, view, bytes}` shape's field into a double,
 * deprecating it, so V8 deoptimized every function that reads records (the ledger's, the
 * store's, the consensus log's) and compiled them again; every record after it also carried a
 * boxed double. The one way to read a u64 from bytes (ledger stores, sdk/cose-receipt.ts).
 */
export function getU64(view: DataView, offset: number): number {
  const high = view.getUint32(offset);
  const low = view.getUint32(offset + 4);
  return high === 0 ? low : high * 2 ** 32 + low;
}
