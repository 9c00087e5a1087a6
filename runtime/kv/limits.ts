/**
 * Names, sizes and orders of the KV, shared by the store, its transactions and the write-set
 * codec. Browser-safe (no node:* imports, no Buffer) so the codec can also serve offline audit.
 *
 * Decisions:
 * - Map names are non-empty, at most MAP_NAME_MAX_BYTES bytes of UTF-8, contain no U+0000 (the
 *   store's composite LMDB key is `utf8(map) 0x00 key`) and no lone surrogate (two different
 *   JS strings must never encode to the same bytes).
 * - Keys may be empty: the empty key is a map's natural singleton slot (a config record, a
 *   counter), and the composite key keeps it non-empty for LMDB.
 * - KEY_BYTES_LIMIT is the largest key any store can hold: LMDB's 1978-byte key limit minus the
 *   longest map prefix. It is a protocol limit (every node must be able to apply every write
 *   set), unlike the per-node `maxKeyBytes` cap that transactions enforce.
 * - Keys sort bytewise; map names sort by JS string order (UTF-16 code units), the order of
 *   `Array.prototype.sort` and of `encodeCanonical`, so every module agrees without a comparator.
 */

/** Longest map name, in UTF-8 bytes. */
export const MAP_NAME_MAX_BYTES = 256;

/** LMDB's compiled-in maximum key size (lmdb-js default page size). */
export const LMDB_MAX_KEY_BYTES = 1978;

/** Largest key (bytes) any store accepts: LMDB's limit minus `utf8(map) 0x00` at its longest. */
export const KEY_BYTES_LIMIT = LMDB_MAX_KEY_BYTES - MAP_NAME_MAX_BYTES - 1;

/** Default per-node cap on key size (bytes). */
export const DEFAULT_MAX_KEY_BYTES = 1024;

/** Default per-node cap on value size (bytes): 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;

/** Largest accepted `maxValueBytes` option: 256 MiB, far above any sane ledger entry. */
export const VALUE_BYTES_LIMIT = 256 * 1024 * 1024;

const encoder = new TextEncoder();
const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Checks a map name: `{error}` says why it is invalid (for a message naming the field), `{bytes}`
 * carries its UTF-8 on success so callers do not encode twice. Never throws.
 */
export function checkMapName(map: unknown): { error: string } | { bytes: Uint8Array } {
  if (typeof map !== "string") return { error: "expected a string" };
  if (map.length === 0) return { error: "must not be empty" };
  if (map.includes("\u0000")) return { error: "must not contain U+0000" };
  if (LONE_SURROGATE.test(map)) return { error: "must be well-formed Unicode (lone surrogate)" };
  const bytes = encoder.encode(map);
  if (bytes.length > MAP_NAME_MAX_BYTES) {
    return { error: `is ${bytes.length} bytes of UTF-8, max ${MAP_NAME_MAX_BYTES}` };
  }
  return { bytes };
}

/** Bytewise comparison: negative, zero or positive as `a` sorts before, equal to or after `b`. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Shows a map name in messages without letting hostile names flood logs. */
export function showMap(map: string): string {
  return JSON.stringify(map.length > 80 ? `${map.slice(0, 80)}...` : map);
}
