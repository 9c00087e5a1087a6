/**
 * What the console's explorer lists, kept apart from node/routes.ts:
 *
 *   GET /node/transactions?limit=<1..100>   → {lastSeqno, commitSeqno, transactions: [{txid, kind, status, timeMs}]}
 *
 * The latest entries of this node's ledger, newest first. Only what any client can already learn
 * from /node/tx and receipts is listed: the txid, the entry kind, its commit status and the
 * executing node's clock. Contract, method and caller stay out: they are another caller's
 * business.
 */
import { TreatyError } from "../../sdk/errors.js";
import { formatTxId } from "../../sdk/receipt.js";
import type { TreatyNode } from "../service.js";
import type { Router } from "./server.js";

export const MAX_LISTED_TRANSACTIONS = 100;
const DEFAULT_LISTED_TRANSACTIONS = 20;

export function addExplorerRoutes(router: Router, node: TreatyNode): Router {
  return router.add("GET", "/node/transactions", (req) => {
    const limit = parseLimit(req.query.get("limit"));
    const commitSeqno = node.committedSeqno;
    const lastSeqno = node.ledger.lastSeqno;
    const transactions = [];
    for (let seqno = lastSeqno; seqno >= 1 && transactions.length < limit; seqno--) {
      const entry = node.ledger.entry(seqno);
      if (entry === undefined) break; // older entries are no longer on this node
      const { view, kind, meta } = entry.header;
      transactions.push({
        txid: formatTxId(view, seqno),
        kind,
        status: node.txStatus(view, seqno),
        timeMs: meta.timeMs,
      });
    }
    return { body: { lastSeqno, commitSeqno, transactions } };
  });
}

function parseLimit(value: string | null): number {
  if (value === null) return DEFAULT_LISTED_TRANSACTIONS;
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > MAX_LISTED_TRANSACTIONS) {
    throw new TreatyError(
      "MalformedRequest",
      `limit: expected an integer from 1 to ${MAX_LISTED_TRANSACTIONS}, got ${JSON.stringify(value.slice(0, 40))}`,
    );
  }
  return limit;
}
