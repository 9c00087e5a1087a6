/**
 * Map keys as strings whose UTF-8 bytewise order equals the keys' natural order, because the
 * store orders keys bytewise and `range` must follow the contract's order:
 *
 * - string keys are stored as they are (UTF-8 order is code point order); lone surrogates are
 *   refused since UTF-8 cannot represent them;
 * - number keys are the 8 bytes of the IEEE-754 double, big-endian, with the sign bit flipped
 *   for positives and every bit flipped for negatives, written as 16 lowercase hex digits. So
 *   -1.5 < -0.25 < 0 < 1e-300 < 3 < 2^60, and -0 is the same key as 0. NaN and ±Infinity are
 *   refused.
 *
 * Runs inside QuickJS and in Node: no imports.
 */

/** The kinds of key a map may declare. */
export type KeyKind = "string" | "number";

/** The key type for a key kind. */
export type KeyOf<K extends KeyKind> = K extends "number" ? number : string;

const view = new DataView(new ArrayBuffer(8));
/** Two hex digits per byte value, built once (the API is instantiated once per sandbox context). */
const BYTE_HEX: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => (b < 16 ? "0" : "") + b.toString(16),
);
const NUMBER_KEY = /^[0-9a-f]{16}$/;
/** Typed-array views of one double: element access is cheaper than DataView calls in QuickJS. */
const double = new Float64Array(1);
const doubleBytes = new Uint8Array(double.buffer);
/** Index of the most significant byte of `double` in `doubleBytes` (7 on little-endian hosts). */
const MSB = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 7 : 0;
const STEP = MSB === 7 ? -1 : 1;
/** Any UTF-16 surrogate: most keys have none, and a native test is cheaper than a loop. */
const SURROGATE = /[\ud800-\udfff]/;

/** The encoded form of `key`, or undefined when it does not fit `kind` (the fast path of `encodeKey`). */
export function tryEncodeKey(kind: KeyKind, key: unknown): string | undefined {
  if (kind === "number")
    return typeof key === "number" && Number.isFinite(key) ? encodeNumber(key) : undefined;
  return typeof key === "string" && loneSurrogate(key) < 0 ? key : undefined;
}

/**
 * The encoded form of `key`; throws TypeError naming `field` when the key does not fit `kind`.
 */
export function encodeKey(kind: KeyKind, key: unknown, field = "key"): string {
  if (kind === "number") {
    if (typeof key !== "number" || !Number.isFinite(key)) {
      throw new TypeError(
        `${field}: expected a finite number, got ${typeof key === "number" ? String(key) : typeof key}`,
      );
    }
    return encodeNumber(key);
  }
  if (typeof key !== "string") throw new TypeError(`${field}: expected a string, got ${typeof key}`);
  const lone = loneSurrogate(key);
  if (lone >= 0)
    throw new TypeError(`${field}: lone surrogate at index ${lone} (keys must be valid Unicode)`);
  return key;
}

/** The key an encoded key stands for; throws TypeError on a string no key encodes to. */
export function decodeKey(kind: KeyKind, encoded: string): string | number {
  if (kind === "string") return encoded;
  if (!NUMBER_KEY.test(encoded)) throw new TypeError(`not an encoded number key: ${JSON.stringify(encoded)}`);
  const negative = Number.parseInt(encoded[0]!, 16) < 8;
  for (let i = 0; i < 8; i++) {
    let byte = Number.parseInt(encoded.slice(i * 2, i * 2 + 2), 16);
    byte = negative ? byte ^ 0xff : i === 0 ? byte ^ 0x80 : byte;
    view.setUint8(i, byte);
  }
  return view.getFloat64(0, false);
}

function encodeNumber(value: number): string {
  double[0] = value === 0 ? 0 : value;
  const negative = doubleBytes[MSB]! >= 0x80;
  const flip = negative ? 0xff : 0;
  let out = BYTE_HEX[doubleBytes[MSB]! ^ (negative ? 0xff : 0x80)]!;
  for (let i = 1, at = MSB + STEP; i < 8; i++, at += STEP) out += BYTE_HEX[doubleBytes[at]! ^ flip]!;
  return out;
}

/** Index of the first unpaired surrogate in `text`, or -1. */
export function loneSurrogate(text: string): number {
  if (!SURROGATE.test(text)) return -1;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800 || code > 0xdfff) continue;
    if (code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    return i;
  }
  return -1;
}

/**
 * Compares two strings in UTF-8 bytewise order (code point order), which is the store's key
 * order; JavaScript's `<` compares UTF-16 code units and disagrees above U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800-DFFF) encode code points above FFFF, so they sort after E000-FFFF.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
