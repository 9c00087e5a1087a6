/**
 * Readers for the MessagePack values of an entry that every replicated, audited or proven entry
 * decodes: the outer map `{h, p, x, s, d}` and the header; and, as views, the write sets a
 * follower applies (the public part, the private plaintext). Each reads exactly the layout
 * this code base writes (the codec's canonical bytes: map16, keys in sorted order, the smallest
 * bin, string and integer forms) and returns what `decodeViews` returns for those bytes: a plain
 * object with the same keys in the same order, byte strings as views into the input. Anything
 * else (another layout, a truncation, a non-ASCII string, trailing bytes) gives `undefined`, and
 * the caller decodes with the codec as before, so its checks and errors are unchanged.
 *
 * Why: the codec's generic decode of these small values (set-up per call, a DataView attached to
 * every input, a result array) was most of `decodeEntry`'s cost after the digest, on every entry a
 * follower receives. test/ledger/entry-read.test.ts checks the readers against the codec.
 */

/** Reads one value at a position; every method returns `undefined` when the layout is not ours. */
class Cursor {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  /** A map16 header of exactly `size` pairs (the codec's `variableMapSize: false`). */
  map16(size: number): boolean {
    const b = this.bytes;
    const p = this.pos;
    if (p + 3 > b.length || b[p] !== 0xde || b[p + 1] !== size >>> 8 || b[p + 2] !== (size & 0xff))
      return false;
    this.pos = p + 3;
    return true;
  }

  /** The number of pairs of a map16 header (0 when there is none). */
  map16Size(): number {
    const b = this.bytes;
    const p = this.pos;
    if (p + 3 > b.length || b[p] !== 0xde) return 0;
    this.pos = p + 3;
    return (b[p + 1]! << 8) | b[p + 2]!;
  }

  /** A fixstr key equal to `key` (ASCII, at most 31 bytes). */
  key(key: string): boolean {
    const b = this.bytes;
    const p = this.pos;
    const n = key.length;
    if (p + 1 + n > b.length || b[p] !== (0xa0 | n)) return false;
    for (let i = 0; i < n; i++) if (b[p + 1 + i] !== key.charCodeAt(i)) return false;
    this.pos = p + 1 + n;
    return true;
  }

  /** `true` and skips a nil; `false` (and stays) otherwise. */
  nil(): boolean {
    if (this.bytes[this.pos] !== 0xc0 || this.pos >= this.bytes.length) return false;
    this.pos++;
    return true;
  }

  /** A bin8/bin16/bin32 as a view into the input. */
  bin(): Uint8Array | undefined {
    const b = this.bytes;
    let p = this.pos;
    if (p + 2 > b.length) return undefined;
    let n: number;
    const t = b[p]!;
    if (t === 0xc4) {
      n = b[p + 1]!;
      p += 2;
    } else if (t === 0xc5) {
      if (p + 3 > b.length) return undefined;
      n = (b[p + 1]! << 8) | b[p + 2]!;
      p += 3;
    } else if (t === 0xc6) {
      if (p + 5 > b.length) return undefined;
      n = ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
      p += 5;
    } else return undefined;
    if (p + n > b.length) return undefined;
    this.pos = p + n;
    return b.subarray(p, p + n);
  }

  /** A bin, or null for a nil. */
  binOrNil(): Uint8Array | null | undefined {
    return this.nil() ? null : this.bin();
  }

  /** A fixstr/str8/str16 of ASCII bytes only (any other byte: undefined, the codec decodes it). */
  ascii(): string | undefined {
    const p = this.asciiSpan();
    if (p < 0) return undefined;
    const b = this.bytes;
    const n = this.pos - p;
    let hash = n;
    for (let i = p; i < p + n; i++) hash = Math.imul(hash ^ b[i]!, 0x01000193);
    if (n === 0) return "";
    if (n > MAX_CACHED_STRING) return asciiString(b, p, n);
    // The same few strings come in entry after entry (map names, kinds, contracts, methods,
    // callers): the one read last at this slot is handed out again when its bytes match.
    const slot = (hash ^ (hash >>> 16)) & (STRING_CACHE_SLOTS - 1);
    const cached = stringCache[slot];
    if (cached !== undefined && cached.length === n) {
      let i = 0;
      while (i < n && cached.charCodeAt(i) === b[p + i]) i++;
      if (i === n) return cached;
    }
    const fresh = asciiString(b, p, n);
    stringCache[slot] = fresh;
    return fresh;
  }

  /** A string, or null for a nil. */
  asciiOrNil(): string | null | undefined {
    return this.nil() ? null : this.ascii();
  }

  /** A positive fixint, uint8, uint16, uint32 or float64 (the forms the codec writes for a non-negative number). */
  number(): number | undefined {
    const b = this.bytes;
    const p = this.pos;
    if (p >= b.length) return undefined;
    const t = b[p]!;
    if (t <= 0x7f) {
      this.pos = p + 1;
      return t;
    }
    if (t === 0xcc && p + 2 <= b.length) {
      this.pos = p + 2;
      return b[p + 1]!;
    }
    if (t === 0xcd && p + 3 <= b.length) {
      this.pos = p + 3;
      return (b[p + 1]! << 8) | b[p + 2]!;
    }
    if (t === 0xce && p + 5 <= b.length) {
      this.pos = p + 5;
      return ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
    }
    if (t === 0xcb && p + 9 <= b.length) {
      for (let i = 0; i < 8; i++) float64Bytes[i] = b[p + 1 + i]!;
      this.pos = p + 9;
      return float64View.getFloat64(0);
    }
    return undefined;
  }

  /** An array header (fixarray, array16, array32) of at most as many items as bytes remain. */
  arrayLength(): number | undefined {
    const b = this.bytes;
    const p = this.pos;
    if (p >= b.length) return undefined;
    const t = b[p]!;
    let n: number;
    if (t >= 0x90 && t <= 0x9f) {
      n = t & 0x0f;
      this.pos = p + 1;
    } else if (t === 0xdc && p + 3 <= b.length) {
      n = (b[p + 1]! << 8) | b[p + 2]!;
      this.pos = p + 3;
    } else if (t === 0xdd && p + 5 <= b.length) {
      n = ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
      this.pos = p + 5;
    } else return undefined;
    // Every item takes at least a byte: a longer count is a truncation (the codec reports it).
    return n <= b.length - this.pos ? n : undefined;
  }

  /** A write set's wire form `[[map, [[key, value | nil], ...]], ...]` with ASCII map names. */
  writes(): unknown[] | undefined {
    const maps = this.arrayLength();
    if (maps === undefined) return undefined;
    // Lists of their exact length (a list grown from empty by push reserves 17 slots: most of
    // what a follower allocated per replicated entry here).
    const out = new Array<unknown>(maps);
    for (let i = 0; i < maps; i++) {
      if (this.arrayLength() !== 2) return undefined;
      const map = this.ascii();
      if (map === undefined) return undefined;
      const count = this.arrayLength();
      if (count === undefined) return undefined;
      const writes = new Array<unknown>(count);
      for (let j = 0; j < count; j++) {
        if (this.arrayLength() !== 2) return undefined;
        const key = this.bin();
        if (key === undefined) return undefined;
        const value = this.binOrNil();
        if (value === undefined) return undefined;
        writes[j] = [key, value];
      }
      out[i] = [map, writes];
    }
    return out;
  }

  /** Skips a bin as `bin` reads it; where its bytes start (`pos` is where they end), else -1. */
  binSpan(): number {
    const b = this.bytes;
    let p = this.pos;
    if (p + 2 > b.length) return -1;
    let n: number;
    const t = b[p]!;
    if (t === 0xc4) {
      n = b[p + 1]!;
      p += 2;
    } else if (t === 0xc5) {
      if (p + 3 > b.length) return -1;
      n = (b[p + 1]! << 8) | b[p + 2]!;
      p += 3;
    } else if (t === 0xc6) {
      if (p + 5 > b.length) return -1;
      n = ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
      p += 5;
    } else return -1;
    if (p + n > b.length) return -1;
    this.pos = p + n;
    return p;
  }

  /** Skips a string as `ascii` reads it (ASCII only); where its bytes start, else -1. */
  asciiSpan(): number {
    const b = this.bytes;
    let p = this.pos;
    if (p >= b.length) return -1;
    const t = b[p]!;
    let n: number;
    if (t >= 0xa0 && t <= 0xbf) {
      n = t & 0x1f;
      p += 1;
    } else if (t === 0xd9 && p + 2 <= b.length) {
      n = b[p + 1]!;
      p += 2;
    } else if (t === 0xda && p + 3 <= b.length) {
      n = (b[p + 1]! << 8) | b[p + 2]!;
      p += 3;
    } else return -1;
    if (p + n > b.length) return -1;
    for (let i = p; i < p + n; i++) if (b[i]! >= 0x80) return -1;
    this.pos = p + n;
    return p;
  }

  get atEnd(): boolean {
    return this.pos === this.bytes.length;
  }
}

/** One flat string of `n` ASCII bytes (a character at a time would build a chain of n partial strings). */
function asciiString(b: Uint8Array, p: number, n: number): string {
  return String.fromCharCode.apply(null, b.subarray(p, p + n) as unknown as number[]);
}

/**
 * Strings `ascii` read, by a hash of their bytes (direct-mapped: a slot holds the last one read
 * there; a string is handed out again only when every byte matches). Bounded: at most
 * `STRING_CACHE_SLOTS` strings of at most `MAX_CACHED_STRING` characters. A follower decodes
 * about six such strings per replicated entry, nearly always ones it read before; without the
 * cache each is a new string (and an argument list for `fromCharCode`), kept as long as the
 * decoded entry is (runtime/ledger/ledger.ts `RECENT_DECODED_ENTRIES`).
 */
const STRING_CACHE_SLOTS = 512;
const MAX_CACHED_STRING = 128;
const stringCache: Array<string | undefined> = new Array<string | undefined>(STRING_CACHE_SLOTS).fill(
  undefined,
);

const float64Bytes = new Uint8Array(8);
const float64View = new DataView(float64Bytes.buffer);

/** The outer map's parts, as `decodeViews` gives them. */
export interface OuterWire {
  h: Uint8Array;
  p: Uint8Array;
  x: Uint8Array | null;
  s: Uint8Array | null;
  d: Uint8Array;
}

/**
 * The outer map of entry bytes in `encodeOuter`'s layout (map16 of 5; keys h, p, x, s, d in that
 * order; h, p, d bins; x and s bins or nil; nothing after it), else undefined.
 */
export function readOuter(bytes: Uint8Array): OuterWire | undefined {
  const c = new Cursor(bytes);
  if (!c.map16(5) || !c.key("h")) return undefined;
  const h = c.bin();
  if (h === undefined || !c.key("p")) return undefined;
  const p = c.bin();
  if (p === undefined || !c.key("x")) return undefined;
  const x = c.binOrNil();
  if (x === undefined || !c.key("s")) return undefined;
  const s = c.binOrNil();
  if (s === undefined || !c.key("d")) return undefined;
  const d = c.bin();
  if (d === undefined || !c.atEnd) return undefined;
  return { h, p, x, s, d };
}

/**
 * A header in the codec's canonical layout (map16 of 7 pairs, or 8 with `claims` first; keys in
 * sorted order; `meta` a map16 of caller, contract, method, time; strings ASCII; byte strings bin
 * or nil), as `decodeViews` gives it (values not checked: `decodeHeader` does that), else undefined.
 */
export function readHeader(bytes: Uint8Array): Record<string, unknown> | undefined {
  const c = new Cursor(bytes);
  const size = c.map16Size();
  if (size !== 7 && size !== 8) return undefined;
  let claims: Uint8Array | null | undefined;
  if (size === 8) {
    if (!c.key("claims")) return undefined;
    claims = c.binOrNil();
    if (claims === undefined) return undefined;
  }
  if (!c.key("kind")) return undefined;
  const kind = c.ascii();
  if (kind === undefined || !c.key("meta") || !c.map16(4) || !c.key("caller")) return undefined;
  const caller = c.asciiOrNil();
  if (caller === undefined || !c.key("contract")) return undefined;
  const contract = c.asciiOrNil();
  if (contract === undefined || !c.key("method")) return undefined;
  const method = c.asciiOrNil();
  if (method === undefined || !c.key("time")) return undefined;
  const time = c.number();
  if (time === undefined || !c.key("request")) return undefined;
  const request = c.binOrNil();
  if (request === undefined || !c.key("secret")) return undefined;
  const secret = c.number();
  if (secret === undefined || !c.key("seqno")) return undefined;
  const seqno = c.number();
  if (seqno === undefined || !c.key("v")) return undefined;
  const v = c.number();
  if (v === undefined || !c.key("view")) return undefined;
  const view = c.number();
  if (view === undefined || !c.atEnd) return undefined;
  const meta = { caller, contract, method, time };
  return claims === undefined
    ? { kind, meta, request, secret, seqno, v, view }
    : { claims, kind, meta, request, secret, seqno, v, view };
}

/** A write set (an entry's public part) with ASCII map names and byte keys and values, else undefined. */
export function readWrites(bytes: Uint8Array): unknown[] | undefined {
  const c = new Cursor(bytes);
  const writes = c.writes();
  return writes !== undefined && c.atEnd ? writes : undefined;
}

/** The private plaintext `{seed, writes}` (map16; seed a bin or nil; writes as `readWrites`), else undefined. */
export function readPrivatePart(
  bytes: Uint8Array,
): { seed: Uint8Array | null; writes: unknown[] } | undefined {
  const c = new Cursor(bytes);
  if (!c.map16(2) || !c.key("seed")) return undefined;
  const seed = c.binOrNil();
  if (seed === undefined || !c.key("writes")) return undefined;
  const writes = c.writes();
  return writes !== undefined && c.atEnd ? { seed, writes } : undefined;
}

/**
 * Checks a write set's wire form at `from` in `bytes` without making anything (no arrays, views
 * or strings): the layout `readWrites` reads, and what `writesFromWire` (entry.ts) checks of it:
 * map names non-empty, at most `maxMapName` bytes, each in its part (`public:` prefix exactly
 * when `isPublic`), maps and keys in strictly increasing order. Map names are ASCII here, so
 * their bytes order as JS strings do. Returns where the write set ends, or -1 when anything is
 * not so (another layout, or a write set those checks refuse): the caller then decodes it with
 * the codec and `writesFromWire`, which accepts it or says what is wrong, as before.
 *
 * Why: a follower checks every replicated entry's write set, and read as objects (`readWrites`)
 * each one was ~10 arrays, views and strings per signed write, made on the main thread for the
 * check and the worker's apply, which now takes the bytes (node/execution/pack.ts).
 */
export function checkedWritesEnd(
  bytes: Uint8Array,
  from: number,
  isPublic: boolean,
  maxMapName: number,
): number {
  const c = new Cursor(bytes);
  c.pos = from;
  const maps = c.arrayLength();
  if (maps === undefined) return -1;
  let previousStart = -1;
  let previousEnd = -1;
  for (let i = 0; i < maps; i++) {
    if (c.arrayLength() !== 2) return -1;
    const nameStart = c.asciiSpan();
    if (nameStart < 0) return -1;
    const nameEnd = c.pos;
    const nameLength = nameEnd - nameStart;
    if (nameLength === 0 || nameLength > maxMapName) return -1;
    if (hasPublicPrefix(bytes, nameStart, nameLength) !== isPublic) return -1;
    if (previousStart >= 0 && compareSpans(bytes, previousStart, previousEnd, nameStart, nameEnd) >= 0)
      return -1;
    previousStart = nameStart;
    previousEnd = nameEnd;
    const count = c.arrayLength();
    if (count === undefined) return -1;
    let keyStart = -1;
    let keyEnd = -1;
    for (let j = 0; j < count; j++) {
      if (c.arrayLength() !== 2) return -1;
      const start = c.binSpan();
      if (start < 0) return -1;
      const end = c.pos;
      if (j > 0 && compareSpans(bytes, keyStart, keyEnd, start, end) >= 0) return -1;
      keyStart = start;
      keyEnd = end;
      if (!c.nil() && c.binSpan() < 0) return -1;
    }
  }
  return c.pos;
}

/** The bytes of `public:` (runtime/kv/types.ts `PUBLIC_PREFIX`). */
const PUBLIC_PREFIX_BYTES = [0x70, 0x75, 0x62, 0x6c, 0x69, 0x63, 0x3a];

function hasPublicPrefix(b: Uint8Array, start: number, length: number): boolean {
  if (length < PUBLIC_PREFIX_BYTES.length) return false;
  for (let i = 0; i < PUBLIC_PREFIX_BYTES.length; i++)
    if (b[start + i] !== PUBLIC_PREFIX_BYTES[i]) return false;
  return true;
}

/** Bytewise order of `b[aStart, aEnd)` and `b[bStart, bEnd)` (entry.ts `compareBytes`). */
function compareSpans(b: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const aLength = aEnd - aStart;
  const bLength = bEnd - bStart;
  const n = Math.min(aLength, bLength);
  for (let i = 0; i < n; i++) {
    const d = b[aStart + i]! - b[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/**
 * The private plaintext `{seed, writes}` in `readPrivatePart`'s layout with `writes` passing
 * `checkedWritesEnd` (private maps): where `writes` starts in `bytes` (it runs to the end), else -1.
 */
export function checkedPrivateWritesStart(bytes: Uint8Array, maxMapName: number): number {
  const c = new Cursor(bytes);
  if (!c.map16(2) || !c.key("seed")) return -1;
  if (!c.nil() && c.binSpan() < 0) return -1;
  if (!c.key("writes")) return -1;
  const start = c.pos;
  return checkedWritesEnd(bytes, start, false, maxMapName) === bytes.length ? start : -1;
}
