/**
 * docs/receipts.md ("Using receipts"): fetch a receipt and verify it offline against the pinned
 * service key. test/docs/examples.test.ts runs it against a node.
 */
// #region verify
import { parsePublicKey, verifyReceipt } from "treaty/sdk";
// #endregion verify
import type { VerifiedReceipt } from "treaty/sdk";

export async function proveTransaction(
  nodeUrl: string,
  PINNED_SERVICE_KEY_HEX: string,
  txid: string,
  requestDigest: Uint8Array,
): Promise<VerifiedReceipt> {
  // #region verify
  const serviceKey = parsePublicKey("ed25519", PINNED_SERVICE_KEY_HEX);
  const receipt = await (await fetch(`${nodeUrl}/node/receipt?txid=${txid}`)).json();
  const proven = verifyReceipt(receipt, serviceKey, { txid, requestDigest });
  console.log(proven.kind, proven.signedBy, new Date(proven.signedAtMs));
  // #endregion verify
  return proven;
}
