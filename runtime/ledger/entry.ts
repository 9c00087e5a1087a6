/**
 * Ledger entries: the exact bytes that consensus replicates and the store keeps, one per
 * transaction at txid `view.seqno`. Layout (docs/receipts.md has the byte-level description):
 *
 *   entry = msgpack map { h: bin, p: bin, x: bin | nil, s: bin | nil, d: bin(32) }
 *   h = canonical msgpack header {v, view, seqno, kind, secret, request, meta{time, contract, method, caller}}
 *   p = msgpack public write set  [[map, [[key, value | nil], ...]], ...]
 *   x = AES-256-GCM(nonce, canonical msgpack {seed, writes}, aad = u32be|h| h u32be|p| p)
 *   s = the signature record (signature entries only; see signature.ts)
 *   d = SHA-256(u32be|h| h u32be|p| p u32be|x| x u32be|s| s)   (absent x or s: length 0)
 *
 * The parts travel as byte strings so the exact bytes that are hashed, authenticated and signed
 * are the stored bytes: nothing is re-encoded to verify. `d` is the content digest: it catches any
 * changed byte of the entry at that entry (so audits name the exact seqno), and it is what the
 * Merkle leaf commits to, so receipts stay small and never reveal private data.
 *
 * Decoding never trusts its input: every failure is a TreatyError LedgerCorrupt naming the seqno
 * and the field.
 */
import { assert } from "../../sdk/assert.js";
import { equalBytes, setU32BE } from "../../sdk/bytes.js";
import { binHeaderLength, decode, decodeViews, encode, writeBinHeader } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import { HASH_BYTES } from "../../sdk/merkle.js";
import { type EntryKind, isEntryKind, type LeafFields } from "../../sdk/receipt.js";
import { sha256 } from "../crypto.js";
import {
  checkedPrivateWritesStart,
  checkedWritesEnd,
  readHeader,
  readOuter,
  readPrivatePart,
  readWrites,
} from "./entry-read.js";
import { writeHeader, writePrivatePart, writePrivatePartOf, writeWrites } from "./entry-write.js";
import { isPublicMap, type MapWrites, type WriteSet } from "../kv/types.js";
import {
  type LedgerSecret,
  type LedgerSecrets,
  NONCE_BYTES,
  openPrivate,
  sealPrivate,
  TAG_BYTES,
} from "./secrets.js";

export const ENTRY_FORMAT_VERSION = 1;
/** Longest contract, method or caller id recorded in a header. */
export const MAX_META_STRING = 1024;

/** Who did what, recorded in clear with every transaction (the random seed is private). */
export interface TxMetadata {
  /** The executing node's clock, ms since the epoch. */
  readonly timeMs: number;
  readonly contract: string | null;
  readonly method: string | null;
  /** The caller's key id (member, user or node), or null. */
  readonly callerId: string | null;
}

export interface EntryHeader {
  readonly view: number;
  readonly seqno: number;
  readonly kind: EntryKind;
  /** Version of the ledger secret that sealed the private part; 0 when there is none. */
  readonly secretVersion: number;
  /** SHA-256 of the client request that caused the entry, or null. */
  readonly requestDigest: Uint8Array | null;
  /**
   * The application claims digest the contract bound (32 bytes), or absent. Written as the
   * header's `claims` field only when present, so entries without one keep their bytes.
   */
  readonly claimsDigest?: Uint8Array | null;
  readonly meta: TxMetadata;
}

/** An entry split into its exact parts; the private part is still sealed. */
export interface DecodedEntry {
  readonly header: EntryHeader;
  readonly headerBytes: Uint8Array;
  readonly publicBytes: Uint8Array;
  readonly sealed: Uint8Array | null;
  readonly signatureBytes: Uint8Array | null;
  /** The content digest `d` (checked against the parts by `decodeEntry`). */
  readonly digest: Uint8Array;
}

/** The private plaintext: the transaction's recorded random seed and its private writes. */
export interface PrivatePart {
  readonly seed: Uint8Array | null;
  readonly writes: readonly MapWrites[];
}

/**
 * Parts for `encodeEntry`. `sealed` and `signatureBytes` are null when absent. A write set given
 * as bytes is already in the entry's form (`encodeWrites`, which checked it) and is copied as it is.
 */
export interface EntryParts {
  readonly header: EntryHeader;
  readonly publicWrites: readonly MapWrites[] | Uint8Array;
  /** Seals `privatePart` under `secret` with `nonce` when given. */
  readonly privatePart: {
    readonly part: { readonly seed: Uint8Array | null; readonly writes: readonly MapWrites[] | Uint8Array };
    readonly secret: LedgerSecret;
    readonly nonce: Uint8Array;
  } | null;
  readonly signatureBytes: Uint8Array | null;
}

/**
 * The bytes an entry carries for `writes`: its public part (`isPublic`), or the `writes` value of
 * its private plaintext. Checked as `encodeEntry` checks a write set (maps sorted, unique and in
 * their part, keys sorted and unique: assertions), written as `encodeEntry` writes it (the direct
 * writer, the codec for what it declines). A view into a buffer the next call reuses, or the
 * codec's output: copy it before the next call.
 */
export function encodeWrites(writes: readonly MapWrites[], isPublic: boolean): Uint8Array {
  checkWrites(writes, isPublic);
  return writeWrites(writes) ?? encode(writesToWire(writes));
}

/** The bytes `encodeWrites` makes of an empty write set (a MessagePack empty array). */
const EMPTY_WRITES = 0x90;

/** An empty write set's bytes, shared: never written into. */
const EMPTY_WRITES_BYTES = Uint8Array.of(EMPTY_WRITES);

/**
 * A write set as an entry carries it: the public part's bytes and the private writes' bytes, each
 * as `encodeWrites` made them (and checked them). The execution worker answers a batch's write
 * sets in this form (node/execution/pack.ts), so the leader's ledger copies these bytes into the
 * entry (`Ledger.appendTransaction`) and its main thread never builds the maps, arrays and views
 * of a write set only to encode them again. `public` and `private` are decoded on first read, as
 * views into the bytes, for what needs objects (the execution journal's replay to a new worker).
 */
export class EncodedWriteSet implements WriteSet {
  #public: MapWrites[] | undefined = undefined;
  #private: MapWrites[] | undefined = undefined;

  constructor(
    readonly publicBytes: Uint8Array,
    readonly privateBytes: Uint8Array,
  ) {}

  get public(): MapWrites[] {
    this.#public ??= decodeWrites(this.publicBytes, 0, "public");
    return this.#public;
  }

  get private(): MapWrites[] {
    this.#private ??= decodeWrites(this.privateBytes, 0, "private");
    return this.#private;
  }

  /** True when the private part writes something (its bytes are not the empty array). */
  get hasPrivateWrites(): boolean {
    return this.privateBytes.length !== 1 || this.privateBytes[0] !== EMPTY_WRITES;
  }
}

/**
 * A write set part's bytes (an entry's public part, or the `writes` value of its private
 * plaintext) decoded and checked as `writesFromWire` checks them, keys and values as views into
 * `bytes`; LedgerCorrupt naming entry `at` (0: not an entry's) when they are not such a part.
 */
export function decodeWrites(bytes: Uint8Array, at: number, part: "public" | "private"): MapWrites[] {
  let wire: unknown;
  try {
    wire = readWrites(bytes) ?? decodeViews(bytes, `entry ${at} ${part} writes`);
  } catch (err) {
    throw corrupt(at, part, (err as Error).message);
  }
  return writesFromWire(wire, at, part);
}

/**
 * Builds entry bytes. Inputs come from this node's own code (KV write sets, the ledger writer),
 * so malformed parts are bugs and fail assertions: a write set out of order, a public map in the
 * private part, a kind/part mismatch.
 */
export function encodeEntry(parts: EntryParts): { bytes: Uint8Array; decoded: DecodedEntry } {
  const { header } = parts;
  assert(
    header.kind === "signature" ? parts.signatureBytes !== null : parts.signatureBytes === null,
    "only signature entries carry a signature record",
  );
  assert(
    parts.privatePart === null
      ? header.secretVersion === 0
      : header.secretVersion === parts.privatePart.secret.version,
    "header.secretVersion must name the sealing secret",
  );
  // Written into reused buffers (entry-write.ts; the codec for anything they do not handle): both
  // are copied into the entry below before the next entry is encoded.
  const headerBytes = writeHeader(header, ENTRY_FORMAT_VERSION) ?? encode(headerToWire(header));
  const publicBytes = publicPartBytes(parts.publicWrites);
  let sealed: Uint8Array | null = null;
  if (parts.privatePart !== null) {
    const { part, secret, nonce } = parts.privatePart;
    // Keys in sorted order: the same bytes as encodeCanonical, without its copy.
    const plaintext = privatePlaintext(part.seed, part.writes);
    // Into a reused buffer: encodeOuter copies it into the entry, and the decoded part is a view there.
    sealed = sealPrivate(
      secret,
      nonce,
      plaintext,
      associatedData(headerBytes, publicBytes),
      sealScratch.take(NONCE_BYTES + plaintext.length + TAG_BYTES),
    );
  }
  const digest = contentDigest(headerBytes, publicBytes, sealed, parts.signatureBytes);
  const bytes = encodeOuter(headerBytes, publicBytes, sealed, parts.signatureBytes, digest);
  // The decoded parts are views into `bytes` (their copies there), not into the reused buffers
  // they were written in (the next entry overwrites those) or the codec's shared output buffer.
  const headerAt = MAP_HEADER_BYTES + 2 + binHeaderLength(headerBytes.length);
  const headerView = bytes.subarray(headerAt, headerAt + headerBytes.length);
  const publicAt = headerAt + headerBytes.length + 2 + binHeaderLength(publicBytes.length);
  const publicView = bytes.subarray(publicAt, publicAt + publicBytes.length);
  const sealedAt = publicAt + publicBytes.length + 2 + (sealed === null ? 0 : binHeaderLength(sealed.length));
  const sealedView = sealed === null ? null : bytes.subarray(sealedAt, sealedAt + sealed.length);
  return {
    bytes,
    decoded: {
      header,
      headerBytes: headerView,
      publicBytes: publicView,
      sealed: sealedView,
      signatureBytes: parts.signatureBytes,
      digest,
    },
  };
}

/** The public part's bytes: `writes` checked and encoded, or already encoded (`encodeWrites`). */
function publicPartBytes(writes: readonly MapWrites[] | Uint8Array): Uint8Array {
  return writes instanceof Uint8Array ? writes : encodeWrites(writes, true);
}

/** The private plaintext `{seed, writes}`, `writes` checked and encoded or already encoded. */
function privatePlaintext(seed: Uint8Array | null, writes: readonly MapWrites[] | Uint8Array): Uint8Array {
  if (writes instanceof Uint8Array) {
    // A seed that is not bytes (a caller's bug) goes through the codec, as it would decoded.
    return (
      writePrivatePartOf(seed, writes) ??
      encode({ seed, writes: writesToWire(decodeWrites(writes, 0, "private")) })
    );
  }
  checkWrites(writes, false);
  return writePrivatePart(seed, writes) ?? encode({ seed, writes: writesToWire(writes) });
}

/**
 * The entry's outer map `{h, p, x, s, d}` written directly into one exact-size slice of a slab:
 * byte for byte what `encode` makes of that object (map16, one-letter fixstr keys, the smallest
 * bin header, nil for an absent part; checked by test/ledger/entry-encoding.test.ts), without the
 * codec's generic walk of the object.
 */
export function encodeOuter(
  h: Uint8Array,
  p: Uint8Array,
  x: Uint8Array | null,
  s: Uint8Array | null,
  d: Uint8Array,
): Uint8Array {
  // Part by part, not a loop over an array literal of the five: an array per entry for the GC.
  const size =
    MAP_HEADER_BYTES +
    outerPartSize(h) +
    outerPartSize(p) +
    outerPartSize(x) +
    outerPartSize(s) +
    outerPartSize(d);
  const out = allocate(size);
  // map16 of 5 pairs: the codec writes every map with a 16-bit size (`variableMapSize: false`).
  out[0] = 0xde;
  out[1] = 0;
  out[2] = 5;
  let offset = writeOuterPart(out, MAP_HEADER_BYTES, KEY_H, h);
  offset = writeOuterPart(out, offset, KEY_P, p);
  offset = writeOuterPart(out, offset, KEY_X, x);
  offset = writeOuterPart(out, offset, KEY_S, s);
  offset = writeOuterPart(out, offset, KEY_D, d);
  assert(offset === size, "encodeOuter fills its buffer exactly");
  return out;
}

/** Bytes of one pair of the outer map: its one-letter key, then the part as bin, or nil. */
function outerPartSize(part: Uint8Array | null): number {
  return 2 + (part === null ? 1 : binHeaderLength(part.length) + part.length);
}

/** Writes one pair of the outer map at `offset`; returns the offset after it. */
function writeOuterPart(out: Uint8Array, offset: number, key: number, part: Uint8Array | null): number {
  out[offset] = 0xa1;
  out[offset + 1] = key;
  if (part === null) {
    out[offset + 2] = 0xc0;
    return offset + 3;
  }
  const at = writeBinHeader(out, offset + 2, part.length);
  out.set(part, at);
  return at + part.length;
}

const MAP_HEADER_BYTES = 3;

/**
 * Entry buffers are cut from shared slabs, as the codec cuts its output: one allocation per slab
 * instead of one (off-heap, GC-tracked) ArrayBuffer per entry. A slab lives while any entry cut
 * from it does; entries larger than a quarter slab get a buffer of their own.
 */
const SLAB_BYTES = 16 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

function allocate(size: number): Uint8Array {
  if (size > SLAB_BYTES / 4) return new Uint8Array(size);
  if (slabUsed + size > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + size);
  // 8-byte aligned starts, as the codec's: later copies of the bytes are faster.
  slabUsed = (slabUsed + size + 7) & ~7;
  return out;
}

/** The outer map's keys `h`, `p`, `x`, `s`, `d` as UTF-8 code units. */
const KEY_H = 0x68;
const KEY_P = 0x70;
const KEY_X = 0x78;
const KEY_S = 0x73;
const KEY_D = 0x64;

/**
 * Decodes and checks one entry: outer shape, header fields, the content digest, and the rules
 * that tie kind and parts together. `expectedSeqno` is where the entry was found; the header
 * must agree. Throws TreatyError LedgerCorrupt (details.seqno = expectedSeqno).
 */
export function decodeEntry(bytes: Uint8Array, expectedSeqno: number): DecodedEntry {
  const at = expectedSeqno;
  const o = outerOf(bytes, at);
  const headerBytes = bin(o.h, at, "entry.h");
  const publicBytes = bin(o.p, at, "entry.p");
  const sealed = o.x === null ? null : bin(o.x, at, "entry.x");
  const signatureBytes = o.s === null ? null : bin(o.s, at, "entry.s");
  const digest = bin(o.d, at, "entry.d");
  if (digest.length !== HASH_BYTES) throw corrupt(at, "entry.d", "expected 32 bytes");
  if (!equalBytes(digest, contentDigest(headerBytes, publicBytes, sealed, signatureBytes))) {
    throw corrupt(
      at,
      "entry.d",
      "content digest does not match the entry's parts (entry bytes were altered)",
    );
  }
  if (sealed !== null && sealed.length < NONCE_BYTES + TAG_BYTES)
    throw corrupt(at, "entry.x", "shorter than nonce and tag");
  if (signatureBytes !== null && signatureBytes.length === 0)
    throw corrupt(at, "entry.s", "empty signature record");
  const header = decodeHeader(headerBytes, at);
  if (header.seqno !== expectedSeqno) {
    throw corrupt(
      at,
      "header.seqno",
      `found seqno ${header.seqno} where seqno ${expectedSeqno} belongs (entries missing or reordered)`,
    );
  }
  if ((header.kind === "signature") !== (signatureBytes !== null)) {
    throw corrupt(
      at,
      "entry.s",
      header.kind === "signature"
        ? "signature entry without a signature record"
        : `a ${header.kind} entry carries a signature record`,
    );
  }
  if (header.kind === "signature" && sealed !== null)
    throw corrupt(at, "entry.x", "a signature entry has no private part");
  if ((sealed === null) !== (header.secretVersion === 0)) {
    throw corrupt(
      at,
      "header.secret",
      sealed === null
        ? "names a secret but there is no private part"
        : "private part without a secret version",
    );
  }
  return { header, headerBytes, publicBytes, sealed, signatureBytes, digest };
}

/**
 * The leaf fields of entry bytes the node itself stored and checked, decoding only the outer map
 * and the header and trusting the stored digest: what the Merkle tree needs to recompute an old
 * chunk. Anything read from outside (replication, audits) goes through `decodeEntry` instead.
 * Throws LedgerCorrupt when even that much does not decode.
 */
export function storedLeafFields(bytes: Uint8Array, seqno: number): LeafFields {
  const o = outerOf(bytes, seqno);
  const digest = bin(o.d, seqno, "entry.d");
  if (digest.length !== HASH_BYTES) throw corrupt(seqno, "entry.d", "expected 32 bytes");
  const { view, kind, requestDigest, claimsDigest } = decodeHeader(bin(o.h, seqno, "entry.h"), seqno);
  return { view, seqno, kind, entryDigest: digest, requestDigest, claimsDigest: claimsDigest ?? null };
}

/** The Merkle leaf fields of a decoded entry. */
export function leafFields(entry: DecodedEntry): LeafFields {
  const { view, seqno, kind, requestDigest, claimsDigest } = entry.header;
  return { view, seqno, kind, entryDigest: entry.digest, requestDigest, claimsDigest: claimsDigest ?? null };
}

/**
 * Decodes and checks the public write set. Throws LedgerCorrupt. With `views`, keys and values
 * are views into the entry's bytes, not copies (for short-lived results: see `decodeViews`).
 */
export function decodePublicWrites(entry: DecodedEntry, views = false): MapWrites[] {
  const at = entry.header.seqno;
  let wire: unknown;
  try {
    wire = views
      ? (readWrites(entry.publicBytes) ?? decodeViews(entry.publicBytes, `entry ${at} public part`))
      : decode(entry.publicBytes, `entry ${at} public part`);
  } catch (err) {
    throw corrupt(at, "entry.p", (err as Error).message);
  }
  const writes = writesFromWire(wire, at, "public");
  if (entry.header.kind === "signature" && writes.length > 0)
    throw corrupt(at, "public", "a signature entry writes nothing");
  return writes;
}

/**
 * Checks the public write set as `decodePublicWrites` does, making nothing for a write set in the
 * layout this code writes with ASCII map names (entry-read.ts `checkedWritesEnd`); anything else is
 * decoded, so its errors are `decodePublicWrites`' own. Throws LedgerCorrupt.
 */
export function checkPublicWrites(entry: DecodedEntry): void {
  const bytes = entry.publicBytes;
  const valid =
    entry.header.kind === "signature"
      ? bytes.length === 1 && bytes[0] === EMPTY_WRITES
      : checkedWritesEnd(bytes, 0, true, MAX_META_STRING) === bytes.length;
  if (!valid) decodePublicWrites(entry, true);
}

/**
 * Opens the private part with the matching secret version. Throws TreatyError DecryptionFailed
 * when the secret is unknown or the bytes do not authenticate, LedgerCorrupt when the plaintext
 * is malformed. Entries without a private part give `{seed: null, writes: []}`. With `views`, the
 * seed, keys and values are views into one fresh plaintext buffer, not a copy each.
 */
export function openPrivatePart(entry: DecodedEntry, secrets: LedgerSecrets, views = false): PrivatePart {
  if (entry.sealed === null) return { seed: null, writes: [] };
  return privatePartOf(openPlaintext(entry, entry.sealed, secrets), entry.header.seqno, views);
}

/**
 * The private writes' bytes of an entry (the `writes` value of its plaintext, a view into one
 * fresh plaintext buffer; a shared empty array's bytes when it has no private part), opened as
 * `openPrivatePart` opens it (the AES-GCM tag checked) and checked as it checks the plaintext,
 * making nothing for a plaintext in the layout this code writes (entry-read.ts
 * `checkedPrivateWritesStart`); anything else is decoded and checked by `openPrivatePart`'s code,
 * and its writes encoded again (`encodeWrites`). What a follower's execution worker applies
 * (node/execution/pack.ts). Throws as `openPrivatePart`.
 */
export function openPrivateWrites(entry: DecodedEntry, secrets: LedgerSecrets): Uint8Array {
  if (entry.sealed === null) return EMPTY_WRITES_BYTES;
  const plaintext = openPlaintext(entry, entry.sealed, secrets);
  const start = checkedPrivateWritesStart(plaintext, MAX_META_STRING);
  if (start >= 0) return plaintext.subarray(start);
  // Checked (writesFromWire), so encodeWrites' assertions hold; copied: it reuses its buffer.
  return encodeWrites(privatePartOf(plaintext, entry.header.seqno, true).writes, false).slice();
}

/** The plaintext of `sealed`, the entry's private part; DecryptionFailed as `openPrivatePart`. */
function openPlaintext(entry: DecodedEntry, sealed: Uint8Array, secrets: LedgerSecrets): Uint8Array {
  const at = entry.header.seqno;
  const secret = secrets.get(entry.header.secretVersion);
  if (secret === undefined) {
    throw new TreatyError(
      "DecryptionFailed",
      `entry ${at}: no ledger secret with version ${entry.header.secretVersion}`,
      { seqno: at },
    );
  }
  try {
    return openPrivate(secret, sealed, associatedData(entry.headerBytes, entry.publicBytes), `entry ${at}`);
  } catch (err) {
    throw new TreatyError("DecryptionFailed", (err as Error).message, { seqno: at });
  }
}

/** A private plaintext decoded and checked; LedgerCorrupt naming entry `at` when malformed. */
function privatePartOf(plaintext: Uint8Array, at: number, views: boolean): PrivatePart {
  let o: Record<string, unknown> | undefined = views ? readPrivatePart(plaintext) : undefined;
  if (o === undefined) {
    // The direct reader's result has exactly these two fields; the codec's is checked.
    let wire: unknown;
    try {
      wire = views
        ? decodeViews(plaintext, `entry ${at} private part`)
        : decode(plaintext, `entry ${at} private part`);
    } catch (err) {
      throw corrupt(at, "private", (err as Error).message);
    }
    o = exactObject(wire, ["seed", "writes"], at, "private");
  }
  const seed = o.seed === null ? null : bin(o.seed, at, "private.seed");
  return { seed, writes: writesFromWire(o.writes, at, "private") };
}

/** The whole write set of an entry (public decoded, private opened with `secrets`). */
export function entryWriteSet(entry: DecodedEntry, secrets: LedgerSecrets): WriteSet {
  return { public: decodePublicWrites(entry), private: openPrivatePart(entry, secrets).writes };
}

/**
 * AES-GCM associated data: `u32be |h| || h || u32be |p| || p`, written into a scratch buffer
 * shared by every call: the result is valid only until the next call (the cipher reads it at
 * once and keeps nothing).
 */
export function associatedData(headerBytes: Uint8Array, publicBytes: Uint8Array): Uint8Array {
  const size = 8 + headerBytes.length + publicBytes.length;
  const out = aadScratch.take(size);
  setU32BE(out, 0, headerBytes.length);
  out.set(headerBytes, 4);
  setU32BE(out, 4 + headerBytes.length, publicBytes.length);
  out.set(publicBytes, 8 + headerBytes.length);
  return out.subarray(0, size);
}

/**
 * A reusable buffer for bytes that are hashed or authenticated at once and never kept: one
 * allocation (plus a view) per call fewer on every entry the node writes or checks. Inputs above
 * `MAX_SCRATCH_BYTES` get a buffer of their own, so one large entry does not pin a large one.
 */
class Scratch {
  #bytes = new Uint8Array(1024);

  take(size: number): Uint8Array {
    if (size <= this.#bytes.length) return this.#bytes;
    if (size > MAX_SCRATCH_BYTES) return new Uint8Array(size);
    this.#bytes = new Uint8Array(Math.min(MAX_SCRATCH_BYTES, Math.max(size, 2 * this.#bytes.length)));
    return this.#bytes;
  }
}

const MAX_SCRATCH_BYTES = 64 * 1024;
const aadScratch = new Scratch();
const sealScratch = new Scratch();
const digestScratch = new Scratch();

/** The content digest `d` over the parts, each prefixed with its u32be length (absent = 0). */
export function contentDigest(
  h: Uint8Array,
  p: Uint8Array,
  x: Uint8Array | null,
  s: Uint8Array | null,
): Uint8Array {
  const length = 16 + h.length + p.length + (x?.length ?? 0) + (s?.length ?? 0);
  // One buffer (reused) and one hash call: cheaper than four incremental updates for small entries.
  const input = digestScratch.take(length);
  let offset = writeDigestPart(input, 0, h);
  offset = writeDigestPart(input, offset, p);
  offset = writeDigestPart(input, offset, x);
  writeDigestPart(input, offset, s);
  return sha256(input.subarray(0, length));
}

/** Writes `u32be |part| || part` (absent: a zero length) at `offset`; returns the offset after it. */
function writeDigestPart(input: Uint8Array, offset: number, part: Uint8Array | null): number {
  setU32BE(input, offset, part === null ? 0 : part.length);
  if (part === null) return offset + 4;
  input.set(part, offset + 4);
  return offset + 4 + part.length;
}

/** Bytewise order of keys, as the KV sorts them. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** A TreatyError LedgerCorrupt for `seqno`, naming `field`. */
export function corrupt(seqno: number, field: string, why: string): TreatyError {
  return new TreatyError("LedgerCorrupt", `entry ${seqno}: ${field}: ${why}`, { seqno, field });
}

/** The header as wire data, keys in sorted order so `encode` gives canonical bytes. */
function headerToWire(header: EntryHeader): Record<string, unknown> {
  return {
    ...(header.claimsDigest != null && { claims: header.claimsDigest }),
    kind: header.kind,
    meta: {
      caller: header.meta.callerId,
      contract: header.meta.contract,
      method: header.meta.method,
      time: header.meta.timeMs,
    },
    request: header.requestDigest,
    secret: header.secretVersion,
    seqno: header.seqno,
    v: ENTRY_FORMAT_VERSION,
    view: header.view,
  };
}

/**
 * The outer map `{h, p, x, s, d}` of entry bytes (read directly in the layout this code writes,
 * else decoded by the codec: entry-read.ts). Throws LedgerCorrupt for anything but exactly those keys.
 */
function outerOf(bytes: Uint8Array, at: number): Record<string, unknown> {
  const fast = readOuter(bytes);
  if (fast !== undefined) return fast as unknown as Record<string, unknown>;
  let outer: unknown;
  try {
    outer = decodeViews(bytes, `entry ${at}`);
  } catch (err) {
    throw corrupt(at, "encoding", (err as Error).message);
  }
  return exactObject(outer, ["h", "p", "x", "s", "d"], at, "entry");
}

function decodeHeader(bytes: Uint8Array, at: number): EntryHeader {
  // The direct reader gives exactly the header's fields and meta's (its layout has no others),
  // so only the codec's result has its fields counted here.
  const fast = readHeader(bytes);
  let h: Record<string, unknown>;
  let m: Record<string, unknown>;
  let hasClaims: boolean;
  if (fast !== undefined) {
    h = fast;
    m = fast.meta as Record<string, unknown>;
    hasClaims = Object.hasOwn(fast, "claims");
  } else {
    let wire: unknown;
    try {
      wire = decodeViews(bytes, `entry ${at} header`);
    } catch (err) {
      throw corrupt(at, "header", (err as Error).message);
    }
    hasClaims =
      wire !== null &&
      typeof wire === "object" &&
      !(wire instanceof Uint8Array) &&
      Object.hasOwn(wire, "claims");
    h = exactObject(
      wire,
      ["v", "view", "seqno", "kind", "secret", "request", "meta", ...(hasClaims ? ["claims"] : [])],
      at,
      "header",
    );
    m = exactObject(h.meta, ["time", "contract", "method", "caller"], at, "header.meta");
  }
  const claims = hasClaims ? bin(h.claims, at, "header.claims") : null;
  if (claims !== null && claims.length !== HASH_BYTES)
    throw corrupt(at, "header.claims", "expected 32 bytes");
  if (h.v !== ENTRY_FORMAT_VERSION)
    throw corrupt(at, "header.v", `unknown entry format ${JSON.stringify(h.v)}`);
  if (!isEntryKind(h.kind)) throw corrupt(at, "header.kind", `unknown kind ${JSON.stringify(h.kind)}`);
  const request = h.request === null ? null : bin(h.request, at, "header.request");
  if (request !== null && request.length !== HASH_BYTES)
    throw corrupt(at, "header.request", "expected 32 bytes");
  return {
    view: integer(h.view, at, "header.view", 0),
    seqno: integer(h.seqno, at, "header.seqno", 1),
    kind: h.kind,
    secretVersion: integer(h.secret, at, "header.secret", 0),
    requestDigest: request,
    ...(claims !== null && { claimsDigest: claims }),
    meta: {
      timeMs: integer(m.time, at, "header.meta.time", 0),
      contract: optionalString(m.contract, at, "header.meta.contract"),
      method: optionalString(m.method, at, "header.meta.method"),
      callerId: optionalString(m.caller, at, "header.meta.caller"),
    },
  };
}

/** A write set in its wire form (`[[map, [[key, value | nil], ...]], ...]`), as entries encode it. */
export function writesToWire(writes: readonly MapWrites[]): unknown[] {
  return writes.map((m) => [m.map, m.writes.map(([key, value]) => [key, value])]);
}

function checkWrites(writes: readonly MapWrites[], isPublic: boolean): void {
  for (let i = 0; i < writes.length; i++) {
    const m = writes[i]!;
    assert(isPublicMap(m.map) === isPublic, `map ${m.map} is in the wrong part of the write set`);
    assert(i === 0 || writes[i - 1]!.map < m.map, "write set maps must be sorted and unique");
    for (let j = 1; j < m.writes.length; j++) {
      assert(
        compareBytes(m.writes[j - 1]![0], m.writes[j]![0]) < 0,
        `keys of ${m.map} must be sorted and unique`,
      );
    }
  }
}

/**
 * Parses and checks a wire write set (order, map domain); LedgerCorrupt naming `at` otherwise.
 * `wire` is a fresh decode the caller hands over: the result keeps its lists of pairs.
 */
export function writesFromWire(wire: unknown, at: number, part: "public" | "private"): MapWrites[] {
  if (!Array.isArray(wire)) throw corrupt(at, part, "expected an array of map writes");
  const out = new Array<MapWrites>(wire.length); // its exact length (from empty, push reserves 17)
  let previousMap: string | undefined;
  for (let i = 0; i < wire.length; i++) {
    const item: unknown = wire[i];
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string" || !Array.isArray(item[1])) {
      throw corrupt(at, `${part}[${i}]`, "expected [map, writes]");
    }
    const map = item[0];
    if (map.length === 0 || map.length > MAX_META_STRING)
      throw corrupt(at, `${part}[${i}]`, "map name is empty or too long");
    if (isPublicMap(map) !== (part === "public"))
      throw corrupt(at, `${part}[${i}]`, `map "${map}" does not belong in the ${part} part`);
    if (previousMap !== undefined && !(previousMap < map))
      throw corrupt(at, `${part}[${i}]`, `map "${map}" is out of order or repeated`);
    previousMap = map;
    const list = item[1] as unknown[];
    for (let j = 0; j < list.length; j++) {
      const pair = list[j];
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        !(pair[0] instanceof Uint8Array) ||
        !(pair[1] === null || pair[1] instanceof Uint8Array)
      ) {
        throw corrupt(at, `${part}[${i}].writes[${j}]`, "expected [key bytes, value bytes or nil]");
      }
      if (j > 0 && compareBytes((list[j - 1] as [Uint8Array])[0], pair[0]) >= 0) {
        throw corrupt(at, `${part}[${i}].writes[${j}]`, "key is out of order or repeated");
      }
    }
    // Every pair checked: the list itself is the map's writes (not a copy of it).
    out[i] = { map, writes: list as [Uint8Array, Uint8Array | null][] };
  }
  return out;
}

function exactObject(
  value: unknown,
  keys: readonly string[],
  at: number,
  field: string,
): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
    throw corrupt(at, field, "expected a map");
  }
  const record = value as Record<string, unknown>;
  const present = Object.keys(record);
  if (present.length !== keys.length || !keys.every((k) => Object.hasOwn(record, k))) {
    throw corrupt(at, field, `expected exactly the fields ${keys.join(", ")}, got ${present.join(", ")}`);
  }
  return record;
}

function bin(value: unknown, at: number, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw corrupt(at, field, "expected bytes");
  return value;
}

function integer(value: unknown, at: number, field: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw corrupt(at, field, `expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalString(value: unknown, at: number, field: string): string | null {
  if (value === null) return null;
  if (typeof value !== "string" || value.length > MAX_META_STRING)
    throw corrupt(at, field, "expected a short string or nil");
  return value;
}
