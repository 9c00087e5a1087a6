/**
 * How many Open proposals each member has (`public:gov.openProposals`: member id → count, a row
 * only while the count is positive). The engine refuses a member's proposal beyond
 * MAX_OPEN_PROPOSALS (`TooManyProposals`): every open proposal (up to 1 MiB of code each) stays in
 * the live tables of every node until decided, so one member must not be able to open them
 * without bound. A counter rather than a scan: proposal records carry their code, and a count
 * per call must not decode them. Only the proposal engine writes this table.
 */
import { assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import type { KvTx } from "../../runtime/kv/types.js";
import { GOV, readTableValue, tableKey, tableValue } from "./tables.js";

/** Most Open proposals one member may have at a time. */
export const MAX_OPEN_PROPOSALS = 20;

function openCount(tx: KvTx, member: string): number {
  const stored = tx.get(GOV.openProposals, tableKey(member));
  if (stored === undefined) return 0;
  const count = readTableValue<unknown>(stored);
  assert(Number.isSafeInteger(count) && (count as number) > 0, "public:gov.openProposals holds counts");
  return count as number;
}

function setCount(tx: KvTx, member: string, count: number): void {
  if (count > 0) tx.set(GOV.openProposals, tableKey(member), tableValue(count));
  else tx.delete(GOV.openProposals, tableKey(member));
}

/** Counts a new Open proposal of `member`; throws TooManyProposals at the cap. */
export function openedProposal(tx: KvTx, member: string): void {
  const count = openCount(tx, member);
  if (count >= MAX_OPEN_PROPOSALS)
    throw new TreatyError(
      "TooManyProposals",
      `governance: member ${member} has ${count} open proposals, the most a member may have: withdraw one or wait for one to be decided`,
    );
  setCount(tx, member, count + 1);
}

/**
 * A proposal of `member` left Open. Proposals opened before this table existed were never
 * counted, so a count already at zero stays there.
 */
export function closedProposal(tx: KvTx, member: string): void {
  setCount(tx, member, openCount(tx, member) - 1);
}
