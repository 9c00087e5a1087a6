/**
 * Replay protection inside the transaction. Every signed call is recorded as ONE row of the
 * private internal map `treaty.nonceLog` by the same transaction that runs the call, before the
 * contract runs. The row's key is computed from the signed request alone:
 *
 *   key = createdMs (8 bytes, big-endian) ‖ the first 16 bytes of
 *         SHA-256(u32be(UTF-16 length of callerId) ‖ callerId as UTF-16LE ‖ nonce as UTF-16LE)
 *
 * and its value is the consuming transaction: `timeMs` (float64, big-endian) ‖ txid (UTF-8).
 * So:
 * - a request is identified by (caller, createdMs, nonce), all three signed (or, for a bearer
 *   request, bound to the token's caller): a replay of the same request computes the same key
 *   and is refused (`Replay`, with the txid that consumed it). A request re-signed with the same
 *   nonce and another `createdMs` is a different request and runs (before this layout it was a
 *   `Replay`): only the key's holder can make one, so no one else can run a request twice.
 * - the digest's input is unambiguous: the caller id's length comes first, and UTF-16 code units
 *   map one-to-one onto bytes (UTF-8 would map every lone surrogate to U+FFFD).
 * - 16 bytes of digest: a replay always matches exactly; a false match only refuses a call.
 *   Making a victim's future request look used means finding, under one's own caller id, a
 *   nonce whose digest matches the victim's at the same `createdMs` ms: a second preimage of 128
 *   bits (2^128 work), or a guess of the victim's unknown (random) nonce. The birthday bound
 *   (2^64) only lets one caller collide two of its own requests, refusing the second. Honest
 *   calls collide with probability below n²/2^129 for n requests in one ms.
 * - a nonce is consumed exactly when its call commits: a failed call abandons its transaction,
 *   and the caller may retry with the same request;
 * - followers learn executed nonces from the write set, and a new leader refuses them too;
 * - contracts cannot reach the map: their maps are always `<contract>.<name>`, and `treaty` is a
 *   reserved contract name.
 *
 * The table stays bounded: a nonce is only needed while a request carrying it could still be
 * admitted. Key order is time order, so a prune pass (`pruneNonces`) is a bounded range scan of
 * this one map from its start: it forgets up to `NONCE_PRUNE_MAX` nonces created more than the
 * retention before the call's recorded time, oldest first, one delete each, and raises the horizon
 * (`treaty.nonceHorizon`: every nonce created at or before `throughMs` may be forgotten). A call
 * created at or before the horizon is refused (`StaleRequest`) inside the transaction, so a
 * forgotten nonce can never be replayed, whatever the admitting node's clock or freshness window.
 * Pruning is decided by the leader and replicated through the write set like any other write:
 * deterministic by construction. A pass rides on a call's transaction after the call ran, and
 * forgets only what fits beside the call's writes under MAX_TX_WRITE_BYTES: whether a pass is due
 * never changes a call's outcome.
 *
 * The legacy layout (before session 20; ledgers and snapshots written before, leaders of the
 * previous version during a rolling upgrade, and this version's leaders during one, below, hold
 * it): two rows per call, `treaty.nonces` (key `<callerId>:<nonce>`, value JSON `{txid, timeMs}`)
 * and `treaty.nonceExpiry` (key `<15-digit createdMs>:<callerId>:<nonce>`, empty value). While
 * those maps hold rows the check also looks a call up there (`findLegacyNonce`), and passes forget
 * their rows too, oldest first across both layouts, until they are empty; then they cost nothing
 * (the engine knows them empty).
 *
 * During a rolling upgrade the leader writes the legacy rows too (`recordLegacyNonce`), byte for
 * byte as the previous version wrote them and in the same transaction as the new row, while a
 * node record that is not retired (pending, trusted, retiring: any of them may come to lead)
 * lacks the `nonceLog` announcement (node/gov/tables.ts NODE_FEATURES) and presents another code
 * measurement than the leader's own (`legacyNonceReaders`): a node of the previous version reads
 * only the legacy maps, so without them a request a new leader ran could run again once an old
 * node leads. While the engine writes them it also looks calls up there, so a nonce is then
 * refused whatever `createdMs` comes with it, as the previous version refused it (a second
 * request with the nonce would otherwise overwrite the first's `treaty.nonces` row, which the
 * pass forgetting the first would then delete). Once no such record is left, only the new row is
 * written and the legacy rows drain through the passes.
 *
 * A pass is a range scan over the overlay and the store, so the leader does not run one per call:
 * a pass reports when the oldest nonce it kept was created, and the engine runs the next pass only
 * once that nonce has been expired for `NONCE_PRUNE_SLACK_MS` (or at once when the pass stopped
 * at its bound). Which calls prune changes nothing for replay protection (the horizon alone
 * decides what may be forgotten); it bounds the table at one retention period of nonces plus
 * `NONCE_PRUNE_SLACK_MS` of expired ones, and a backlog drains `NONCE_PRUNE_MAX` per call.
 */
import { assert } from "../../sdk/assert.js";
import { getU64, setU64BE, utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { sha256 } from "../../runtime/crypto.js";
import type { KvTx } from "../../runtime/kv/types.js";
import { WRITE_OVERHEAD_BYTES } from "../../runtime/sandbox/limits.js";
import {
  announces,
  GOV,
  INTERNAL,
  NODE_FEATURES,
  type NodeRecord,
  readTableValue,
  SINGLETON_KEY,
  tableKey,
  tableValue,
} from "../gov/tables.js";

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

/** Bytes of the caller-and-nonce digest in a `treaty.nonceLog` key (see the module comment). */
export const NONCE_DIGEST_BYTES = 16;

/** Bytes of a `treaty.nonceLog` key: `createdMs` (u64 big-endian), then the digest. */
export const NONCE_KEY_BYTES = 8 + NONCE_DIGEST_BYTES;

/** Bytes of a `treaty.nonceLog` value before the txid: `timeMs` as a float64, big-endian. */
const TIME_BYTES = 8;

/** Digits of the zero-padded `createdMs` prefix of legacy `treaty.nonceExpiry` keys. */
const LEGACY_TIME_DIGITS = 15;

/**
 * The key of the request (`callerId`, `createdMs`, `nonce`) in `treaty.nonceLog`. Throws
 * TreatyError `MalformedRequest` when `createdMs` is not a non-negative safe integer (admission
 * refuses such requests already; this keeps the key's time order exact whatever reaches it).
 */
export function nonceKey(callerId: string, nonce: string, createdMs: number): Uint8Array {
  if (!Number.isSafeInteger(createdMs) || createdMs < 0)
    throw new TreatyError(
      "MalformedRequest",
      "body.createdMs: expected a non-negative integer (ms since the epoch)",
    );
  const input = Buffer.allocUnsafe(4 + 2 * (callerId.length + nonce.length));
  input.writeUInt32BE(callerId.length, 0);
  input.write(callerId, 4, "utf16le");
  input.write(nonce, 4 + 2 * callerId.length, "utf16le");
  const key = new Uint8Array(NONCE_KEY_BYTES);
  setU64BE(key, 0, createdMs);
  key.set(sha256(input).subarray(0, NONCE_DIGEST_BYTES), 8);
  return key;
}

/** The `createdMs` a `treaty.nonceLog` key starts with. */
export function nonceKeyCreatedMs(key: Uint8Array): number {
  return getU64(new DataView(key.buffer, key.byteOffset, key.byteLength), 0);
}

/** The first `treaty.nonceLog` key of the nonces created at `ms` (a scan bound). */
function timeKey(ms: number): Uint8Array {
  const key = new Uint8Array(8);
  setU64BE(key, 0, ms);
  return key;
}

/** The stored value of a nonce record in `treaty.nonceLog`: `timeMs` (float64 BE) ‖ txid. */
export function nonceValue(record: NonceRecord): Uint8Array {
  const txid = utf8.encode(record.txid);
  const value = new Uint8Array(TIME_BYTES + txid.length);
  new DataView(value.buffer).setFloat64(0, record.timeMs);
  value.set(txid, TIME_BYTES);
  return value;
}

/** A txid as the engine makes them: `<view>.<seqno>`. */
const TXID = /^\d{1,16}\.\d{1,16}$/;

/**
 * The record a `treaty.nonceLog` value holds. A value that does not hold one (too short, or not a
 * txid: say a value a node of the previous version sealed at rest, not knowing the map is kept
 * in clear) is still a consumed nonce: its txid is then reported as unknown rather than letting
 * the call through.
 */
export function readNonceValue(value: Uint8Array): NonceRecord {
  if (value.length < TIME_BYTES) return { txid: "unknown", timeMs: 0 };
  // Latin-1 maps every byte to one character, so bytes that are not UTF-8 fail the test too.
  const txid = Buffer.from(value.buffer, value.byteOffset + TIME_BYTES, value.length - TIME_BYTES).toString(
    "latin1",
  );
  if (!TXID.test(txid)) return { txid: "unknown", timeMs: 0 };
  const timeMs = new DataView(value.buffer, value.byteOffset, value.byteLength).getFloat64(0);
  return { txid, timeMs };
}

/** The record of the request whose `nonceKey` is `key` if it was already consumed, else undefined. */
export function findNonce(tx: KvTx, key: Uint8Array): NonceRecord | undefined {
  const stored = tx.get(INTERNAL.nonceLog, key);
  return stored === undefined ? undefined : readNonceValue(stored);
}

/**
 * Records the request whose `nonceKey` is `key` as consumed by `record.txid` in `tx` (the tx may
 * keep `key`: the caller hands it over and does not use it again).
 */
export function recordNonce(tx: KvTx, key: Uint8Array, record: NonceRecord): void {
  const value = nonceValue(record);
  if (tx.setOwned === undefined) tx.set(INTERNAL.nonceLog, key, value);
  // Both arrays were made for this row alone, so the tx may keep them instead of copying them.
  else tx.setOwned(INTERNAL.nonceLog, key, value);
}

/** The key of `nonce` for `callerId` in the legacy `treaty.nonces`. */
export function legacyNonceKey(callerId: string, nonce: string): Uint8Array {
  return tableKey(`${callerId}:${nonce}`);
}

/** The key of a nonce created at `createdMs` in the legacy `treaty.nonceExpiry`. */
export function legacyNonceExpiryKey(createdMs: number, callerId: string, nonce: string): Uint8Array {
  return tableKey(`${legacyTimePrefix(createdMs)}:${callerId}:${nonce}`);
}

function legacyTimePrefix(ms: number): string {
  return String(ms).padStart(LEGACY_TIME_DIGITS, "0");
}

/**
 * Records, in `tx`, the request (`callerId`, `nonce`, `createdMs`) as consumed by `record.txid` in
 * the legacy layout, byte for byte as the previous version did (29e9323 `recordNonce`): in
 * `treaty.nonces` the key `<callerId>:<nonce>` with the value `{"txid":…,"timeMs":…}` (JSON, the
 * two fields in that order), and in `treaty.nonceExpiry` the key
 * `<15-digit createdMs>:<callerId>:<nonce>` with an empty value. Throws the store's TreatyError
 * (`KeyTooLarge`) when caller id and nonce together exceed the store's key cap, as the previous
 * version did.
 */
export function recordLegacyNonce(
  tx: KvTx,
  callerId: string,
  nonce: string,
  createdMs: number,
  record: NonceRecord,
): void {
  const key = legacyNonceKey(callerId, nonce);
  const value = utf8.encode(
    `{"txid":${JSON.stringify(record.txid)},"timeMs":${JSON.stringify(record.timeMs)}}`,
  );
  const expiryKey = legacyNonceExpiryKey(createdMs, callerId, nonce);
  if (tx.setOwned === undefined) {
    tx.set(INTERNAL.nonces, key, value);
    tx.set(INTERNAL.nonceExpiry, expiryKey, new Uint8Array(0));
    return;
  }
  // Every array here was made for these rows alone, so the tx may keep them instead of copying.
  tx.setOwned(INTERNAL.nonces, key, value);
  tx.setOwned(INTERNAL.nonceExpiry, expiryKey, new Uint8Array(0));
}

/**
 * Whether a node record in `public:gov.nodes` that is not retired may belong to a node that reads
 * only the legacy maps at the transaction's read version: it lacks the `nonceLog` announcement
 * and does not present `ownMeasurement` (the measurement of the code asking, whose nodes read
 * `treaty.nonceLog` whatever their records say: a node this code runs on that a leader of the
 * previous version admitted was recorded without the announcement). Then the leader writes the
 * legacy rows too (see the module comment). A record that does not parse counts as such a node.
 */
export function legacyNonceReaders(tx: KvTx, ownMeasurement: string | null): boolean {
  for (const [, value] of tx.range(GOV.nodes)) {
    let record: Partial<NodeRecord> | null;
    try {
      record = readTableValue<Partial<NodeRecord> | null>(value);
    } catch {
      return true;
    }
    if (record?.status === "retired" || announces(record, NODE_FEATURES.nonceLog)) continue;
    if (ownMeasurement === null || record?.measurement !== ownMeasurement) return true;
  }
  return false;
}

/** Whether either legacy map holds a row at the transaction's read version. */
export function hasLegacyNonces(tx: KvTx): boolean {
  for (const map of [INTERNAL.nonces, INTERNAL.nonceExpiry]) {
    for (const _ of tx.range(map, { limit: 1 })) return true;
  }
  return false;
}

/**
 * The record of `nonce` for `callerId` in the legacy `treaty.nonces`, else undefined. A record that
 * does not parse is still a consumed nonce (txid unknown).
 */
export function findLegacyNonce(tx: KvTx, callerId: string, nonce: string): NonceRecord | undefined {
  const stored = tx.get(INTERNAL.nonces, legacyNonceKey(callerId, nonce));
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

/** What a prune pass did. */
export interface PruneOutcome {
  /** Nonces forgotten (a legacy nonce's two rows count once). */
  readonly forgotten: number;
  /** Legacy nonces among them. */
  readonly forgottenLegacy: number;
  /**
   * `createdMs` of the oldest nonce left (Infinity: none left), or null when the pass stopped at
   * its bound (count or bytes) and more may have expired.
   */
  readonly oldestKeptMs: number | null;
  /**
   * Whether no nonce created before the horizon's ms is left (the horizon after the pass): then
   * the next pass may scan from the horizon (PruneBounds.fromHorizon).
   */
  readonly clean: boolean;
}

/** Where and how far a prune pass may go. */
export interface PruneBounds {
  /**
   * Scan each map from the nonces created at `max(horizon, 0)` (true) or from its start (false).
   * Only a pass that forgets oldest first across both layouts keeps every row below the
   * horizon's ms gone, so the engine asks for `false` until it has run a pass itself since it
   * last applied someone else's (a leader of the previous version prunes only the legacy maps).
   */
  readonly fromHorizon: boolean;
  /** Whether the legacy maps may hold rows (false: they are not scanned). */
  readonly legacy: boolean;
  /** Bytes the pass's writes may add to the transaction's write set (WRITE_OVERHEAD_BYTES each). */
  readonly budgetBytes: number;
  /** Nonces forgotten at most (default NONCE_PRUNE_MAX). */
  readonly max?: number;
}

/** A nonce a pass may forget: its key(s) and when it was created. */
interface Expiring {
  readonly createdMs: number;
  readonly key: Uint8Array;
  /** Legacy rows only: the `treaty.nonces` key beside the `treaty.nonceExpiry` one in `key`. */
  readonly legacyKey: Uint8Array | null;
}

/** Bytes the horizon's row adds to a write set, at most (a 16-digit throughMs). */
const HORIZON_WRITE_BYTES =
  utf8.encode(INTERNAL.nonceHorizon).length +
  utf8.encode(SINGLETON_KEY).length +
  tableValue({ throughMs: Number.MAX_SAFE_INTEGER }).length +
  WRITE_OVERHEAD_BYTES;

/**
 * Forgets, in `tx`, up to `max` nonces created before `beforeMs`, oldest first across both
 * layouts, as far as `bounds.budgetBytes` allows, and raises the horizon (`horizon`: its value at
 * the transaction's read version, `nonceHorizon(tx)`) over them.
 */
export function pruneNonces(tx: KvTx, beforeMs: number, horizon: number, bounds: PruneBounds): PruneOutcome {
  const max = bounds.max ?? NONCE_PRUNE_MAX;
  assert(Number.isSafeInteger(max) && max > 0, "pruneNonces: max is a positive integer");
  // Rows at or before the horizon's own ms may remain (a pass can stop inside one ms); none
  // below it do (see PruneBounds.fromHorizon), so the scan may start there and skip nothing
  // else. One row more than `max` per map says whether the pass stopped at its bound, or where
  // the oldest kept nonce is.
  const fromMs = bounds.fromHorizon ? Math.max(horizon, 0) : 0;
  const current = scanNonceLog(tx, fromMs, beforeMs, max + 1);
  const legacy = bounds.legacy ? scanLegacy(tx, fromMs, beforeMs, max + 1) : [];
  let budget = bounds.budgetBytes - HORIZON_WRITE_BYTES;
  let logNamed = false;
  let legacyNamed = false;
  const forget: Expiring[] = [];
  let i = 0;
  let j = 0;
  let stopped = false;
  for (;;) {
    const a = current[i];
    const b = legacy[j];
    const next = a === undefined ? b : b === undefined || a.createdMs <= b.createdMs ? a : b;
    if (next === undefined || next.createdMs >= beforeMs) break;
    if (forget.length === max) {
      stopped = true;
      break;
    }
    const cost =
      next.legacyKey === null
        ? next.key.length + WRITE_OVERHEAD_BYTES + (logNamed ? 0 : INTERNAL.nonceLog.length)
        : next.key.length +
          next.legacyKey.length +
          2 * WRITE_OVERHEAD_BYTES +
          (legacyNamed ? 0 : INTERNAL.nonces.length + INTERNAL.nonceExpiry.length);
    if (cost > budget) {
      stopped = true;
      break;
    }
    budget -= cost;
    if (next.legacyKey === null) logNamed = true;
    else legacyNamed = true;
    forget.push(next);
    if (next === a) i++;
    else j++;
  }
  let through = horizon;
  let forgottenLegacy = 0;
  for (const nonce of forget) {
    if (nonce.legacyKey === null) tx.delete(INTERNAL.nonceLog, nonce.key);
    else {
      tx.delete(INTERNAL.nonceExpiry, nonce.key);
      tx.delete(INTERNAL.nonces, nonce.legacyKey);
      forgottenLegacy++;
    }
    through = Math.max(through, nonce.createdMs);
  }
  if (through > horizon) {
    tx.set(INTERNAL.nonceHorizon, tableKey(SINGLETON_KEY), tableValue({ throughMs: through }));
  }
  // The oldest nonce left: each list's next row, or the map's end when the list is used up (it
  // then held fewer rows than asked: a list of limit rows is never used up, max < limit).
  const oldestLeft = Math.min(
    current[i]?.createdMs ?? Number.POSITIVE_INFINITY,
    legacy[j]?.createdMs ?? Number.POSITIVE_INFINITY,
  );
  // Rows below the scan's start: none when it started at the horizon (the caller's word).
  const clean = oldestLeft >= through;
  return { forgotten: forget.length, forgottenLegacy, oldestKeptMs: stopped ? null : oldestLeft, clean };
}

/**
 * Up to `limit` rows of `treaty.nonceLog` from the nonces created at `fromMs`, ending early after
 * the first created at or after `beforeMs` (which the pass keeps).
 */
function scanNonceLog(tx: KvTx, fromMs: number, beforeMs: number, limit: number): Expiring[] {
  const rows: Expiring[] = [];
  for (const [key] of tx.range(INTERNAL.nonceLog, { from: timeKey(fromMs), limit })) {
    const createdMs = nonceKeyCreatedMs(key);
    rows.push({ createdMs, key, legacyKey: null });
    if (createdMs >= beforeMs) break;
  }
  return rows;
}

/** As scanNonceLog, over the legacy `treaty.nonceExpiry` (each row names its `treaty.nonces` key). */
function scanLegacy(tx: KvTx, fromMs: number, beforeMs: number, limit: number): Expiring[] {
  const rows: Expiring[] = [];
  const from = tableKey(legacyTimePrefix(fromMs));
  for (const [key] of tx.range(INTERNAL.nonceExpiry, { from, limit })) {
    const text = utf8.decode(key);
    const createdMs = Number(text.slice(0, LEGACY_TIME_DIGITS));
    rows.push({ createdMs, key, legacyKey: tableKey(text.slice(LEGACY_TIME_DIGITS + 1)) });
    if (createdMs >= beforeMs) break;
  }
  return rows;
}

/** Human-readable form of a nonce for error messages (bounded, so hostile nonces stay small). */
export function describeNonce(nonce: string): string {
  const shown = nonce.length > 64 ? `${nonce.slice(0, 64)}...` : nonce;
  return JSON.stringify(shown);
}
