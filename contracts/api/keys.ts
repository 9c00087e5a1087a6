/**
 * Map keys as strings whose UTF-8 bytewise order equals the keys' natural order, because the
 * store orders keys bytewise and `range` must follow the contract's order:
 *
 * - string keys are stored as they are (UTF-8 order is code point order); lone surrogates are
 *   refused since UTF-8 cannot represent them;
 * - number keys are the 8 bytes of the IEEE-754 double, big-endian, with the sign bit flipped
 *   for positives and every bit flipped for negatives, written as 16 lowercase hex digits. So
 *   -1.5 < -0.25 < 0 < 1e-300 < 3 < 2^60, and -0 is the same key as 0. NaN and ±Infinity are
 *   refused;
 * - tuple keys (`key: ["string", "number"]`) are their components in order, so they sort
 *   component by component: a number component is its 16 hex digits, a string component is the
 *   string with U+0000 written as U+0001 U+0001 and U+0001 as U+0001 U+0002, then a U+0000
 *   terminator. No component's encoding is a prefix of another's, so the keys that start with
 *   the components `[a]` are exactly those whose encoding starts with the encoding of `[a]`, and
 *   a prefix range is one contiguous scan (`prefixRange`).
 *
 * Runs inside QuickJS and in Node: no imports.
 */

/** The kinds of one key component. */
export type ScalarKeyKind = "string" | "number";

/** The kinds of key a map may declare: a scalar, or a tuple of 1 to 8 scalars. */
export type KeyKind = ScalarKeyKind | readonly ScalarKeyKind[];

/** The key type for a key kind (`["string", "number"]` → `[string, number]`). */
export type KeyOf<K extends KeyKind> = K extends "number"
  ? number
  : K extends "string"
    ? string
    : K extends readonly ScalarKeyKind[]
      ? { -readonly [I in keyof K]: K[I] extends "number" ? number : string }
      : never;

/** Most components of a tuple key. */
export const MAX_KEY_COMPONENTS = 8;

/** True when `kind` is a valid key kind (a scalar kind, or 1 to 8 of them). */
export function isKeyKind(kind: unknown): kind is KeyKind {
  if (kind === "string" || kind === "number") return true;
  return (
    Array.isArray(kind) &&
    kind.length >= 1 &&
    kind.length <= MAX_KEY_COMPONENTS &&
    kind.every((k) => k === "string" || k === "number")
  );
}

const view = new DataView(new ArrayBuffer(8));
const NUMBER_KEY = /^[0-9a-f]{16}$/;
/**
 * A double and its two 32-bit words (typed-array element access is cheaper than DataView calls
 * in QuickJS); `HIGH_WORD` indexes the most significant word (1 on little-endian hosts).
 */
const double = new Float64Array(1);
const doubleWords = new Uint32Array(double.buffer);
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
/** Leading zeros that pad a hex string of `length` digits (1 to 8) to 8. */
const WORD_PADDING: readonly string[] = ["", "0000000", "000000", "00000", "0000", "000", "00", "0", ""];
/** Any UTF-16 surrogate: most keys have none, and a native test is cheaper than a loop. */
const SURROGATE = /[\ud800-\udfff]/;

/** The encoded form of `key`, or undefined when it does not fit `kind` (the fast path of `encodeKey`). */
export function tryEncodeKey(kind: KeyKind, key: unknown): string | undefined {
  if (kind === "number")
    return typeof key === "number" && Number.isFinite(key) ? encodeNumber(key) : undefined;
  if (kind === "string") return typeof key === "string" && loneSurrogate(key) < 0 ? key : undefined;
  if (!Array.isArray(key) || key.length !== kind.length) return undefined;
  return tryEncodeComponents(kind, key);
}

function tryEncodeComponents(
  kind: readonly ScalarKeyKind[],
  components: readonly unknown[],
): string | undefined {
  let out = "";
  for (let i = 0; i < components.length; i++) {
    const part = tryEncodeKey(kind[i]!, components[i]);
    if (part === undefined) return undefined;
    out += kind[i] === "number" ? part : escapeComponent(part);
  }
  return out;
}

/** A string component: U+0000 and U+0001 escaped, then the U+0000 terminator. */
function escapeComponent(text: string): string {
  if (!text.includes("\u0000") && !text.includes("\u0001")) return `${text}\u0000`;
  return `${text.replaceAll("\u0001", "\u0001\u0002").replaceAll("\u0000", "\u0001\u0001")}\u0000`;
}

/**
 * The encoded form of `key`; throws TypeError naming `field` when the key does not fit `kind`.
 */
export function encodeKey(kind: KeyKind, key: unknown, field = "key"): string {
  if (typeof kind !== "string") {
    if (!Array.isArray(key) || key.length !== kind.length) {
      throw new TypeError(
        `${field}: expected a tuple of ${kind.length} (${kind.join(", ")}), got ${Array.isArray(key) ? `${key.length} component(s)` : typeof key}`,
      );
    }
    for (let i = 0; i < kind.length; i++) encodeKey(kind[i]!, key[i], `${field}[${i}]`);
    return tryEncodeComponents(kind, key)!;
  }
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

/**
 * The encoded form of the first components of a tuple key (all keys that start with them
 * start with it); throws TypeError naming `field` for a component that does not fit, or too many.
 */
export function encodeKeyPrefix(kind: readonly ScalarKeyKind[], prefix: unknown, field = "prefix"): string {
  if (!Array.isArray(prefix) || prefix.length > kind.length) {
    throw new TypeError(
      `${field}: expected a tuple of at most ${kind.length} leading components (${kind.join(", ")})`,
    );
  }
  for (let i = 0; i < prefix.length; i++) encodeKey(kind[i]!, prefix[i], `${field}[${i}]`);
  return tryEncodeComponents(kind.slice(0, prefix.length), prefix)!;
}

/**
 * The `[from, to)` bounds of the encoded keys that start with encoded prefix `start`: `to` is
 * `start` with its last character incremented (a terminator U+0000 or a hex digit, so it never
 * overflows); undefined for the empty prefix (no upper bound).
 */
export function prefixRange(start: string): { from: string; to: string | undefined } {
  if (start === "") return { from: start, to: undefined };
  return {
    from: start,
    to: start.slice(0, -1) + String.fromCharCode(start.charCodeAt(start.length - 1) + 1),
  };
}

/** The key an encoded key stands for; throws TypeError on a string no key encodes to. */
export function decodeKey(kind: KeyKind, encoded: string): string | number | Array<string | number> {
  if (typeof kind !== "string") return decodeTuple(kind, encoded);
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

function decodeTuple(kind: readonly ScalarKeyKind[], encoded: string): Array<string | number> {
  const out: Array<string | number> = [];
  let at = 0;
  for (const k of kind) {
    if (k === "number") {
      out.push(decodeKey("number", encoded.slice(at, at + 16)) as number);
      at += 16;
      continue;
    }
    let text = "";
    for (;;) {
      if (at >= encoded.length) throw new TypeError(`not an encoded tuple key: ${JSON.stringify(encoded)}`);
      const c = encoded[at++]!;
      if (c === "\u0000") break;
      if (c === "\u0001") {
        const next = encoded[at++];
        if (next !== "\u0001" && next !== "\u0002")
          throw new TypeError(`not an encoded tuple key: ${JSON.stringify(encoded)}`);
        text += next === "\u0001" ? "\u0000" : "\u0001";
      } else text += c;
    }
    out.push(text);
  }
  if (at !== encoded.length) throw new TypeError(`not an encoded tuple key: ${JSON.stringify(encoded)}`);
  return out;
}

function encodeNumber(value: number): string {
  double[0] = value === 0 ? 0 : value;
  const high = doubleWords[HIGH_WORD]!;
  // Negative: every bit flipped; otherwise the sign bit set. Two native number-to-hex calls cost
  // QuickJS less than eight table lookups and concatenations (~1 µs less per key).
  if (high >= 0x80000000) return hexWord(~high >>> 0) + hexWord(~doubleWords[1 - HIGH_WORD]! >>> 0);
  return hexWord((high | 0x80000000) >>> 0) + hexWord(doubleWords[1 - HIGH_WORD]!);
}

/** `word` (an unsigned 32-bit integer) as 8 lowercase hex digits. */
function hexWord(word: number): string {
  const hex = word.toString(16);
  return WORD_PADDING[hex.length]! + hex;
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
