/**
 * COSE receipts: the standard form of a receipt, a COSE_Sign1 (RFC 9052) with an RFC 9162
 * inclusion proof in the shape of draft-ietf-cose-merkle-tree-proofs (RFC 9942): verifiable data
 * structure RFC9162_SHA256 (vds = 1), inclusion proofs under vdp (396) label -1, detached
 * payload = the Merkle root. Signed (EdDSA, alg -8) by the service identity key, so a verifier
 * needs only the pinned service public key. docs/receipts.md specifies the profile and why it is
 * not CCF's CCF_LEDGER_SHA256 (vds = 2): our tree is RFC 9162's, CCF's is not.
 *
 * Browser-safe (cbor2, noble). `verifyCoseReceipt` never trusts its input: every failure is a
 * TreatyError ReceiptInvalid naming the field.
 *
 * Example:
 * ```ts
 * const bytes = new Uint8Array(await (await fetch(`${node}/node/receipt/cose?txid=${txid}`)).arrayBuffer());
 * const proved = verifyCoseReceipt(bytes, serviceKey, { txid });
 * proved.kind; proved.requestDigest; // what the leaf says about the transaction
 * ```
 */
import { decode, encode, Tag } from "cbor2";
import { equalBytes, fromHex, getU64 } from "./bytes.js";
import { TreatyError } from "./errors.js";
import { keyId, type PublicKey, verify as verifySignature } from "./keys.js";
import { HASH_BYTES, MAX_PROOF_HASHES, rootFromInclusionProof, sha256Hasher } from "./merkle.js";
import {
  ENTRY_KINDS,
  encodeLeafData,
  formatTxId,
  LEAF_DATA_BYTES,
  LEAF_DATA_CLAIMS_BYTES,
  LEAF_FORMAT_CLAIMS,
  LEAF_FORMAT_VERSION,
  type LeafFields,
  type VerifiedReceipt,
  type VerifyReceiptOptions,
} from "./receipt.js";

/** COSE_Sign1 tag (RFC 9052). */
export const COSE_SIGN1_TAG = 18;
/** Header labels: RFC 9052 alg and kid, RFC 9597 CWT claims, RFC 9942 vds and vdp. */
export const COSE_ALG = 1;
export const COSE_KID = 4;
export const COSE_CWT_CLAIMS = 15;
export const COSE_VDS = 395;
export const COSE_VDP = 396;
/** vdp map label of the inclusion proofs (RFC 9942). */
export const COSE_INCLUSION_PROOFS = -1;
/** EdDSA (RFC 9053); our service key is Ed25519. */
export const COSE_ALG_EDDSA = -8;
/** RFC9162_SHA256 (RFC 9942): an RFC 9162 tree over SHA-256. */
export const VDS_RFC9162_SHA256 = 1;
/** Protected header: {"txid": the signature transaction whose root this receipt proves into}. */
export const TREATY_HEADER = "treaty.v1";
/** Unprotected header: the leaf data (docs/receipts.md) that the inclusion proof starts from. */
export const TREATY_LEAF_HEADER = "treaty.leaf";
/** Largest COSE receipt accepted (a 64-hash proof and headers fit in far less). */
export const MAX_COSE_RECEIPT_BYTES = 8192;

/** What the service signs: the protected header and the root (detached payload). */
export interface CoseRootSignature {
  readonly serviceKey: PublicKey;
  /** txid of the signature transaction whose signed root this is. */
  readonly signatureTxid: string;
  readonly signedAtMs: number;
  readonly root: Uint8Array;
}

/** The encoded protected header (deterministic CBOR, RFC 8949 4.2). */
export function coseProtectedHeader(signed: Omit<CoseRootSignature, "root">): Uint8Array {
  return encode(
    new Map<number | string, unknown>([
      [COSE_ALG, COSE_ALG_EDDSA],
      [COSE_KID, fromHex(keyId(signed.serviceKey), "kid")],
      [COSE_CWT_CLAIMS, new Map([[6, Math.floor(signed.signedAtMs / 1000)]])],
      [COSE_VDS, VDS_RFC9162_SHA256],
      [TREATY_HEADER, new Map([["txid", signed.signatureTxid]])],
    ]),
    { cde: true },
  );
}

/** Sig_structure of RFC 9052 4.4 for a COSE_Sign1 with detached payload `root`. */
export function coseSigStructure(protectedHeader: Uint8Array, root: Uint8Array): Uint8Array {
  return encode(["Signature1", plainBytes(protectedHeader), new Uint8Array(0), plainBytes(root)], {
    cde: true,
  });
}

/**
 * `bytes` as a plain Uint8Array over the same memory. cbor2 encodes a Node `Buffer` (a Uint8Array
 * subclass) as the object of its `toJSON`, not as a byte string, and decodes a Buffer's byte
 * strings into Buffers: a receipt read with `readFileSync` would never verify.
 */
function plainBytes(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Assembles the COSE receipt bytes: `18([protected, {396: {-1: [proof]}, "treaty.leaf": leaf},
 * nil, signature])`, where proof = bstr .cbor [treeSize, leafIndex, [path...]].
 */
export function encodeCoseReceipt(parts: {
  protectedHeader: Uint8Array;
  leaf: LeafFields;
  treeSize: number;
  path: readonly Uint8Array[];
  signature: Uint8Array;
}): Uint8Array {
  const proof = encode([parts.treeSize, parts.leaf.seqno - 1, parts.path.map(plainBytes)], { cde: true });
  const unprotected = new Map<number | string, unknown>([
    [COSE_VDP, new Map([[COSE_INCLUSION_PROOFS, [proof]]])],
    [TREATY_LEAF_HEADER, encodeLeafData(parts.leaf)],
  ]);
  const sign1 = [plainBytes(parts.protectedHeader), unprotected, null, plainBytes(parts.signature)];
  return encode(new Tag(COSE_SIGN1_TAG, sign1), {
    cde: true,
  });
}

/**
 * What a verified COSE receipt proves: what a JSON receipt does, except that the COSE form
 * carries its signing time in whole seconds (CWT iat) and no node endorsement.
 */
export type VerifiedCoseReceipt = Omit<VerifiedReceipt, "signedAtMs" | "nodeId"> & {
  /** The signing time, whole seconds since the epoch (CWT iat). */
  readonly issuedAtSeconds: number;
};

/** The same requirements and hooks as `verifyReceipt`'s. */
export type VerifyCoseReceiptOptions = VerifyReceiptOptions;

/**
 * Verifies COSE receipt bytes against the pinned service key: COSE_Sign1 shape, alg EdDSA, kid =
 * the service key id, vds RFC9162_SHA256, one inclusion proof whose leaf index is the leaf's seqno
 * − 1, the root computed from the leaf data and path, and the service's signature over that root.
 * Throws TreatyError ReceiptInvalid naming the field.
 */
export function verifyCoseReceipt(
  bytes: Uint8Array,
  serviceKey: PublicKey,
  options: VerifyCoseReceiptOptions = {},
): VerifiedCoseReceipt {
  const hasher = options.hasher ?? sha256Hasher;
  const check = options.verify ?? verifySignature;
  if (!(bytes instanceof Uint8Array) || bytes.length > MAX_COSE_RECEIPT_BYTES)
    invalid("cose", `expected at most ${MAX_COSE_RECEIPT_BYTES} bytes`);
  const outer = cbor(plainBytes(bytes), "cose");
  if (!(outer instanceof Tag) || outer.tag !== COSE_SIGN1_TAG)
    invalid("cose", "expected a tagged COSE_Sign1 (18)");
  const body = outer.contents;
  if (!Array.isArray(body) || body.length !== 4)
    invalid("cose", "expected [protected, unprotected, payload, signature]");
  const [protectedBytes, unprotected, payload, signature] = body as unknown[];
  const protectedHeader = bstr(protectedBytes, "cose.protected");
  const header = map(cbor(protectedHeader, "cose.protected"), "cose.protected");
  if (header.get(COSE_ALG) !== COSE_ALG_EDDSA) invalid("cose.protected.alg", "expected EdDSA (-8)");
  const kid = bstr(header.get(COSE_KID), "cose.protected.kid");
  if (!equalBytes(kid, fromHex(keyId(serviceKey), "kid")))
    invalid("cose.protected.kid", "is not the pinned service key");
  if (header.get(COSE_VDS) !== VDS_RFC9162_SHA256)
    invalid("cose.protected.vds", "expected RFC9162_SHA256 (1)");
  const claims = map(header.get(COSE_CWT_CLAIMS), "cose.protected.cwt");
  const iat = claims.get(6);
  if (typeof iat !== "number" || !Number.isSafeInteger(iat) || iat < 0)
    invalid("cose.protected.cwt.iat", "expected an integer");
  const treaty = map(header.get(TREATY_HEADER), "cose.protected.treaty");
  const signedBy = treaty.get("txid");
  if (typeof signedBy !== "string" || !/^(0|[1-9][0-9]{0,15})\.[1-9][0-9]{0,15}$/.test(signedBy))
    invalid("cose.protected.treaty.txid", "expected a txid");
  if (payload !== null) invalid("cose.payload", "expected nil (the root is detached)");

  const u = map(unprotected, "cose.unprotected");
  const vdp = map(u.get(COSE_VDP), "cose.unprotected.vdp");
  const proofs = vdp.get(COSE_INCLUSION_PROOFS);
  if (!Array.isArray(proofs) || proofs.length !== 1)
    invalid("cose.unprotected.vdp", "expected one inclusion proof");
  const proof = cbor(bstr(proofs[0], "cose.unprotected.vdp.proof"), "cose.unprotected.vdp.proof");
  if (!Array.isArray(proof) || proof.length !== 3)
    invalid("cose.unprotected.vdp.proof", "expected [treeSize, leafIndex, path]");
  const [treeSize, leafIndex, path] = proof as unknown[];
  if (!isCount(treeSize) || !isCount(leafIndex))
    invalid("cose.unprotected.vdp.proof", "expected integer size and index");
  if (!Array.isArray(path) || path.length > MAX_PROOF_HASHES)
    invalid("cose.unprotected.vdp.proof", "expected a path");
  const hashes = (path as unknown[]).map((h, i) => {
    const out = bstr(h, `cose.unprotected.vdp.proof.path[${i}]`);
    if (out.length !== HASH_BYTES) invalid(`cose.unprotected.vdp.proof.path[${i}]`, "expected 32 bytes");
    return out;
  });
  const leafData = bstr(u.get(TREATY_LEAF_HEADER), "cose.unprotected.leaf");
  const leaf = parseLeafData(leafData);
  if (leafIndex !== leaf.seqno - 1)
    invalid("cose.unprotected.vdp.proof", "leaf index is not the leaf's seqno - 1");
  const txid = formatTxId(leaf.view, leaf.seqno);
  if (options.txid !== undefined && options.txid !== txid)
    invalid("cose.unprotected.leaf", `expected txid "${options.txid}", got "${txid}"`);
  if (
    options.requestDigest !== undefined &&
    (leaf.requestDigest === null || !equalBytes(leaf.requestDigest, options.requestDigest))
  ) {
    invalid("cose.unprotected.leaf", "does not match the expected request digest");
  }
  if (
    options.claimsDigest !== undefined &&
    (leaf.claimsDigest == null || !equalBytes(leaf.claimsDigest, options.claimsDigest))
  ) {
    invalid("cose.unprotected.leaf", "does not match the expected claims digest");
  }
  const root = rootFromInclusionProof(hasher.leaf(leafData), leafIndex, treeSize, hashes, hasher);
  if (root === undefined)
    invalid("cose.unprotected.vdp.proof", "is not a valid inclusion path for that index and size");
  const sig = bstr(signature, "cose.signature");
  if (!check(serviceKey, coseSigStructure(protectedHeader, root), sig)) {
    invalid("cose.signature", "the service identity did not sign the root this proof leads to");
  }
  return {
    txid,
    view: leaf.view,
    seqno: leaf.seqno,
    kind: leaf.kind,
    entryDigest: leaf.entryDigest,
    requestDigest: leaf.requestDigest,
    claimsDigest: leaf.claimsDigest ?? null,
    root,
    treeSize,
    signedBy,
    issuedAtSeconds: iat,
  };
}

/** Parses the 82-byte leaf data (114 with a claims digest) of docs/receipts.md. Throws ReceiptInvalid. */
export function parseLeafData(data: Uint8Array): LeafFields {
  const plain = data.length === LEAF_DATA_BYTES && data[0] === LEAF_FORMAT_VERSION;
  const claimed = data.length === LEAF_DATA_CLAIMS_BYTES && data[0] === LEAF_FORMAT_CLAIMS;
  if (!plain && !claimed)
    invalid(
      "cose.unprotected.leaf",
      `expected ${LEAF_DATA_BYTES} bytes of leaf format ${LEAF_FORMAT_VERSION} or ${LEAF_DATA_CLAIMS_BYTES} of format ${LEAF_FORMAT_CLAIMS}`,
    );
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const u64 = (offset: number, field: string) => {
    const value = getU64(view, offset);
    if (!Number.isSafeInteger(value)) invalid(`cose.unprotected.leaf.${field}`, "out of range");
    return value;
  };
  const seqno = u64(9, "seqno");
  if (seqno < 1) invalid("cose.unprotected.leaf.seqno", "must be ≥ 1");
  const kind = ENTRY_KINDS[data[17]! - 1];
  if (kind === undefined) invalid("cose.unprotected.leaf.kind", `unknown kind code ${data[17]}`);
  const requestDigest = data.slice(18 + HASH_BYTES, 18 + 2 * HASH_BYTES);
  return {
    view: u64(1, "view"),
    seqno,
    kind,
    entryDigest: data.slice(18, 18 + HASH_BYTES),
    requestDigest: requestDigest.every((b) => b === 0) ? null : requestDigest,
    claimsDigest: claimed ? data.slice(LEAF_DATA_BYTES) : null,
  };
}

function cbor(bytes: Uint8Array, field: string): unknown {
  try {
    return decode(bytes, { preferMap: true, rejectDuplicateKeys: true, rejectStreaming: true, maxDepth: 16 });
  } catch (err) {
    return invalid(field, `not valid CBOR (${(err as Error).message})`);
  }
}

function map(value: unknown, field: string): Map<unknown, unknown> {
  if (!(value instanceof Map)) invalid(field, "expected a map");
  return value;
}

function bstr(value: unknown, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) invalid(field, "expected a byte string");
  return value;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function invalid(field: string, why: string): never {
  throw new TreatyError("ReceiptInvalid", `${field}: ${why}`, { field });
}
