/**
 * Building receipts on the node: for a committed txid covered by a committed signature, the
 * entry's leaf fields, its inclusion path in the tree the signature signed, the signed root, and
 * the signing node's key and endorsement, all as the JSON `Receipt` that `sdk/receipt.ts`
 * verifies offline. The commit index is consensus's knowledge, so callers hand it in.
 */
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { MerkleTree } from "./merkle-tree.js";
import { formatTxId, parseTxId, type Receipt } from "../../sdk/receipt.js";
import { decodeEntry, leafFields } from "./entry.js";
import { decodeSignatureRecord } from "./signature.js";
import type { LedgerRecord } from "./store.js";

/** What a receipt needs from the ledger (the `Ledger` class provides it). */
export interface ReceiptSource {
  readonly lastSeqno: number;
  get(seqno: number): LedgerRecord | undefined;
  /** First signature entry with a seqno greater than `seqno`. */
  signatureAfter(seqno: number): number | undefined;
  readonly tree: Pick<MerkleTree, "inclusionProof">;
}

/**
 * Builds the receipt for `txid`. Throws TreatyError MalformedRequest (txid syntax), TxNotFound
 * (no entry at that seqno, or one from another view: the txid was rolled back), TxNotCommitted
 * (seqno beyond `committedSeqno`, or no signature at or before `committedSeqno` covers it yet).
 * Every error carries `details.seqno`.
 */
export function buildReceipt(source: ReceiptSource, txid: string, committedSeqno: number): Receipt {
  const { view, seqno } = parseTxId(txid);
  const record = source.get(seqno);
  if (record === undefined)
    throw new TreatyError("TxNotFound", `txid ${txid}: no entry at seqno ${seqno}`, { seqno, txid });
  if (record.view !== view) {
    throw new TreatyError(
      "TxNotFound",
      `txid ${txid}: seqno ${seqno} holds ${formatTxId(record.view, seqno)} (the transaction was rolled back)`,
      {
        seqno,
        txid,
      },
    );
  }
  if (seqno > committedSeqno) {
    throw new TreatyError(
      "TxNotCommitted",
      `txid ${txid}: not committed yet (committed up to seqno ${committedSeqno})`,
      { seqno, txid },
    );
  }
  const signatureSeqno = source.signatureAfter(seqno);
  if (signatureSeqno === undefined || signatureSeqno > committedSeqno) {
    throw new TreatyError(
      "TxNotCommitted",
      `txid ${txid}: no committed signature covers seqno ${seqno} yet`,
      { seqno, txid },
    );
  }
  const leaf = leafFields(decodeEntry(record.bytes, seqno));
  const signatureRecord = source.get(signatureSeqno)!;
  const signatureEntry = decodeEntry(signatureRecord.bytes, signatureSeqno);
  const signature = decodeSignatureRecord(signatureEntry.signatureBytes!, signatureSeqno);
  const proof = source.tree.inclusionProof(seqno - 1, signature.treeSize);
  return {
    version: 1,
    txid: formatTxId(view, seqno),
    leaf: {
      view: leaf.view,
      seqno: leaf.seqno,
      kind: leaf.kind,
      entryDigest: toHex(leaf.entryDigest),
      // Leaf data writes an absent digest as zeros; receipts write it as null.
      requestDigest:
        leaf.requestDigest === null || leaf.requestDigest.every((b) => b === 0)
          ? null
          : toHex(leaf.requestDigest),
      ...(leaf.claimsDigest != null && { claimsDigest: toHex(leaf.claimsDigest) }),
    },
    proof: proof.map(toHex),
    signature: {
      view: signatureEntry.header.view,
      seqno: signatureSeqno,
      treeSize: signature.treeSize,
      root: toHex(signature.root),
      timeMs: signatureEntry.header.meta.timeMs,
      signature: toHex(signature.signature),
    },
    node: {
      id: signature.nodeId,
      curve: signature.curve,
      publicKey: toHex(signature.publicKey),
      endorsement: {
        validFromMs: signature.endorsement.validFromMs,
        validToMs: signature.endorsement.validToMs,
        signature: toHex(signature.endorsement.signature),
      },
    },
  };
}
