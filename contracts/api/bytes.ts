/**
 * Byte helpers for contracts: hex and UTF-8. QuickJS has no TextEncoder or Buffer, and the ABI
 * carries bytes as hex, so the API brings its own (tested against Node's encoders).
 *
 * Runs inside QuickJS and in Node: no imports.
 */

const HEX_DIGITS = "0123456789abcdef";
const HEX_STRING = /^(?:[0-9a-fA-F]{2})*$/;

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!;
  }
  return out;
}

/** True when `text` is even-length hex (either case). */
export function isHex(text: string): boolean {
  return HEX_STRING.test(text);
}

/** Parses even-length hex (either case); throws TypeError naming `field` otherwise. */
export function fromHex(hex: string, field = "hex"): Uint8Array {
  if (typeof hex !== "string" || !isHex(hex))
    throw new TypeError(`${field}: expected an even-length hex string`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * UTF-8 bytes of `text`, as TextEncoder gives them: a lone surrogate becomes U+FFFD.
 */
export function utf8Encode(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
      }
    }
    if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd;
    if (code < 0x80) out.push(code);
    else if (code < 0x800) out.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    else if (code < 0x10000) out.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    else
      out.push(
        0xf0 | (code >> 18),
        0x80 | ((code >> 12) & 63),
        0x80 | ((code >> 6) & 63),
        0x80 | (code & 63),
      );
  }
  return Uint8Array.from(out);
}

/**
 * Decodes UTF-8 bytes; throws TypeError naming `field` on invalid UTF-8 (overlong forms,
 * surrogates, truncated sequences), like a fatal TextDecoder.
 */
export function utf8Decode(bytes: Uint8Array, field = "bytes"): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    let code: number;
    let size: number;
    if (b0 < 0x80) {
      code = b0;
      size = 1;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      code = b0 & 0x1f;
      size = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      code = b0 & 0x0f;
      size = 3;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      code = b0 & 0x07;
      size = 4;
    } else {
      throw new TypeError(`${field}: invalid UTF-8 at byte ${i}`);
    }
    if (i + size > bytes.length) throw new TypeError(`${field}: truncated UTF-8 at byte ${i}`);
    for (let k = 1; k < size; k++) {
      const b = bytes[i + k]!;
      if ((b & 0xc0) !== 0x80) throw new TypeError(`${field}: invalid UTF-8 at byte ${i + k}`);
      code = (code << 6) | (b & 0x3f);
    }
    const tooSmall = (size === 3 && code < 0x800) || (size === 4 && code < 0x10000);
    if (tooSmall || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      throw new TypeError(`${field}: invalid UTF-8 at byte ${i}`);
    }
    out += String.fromCodePoint(code);
    i += size;
  }
  return out;
}
