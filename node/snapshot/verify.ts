/**
 * Verifies a snapshot file against the pinned service identity, without the node's state: the
 * evidence receipt is signed by a node the service endorsed, the evidence entry is the receipt's
 * leaf and records this body's digest and seqno, and the body's Merkle frontier is consistent
 * with the root that receipt's signature signed. What `install` checks before loading anything,
 * and what `treaty ledger verify --snapshot` reports.
 */
import { equalBytes, toHex } from "../../sdk/bytes.js";
import type { PublicKey } from "../../sdk/keys.js";
import { verifyConsistency } from "../../sdk/merkle.js";
import { verifyReceipt } from "../../sdk/receipt.js";
import { isTreatyError } from "../../sdk/errors.js";
import { verifySignature } from "../../runtime/crypto.js";
import { decodeEntry } from "../../runtime/ledger/entry.js";
import { nodeHasher } from "../../runtime/ledger/ledger.js";
import { evidenceOf } from "./evidence.js";
import { bodyDigest, decodeBody, decodeFile, invalid, type SnapshotBody } from "./format.js";

/** A checked snapshot: its body (private part still sealed) and what proves it. */
export interface VerifiedSnapshot {
  readonly body: SnapshotBody;
  readonly digest: Uint8Array;
  /** txid of the evidence transaction and of the signature that covers it. */
  readonly evidenceTxid: string;
  readonly signedBy: string;
}

/** The root of a tree from its RFC 9162 compact range (largest subtree first). */
export function frontierRoot(frontier: readonly Uint8Array[]): Uint8Array {
  if (frontier.length === 0) return nodeHasher.empty();
  let root = frontier[frontier.length - 1]!;
  for (let i = frontier.length - 2; i >= 0; i--) root = nodeHasher.node(frontier[i]!, root);
  return root;
}

/**
 * Checks `bytes` (see the module comment). `serviceKeys` are the pinned identity and, after
 * disaster recoveries, the earlier ones; the receipt must verify against one of them. Throws
 * TreatyError SnapshotInvalid naming what failed.
 */
export function verifySnapshot(bytes: Uint8Array, serviceKeys: readonly PublicKey[]): VerifiedSnapshot {
  const { body: bodyBytes, evidence } = decodeFile(bytes);
  const body = decodeBody(bodyBytes);
  if (evidence === null) throw invalid(`seqno ${body.seqno}: its evidence is not committed yet (no receipt)`);
  const digest = bodyDigest(bodyBytes);
  let verified: ReturnType<typeof verifyReceipt> | undefined;
  let why = "no pinned service key";
  for (const key of serviceKeys) {
    try {
      verified = verifyReceipt(evidence.receipt, key, { hasher: nodeHasher, verify: verifySignature });
      break;
    } catch (err) {
      if (!isTreatyError(err, "ReceiptInvalid")) throw err;
      why = err.message;
    }
  }
  if (verified === undefined)
    throw invalid(`evidence receipt does not verify against the pinned service identity (${why})`);
  let entry: ReturnType<typeof decodeEntry>;
  try {
    entry = decodeEntry(evidence.entry, verified.seqno);
  } catch (err) {
    throw invalid(`evidence entry: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!equalBytes(entry.digest, verified.entryDigest) || entry.header.view !== verified.view)
    throw invalid("evidence entry is not the transaction the receipt proves");
  const record = evidenceOf(entry);
  if (record === undefined) throw invalid(`evidence entry ${verified.txid} records no snapshot evidence`);
  if (record.seqno !== body.seqno)
    throw invalid(`body.seqno: ${body.seqno}, but the evidence is for seqno ${record.seqno}`);
  if (!equalBytes(record.digest, digest))
    throw invalid(
      `body digest ${toHex(digest)} differs from the evidence's ${toHex(record.digest)} (altered bytes)`,
    );
  if (!(verified.seqno > body.seqno && verified.treeSize >= body.seqno))
    throw invalid("evidence must come after the snapshot's seqno");
  if (
    !verifyConsistency(
      body.seqno,
      verified.treeSize,
      frontierRoot(body.frontier),
      verified.root,
      evidence.consistency,
      nodeHasher,
    )
  ) {
    throw invalid("body.frontier is not consistent with the signed root of the evidence's signature");
  }
  return { body, digest, evidenceTxid: verified.txid, signedBy: verified.signedBy };
}
