/**
 * docs/integration.md ("Application claims"): whoever holds a certificate and the receipts of
 * the transaction that certified it checks that the receipts prove exactly that certificate.
 * test/node/claims.test.ts runs it.
 */
// #region check
import { sha256 } from "@noble/hashes/sha2.js";
import { type PublicKey, verifyCoseReceipt, verifyReceipt } from "treaty/sdk";

export function checkClaim(receipt: unknown, coseReceipt: Uint8Array, serviceKey: PublicKey, certificate: string) {
  const claimsDigest = sha256(new TextEncoder().encode(certificate));
  // Each throws ReceiptInvalid unless the transaction bound exactly this digest.
  verifyReceipt(receipt, serviceKey, { claimsDigest });
  verifyCoseReceipt(coseReceipt, serviceKey, { claimsDigest });
}
// #endregion check
