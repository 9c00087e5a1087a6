/**
 * The few DER (ITU-T X.690) encodings an X.509 certificate for ed25519 keys needs: definite
 * lengths, minimal INTEGERs, OIDs, strings, times, BIT/OCTET STRINGs and context tags. Encoding
 * only: certificates we receive are parsed by Node's X509Certificate (OpenSSL), never here.
 */
import { assert } from "../../sdk/assert.js";
import { concatBytes, utf8 } from "../../sdk/bytes.js";

/** One encoded TLV. */
export type Der = Uint8Array;

/** Tag, definite length (short form below 128, long form above), value. */
export function tlv(tag: number, value: Uint8Array): Der {
  assert(tag >= 0 && tag <= 0xff, "der: single-byte tags only");
  const n = value.length;
  let length: Uint8Array;
  if (n < 0x80) length = new Uint8Array([n]);
  else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
    length = new Uint8Array([0x80 | bytes.length, ...bytes]);
  }
  return concatBytes(new Uint8Array([tag]), length, value);
}

export const sequence = (...items: Der[]): Der => tlv(0x30, concatBytes(...items));
export const set = (...items: Der[]): Der => tlv(0x31, concatBytes(...items));
export const boolean = (value: boolean): Der => tlv(0x01, new Uint8Array([value ? 0xff : 0x00]));
export const octetString = (bytes: Uint8Array): Der => tlv(0x04, bytes);
export const utf8String = (text: string): Der => tlv(0x0c, utf8.encode(text));
/** `[n] EXPLICIT` (constructed context tag around one encoding). */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
/** `[n] IMPLICIT` over a primitive value (e.g. GeneralName dNSName [2], iPAddress [7]). */
export const implicitPrimitive = (n: number, value: Uint8Array): Der => tlv(0x80 | n, value);

/** A BIT STRING of whole bytes, or with `unusedBits` trailing zero bits in the last byte. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Der {
  assert(unusedBits >= 0 && unusedBits < 8 && (bytes.length > 0 || unusedBits === 0), "der: bit string");
  return tlv(0x03, concatBytes(new Uint8Array([unusedBits]), bytes));
}

/** A non-negative INTEGER from big-endian magnitude bytes, minimally encoded. */
export function unsignedInteger(magnitude: Uint8Array): Der {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let bytes = magnitude.subarray(start);
  if (bytes.length === 0) bytes = new Uint8Array([0]);
  if (bytes[0]! & 0x80) bytes = concatBytes(new Uint8Array([0]), bytes);
  return tlv(0x02, bytes);
}

export function smallInteger(value: number): Der {
  assert(Number.isSafeInteger(value) && value >= 0, "der: small non-negative integer");
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return unsignedInteger(new Uint8Array(bytes));
}

/** An OBJECT IDENTIFIER from dotted text, e.g. "1.3.101.112". */
export function oid(dotted: string): Der {
  const arcs = dotted.split(".").map((a) => {
    assert(/^\d+$/.test(a), `der: oid arc ${a}`);
    return Number(a);
  });
  assert(arcs.length >= 2 && arcs[0]! <= 2 && (arcs[0]! === 2 || arcs[1]! < 40), `der: oid ${dotted}`);
  const out: number[] = [];
  const base128 = (value: number) => {
    const groups = [value & 0x7f];
    for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128))
      groups.unshift((rest & 0x7f) | 0x80);
    out.push(...groups);
  };
  base128(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) base128(arc);
  return tlv(0x06, new Uint8Array(out));
}

/**
 * A certificate time as RFC 5280 4.1.2.5 requires: UTCTime (YYMMDDHHMMSSZ) for the years 1950
 * to 2049, GeneralizedTime (YYYYMMDDHHMMSSZ) otherwise; whole seconds (milliseconds dropped).
 */
export function time(ms: number): Der {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  assert(!Number.isNaN(d.getTime()), "der: time");
  const year = d.getUTCFullYear();
  assert(year >= 0 && year <= 9999, "der: time year");
  const two = (n: number) => String(n).padStart(2, "0");
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) return tlv(0x17, utf8.encode(`${two(year % 100)}${rest}`));
  return tlv(0x18, utf8.encode(`${String(year).padStart(4, "0")}${rest}`));
}

/** PEM armour (RFC 7468) around DER bytes. */
export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
