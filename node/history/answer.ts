/**
 * The HTTP side of a historical query: `POST /app/<contract>/<readonly method>?at=<txid>` answers
 * `{result, txid, status: "Committed", events, receipt}`, where `receipt` is the receipt of `txid`
 * (sdk/receipt.ts), so the answer names a state the ledger provably holds.
 */
import { TreatyError } from "../../sdk/errors.js";
import { parseTxId, type Receipt } from "../../sdk/receipt.js";
import type { Ledger } from "../../runtime/ledger/ledger.js";
import type { ExecCall } from "../execution/protocol.js";
import type { HistoryReads } from "./index.js";

export interface HistoricalAnswer {
  readonly result: unknown;
  readonly txid: string;
  readonly status: "Committed";
  readonly events: readonly { readonly name: string; readonly data: unknown }[];
  readonly receipt: Receipt;
}

/**
 * Runs `call` at committed txid `at`. Throws InvalidArgs for a malformed txid, TxNotCommitted
 * above the commit point, TxNotFound when `at` is not this ledger's transaction at that seqno,
 * and what `HistoryReads.read` throws.
 */
export async function historicalAnswer(
  history: HistoryReads,
  ledger: Ledger,
  commitSeqno: number,
  call: ExecCall,
  at: string,
): Promise<HistoricalAnswer> {
  let txid: { view: number; seqno: number };
  try {
    txid = parseTxId(at);
  } catch {
    throw new TreatyError(
      "InvalidArgs",
      `at: expected a txid <view>.<seqno>, got ${JSON.stringify(at.slice(0, 80))}`,
    );
  }
  if (txid.seqno > commitSeqno)
    throw new TreatyError("TxNotCommitted", `at: ${at} is not committed on this node`);
  const record = ledger.get(txid.seqno);
  if (record === undefined || record.view !== txid.view)
    throw new TreatyError("TxNotFound", `at: ${at} is not a transaction of this ledger`);
  const outcome = await history.read(call, txid.seqno);
  if (!outcome.ok) throw new TreatyError(outcome.error.code, outcome.error.message);
  return {
    result: outcome.result,
    txid: at,
    status: "Committed",
    events: outcome.events,
    receipt: ledger.receipt(at, commitSeqno),
  };
}
