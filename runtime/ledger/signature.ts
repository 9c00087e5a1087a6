/**
 * Signature transactions and node endorsements.
 *
 * At genesis the service identity key (ed25519) is created. It endorses each node's identity key:
 * a signature over the node id, the node's public key and a validity window
 * (`sdk/receipt.endorsementMessage`). Every N transactions or T ms the leader appends a signature
 * entry whose record holds the Merkle root of every entry before it, the node's signature over
 * that root (`sdk/receipt.signedRootMessage`), the node's key and its endorsement. So anyone who
 * pins the service identity's public key can check every signature, and every receipt.
 *
 * The record is canonical msgpack:
 *   { node: id hex, curve, key: bin, tree: treeSize, root: bin(32), sig: bin,
 *     endorsement: { from: validFromMs, to: validToMs, sig: bin }, service: { curve, key: bin } }
 */
import { createPrivateKey, type KeyObject, sign as nodeSign } from "node:crypto";
import { concatBytes, equalBytes, toHex } from "../../sdk/bytes.js";
import { decode, encode } from "../../sdk/codec.js";
import { type Curve, isCurve, type KeyPair, keyId, type PublicKey, sign } from "../../sdk/keys.js";
import { HASH_BYTES } from "../../sdk/merkle.js";
import { endorsementMessage, signedRootMessage } from "../../sdk/receipt.js";
import { ed25519Signer, verifySignature } from "../crypto.js";
import { corrupt, type EntryHeader } from "./entry.js";

/** The service identity's endorsement of one node key. */
export interface NodeEndorsement {
  readonly nodeId: string;
  readonly curve: Curve;
  readonly publicKey: Uint8Array;
  readonly validFromMs: number;
  readonly validToMs: number;
  /** The service key's signature over `endorsementMessage`. */
  readonly signature: Uint8Array;
}

/** What a node needs to sign roots: its key pair, its endorsement, and the service public key. */
export interface NodeSigner {
  readonly key: KeyPair;
  readonly endorsement: NodeEndorsement;
  readonly serviceKey: PublicKey;
}

/** The content of a signature entry (`s`). */
export interface SignatureRecord {
  readonly nodeId: string;
  readonly curve: Curve;
  readonly publicKey: Uint8Array;
  readonly treeSize: number;
  readonly root: Uint8Array;
  readonly signature: Uint8Array;
  readonly endorsement: {
    readonly validFromMs: number;
    readonly validToMs: number;
    readonly signature: Uint8Array;
  };
  readonly serviceKey: PublicKey;
}

/**
 * The service identity endorses `node` for [validFromMs, validToMs]. Called at genesis and when
 * governance trusts a joining node. Throws TypeError when the window is empty.
 */
export function endorseNode(
  service: KeyPair,
  node: PublicKey,
  validFromMs: number,
  validToMs: number,
): NodeEndorsement {
  if (!(validFromMs <= validToMs))
    throw new TypeError("endorsement validity: validFromMs must not be after validToMs");
  const nodeId = keyId(node);
  const message = endorsementMessage({ nodeId, publicKey: node.publicKey, validFromMs, validToMs });
  return {
    nodeId,
    curve: node.curve,
    publicKey: node.publicKey,
    validFromMs,
    validToMs,
    signature: sign(service, message),
  };
}

/** A signer for `key`, checking that `endorsement` is for that key. Throws TypeError otherwise. */
export function nodeSigner(key: KeyPair, endorsement: NodeEndorsement, serviceKey: PublicKey): NodeSigner {
  if (endorsement.nodeId !== key.id || !equalBytes(endorsement.publicKey, key.publicKey)) {
    throw new TypeError("endorsement: not for this node key");
  }
  return { key, endorsement, serviceKey };
}

/** Signs the root for a signature entry at (view, seqno) and builds its record. */
export function signRoot(
  signer: NodeSigner,
  at: { view: number; seqno: number; timeMs: number },
  root: Uint8Array,
): SignatureRecord {
  const treeSize = at.seqno - 1;
  const message = signedRootMessage({ view: at.view, seqno: at.seqno, treeSize, root, timeMs: at.timeMs });
  const { endorsement } = signer;
  return {
    nodeId: signer.key.id,
    curve: signer.key.curve,
    publicKey: signer.key.publicKey,
    treeSize,
    root,
    signature: signFast(signer.key, message),
    endorsement: {
      validFromMs: endorsement.validFromMs,
      validToMs: endorsement.validToMs,
      signature: endorsement.signature,
    },
    serviceKey: { curve: signer.serviceKey.curve, publicKey: signer.serviceKey.publicKey },
  };
}

/** Canonical msgpack of the record (keys written in sorted order, so `encode` is canonical). */
export function encodeSignatureRecord(record: SignatureRecord): Uint8Array {
  return encode({
    curve: record.curve,
    endorsement: {
      from: record.endorsement.validFromMs,
      sig: record.endorsement.signature,
      to: record.endorsement.validToMs,
    },
    key: record.publicKey,
    node: record.nodeId,
    root: record.root,
    service: { curve: record.serviceKey.curve, key: record.serviceKey.publicKey },
    sig: record.signature,
    tree: record.treeSize,
  });
}

/** Strict decoding of `s`. Throws TreatyError LedgerCorrupt for entry `seqno`. */
export function decodeSignatureRecord(bytes: Uint8Array, seqno: number): SignatureRecord {
  let wire: unknown;
  try {
    wire = decode(bytes, `entry ${seqno} signature`);
  } catch (err) {
    throw corrupt(seqno, "signature", (err as Error).message);
  }
  const r = fields(
    wire,
    ["node", "curve", "key", "tree", "root", "sig", "endorsement", "service"],
    seqno,
    "signature",
  );
  const e = fields(r.endorsement, ["from", "to", "sig"], seqno, "signature.endorsement");
  const s = fields(r.service, ["curve", "key"], seqno, "signature.service");
  if (typeof r.node !== "string") throw corrupt(seqno, "signature.node", "expected a string");
  if (!isCurve(r.curve)) throw corrupt(seqno, "signature.curve", "unknown curve");
  if (!isCurve(s.curve)) throw corrupt(seqno, "signature.service.curve", "unknown curve");
  const root = bytes32(r.root, seqno, "signature.root");
  return {
    nodeId: r.node,
    curve: r.curve,
    publicKey: binary(r.key, seqno, "signature.key"),
    treeSize: count(r.tree, seqno, "signature.tree"),
    root,
    signature: binary(r.sig, seqno, "signature.sig"),
    endorsement: {
      validFromMs: count(e.from, seqno, "signature.endorsement.from"),
      validToMs: count(e.to, seqno, "signature.endorsement.to"),
      signature: binary(e.sig, seqno, "signature.endorsement.sig"),
    },
    serviceKey: { curve: s.curve, publicKey: binary(s.key, seqno, "signature.service.key") },
  };
}

/**
 * Checks a signature entry against the tree it claims to sign: tree size, root, node id, the
 * service identity (must equal `pinnedServiceKey` when given), the endorsement, its validity at
 * the signing time, and the node's signature. Throws TreatyError LedgerCorrupt naming the field.
 * Signatures are checked with node:crypto (the hot path; same answers as sdk/keys).
 */
export function checkSignatureEntry(
  header: EntryHeader,
  record: SignatureRecord,
  expectedRoot: Uint8Array,
  pinnedServiceKey: PublicKey | undefined,
): void {
  const at = header.seqno;
  if (record.treeSize !== at - 1) {
    throw corrupt(at, "signature.tree", `signs ${record.treeSize} entries, but ${at - 1} precede it`);
  }
  if (!equalBytes(record.root, expectedRoot)) {
    throw corrupt(
      at,
      "signature.root",
      `does not match the Merkle root of entries 1..${at - 1} (an entry before it was altered)`,
    );
  }
  const nodeKey: PublicKey = { curve: record.curve, publicKey: record.publicKey };
  if (record.nodeId !== nodeKeyId(nodeKey))
    throw corrupt(at, "signature.node", "is not the id of signature.key");
  if (pinnedServiceKey !== undefined && !sameKey(pinnedServiceKey, record.serviceKey)) {
    throw corrupt(
      at,
      "signature.service",
      `service key ${toHex(record.serviceKey.publicKey)} is not the pinned service identity`,
    );
  }
  const endorsed = {
    nodeId: record.nodeId,
    publicKey: record.publicKey,
    validFromMs: record.endorsement.validFromMs,
    validToMs: record.endorsement.validToMs,
  };
  if (!endorsementChecks(record.serviceKey, endorsed, record.endorsement.signature)) {
    throw corrupt(
      at,
      "signature.endorsement",
      `node ${record.nodeId} is not endorsed by the service identity`,
    );
  }
  const timeMs = header.meta.timeMs;
  if (timeMs < endorsed.validFromMs || timeMs > endorsed.validToMs) {
    throw corrupt(
      at,
      "signature.endorsement",
      `signed at ${timeMs}, outside the endorsement's validity [${endorsed.validFromMs}, ${endorsed.validToMs}]`,
    );
  }
  const message = signedRootMessage({
    view: header.view,
    seqno: at,
    treeSize: record.treeSize,
    root: record.root,
    timeMs,
  });
  if (!verifySignature(nodeKey, message, record.signature)) {
    throw corrupt(at, "signature.sig", `not a valid signature of the root by node ${record.nodeId}`);
  }
}

/**
 * Ids of node keys seen in signature entries, most recent last: every signature entry of one
 * node carries the same key, and `keyId` is a SHA-256 in portable JavaScript (~10-20 µs). Bounded.
 */
const knownKeyIds: Array<{ readonly curve: Curve; readonly publicKey: Uint8Array; readonly id: string }> = [];
const MAX_KNOWN_KEY_IDS = 64;

/** `keyId(key)`, remembered for the last `MAX_KNOWN_KEY_IDS` keys (compared byte for byte). */
function nodeKeyId(key: PublicKey): string {
  for (let i = knownKeyIds.length - 1; i >= 0; i--) {
    const known = knownKeyIds[i]!;
    if (known.curve === key.curve && equalBytes(known.publicKey, key.publicKey)) return known.id;
  }
  const id = keyId(key);
  if (knownKeyIds.length >= MAX_KNOWN_KEY_IDS) knownKeyIds.shift();
  knownKeyIds.push({ curve: key.curve, publicKey: new Uint8Array(key.publicKey), id });
  return id;
}

/**
 * Endorsements found valid, by their signature (as a latin1 string: 64 characters), each with
 * everything its check covered (service key, node id and key, validity): every signature entry
 * of one node carries the same endorsement, and its check (~113 µs) was half the cost of
 * checking one. A hit must match every field, so only exact inputs that verified are taken;
 * anything else is verified. Bounded, cleared when full.
 */
const verifiedEndorsements = new Map<
  string,
  {
    readonly serviceCurve: Curve;
    readonly serviceKey: Uint8Array;
    readonly nodeId: string;
    readonly publicKey: Uint8Array;
    readonly validFromMs: number;
    readonly validToMs: number;
  }
>();
const MAX_VERIFIED_ENDORSEMENTS = 256;

function endorsementChecks(
  serviceKey: PublicKey,
  endorsed: {
    readonly nodeId: string;
    readonly publicKey: Uint8Array;
    readonly validFromMs: number;
    readonly validToMs: number;
  },
  signature: Uint8Array,
): boolean {
  const id = Buffer.from(signature.buffer, signature.byteOffset, signature.length).toString("latin1");
  const known = verifiedEndorsements.get(id);
  if (
    known !== undefined &&
    known.serviceCurve === serviceKey.curve &&
    known.nodeId === endorsed.nodeId &&
    known.validFromMs === endorsed.validFromMs &&
    known.validToMs === endorsed.validToMs &&
    equalBytes(known.serviceKey, serviceKey.publicKey) &&
    equalBytes(known.publicKey, endorsed.publicKey)
  )
    return true;
  if (!verifySignature(serviceKey, endorsementMessage(endorsed), signature)) return false;
  if (verifiedEndorsements.size >= MAX_VERIFIED_ENDORSEMENTS) verifiedEndorsements.clear();
  verifiedEndorsements.set(id, {
    serviceCurve: serviceKey.curve,
    serviceKey: new Uint8Array(serviceKey.publicKey),
    nodeId: endorsed.nodeId,
    publicKey: new Uint8Array(endorsed.publicKey),
    validFromMs: endorsed.validFromMs,
    validToMs: endorsed.validToMs,
  });
  return true;
}

const ED25519_PKCS8_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const privateKeyObjects = new WeakMap<KeyPair, KeyObject>();

/** libsodium signers of ed25519 key pairs (runtime/crypto.ts `ed25519Signer`), or null: use OpenSSL. */
const sodiumSigners = new WeakMap<KeyPair, ((message: Uint8Array) => Uint8Array) | null>();

/**
 * Signs like `sdk/keys.sign`, through libsodium for ed25519 (~20-29 µs), or node:crypto where the
 * addon does not load (~53 µs; noble is ~15x slower). ed25519 signatures are deterministic, so
 * the bytes are identical, which the tests check. Other curves use noble.
 */
export function signFast(key: KeyPair, message: Uint8Array): Uint8Array {
  if (key.curve !== "ed25519") return sign(key, message);
  let signer = sodiumSigners.get(key);
  if (signer === undefined) {
    signer = ed25519Signer(key.privateKey);
    sodiumSigners.set(key, signer);
  }
  if (signer !== null) return signer(message);
  let object = privateKeyObjects.get(key);
  if (object === undefined) {
    object = createPrivateKey({
      key: Buffer.from(concatBytes(ED25519_PKCS8_PREFIX, key.privateKey)),
      format: "der",
      type: "pkcs8",
    });
    privateKeyObjects.set(key, object);
  }
  return new Uint8Array(nodeSign(null, message, object));
}

export function sameKey(a: PublicKey, b: PublicKey): boolean {
  return a.curve === b.curve && equalBytes(a.publicKey, b.publicKey);
}

function fields(
  value: unknown,
  keys: readonly string[],
  seqno: number,
  field: string,
): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
    throw corrupt(seqno, field, "expected a map");
  }
  const record = value as Record<string, unknown>;
  if (Object.keys(record).length !== keys.length || !keys.every((k) => Object.hasOwn(record, k))) {
    throw corrupt(seqno, field, `expected exactly the fields ${keys.join(", ")}`);
  }
  return record;
}

function binary(value: unknown, seqno: number, field: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length > 256) throw corrupt(seqno, field, "expected bytes");
  return value;
}

function bytes32(value: unknown, seqno: number, field: string): Uint8Array {
  const out = binary(value, seqno, field);
  if (out.length !== HASH_BYTES) throw corrupt(seqno, field, "expected 32 bytes");
  return out;
}

function count(value: unknown, seqno: number, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw corrupt(seqno, field, "expected a non-negative integer");
  }
  return value;
}
