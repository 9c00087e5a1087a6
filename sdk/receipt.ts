/**
 * Receipts: offline proof that a transaction is in the ledger, verifiable with nothing but the
 * service identity's public key (pinned by the app). Browser-safe (noble, no node:*).
 *
 * A receipt holds the transaction's leaf fields, its RFC 9162 inclusion path, the signed Merkle
 * root that covers it, and the signing node's key with the service's endorsement of that key.
 * Every hash input and signed message is a fixed byte layout built here, documented in
 * docs/receipts.md so that other languages can verify receipts too. The node side (runtime/ledger)
 * builds the same bytes with these same functions.
 *
 * Example:
 * ```ts
 * const serviceKey = parsePublicKey("ed25519", pinnedServiceKeyHex);
 * const ok = verifyReceipt(await (await fetch(`${node}/node/receipt?txid=${txid}`)).json(), serviceKey);
 * ok.kind; // "user" | "member" | "governance" | "signature" | "internal"
 * ```
 */
import { concatBytes, equalBytes, fromHex, utf8 } from "./bytes.js";
import { TreatyError } from "./errors.js";
import { bytes, count, hash, invalid, object, string } from "./receipt-fields.js";
import { CURVES, type Curve, isCurve, keyId, type PublicKey, verify as verifySignature } from "./keys.js";
import {
  HASH_BYTES,
  inclusionProofLength,
  type MerkleHasher,
  rootFromInclusionProof,
  sha256Hasher,
} from "./merkle.js";

/** Entry kinds, in leaf-code order: the code of a kind is its index + 1. Never reorder. */
export const ENTRY_KINDS = ["user", "member", "governance", "signature", "internal"] as const;
/**
 * What produced a ledger entry: a user's call, a member's call (not a governance action), a
 * governance transaction (proposal, ballot, applied action), a signature transaction, or an
 * internal node/config change.
 */
export type EntryKind = (typeof ENTRY_KINDS)[number];

export function isEntryKind(value: unknown): value is EntryKind {
  return typeof value === "string" && (ENTRY_KINDS as readonly string[]).includes(value);
}

/** The one-byte code of a kind in leaf data (user 1, member 2, governance 3, signature 4, internal 5). */
export function entryKindCode(kind: EntryKind): number {
  return ENTRY_KINDS.indexOf(kind) + 1;
}

/** Version byte that starts every leaf data. */
export const LEAF_FORMAT_VERSION = 1;
/** Length of leaf data: version, view, seqno, kind, entry digest, request digest. */
export const LEAF_DATA_BYTES = 1 + 8 + 8 + 1 + HASH_BYTES + HASH_BYTES;
/** Version byte of the leaf data of a transaction that bound an application claims digest. */
export const LEAF_FORMAT_CLAIMS = 2;
/** Length of leaf data with a claims digest: the 82 bytes above, then the claims digest. */
export const LEAF_DATA_CLAIMS_BYTES = LEAF_DATA_BYTES + HASH_BYTES;
const ROOT_DOMAIN = utf8.encode("treaty/signed-root/v1\0");
const ENDORSEMENT_DOMAIN = utf8.encode("treaty/node-endorsement/v1\0");

/** The fields of one Merkle leaf: what a receipt proves about its transaction. */
export interface LeafFields {
  readonly view: number;
  readonly seqno: number;
  readonly kind: EntryKind;
  /** SHA-256 content digest of the whole ledger entry (see docs/receipts.md). */
  readonly entryDigest: Uint8Array;
  /** SHA-256 of the signed client request that caused the entry, or null (signatures, internal). */
  readonly requestDigest: Uint8Array | null;
  /**
   * The application claims digest the contract bound to its transaction (`setClaimsDigest`), or
   * null/absent: the receipt then proves it (CCF's claims digest; docs/receipts.md).
   */
  readonly claimsDigest?: Uint8Array | null;
}

/**
 * The 82-byte leaf data: `0x01 || u64be view || u64be seqno || u8 kind || entryDigest (32) ||
 * requestDigest (32, zeros when null)`; with a claims digest, 114 bytes: `0x02` then the same
 * fields, then `claimsDigest (32)`. The Merkle leaf hash is `SHA-256(0x00 || leafData)`.
 * Throws TypeError on out-of-range fields (a caller bug, not hostile input).
 */
export function encodeLeafData(leaf: LeafFields): Uint8Array {
  if (leaf.entryDigest.length !== HASH_BYTES) throw new TypeError("entryDigest: expected 32 bytes");
  if (leaf.requestDigest !== null && leaf.requestDigest.length !== HASH_BYTES) {
    throw new TypeError("requestDigest: expected 32 bytes");
  }
  const claims = leaf.claimsDigest ?? null;
  if (claims !== null && claims.length !== HASH_BYTES) throw new TypeError("claimsDigest: expected 32 bytes");
  const out = new Uint8Array(claims === null ? LEAF_DATA_BYTES : LEAF_DATA_CLAIMS_BYTES);
  const view = new DataView(out.buffer);
  out[0] = claims === null ? LEAF_FORMAT_VERSION : LEAF_FORMAT_CLAIMS;
  if (claims !== null) out.set(claims, LEAF_DATA_BYTES);
  writeU64(view, 1, leaf.view, "view");
  writeU64(view, 9, leaf.seqno, "seqno");
  out[17] = entryKindCode(leaf.kind);
  out.set(leaf.entryDigest, 18);
  if (leaf.requestDigest !== null) out.set(leaf.requestDigest, 18 + HASH_BYTES);
  return out;
}

/** What a node signs at a signature transaction. */
export interface SignedRoot {
  /** view and seqno of the signature transaction itself. */
  readonly view: number;
  readonly seqno: number;
  /** Leaves covered: always `seqno - 1` (every entry before the signature). */
  readonly treeSize: number;
  readonly root: Uint8Array;
  /** The signing node's clock when it signed (ms since the epoch). */
  readonly timeMs: number;
}

/**
 * The message a node signs: `"treaty/signed-root/v1" 0x00 || u64be view || u64be seqno ||
 * u64be treeSize || root (32) || u64be timeMs` (86 bytes).
 */
export function signedRootMessage(signed: SignedRoot): Uint8Array {
  if (signed.root.length !== HASH_BYTES) throw new TypeError("root: expected 32 bytes");
  const tail = new Uint8Array(8 * 3 + HASH_BYTES + 8);
  const view = new DataView(tail.buffer);
  writeU64(view, 0, signed.view, "view");
  writeU64(view, 8, signed.seqno, "seqno");
  writeU64(view, 16, signed.treeSize, "treeSize");
  tail.set(signed.root, 24);
  writeU64(view, 24 + HASH_BYTES, signed.timeMs, "timeMs");
  return concatBytes(ROOT_DOMAIN, tail);
}

/**
 * What a service identity signs to endorse the identity of the service recovered from it (disaster
 * recovery): `"treaty/service-endorsement/v1" 0x00 || u8 length || publicKey`.
 */
export function serviceEndorsementMessage(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length > 255) throw new TypeError("publicKey: too long");
  return concatBytes(
    utf8.encode("treaty/service-endorsement/v1"),
    new Uint8Array([0, publicKey.length]),
    publicKey,
  );
}

/** One link of a receipt's service endorsement chain: `publicKey` endorsed by `endorsedBy`. */
export interface ServiceEndorsement {
  /** The endorsed (later) service identity, ed25519 hex. */
  readonly publicKey: string;
  /** The endorsing (earlier) service identity, ed25519 hex. */
  readonly endorsedBy: string;
  readonly signature: string;
}

/** What the service identity signs to endorse a node's key for a period. */
export interface EndorsedKey {
  readonly nodeId: string;
  readonly publicKey: Uint8Array;
  readonly validFromMs: number;
  readonly validToMs: number;
}

/**
 * The message the service key signs: `"treaty/node-endorsement/v1" 0x00 || nodeId (32 bytes, the
 * hex id decoded) || u8 length || publicKey || u64be validFromMs || u64be validToMs`.
 */
export function endorsementMessage(endorsed: EndorsedKey): Uint8Array {
  const nodeId = fromHex(endorsed.nodeId, "nodeId");
  if (nodeId.length !== HASH_BYTES) throw new TypeError("nodeId: expected 32 bytes of hex");
  if (endorsed.publicKey.length > 255) throw new TypeError("publicKey: too long");
  const validity = new Uint8Array(16);
  const view = new DataView(validity.buffer);
  writeU64(view, 0, endorsed.validFromMs, "validFromMs");
  writeU64(view, 8, endorsed.validToMs, "validToMs");
  return concatBytes(
    ENDORSEMENT_DOMAIN,
    nodeId,
    new Uint8Array([endorsed.publicKey.length]),
    endorsed.publicKey,
    validity,
  );
}

/** A receipt as JSON (the HTTP API and `treaty ledger receipt` return this). Bytes are lowercase hex. */
export interface Receipt {
  readonly version: 1;
  /** `view.seqno` of the transaction; must match `leaf`. */
  readonly txid: string;
  readonly leaf: {
    readonly view: number;
    readonly seqno: number;
    readonly kind: EntryKind;
    readonly entryDigest: string;
    readonly requestDigest: string | null;
    /** Present when the transaction bound an application claims digest. */
    readonly claimsDigest?: string;
  };
  /** Inclusion path (leaf upward) of leaf index `seqno - 1` in the tree of `signature.treeSize` leaves. */
  readonly proof: readonly string[];
  readonly signature: {
    readonly view: number;
    readonly seqno: number;
    readonly treeSize: number;
    readonly root: string;
    readonly timeMs: number;
    readonly signature: string;
  };
  readonly node: {
    readonly id: string;
    readonly curve: Curve;
    readonly publicKey: string;
    readonly endorsement: {
      readonly validFromMs: number;
      readonly validToMs: number;
      readonly signature: string;
    };
  };
  /**
   * After disaster recoveries: each service identity endorsed by the one before it, oldest first,
   * so a receipt signed under a recovered service verifies against the original identity.
   */
  readonly serviceEndorsements?: readonly ServiceEndorsement[];
}

/** What a verified receipt establishes. */
export interface VerifiedReceipt {
  readonly txid: string;
  readonly view: number;
  readonly seqno: number;
  /** Whether this was a user, member or governance transaction (or signature/internal). */
  readonly kind: EntryKind;
  readonly entryDigest: Uint8Array;
  readonly requestDigest: Uint8Array | null;
  /** The application claims digest bound to the transaction, or null. */
  readonly claimsDigest: Uint8Array | null;
  /** The signed root and the tree size it covers. */
  readonly root: Uint8Array;
  readonly treeSize: number;
  /** txid of the signature transaction that covers this one. */
  readonly signedBy: string;
  readonly signedAtMs: number;
  readonly nodeId: string;
}

export interface VerifyReceiptOptions {
  /** Require this txid (`"view.seqno"`). */
  readonly txid?: string;
  /** Require this request digest (the SHA-256 of the request you sent). */
  readonly requestDigest?: Uint8Array;
  /**
   * Require this application claims digest (the digest of the claim you were given, computed as
   * the contract does): proves the transaction bound exactly that claim.
   */
  readonly claimsDigest?: Uint8Array;
  /** Hash implementation (default: noble SHA-256). */
  readonly hasher?: MerkleHasher;
  /** Signature check with `sdk/keys.verify` semantics (default: that function; nodes pass node:crypto's). */
  readonly verify?: (key: PublicKey, message: Uint8Array, signature: Uint8Array) => boolean;
}

/**
 * Verifies `receipt` (untrusted JSON) against the pinned `serviceKey`. Returns what it proves,
 * or throws TreatyError ReceiptInvalid whose message names the failing field. Checks, in order:
 * shape, txid/leaf agreement, the signature covers the leaf, the inclusion path leads to the
 * signed root, node id = keyId(node key), the service endorsed the node key, the signing time is
 * within the endorsement's validity, and the node signed the root.
 */
export function verifyReceipt(
  receipt: unknown,
  serviceKey: PublicKey,
  options: VerifyReceiptOptions = {},
): VerifiedReceipt {
  const hasher = options.hasher ?? sha256Hasher;
  const check = options.verify ?? verifySignature;
  const r = object(receipt, "receipt");
  if (r.version !== 1) invalid("receipt.version", `expected 1, got ${JSON.stringify(r.version)}`);
  const txid = string(r.txid, "receipt.txid");

  const leafIn = object(r.leaf, "receipt.leaf");
  const kind = leafIn.kind;
  if (!isEntryKind(kind)) invalid("receipt.leaf.kind", `expected one of ${ENTRY_KINDS.join(", ")}`);
  const leaf: LeafFields = {
    view: count(leafIn.view, "receipt.leaf.view", 0),
    seqno: count(leafIn.seqno, "receipt.leaf.seqno", 1),
    kind,
    entryDigest: hash(leafIn.entryDigest, "receipt.leaf.entryDigest"),
    requestDigest:
      leafIn.requestDigest === null ? null : hash(leafIn.requestDigest, "receipt.leaf.requestDigest"),
    claimsDigest:
      leafIn.claimsDigest === undefined ? null : hash(leafIn.claimsDigest, "receipt.leaf.claimsDigest"),
  };
  if (
    options.claimsDigest !== undefined &&
    (leaf.claimsDigest === null || !equalBytes(leaf.claimsDigest!, options.claimsDigest))
  ) {
    invalid("receipt.leaf.claimsDigest", "does not match the expected claims digest");
  }
  if (leaf.requestDigest?.every((b) => b === 0)) {
    invalid("receipt.leaf.requestDigest", "the absent digest is written as null, not zeros");
  }
  if (txid !== formatTxId(leaf.view, leaf.seqno))
    invalid("receipt.txid", `"${txid}" does not match leaf view and seqno`);
  if (options.txid !== undefined && options.txid !== txid)
    invalid("receipt.txid", `expected "${options.txid}", got "${txid}"`);
  if (
    options.requestDigest !== undefined &&
    (leaf.requestDigest === null || !equalBytes(leaf.requestDigest, options.requestDigest))
  ) {
    invalid("receipt.leaf.requestDigest", "does not match the expected request digest");
  }

  if (!Array.isArray(r.proof)) invalid("receipt.proof", "expected an array of hex hashes");
  const proof = (r.proof as unknown[]).map((h, i) => hash(h, `receipt.proof[${i}]`));

  const sigIn = object(r.signature, "receipt.signature");
  const signed: SignedRoot = {
    view: count(sigIn.view, "receipt.signature.view", 0),
    seqno: count(sigIn.seqno, "receipt.signature.seqno", 2),
    treeSize: count(sigIn.treeSize, "receipt.signature.treeSize", 1),
    root: hash(sigIn.root, "receipt.signature.root"),
    timeMs: count(sigIn.timeMs, "receipt.signature.timeMs", 0),
  };
  const rootSignature = bytes(sigIn.signature, "receipt.signature.signature");
  if (signed.treeSize !== signed.seqno - 1)
    invalid("receipt.signature.treeSize", "must be signature.seqno - 1");
  if (signed.seqno <= leaf.seqno)
    invalid("receipt.signature.seqno", "the signature must come after the transaction");
  if (signed.view < leaf.view)
    invalid("receipt.signature.view", "the signature's view is before the transaction's");

  const expectedLength = inclusionProofLength(leaf.seqno - 1, signed.treeSize);
  if (proof.length !== expectedLength) {
    invalid(
      "receipt.proof",
      `expected ${expectedLength} hashes for leaf ${leaf.seqno - 1} of ${signed.treeSize}, got ${proof.length}`,
    );
  }
  const computed = rootFromInclusionProof(
    hasher.leaf(encodeLeafData(leaf)),
    leaf.seqno - 1,
    signed.treeSize,
    proof,
    hasher,
  );
  if (computed === undefined || !equalBytes(computed, signed.root)) {
    invalid("receipt.proof", "the inclusion path from the leaf does not lead to signature.root");
  }

  const endorsers = serviceIdentityChain(r.serviceEndorsements, serviceKey, check);
  const nodeId = verifyRootSigner(signed, rootSignature, r.node, endorsers, check, {
    node: "receipt.node",
    timeMs: "receipt.signature.timeMs",
    signature: "receipt.signature.signature",
  });
  return {
    txid,
    view: leaf.view,
    seqno: leaf.seqno,
    kind: leaf.kind,
    entryDigest: leaf.entryDigest,
    requestDigest: leaf.requestDigest,
    claimsDigest: leaf.claimsDigest ?? null,
    root: signed.root,
    treeSize: signed.treeSize,
    signedBy: formatTxId(signed.view, signed.seqno),
    signedAtMs: signed.timeMs,
    nodeId,
  };
}

/** Signature check with `sdk/keys.verify` semantics. */
type SignatureCheck = (key: PublicKey, message: Uint8Array, signature: Uint8Array) => boolean;

/**
 * The signer part of a signed root, shared by receipts and consistency proofs (sdk/consistency.ts):
 * `node` (untrusted JSON) has an id that is keyId of its key, one of `endorsers` (the pinned
 * service identity and those its chain establishes) endorsed that key, the root was signed
 * within the endorsement's validity, and the node signed it. Returns the node id, or throws
 * TreatyError ReceiptInvalid naming the field (`fields` says how they are named).
 */
export function verifyRootSigner(
  signed: SignedRoot,
  rootSignature: Uint8Array,
  node: unknown,
  endorsers: readonly PublicKey[],
  check: SignatureCheck,
  fields: { readonly node: string; readonly timeMs: string; readonly signature: string },
): string {
  const nodeIn = object(node, fields.node);
  const curve = nodeIn.curve;
  if (!isCurve(curve)) invalid(`${fields.node}.curve`, `expected one of ${CURVES.join(", ")}`);
  const nodeKey: PublicKey = { curve, publicKey: bytes(nodeIn.publicKey, `${fields.node}.publicKey`) };
  const nodeId = string(nodeIn.id, `${fields.node}.id`);
  if (nodeId !== keyId(nodeKey)) invalid(`${fields.node}.id`, `is not the id of ${fields.node}.publicKey`);
  const endorsementIn = object(nodeIn.endorsement, `${fields.node}.endorsement`);
  const endorsed: EndorsedKey = {
    nodeId,
    publicKey: nodeKey.publicKey,
    validFromMs: count(endorsementIn.validFromMs, `${fields.node}.endorsement.validFromMs`, 0),
    validToMs: count(endorsementIn.validToMs, `${fields.node}.endorsement.validToMs`, 0),
  };
  const endorsementSignature = bytes(endorsementIn.signature, `${fields.node}.endorsement.signature`);
  if (!endorsers.some((key) => check(key, endorsementMessage(endorsed), endorsementSignature))) {
    invalid(`${fields.node}.endorsement.signature`, "the service identity did not endorse this node key");
  }
  if (signed.timeMs < endorsed.validFromMs || signed.timeMs > endorsed.validToMs) {
    invalid(fields.timeMs, "the root was signed outside the node key's endorsed validity");
  }
  if (!check(nodeKey, signedRootMessage(signed), rootSignature)) {
    invalid(fields.signature, `not a valid signature of the root by ${fields.node}.publicKey`);
  }
  return nodeId;
}

/**
 * The pinned identity and every later one an endorsement chain (`serviceEndorsements`, untrusted
 * JSON, oldest first; undefined for a service never recovered) establishes: starting at the link
 * the pinned identity signed, each link must be signed by the identity before it. Links before
 * that one (identities older than the pinned one) are ignored. Throws TreatyError
 * ReceiptInvalid naming `field`.
 */
export function serviceIdentityChain(
  value: unknown,
  pinned: PublicKey,
  check: SignatureCheck,
  field = "receipt.serviceEndorsements",
): PublicKey[] {
  const keys = [pinned];
  if (value === undefined) return keys;
  if (!Array.isArray(value) || value.length > 64)
    invalid(field, "expected an array of at most 64 endorsements");
  const links = (value as unknown[]).map((item, i) => {
    const o = object(item, `${field}[${i}]`);
    return {
      publicKey: bytes(o.publicKey, `${field}[${i}].publicKey`),
      endorsedBy: bytes(o.endorsedBy, `${field}[${i}].endorsedBy`),
      signature: bytes(o.signature, `${field}[${i}].signature`),
      field: `${field}[${i}]`,
    };
  });
  const start = links.findIndex((l) => equalBytes(l.endorsedBy, pinned.publicKey));
  if (start < 0) return keys;
  for (const link of links.slice(start)) {
    const previous = keys.at(-1)!;
    if (!equalBytes(link.endorsedBy, previous.publicKey))
      invalid(`${link.field}.endorsedBy`, "does not continue the chain from the pinned identity");
    if (!check(previous, serviceEndorsementMessage(link.publicKey), link.signature))
      invalid(`${link.field}.signature`, "not a valid endorsement by the identity before it");
    keys.push({ curve: "ed25519", publicKey: link.publicKey });
  }
  return keys;
}

/** `"view.seqno"`. */
export function formatTxId(view: number, seqno: number): string {
  return `${view}.${seqno}`;
}

/**
 * Parses `"view.seqno"` (decimal, no leading zeros, seqno ≥ 1). Throws TreatyError
 * MalformedRequest naming `field`.
 */
export function parseTxId(text: unknown, field = "txid"): { view: number; seqno: number } {
  const match = typeof text === "string" ? /^(0|[1-9][0-9]{0,15})\.([1-9][0-9]{0,15})$/.exec(text) : null;
  const view = match ? Number(match[1]) : Number.NaN;
  const seqno = match ? Number(match[2]) : Number.NaN;
  if (!Number.isSafeInteger(view) || !Number.isSafeInteger(seqno)) {
    throw new TreatyError(
      "MalformedRequest",
      `${field}: expected "view.seqno" (e.g. "2.15"), got ${JSON.stringify(text)}`,
    );
  }
  return { view, seqno };
}

function writeU64(view: DataView, offset: number, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new TypeError(`${field}: expected a non-negative safe integer`);
  view.setUint32(offset, Math.floor(value / 2 ** 32));
  view.setUint32(offset + 4, value % 2 ** 32);
}
