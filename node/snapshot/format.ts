/**
 * The snapshot file format (docs/snapshots.md has the byte-level description):
 *
 *   file     = msgpack map { b: bin (body), e: evidence | nil }      (e is nil while pending)
 *   body     = canonical msgpack { format: 1, seqno, view, frontier: [bin32], views: [[view, start]],
 *              config: {seqno, nodes} | nil, public: bin (msgpack wire write set), secret: u32,
 *              private: bin | nil }
 *   private  = AES-256-GCM(ledger secret `secret`, nonce = u64be(seqno) || ff ff ff ff,
 *              msgpack wire write set, aad = "treaty.snapshot" || u64be(seqno))
 *   digest   = SHA-256(body)                                  (what the evidence records)
 *   evidence = { entry: bin (the evidence entry's ledger bytes), receipt: Receipt,
 *                consistency: [bin32] (RFC 9162 proof from size seqno to receipt.signature.treeSize) }
 *
 * The body is deterministic: every node that snapshots the same committed state at the same
 * seqno under the same ledger secret writes the same bytes (the nonce is fixed by the seqno; no
 * entry at a signature's seqno has a private part, so no entry nonce can repeat it), so one
 * evidence transaction vouches for the snapshot of every node.
 *
 * The state travels as byte strings inside the body, so reading a body's small fields (what a
 * restart needs: the KV is already on disk) does not decode the whole state.
 *
 * Decoding never trusts its input: a malformed file is a TreatyError SnapshotInvalid naming the
 * field.
 */
import { createCipheriv, createHash } from "node:crypto";
import { assert } from "../../sdk/assert.js";
import { concatBytes } from "../../sdk/bytes.js";
import { decode, encode, encodeCanonical } from "../../sdk/codec.js";
import { TreatyError } from "../../sdk/errors.js";
import type { Receipt } from "../../sdk/receipt.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import { writesFromWire } from "../../runtime/ledger/entry.js";
import { type LedgerSecret, NONCE_BYTES, openPrivate, TAG_BYTES } from "../../runtime/ledger/secrets.js";
import { binHeader } from "./rows.js";

export const SNAPSHOT_FORMAT_VERSION = 1;

/** What a snapshot holds (the body, private part open). */
export interface SnapshotState {
  readonly seqno: number;
  readonly view: number;
  readonly frontier: readonly Uint8Array[];
  readonly views: readonly { readonly view: number; readonly startSeqno: number }[];
  readonly config: { readonly seqno: number; readonly nodes: readonly string[] } | null;
  readonly public: readonly MapWrites[];
  readonly private: readonly MapWrites[];
}

/** The body as stored: the state still encoded, its private part sealed. */
export interface SnapshotBody extends Omit<SnapshotState, "private" | "public"> {
  readonly publicBytes: Uint8Array;
  readonly secretVersion: number;
  readonly sealed: Uint8Array | null;
}

/** What makes a snapshot usable: its evidence entry, that entry's receipt, and a consistency proof. */
export interface SnapshotEvidence {
  readonly entry: Uint8Array;
  readonly receipt: Receipt;
  readonly consistency: readonly Uint8Array[];
}

export function invalid(message: string): TreatyError {
  return new TreatyError("SnapshotInvalid", `snapshot: ${message}`);
}

function nonceOf(seqno: number): Uint8Array {
  const nonce = new Uint8Array(12);
  const view = new DataView(nonce.buffer);
  view.setUint32(0, Math.floor(seqno / 2 ** 32));
  view.setUint32(4, seqno % 2 ** 32);
  view.setUint32(8, 0xffffffff);
  return nonce;
}

function aadOf(seqno: number): Uint8Array {
  const aad = new Uint8Array(15 + 8);
  aad.set(new TextEncoder().encode("treaty.snapshot"));
  aad.set(nonceOf(seqno).subarray(0, 8), 15);
  return aad;
}

/** Bytes sealed or hashed between two pauses (`encodeBodyPartsSliced`, `digestSliced`). */
const SLICE_BYTES = 1024 * 1024;

/** The body's fields in canonical (sorted) order. */
const BODY_FIELDS = ["config", "format", "frontier", "private", "public", "secret", "seqno", "view", "views"];

/** A body held as consecutive parts: the body's bytes are their concatenation, never assembled. */
export type BodyParts = readonly Uint8Array[];

/** Bytes in `parts`. */
export function partsLength(parts: BodyParts): number {
  let n = 0;
  for (const part of parts) n += part.length;
  return n;
}

/**
 * The body bytes (deterministic, see above) as parts, and their digest, from the state already
 * encoded: `publicBytes` and `privateBytes` are the msgpack write-set arrays of the public and
 * private maps (rows.ts's MapsEncoder, the bytes of `encode(writesToWire(maps))`; `privateBytes`
 * null when there is no private map). The body is never assembled into one buffer: `publicBytes`
 * is one of the parts as it is (not copied), the private part is sealed in slices of SLICE_BYTES
 * (each sealed slice a part), the small fields are parts of their own, and the digest is hashed
 * over the parts in slices of SLICE_BYTES; the thread awaits `pause()` after each slice. Files are
 * written from the parts (encodeFileParts, files.ts). The small fields are encoded by the codec,
 * the two byte strings are headed with msgpack's minimal bin headers as msgpackr writes them: the
 * concatenation is the same bytes as `encodeCanonical` of the whole body
 * (test/snapshot/reference-body.ts builds it that way; the tests compare them).
 */
export async function encodeBodyPartsSliced(
  state: Omit<SnapshotState, "public" | "private">,
  publicBytes: Uint8Array,
  privateBytes: Uint8Array | null,
  secret: LedgerSecret,
  pause: () => Promise<void>,
): Promise<{ parts: BodyParts; digest: Uint8Array }> {
  const sealedLength = privateBytes === null ? 0 : NONCE_BYTES + privateBytes.length + TAG_BYTES;
  const small: Record<string, Uint8Array> = {
    config: encodeCanonical(
      state.config === null ? null : { seqno: state.config.seqno, nodes: [...state.config.nodes] },
    ),
    format: encode(SNAPSHOT_FORMAT_VERSION),
    frontier: encode([...state.frontier]),
    private: privateBytes === null ? encode(null) : binHeader(sealedLength),
    public: binHeader(publicBytes.length),
    secret: encode(privateBytes === null ? 0 : secret.version),
    seqno: encode(state.seqno),
    view: encode(state.view),
    views: encode(state.views.map((v) => [v.view, v.startSeqno])),
  };
  // The map header as the codec writes it for nine fields.
  const keys = BODY_FIELDS.map((field) => encode(field));
  const skeleton = encodeCanonical(Object.fromEntries(BODY_FIELDS.map((field) => [field, null])));
  const header = skeleton.subarray(0, skeleton.length - keys.reduce((n, k) => n + k.length + 1, 0));
  const parts: Uint8Array[] = [];
  // Small fields go into one part until a large byte string starts a part of its own.
  let run: Uint8Array[] = [header];
  const flush = () => {
    if (run.length > 0) parts.push(concatBytes(...run));
    run = [];
  };
  for (const [i, field] of BODY_FIELDS.entries()) {
    run.push(keys[i]!, small[field]!);
    if (field === "public") {
      flush();
      parts.push(publicBytes);
    } else if (field === "private" && privateBytes !== null) {
      const nonce = nonceOf(state.seqno);
      const cipher = createCipheriv("aes-256-gcm", secret.entryKey(), nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(aadOf(state.seqno));
      run.push(nonce);
      flush();
      for (let at = 0; at < privateBytes.length; at += SLICE_BYTES) {
        parts.push(cipher.update(privateBytes.subarray(at, at + SLICE_BYTES)));
        await pause();
      }
      run.push(cipher.final(), cipher.getAuthTag());
    }
  }
  flush();
  const body = parts.filter((part) => part.length > 0);
  let total = header.length + sealedLength + publicBytes.length;
  BODY_FIELDS.forEach((field, i) => {
    total += keys[i]!.length + small[field]!.length;
  });
  assert(partsLength(body) === total, "snapshot body: the encoded length is as computed");
  return { parts: body, digest: await digestSliced(body, pause) };
}

/**
 * SHA-256 of the concatenation of `parts`, hashed SLICE_BYTES at a time (a slice may span parts),
 * awaiting `pause()` after each slice.
 */
export async function digestSliced(parts: BodyParts, pause: () => Promise<void>): Promise<Uint8Array> {
  const hash = createHash("sha256");
  let inSlice = 0;
  for (const bytes of parts) {
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, SLICE_BYTES - inSlice);
      hash.update(bytes.subarray(at, at + n));
      at += n;
      inSlice += n;
      if (inSlice === SLICE_BYTES) {
        inSlice = 0;
        await pause();
      }
    }
  }
  if (inSlice > 0) await pause();
  return new Uint8Array(hash.digest());
}

/** Lets the event loop run: the pause between two slices of sealing or hashing. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A pause of `ms` on a timer between two slices: the thread leaves the cores meanwhile. */
export const pauseOf = (ms: number) => (): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** SHA-256 of the body: what the evidence transaction records. */
export function bodyDigest(body: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(body).digest());
}

/** The file bytes: the body and, once committed, its evidence. */
export function encodeFile(body: Uint8Array, evidence: SnapshotEvidence | null): Uint8Array {
  return encode({ b: body, e: evidenceField(evidence) });
}

function evidenceField(evidence: SnapshotEvidence | null) {
  return evidence === null
    ? null
    : { entry: evidence.entry, receipt: evidence.receipt, consistency: [...evidence.consistency] };
}

/** The file's map header as the codec writes it for two fields (`{b, e}`). */
const FILE_HEADER = (() => {
  const skeleton = encode({ b: new Uint8Array(0), e: null });
  // skeleton = header, "b", bin8 of 0 bytes (2 bytes), "e", nil (1 byte)
  return skeleton.subarray(0, skeleton.length - (encode("b").length + 2 + encode("e").length + 1));
})();

/**
 * The bytes of `encodeFile(body, evidence)` as parts whose concatenation is exactly those bytes
 * (the tests compare them), `body` given as its parts (BodyParts): what precedes the body, the
 * body's parts themselves (not copied), and the evidence field last. SnapshotFiles writes the
 * parts one after the other.
 */
export function encodeFileParts(body: BodyParts, evidence: SnapshotEvidence | null): Uint8Array[] {
  const b = encode("b");
  const bodyHeader = binHeader(partsLength(body));
  const head = new Uint8Array(FILE_HEADER.length + b.length + bodyHeader.length);
  head.set(FILE_HEADER);
  head.set(b, FILE_HEADER.length);
  head.set(bodyHeader, FILE_HEADER.length + b.length);
  const e = encode("e");
  const value = encode(evidenceField(evidence));
  const tail = new Uint8Array(e.length + value.length);
  tail.set(e);
  tail.set(value, e.length);
  return [head, ...body, tail];
}

/** Splits file bytes into body bytes and evidence (shape checked; nothing verified). */
export function decodeFile(bytes: Uint8Array): { body: Uint8Array; evidence: SnapshotEvidence | null } {
  let outer: Record<string, unknown>;
  try {
    outer = decode<Record<string, unknown>>(bytes, "snapshot");
  } catch {
    throw invalid("not a snapshot file (undecodable)");
  }
  if (typeof outer !== "object" || outer === null || !(outer.b instanceof Uint8Array))
    throw invalid("b: expected the body bytes");
  if (outer.e === null || outer.e === undefined) return { body: outer.b, evidence: null };
  const e = outer.e as Record<string, unknown>;
  if (
    typeof e !== "object" ||
    !(e.entry instanceof Uint8Array) ||
    typeof e.receipt !== "object" ||
    e.receipt === null ||
    !Array.isArray(e.consistency) ||
    e.consistency.length > 64 ||
    !e.consistency.every((h) => h instanceof Uint8Array && h.length === 32)
  ) {
    throw invalid("e: expected {entry, receipt, consistency}");
  }
  return {
    body: outer.b,
    evidence: { entry: e.entry, receipt: e.receipt as Receipt, consistency: e.consistency as Uint8Array[] },
  };
}

const count = (v: unknown, min = 0): v is number => Number.isSafeInteger(v) && (v as number) >= min;

/** Parses body bytes (shape only). Throws SnapshotInvalid naming the field. */
export function decodeBody(bytes: Uint8Array): SnapshotBody {
  let b: Record<string, unknown>;
  try {
    b = decode<Record<string, unknown>>(bytes, "snapshot body");
  } catch {
    throw invalid("body: undecodable");
  }
  if (typeof b !== "object" || b === null) throw invalid("body: expected a map");
  if (b.format !== SNAPSHOT_FORMAT_VERSION) throw invalid(`body.format: expected ${SNAPSHOT_FORMAT_VERSION}`);
  if (!count(b.seqno, 1)) throw invalid("body.seqno: expected a seqno");
  if (!count(b.view)) throw invalid("body.view: expected a view");
  if (!Array.isArray(b.frontier) || !b.frontier.every((h) => h instanceof Uint8Array && h.length === 32))
    throw invalid("body.frontier: expected 32-byte hashes");
  if (
    !Array.isArray(b.views) ||
    b.views.length === 0 ||
    !b.views.every((v) => Array.isArray(v) && v.length === 2 && count(v[0]) && count(v[1], 1))
  )
    throw invalid("body.views: expected [[view, startSeqno], ...]");
  const config = b.config as { seqno?: unknown; nodes?: unknown } | null;
  if (
    config !== null &&
    (typeof config !== "object" ||
      !count(config.seqno, 1) ||
      !Array.isArray(config.nodes) ||
      !config.nodes.every((n) => typeof n === "string"))
  )
    throw invalid("body.config: expected {seqno, nodes} or nil");
  if (!count(b.secret)) throw invalid("body.secret: expected a secret version");
  if (!(b.private === null || b.private instanceof Uint8Array))
    throw invalid("body.private: expected bytes or nil");
  if ((b.private === null) !== (b.secret === 0))
    throw invalid("body.secret: must be 0 exactly when there is no private part");
  if (!(b.public instanceof Uint8Array)) throw invalid("body.public: expected bytes");
  return {
    seqno: b.seqno,
    view: b.view,
    frontier: b.frontier as Uint8Array[],
    views: (b.views as [number, number][]).map(([view, startSeqno]) => ({ view, startSeqno })),
    config: config === null ? null : { seqno: config.seqno as number, nodes: config.nodes as string[] },
    publicBytes: b.public,
    secretVersion: b.secret,
    sealed: b.private as Uint8Array | null,
  };
}

/** The public maps of a body. Throws SnapshotInvalid. */
export function publicMaps(body: SnapshotBody): MapWrites[] {
  try {
    return writesFromWire(decode(body.publicBytes, "snapshot public part"), body.seqno, "public");
  } catch (err) {
    throw invalid(`body.public: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Opens the state, the private part with `secret` (the version the body names). Throws SnapshotInvalid. */
export function openBody(body: SnapshotBody, secret: LedgerSecret | undefined): SnapshotState {
  const publicWrites = publicMaps(body);
  let privateWrites: MapWrites[] = [];
  if (body.sealed !== null) {
    if (secret === undefined || secret.version !== body.secretVersion)
      throw invalid(`body.secret: this node has no ledger secret version ${body.secretVersion}`);
    try {
      const plain = openPrivate(secret, body.sealed, aadOf(body.seqno), `snapshot ${body.seqno}`);
      privateWrites = writesFromWire(decode(plain, "snapshot private part"), body.seqno, "private");
    } catch (err) {
      throw invalid(`body.private: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const { secretVersion: _v, sealed: _s, publicBytes: _p, ...rest } = body;
  return { ...rest, public: publicWrites, private: privateWrites };
}
