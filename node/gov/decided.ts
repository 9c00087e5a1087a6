/**
 * Retention of decided proposals. A proposal reaching a final state gets a row in
 * `public:gov.decided` keyed by its decision seqno (zero-padded, so key order is decision
 * order); once more than `keep` proposals are decided, the oldest leave `public:gov.proposals`,
 * `public:gov.ballots` and the index, in the same transaction as the decision that pushed them
 * out. The ledger keeps their whole history; the live tables (and every node's GovView) stay
 * bounded. Only the proposal engine writes these tables.
 * Row values are the proposal id (JSON), like every governance table's values.
 */
import { assert } from "../../sdk/assert.js";
import { utf8 } from "../../sdk/bytes.js";
import type { KvTx } from "../../runtime/kv/types.js";
import { GOV, readTableValue, SINGLETON_KEY, tableKey, tableValue } from "./tables.js";

const SEQNO_DIGITS = 16;

/** The `public:gov.decided` key of proposal `proposalId` decided at `seqno`. */
export function decidedKey(seqno: number, proposalId: string): Uint8Array {
  return tableKey(`${String(seqno).padStart(SEQNO_DIGITS, "0")}:${proposalId}`);
}

/** How many decided proposals the live tables hold at the transaction's read version. */
export function decidedCount(tx: KvTx): number {
  const stored = tx.get(GOV.decidedCount, tableKey(SINGLETON_KEY));
  if (stored === undefined) return 0;
  const count = readTableValue<unknown>(stored);
  assert(Number.isSafeInteger(count) && (count as number) >= 0, "public:gov.decidedCount is a count");
  return count as number;
}

/**
 * Records in `tx` that `proposalId` was decided at `seqno`, then drops the oldest decided
 * proposals (record, ballots, index row) beyond `keep`. Returns the ids it dropped.
 */
export function recordDecided(tx: KvTx, seqno: number, proposalId: string, keep: number): string[] {
  assert(Number.isSafeInteger(keep) && keep >= 1, "retention keeps at least one decided proposal");
  // Every gov table holds JSON (GovView parses each row): the row names the proposal.
  tx.set(GOV.decided, decidedKey(seqno, proposalId), tableValue(proposalId));
  let count = decidedCount(tx) + 1;
  const dropped: string[] = [];
  if (count > keep) {
    for (const [key] of tx.range(GOV.decided, { limit: count - keep })) {
      const id = utf8.decode(key).slice(SEQNO_DIGITS + 1);
      tx.delete(GOV.decided, key);
      tx.delete(GOV.proposals, tableKey(id));
      tx.delete(GOV.ballots, tableKey(id));
      dropped.push(id);
    }
    count -= dropped.length;
  }
  tx.set(GOV.decidedCount, tableKey(SINGLETON_KEY), tableValue(count));
  return dropped;
}
