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
 * `createdMs` (zero-padded, so key order is time order). A signed call's transaction may run a
 * prune pass (`pruneNonces`): it forgets up to `NONCE_PRUNE_MAX` nonces created more than the
 * retention before the call's recorded time, oldest first, and raises the horizon
 * (`treaty.nonceHorizon`: every nonce created at or before `throughMs` may be forgotten). A call
 * created at or before the horizon is refused (`StaleRequest`) inside the transaction, so a
 * forgotten nonce can never be replayed, whatever the admitting node's clock or freshness window.
 * Pruning is decided by the leader and replicated through the write set like any other write:
 * deterministic by construction.
 *
 * A pass is a range scan over the overlay and the store, so the leader does not run one per call:
 * a pass reports when the oldest nonce it kept was created, and the engine runs the next pass only
 * once that nonce has been expired for `NONCE_PRUNE_SLACK_MS` (or at once when the pass stopped
 * at its bound). Which calls prune changes nothing for replay protection (the horizon alone
 * decides what may be forgotten); it bounds the table at one retention period of nonces plus
 * `NONCE_PRUNE_SLACK_MS` of expired ones, and a backlog drains `NONCE_PRUNE_MAX` per call.
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

/** Expired nonces one prune pass forgets, at most (bounds the pass's share of a write set). */
export const NONCE_PRUNE_MAX = 64;

/** How long the oldest nonce may stay expired before a prune pass runs, ms (batches the passes). */
export const NONCE_PRUNE_SLACK_MS = 1_000;

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
export function findNonce(
  tx: KvTx,
  callerId: string,
  nonce: string,
  key: Uint8Array = nonceKey(callerId, nonce),
): NonceRecord | undefined {
  const stored = tx.get(INTERNAL.nonces, key);
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
 * Records `nonce` for `callerId`, created at `createdMs`, as consumed by `record.txid` in `tx`
 * (`key`: its `nonceKey`, when the caller has it already; the tx may keep that array, so the
 * caller hands it over and does not use it again). Throws the store's TreatyError
 * (`KeyTooLarge`) when caller id and nonce together exceed the store's key cap.
 */
export function recordNonce(
  tx: KvTx,
  callerId: string,
  nonce: string,
  createdMs: number,
  record: NonceRecord,
  key: Uint8Array = nonceKey(callerId, nonce),
): void {
  const value = nonceRecordValue(record);
  const expiryKey = nonceExpiryKey(createdMs, callerId, nonce);
  if (tx.setOwned === undefined) {
    tx.set(INTERNAL.nonces, key, value);
    tx.set(INTERNAL.nonceExpiry, expiryKey, new Uint8Array(0));
    return;
  }
  // Every array here was made for these two rows alone (`key` included: see above), so the tx
  // may keep them instead of copying them.
  tx.setOwned(INTERNAL.nonces, key, value);
  tx.setOwned(INTERNAL.nonceExpiry, expiryKey, new Uint8Array(0));
}

/**
 * The stored value of a nonce record: exactly `tableValue({txid, timeMs})` (JSON of the two fields
 * in that order), written out because every signed call stores one and the generic path builds
 * and walks an object for it.
 */
export function nonceRecordValue(record: NonceRecord): Uint8Array {
  return utf8.encode(`{"txid":${JSON.stringify(record.txid)},"timeMs":${JSON.stringify(record.timeMs)}}`);
}

/** What a prune pass did. */
export interface PruneOutcome {
  /** Nonces forgotten. */
  readonly forgotten: number;
  /**
   * `createdMs` of the oldest nonce left (Infinity: none left), or null when the pass stopped at
   * its bound and more may have expired.
   */
  readonly oldestKeptMs: number | null;
}

/**
 * Forgets, in `tx`, up to `max` nonces created before `beforeMs`, oldest first, and raises the
 * horizon (`horizon`: its value at the transaction's read version, `nonceHorizon(tx)`) over them.
 */
export function pruneNonces(
  tx: KvTx,
  beforeMs: number,
  horizon: number,
  max = NONCE_PRUNE_MAX,
): PruneOutcome {
  assert(Number.isSafeInteger(max) && max > 0, "pruneNonces: max is a positive integer");
  // Rows at or before the horizon's own ms may remain (a pass can stop inside one ms); none
  // below it do, so the scan starts there and skips nothing else. One row more than `max` says
  // whether the pass stopped at its bound, or where the oldest kept nonce is.
  const from = tableKey(timePrefix(Math.max(horizon, 0)));
  const expired: Array<[Uint8Array, number, string]> = [];
  let oldestKeptMs: number | null = Number.POSITIVE_INFINITY;
  for (const [key] of tx.range(INTERNAL.nonceExpiry, { from, limit: max + 1 })) {
    const text = utf8.decode(key);
    const createdMs = Number(text.slice(0, TIME_DIGITS));
    if (createdMs >= beforeMs) {
      oldestKeptMs = createdMs;
      break;
    }
    if (expired.length === max) {
      oldestKeptMs = null;
      break;
    }
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
  return { forgotten: expired.length, oldestKeptMs };
}

/** Human-readable form of a nonce for error messages (bounded, so hostile nonces stay small). */
export function describeNonce(nonce: string): string {
  const shown = nonce.length > 64 ? `${nonce.slice(0, 64)}...` : nonce;
  return JSON.stringify(shown);
}
