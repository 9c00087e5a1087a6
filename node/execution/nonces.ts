/**
 * Replay protection inside the transaction. Every signed call's nonce is recorded in the private
 * internal map `treaty.nonces` (key `<callerId>:<nonce>`, value JSON `{txid, timeMs}`) by the
 * same transaction that runs the call, before the contract runs. So:
 * - a nonce is consumed exactly when its call commits: a failed call abandons its transaction,
 *   and the caller may retry with the same nonce;
 * - followers learn executed nonces from the write set, and a new leader refuses them too;
 * - contracts cannot reach the map: their maps are always `<contract>.<name>`, and `treaty` is a
 *   reserved contract name.
 *
 * The table stays bounded: a nonce is only needed while a request carrying it could still be
 * admitted. Each record also has a row in `treaty.nonceExpiry`, keyed by the request's
 * `createdMs` (zero-padded, so key order is time order). Every signed call, in its own
 * transaction, forgets up to `NONCE_PRUNE_PER_CALL` nonces created more than the retention before
 * the call's recorded time, oldest first, and raises the horizon (`treaty.nonceHorizon`: every
 * nonce created at or before `throughMs` may be forgotten). A call created at or before the
 * horizon is refused (`StaleRequest`) inside the transaction, so a forgotten nonce can never be
 * replayed, whatever the admitting node's clock or freshness window. Pruning is decided by the
 * leader and replicated through the write set like any other write: deterministic by
 * construction. Each call adds one record and removes up to `NONCE_PRUNE_PER_CALL` expired ones,
 * so the table holds the nonces of one retention period plus a shrinking backlog.
 */
import { assert } from "../../sdk/assert.js";
import { utf8 } from "../../sdk/bytes.js";
import type { KvTx } from "../../runtime/kv/types.js";
import { INTERNAL, readTableValue, SINGLETON_KEY, tableKey, tableValue } from "../gov/tables.js";

/** The stored record of an executed nonce. */
export interface NonceRecord {
  /** The transaction that consumed the nonce. */
  readonly txid: string;
  /** The recorded time of that transaction, ms since the epoch. */
  readonly timeMs: number;
}

/** `treaty.nonceHorizon`: nonces created at or before `throughMs` may have been forgotten. */
export interface NonceHorizon {
  readonly throughMs: number;
}

/** Expired nonces a signed call forgets in its transaction, at most. */
export const NONCE_PRUNE_PER_CALL = 4;

/** Digits of the zero-padded `createdMs` prefix of `treaty.nonceExpiry` keys (ms until year 33658). */
const TIME_DIGITS = 15;

/** The key of `nonce` for `callerId` in `treaty.nonces`. */
export function nonceKey(callerId: string, nonce: string): Uint8Array {
  return tableKey(`${callerId}:${nonce}`);
}

/** The key of a nonce created at `createdMs` in `treaty.nonceExpiry`: time order, then caller. */
export function nonceExpiryKey(createdMs: number, callerId: string, nonce: string): Uint8Array {
  return tableKey(`${timePrefix(createdMs)}:${callerId}:${nonce}`);
}

function timePrefix(ms: number): string {
  return String(ms).padStart(TIME_DIGITS, "0");
}

/**
 * The record of `nonce` for `callerId` if it was already consumed at the transaction's read
 * version, else undefined. A record that does not parse is still a consumed nonce: its txid is
 * then reported as unknown rather than letting the call through.
 */
export function findNonce(tx: KvTx, callerId: string, nonce: string): NonceRecord | undefined {
  const stored = tx.get(INTERNAL.nonces, nonceKey(callerId, nonce));
  if (stored === undefined) return undefined;
  try {
    const record = readTableValue<Partial<NonceRecord>>(stored);
    const txid = typeof record?.txid === "string" ? record.txid : "unknown";
    const timeMs = typeof record?.timeMs === "number" ? record.timeMs : 0;
    return { txid, timeMs };
  } catch {
    return { txid: "unknown", timeMs: 0 };
  }
}

/** The horizon at the transaction's read version (-1: nothing forgotten yet). */
export function nonceHorizon(tx: KvTx): number {
  const stored = tx.get(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY));
  if (stored === undefined) return -1;
  const record = readTableValue<Partial<NonceHorizon>>(stored);
  assert(
    typeof record?.throughMs === "number",
    "treaty.nonceHorizon holds {throughMs} (only the node writes it)",
  );
  return record.throughMs;
}

/**
 * Records `nonce` for `callerId`, created at `createdMs`, as consumed by `record.txid` in `tx`.
 * Throws the store's TreatyError (`KeyTooLarge`) when caller id and nonce together exceed the
 * store's key cap.
 */
export function recordNonce(
  tx: KvTx,
  callerId: string,
  nonce: string,
  createdMs: number,
  record: NonceRecord,
): void {
  tx.set(INTERNAL.nonces, nonceKey(callerId, nonce), tableValue(record));
  tx.set(INTERNAL.nonceExpiry, nonceExpiryKey(createdMs, callerId, nonce), new Uint8Array(0));
}

/**
 * Forgets, in `tx`, up to `max` nonces created before `beforeMs`, oldest first, and raises the
 * horizon over them. Returns how many it forgot.
 */
export function pruneNonces(tx: KvTx, beforeMs: number, max = NONCE_PRUNE_PER_CALL): number {
  if (beforeMs <= 0) return 0;
  const horizon = nonceHorizon(tx);
  // Rows at or before the horizon's own ms may remain (a prune can stop inside one ms); none
  // below it do, so the scan starts there and skips nothing else.
  const from = tableKey(timePrefix(Math.max(horizon, 0)));
  const to = tableKey(timePrefix(beforeMs));
  const expired: Array<[Uint8Array, number, string]> = [];
  for (const [key] of tx.range(INTERNAL.nonceExpiry, { from, to, limit: max })) {
    const text = utf8.decode(key);
    const createdMs = Number(text.slice(0, TIME_DIGITS));
    expired.push([key, createdMs, text.slice(TIME_DIGITS + 1)]);
  }
  let through = horizon;
  for (const [key, createdMs, callerAndNonce] of expired) {
    tx.delete(INTERNAL.nonceExpiry, key);
    tx.delete(INTERNAL.nonces, tableKey(callerAndNonce));
    through = Math.max(through, createdMs);
  }
  if (through > horizon) {
    tx.set(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY), tableValue({ throughMs: through }));
  }
  return expired.length;
}

/** Human-readable form of a nonce for error messages (bounded, so hostile nonces stay small). */
export function describeNonce(nonce: string): string {
  const shown = nonce.length > 64 ? `${nonce.slice(0, 64)}...` : nonce;
  return JSON.stringify(shown);
}
