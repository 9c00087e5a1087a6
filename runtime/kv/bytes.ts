/**
 * Byte helpers for the store's hot paths (Node only: runtime/ may use Buffer for speed).
 * The KV copies bytes at its boundary, in and out, so no caller can change stored state by
 * mutating an array it passed in or got back; these helpers make that cheap and uniform.
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * Lowercase hex of `bytes`: the store's key identity (hex order is bytewise order). A table
 * loop beats `Buffer#toString("hex")` for short keys, which pay for a Buffer view each call.
 */
export function hexOf(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!]!;
  return out;
}

/** A fresh plain Uint8Array with the same contents (never a Buffer, never shared). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

/** `a` followed by `b` in a fresh Buffer (LMDB composite keys). */
export function joinBytes(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
