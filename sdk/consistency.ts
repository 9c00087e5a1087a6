/**
 * Consistency proofs between signed roots: the Certificate Transparency audit pattern. A client
 * that kept an old signed root (a `SignedTreeHead`) asks a node for a proof that today's signed
 * tree extends it, and checks offline that the ledger only grew: no entry it once saw signed was
 * changed, dropped or reordered. Browser-safe (noble, no node:*).
 *
 * Both heads are checked like the signature part of a receipt, by the same code
 * (`verifyRootSigner` in sdk/receipt.ts): node signature over the signed-root message, node key
 * endorsed by the pinned service key or, after disaster recoveries, by an identity the proof's
 * `serviceEndorsements` chain establishes from it (as receipts do), signing time within the
 * endorsement. The proof is RFC 9162 section 2.1.4 (`verifyConsistency` in sdk/merkle.ts).
 *
 * Example:
 * ```ts
 * const old = kept.head; // a SignedTreeHead saved earlier (e.g. from a receipt's signature)
 * const res = await fetch(`${node}/node/consistency?from=${old.treeSize}&to=${latestSize}`);
 * const checked = verifyConsistencyProof(await res.json(), serviceKey, { trusted: old });
 * checked.to; // the newer head, now trusted: keep it for the next audit
 * ```
 */
import { equalBytes, fromHex } from "./bytes.js";
import { bytes, count, hash, invalid, object } from "./receipt-fields.js";
import { type PublicKey, verify as verifySignature } from "./keys.js";
import { type MerkleHasher, sha256Hasher, verifyConsistency } from "./merkle.js";
import {
  formatTxId,
  type Receipt,
  type ServiceEndorsement,
  serviceIdentityChain,
  verifyRootSigner,
} from "./receipt.js";

/** A signed root as JSON: the signature transaction's fields and the signing node's endorsed key. */
export type SignedTreeHead = Receipt["signature"] & { readonly node: Receipt["node"] };

/** What `GET /node/consistency?from=&to=` and `treaty ledger consistency` return. */
export interface ConsistencyProof {
  readonly version: 1;
  readonly from: SignedTreeHead;
  readonly to: SignedTreeHead;
  /** RFC 9162 PROOF(from.treeSize, D[0:to.treeSize]), lowercase hex. */
  readonly proof: readonly string[];
  /**
   * After disaster recoveries: each service identity endorsed by the one before it, oldest first
   * (as in receipts), so heads signed under a recovered service verify against the original key.
   */
  readonly serviceEndorsements?: readonly ServiceEndorsement[];
}

/** A signed root whose signature and endorsement checked out. */
export interface VerifiedTreeHead {
  /** txid of the signature transaction. */
  readonly txid: string;
  readonly treeSize: number;
  readonly root: Uint8Array;
  readonly signedAtMs: number;
  readonly nodeId: string;
}

export interface VerifyConsistencyOptions {
  /**
   * The head the client kept (or just its size and root): `from` must match it. Without it the
   * proof only shows that two heads the service signed are consistent with each other.
   */
  readonly trusted?: { readonly treeSize: number; readonly root: string | Uint8Array };
  readonly hasher?: MerkleHasher;
  readonly verify?: (key: PublicKey, message: Uint8Array, signature: Uint8Array) => boolean;
}

/**
 * Verifies `proof` (untrusted JSON) against the pinned `serviceKey`: both heads are signed by
 * endorsed node keys, `from` matches `options.trusted`, and the RFC 9162 consistency proof shows
 * the `from` tree is a prefix of the `to` tree. Returns both heads, or throws TreatyError
 * ReceiptInvalid naming the failing field.
 */
export function verifyConsistencyProof(
  proof: unknown,
  serviceKey: PublicKey,
  options: VerifyConsistencyOptions = {},
): { from: VerifiedTreeHead; to: VerifiedTreeHead } {
  const p = object(proof, "consistency");
  if (p.version !== 1) invalid("consistency.version", `expected 1, got ${JSON.stringify(p.version)}`);
  const chain = { serviceEndorsements: p.serviceEndorsements, chainField: "consistency.serviceEndorsements" };
  const from = verifySignedTreeHead(p.from, serviceKey, { ...options, ...chain, field: "consistency.from" });
  const to = verifySignedTreeHead(p.to, serviceKey, { ...options, ...chain, field: "consistency.to" });
  if (options.trusted !== undefined) {
    const root =
      typeof options.trusted.root === "string"
        ? fromHex(options.trusted.root, "trusted.root")
        : options.trusted.root;
    if (from.treeSize !== options.trusted.treeSize || !equalBytes(from.root, root)) {
      invalid("consistency.from", "is not the signed root the client kept");
    }
  }
  if (from.treeSize > to.treeSize) invalid("consistency.to.treeSize", "is smaller than from.treeSize");
  if (!Array.isArray(p.proof)) invalid("consistency.proof", "expected an array of hex hashes");
  const path = (p.proof as unknown[]).map((h, i) => hash(h, `consistency.proof[${i}]`));
  if (
    !verifyConsistency(from.treeSize, to.treeSize, from.root, to.root, path, options.hasher ?? sha256Hasher)
  ) {
    invalid(
      "consistency.proof",
      `does not prove that tree ${from.treeSize} is a prefix of tree ${to.treeSize}`,
    );
  }
  return { from, to };
}

/**
 * Checks one signed root: shape, node id, the endorsement of the node key by the service (the
 * pinned identity, or one `options.serviceEndorsements` establishes from it), the signing time
 * within it, and the node's signature. Throws TreatyError ReceiptInvalid naming the field.
 */
export function verifySignedTreeHead(
  head: unknown,
  serviceKey: PublicKey,
  options: Pick<VerifyConsistencyOptions, "verify"> & {
    readonly field?: string;
    /** The endorsement chain (untrusted JSON) and its field name in errors. */
    readonly serviceEndorsements?: unknown;
    readonly chainField?: string;
  } = {},
): VerifiedTreeHead {
  const field = options.field ?? "head";
  const check = options.verify ?? verifySignature;
  const h = object(head, field);
  const signed = {
    view: count(h.view, `${field}.view`, 0),
    seqno: count(h.seqno, `${field}.seqno`, 2),
    treeSize: count(h.treeSize, `${field}.treeSize`, 1),
    root: hash(h.root, `${field}.root`),
    timeMs: count(h.timeMs, `${field}.timeMs`, 0),
  };
  if (signed.treeSize !== signed.seqno - 1) invalid(`${field}.treeSize`, "must be seqno - 1");
  const signature = bytes(h.signature, `${field}.signature`);
  const endorsers = serviceIdentityChain(
    options.serviceEndorsements,
    serviceKey,
    check,
    options.chainField ?? "serviceEndorsements",
  );
  const nodeId = verifyRootSigner(signed, signature, h.node, endorsers, check, {
    node: `${field}.node`,
    timeMs: `${field}.timeMs`,
    signature: `${field}.signature`,
  });
  return {
    txid: formatTxId(signed.view, signed.seqno),
    treeSize: signed.treeSize,
    root: signed.root,
    signedAtMs: signed.timeMs,
    nodeId,
  };
}
