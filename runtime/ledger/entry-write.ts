/**
 * Writers for the MessagePack values the leader encodes for every entry: the header, the public
 * write set and the private plaintext `{seed, writes}`. Each writes, byte for byte, what the
 * codec (`encode`) makes of the same wire value (map16 maps, the smallest array, string, bin and
 * integer forms, float64 for integers of 2^32 and above), into a scratch buffer reused by every
 * call; the result is valid until the next call of the same writer (encodeEntry copies it into
 * the entry, hashes it or seals it first). Values the writers do not handle (a non-ASCII string,
 * a number that is not a non-negative safe integer, a write that is not bytes) give `undefined`,
 * and the caller encodes with the codec, so entry bytes never depend on which path ran.
 *
 * Why: each codec encode cut its output from a shared 8 KiB buffer and allocated a new one
 * (`Buffer.allocUnsafeSlow`, off-heap memory V8 counts towards its GC trigger) every few entries;
 * three encodes per entry made that allocation, and the GC it caused, a fifth of `appendTransaction`.
 * test/ledger/entry-write.test.ts checks the writers against the codec.
 */
import { writeArrayHeader, writeBinHeader, writeStrHeader } from "../../sdk/codec.js";
import type { MapWrites } from "../kv/types.js";

class Writer {
  #buf = new Uint8Array(1024);
  #pos = 0;
  readonly #float = new DataView(new ArrayBuffer(8));

  start(): this {
    this.#pos = 0;
    return this;
  }

  /** The bytes written since `start` (a view into the scratch buffer). */
  done(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(2 * this.#buf.length, this.#pos + n));
    bigger.set(this.#buf.subarray(0, this.#pos));
    this.#buf = bigger;
  }

  map16(n: number): void {
    this.#room(3);
    const b = this.#buf;
    b[this.#pos] = 0xde;
    b[this.#pos + 1] = n >>> 8;
    b[this.#pos + 2] = n & 0xff;
    this.#pos += 3;
  }

  array(n: number): void {
    this.#room(5);
    this.#pos = writeArrayHeader(this.#buf, this.#pos, n);
  }

  nil(): void {
    this.#room(1);
    this.#buf[this.#pos++] = 0xc0;
  }

  /** An ASCII string; false (nothing written) for any other character. */
  ascii(s: string): boolean {
    const n = s.length;
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return false;
    this.#room(5 + n);
    const b = this.#buf;
    const p = writeStrHeader(b, this.#pos, n);
    for (let i = 0; i < n; i++) b[p + i] = s.charCodeAt(i);
    this.#pos = p + n;
    return true;
  }

  /** An ASCII string or nil; false for anything else. */
  asciiOrNil(s: string | null): boolean {
    if (s === null) {
      this.nil();
      return true;
    }
    return typeof s === "string" && this.ascii(s);
  }

  bin(bytes: Uint8Array): void {
    const n = bytes.length;
    this.#room(5 + n);
    const p = writeBinHeader(this.#buf, this.#pos, n);
    this.#buf.set(bytes, p);
    this.#pos = p + n;
  }

  /** `bytes` as they are: a value already encoded by these writers or the codec. */
  raw(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /** Bytes or nil; false for anything else. */
  binOrNil(bytes: Uint8Array | null): boolean {
    if (bytes === null) this.nil();
    else if (bytes instanceof Uint8Array) this.bin(bytes);
    else return false;
    return true;
  }

  /** A non-negative safe integer; false (nothing written) for any other value. */
  count(n: number): boolean {
    if (!Number.isSafeInteger(n) || n < 0) return false;
    this.#room(9);
    const b = this.#buf;
    let p = this.#pos;
    if (n < 0x80) b[p++] = n;
    else if (n < 0x100) {
      b[p++] = 0xcc;
      b[p++] = n;
    } else if (n < 0x10000) {
      b[p++] = 0xcd;
      b[p++] = n >>> 8;
      b[p++] = n & 0xff;
    } else if (n < 0x100000000) {
      b[p++] = 0xce;
      b[p++] = n >>> 24;
      b[p++] = (n >>> 16) & 0xff;
      b[p++] = (n >>> 8) & 0xff;
      b[p++] = n & 0xff;
    } else {
      // The codec writes integers of 2^32 and above as float64 (exact up to 2^53).
      b[p++] = 0xcb;
      this.#float.setFloat64(0, n);
      for (let i = 0; i < 8; i++) b[p++] = this.#float.getUint8(i);
    }
    this.#pos = p;
    return true;
  }

  /** `[[map, [[key, value | nil], ...]], ...]`; false for a non-ASCII map name or a non-bytes key or value. */
  writes(writes: readonly MapWrites[]): boolean {
    this.array(writes.length);
    for (const m of writes) {
      this.array(2);
      if (!this.ascii(m.map)) return false;
      this.array(m.writes.length);
      for (const [key, value] of m.writes) {
        if (!(key instanceof Uint8Array) || !(value === null || value instanceof Uint8Array)) return false;
        this.array(2);
        this.bin(key);
        if (value === null) this.nil();
        else this.bin(value);
      }
    }
    return true;
  }
}

/** The header fields `encodeHeader` reads (runtime/ledger/entry.ts `EntryHeader`). */
export interface HeaderFields {
  readonly view: number;
  readonly seqno: number;
  readonly kind: string;
  readonly secretVersion: number;
  readonly requestDigest: Uint8Array | null;
  readonly claimsDigest?: Uint8Array | null;
  readonly meta: {
    readonly timeMs: number;
    readonly contract: string | null;
    readonly method: string | null;
    readonly callerId: string | null;
  };
}

const headerWriter = new Writer();
const privateWriter = new Writer();
const writesWriter = new Writer();

/**
 * The codec's bytes of the header's wire form (`{claims?, kind, meta: {caller, contract, method,
 * time}, request, secret, seqno, v, view}`, keys sorted), or undefined (see the module comment).
 */
export function writeHeader(header: HeaderFields, formatVersion: number): Uint8Array | undefined {
  const w = headerWriter.start();
  const claims = header.claimsDigest;
  const hasClaims = claims !== null && claims !== undefined;
  w.map16(hasClaims ? 8 : 7);
  if (hasClaims) {
    w.ascii("claims");
    if (!w.binOrNil(claims)) return undefined;
  }
  w.ascii("kind");
  if (typeof header.kind !== "string" || !w.ascii(header.kind)) return undefined;
  w.ascii("meta");
  w.map16(4);
  const { meta } = header;
  w.ascii("caller");
  if (!w.asciiOrNil(meta.callerId)) return undefined;
  w.ascii("contract");
  if (!w.asciiOrNil(meta.contract)) return undefined;
  w.ascii("method");
  if (!w.asciiOrNil(meta.method)) return undefined;
  w.ascii("time");
  if (!w.count(meta.timeMs)) return undefined;
  w.ascii("request");
  if (!w.binOrNil(header.requestDigest)) return undefined;
  w.ascii("secret");
  if (!w.count(header.secretVersion)) return undefined;
  w.ascii("seqno");
  if (!w.count(header.seqno)) return undefined;
  w.ascii("v");
  if (!w.count(formatVersion)) return undefined;
  w.ascii("view");
  if (!w.count(header.view)) return undefined;
  return w.done();
}

/** The codec's bytes of `{seed, writes}` (the private plaintext), or undefined (see the module comment). */
export function writePrivatePart(
  seed: Uint8Array | null,
  writes: readonly MapWrites[],
): Uint8Array | undefined {
  const w = privateWriter.start();
  w.map16(2);
  w.ascii("seed");
  if (!w.binOrNil(seed)) return undefined;
  w.ascii("writes");
  return w.writes(writes) ? w.done() : undefined;
}

/**
 * The codec's bytes of a write set's wire form, or undefined (see the module comment): an entry's
 * public part, or the `writes` of its private plaintext (runtime/ledger/entry.ts `encodeWrites`).
 * In a buffer of its own, valid until the next call of this function.
 */
export function writeWrites(writes: readonly MapWrites[]): Uint8Array | undefined {
  const w = writesWriter.start();
  return w.writes(writes) ? w.done() : undefined;
}

/**
 * The codec's bytes of `{seed, writes}` where `writes` is already encoded (`encodeWrites`): the
 * same bytes as `writePrivatePart` of the decoded writes, since a MessagePack value's bytes do not
 * depend on what contains it. Undefined when `seed` is neither bytes nor null.
 */
export function writePrivatePartOf(seed: Uint8Array | null, writes: Uint8Array): Uint8Array | undefined {
  const w = privateWriter.start();
  w.map16(2);
  w.ascii("seed");
  if (!w.binOrNil(seed)) return undefined;
  w.ascii("writes");
  w.raw(writes);
  return w.done();
}
