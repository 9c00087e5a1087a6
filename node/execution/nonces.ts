/**
 * Replay protection inside the transaction. Every signed call's nonce is recorded in the private
 * internal map `treaty.nonces` (key `<callerId>:<nonce>`, value JSON `{txid, timeMs}`) by the
 * same transaction that runs the call, before the contract runs. So:
 * - a nonce is consumed exactly when its call commits: a failed call abandons its transaction,
 *   and the caller may retry with the same nonce;
 * - followers learn executed nonces from the write set, and a new leader refuses them too;
 * - contracts cannot reach the map: their maps are always `<contract>.<name>`, and `treaty` is a
 *   reserved contract name.
 */
import type { KvTx } from "../../runtime/kv/types.js";
import { INTERNAL, readTableValue, tableKey, tableValue } from "../gov/tables.js";

/** The stored record of an executed nonce. */
export interface NonceRecord {
  /** The transaction that consumed the nonce. */
  readonly txid: string;
  /** The recorded time of that transaction, ms since the epoch. */
  readonly timeMs: number;
}

/** The key of `nonce` for `callerId` in `treaty.nonces`. */
export function nonceKey(callerId: string, nonce: string): Uint8Array {
  return tableKey(`${callerId}:${nonce}`);
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

/**
 * Records `nonce` for `callerId` as consumed by `record.txid` in `tx`. Throws the store's
 * TreatyError (`KeyTooLarge`) when caller id and nonce together exceed the store's key cap.
 */
export function recordNonce(tx: KvTx, callerId: string, nonce: string, record: NonceRecord): void {
  tx.set(INTERNAL.nonces, nonceKey(callerId, nonce), tableValue(record));
}

/** Human-readable form of a nonce for error messages (bounded, so hostile nonces stay small). */
export function describeNonce(nonce: string): string {
  const shown = nonce.length > 64 ? `${nonce.slice(0, 64)}...` : nonce;
  return JSON.stringify(shown);
}
