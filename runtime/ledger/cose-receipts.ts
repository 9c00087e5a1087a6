/**
 * COSE receipts on the node (sdk/cose-receipt.ts has the format). The JSON receipt is built first
 * (same checks: committed, covered by a committed signature, not rolled back); then the service
 * identity key signs the root that signature transaction signed, with the protected header of the
 * COSE profile. Ed25519 is deterministic, so the same txid always gives the same bytes.
 */
import { fromHex } from "../../sdk/bytes.js";
import { coseProtectedHeader, coseSigStructure, encodeCoseReceipt } from "../../sdk/cose-receipt.js";
import type { KeyPair } from "../../sdk/keys.js";
import { formatTxId } from "../../sdk/receipt.js";
import { buildReceipt, type ReceiptSource } from "./receipts.js";
import { signFast } from "./signature.js";

/**
 * The COSE receipt of `txid`, signed by `serviceKey`. Throws what `buildReceipt` throws
 * (MalformedRequest, TxNotFound, TxNotCommitted).
 */
export function buildCoseReceipt(
  source: ReceiptSource,
  txid: string,
  committedSeqno: number,
  serviceKey: KeyPair,
): Uint8Array {
  const receipt = buildReceipt(source, txid, committedSeqno);
  const root = fromHex(receipt.signature.root, "root");
  const protectedHeader = coseProtectedHeader({
    serviceKey,
    signatureTxid: formatTxId(receipt.signature.view, receipt.signature.seqno),
    signedAtMs: receipt.signature.timeMs,
  });
  return encodeCoseReceipt({
    protectedHeader,
    leaf: {
      view: receipt.leaf.view,
      seqno: receipt.leaf.seqno,
      kind: receipt.leaf.kind,
      entryDigest: fromHex(receipt.leaf.entryDigest, "entryDigest"),
      requestDigest:
        receipt.leaf.requestDigest === null ? null : fromHex(receipt.leaf.requestDigest, "requestDigest"),
      claimsDigest:
        receipt.leaf.claimsDigest === undefined ? null : fromHex(receipt.leaf.claimsDigest, "claimsDigest"),
    },
    treeSize: receipt.signature.treeSize,
    path: receipt.proof.map((h) => fromHex(h, "proof")),
    signature: signFast(serviceKey, coseSigStructure(protectedHeader, root)),
  });
}
