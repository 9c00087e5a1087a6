/**
 * Proof endpoints (issue 14), kept apart from node/routes.ts:
 *
 *   GET /node/consistency?from=<size>&to=<size>   → ConsistencyProof (sdk/consistency.ts)
 *   GET /node/receipt/cose?txid=v.s                → COSE_Sign1 receipt, application/cose
 *                                                    (sdk/cose-receipt.ts)
 *
 * Sizes are tree sizes that committed signature transactions signed (a receipt's
 * `signature.treeSize`, or `treeSize` of a head from an earlier proof).
 */
import { buildConsistencyProof, parseTreeSize } from "../../runtime/ledger/consistency.js";
import { toHex } from "../../sdk/bytes.js";
import { serviceEndorsementChain } from "../recovery/routes.js";
import type { TreatyNode } from "../service.js";
import type { Router } from "./server.js";

/** Media type of COSE receipts (RFC 9052). */
export const COSE_CONTENT_TYPE = "application/cose";

/** Adds the proof endpoints to `router`. */
export function addProofRoutes(router: Router, node: TreatyNode): Router {
  return router
    .add("GET", "/node/receipt/cose", (req) => ({
      raw: { contentType: COSE_CONTENT_TYPE, bytes: node.coseReceipt(req.query.get("txid") ?? "") },
    }))
    .add("GET", "/node/consistency", (req) => {
      const from = parseTreeSize(req.query.get("from"), "from");
      const to = parseTreeSize(req.query.get("to"), "to");
      const commit = node.committedSeqno;
      const proof = buildConsistencyProof(node.ledger, from, to, commit);
      const chain = serviceEndorsementChain(node.gov, toHex(node.serviceKey.publicKey));
      return { body: chain.length === 0 ? proof : { ...proof, serviceEndorsements: chain } };
    });
}
