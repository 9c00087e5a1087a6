/**
 * When a node snapshots (docs/snapshots.md, "When a node snapshots"): pure functions of the
 * ledger, so every node picks the same seqnos.
 *
 * A snapshot's work (reading the KV, sealing and hashing the body, writing the file) grows with
 * the state; at a fixed stride of entries its cost per write would grow with the state too, until
 * one snapshot ran into the next. So the stride grows with the state: it is `everyEntries` (and
 * the time period `everyMs`) while the newest snapshot recorded in the ledger (its evidence's
 * `bytes`) is at most `strideBytes`, and doubles each time that size doubles past it. Each
 * entry of a stride then carries at most `strideBytes / everyEntries` bytes of the snapshot that
 * set it (past the base stride, at least half that), whatever the state, and the ledger a restart
 * replays after the newest snapshot stays proportional to it.
 */

/** When to snapshot; see NodeConfig.snapshots. */
export interface SnapshotSchedule {
  readonly everyEntries: number;
  readonly everyMs: number;
  /** The body size up to which the stride is `everyEntries`; 0: the stride never grows. */
  readonly strideBytes: number;
}

/** The stride in effect: snapshot points lie past multiples of `entries` seqnos, or of `ms` of recorded time. */
export interface Stride {
  readonly entries: number;
  readonly ms: number;
}

/** Highest stride doubling: a body of `strideBytes × 2^20` bytes is far past anything a node holds. */
const MAX_DOUBLINGS = 20;

/**
 * The stride after a snapshot of `bytes` bytes (0: none recorded, or recorded by a node that did
 * not record sizes): `everyEntries` and `everyMs` doubled once per doubling of `bytes` past
 * `strideBytes` (the smallest `k` with `bytes <= strideBytes × 2^k`).
 */
export function strideAfter(schedule: SnapshotSchedule, bytes: number): Stride {
  let doublings = 0;
  if (schedule.strideBytes > 0) {
    while (doublings < MAX_DOUBLINGS && bytes > schedule.strideBytes * 2 ** doublings) doublings++;
  }
  const factor = 2 ** doublings;
  return { entries: schedule.everyEntries * factor, ms: schedule.everyMs * factor };
}

/** A signature: its seqno (0: none) and the time its header records (undefined: not known here). */
export interface SignatureAt {
  readonly seqno: number;
  readonly timeMs: number | undefined;
}

/**
 * Whether signature `at` is a snapshot point under `stride`, `previous` being the signature before
 * it: a multiple of `stride.entries` lies in `(previous, at]`, or `at`'s recorded time enters a new
 * period of `stride.ms` after `previous`'s.
 */
export function isSnapshotPoint(stride: Stride, previous: SignatureAt, at: SignatureAt): boolean {
  if (Math.floor(at.seqno / stride.entries) > Math.floor(previous.seqno / stride.entries)) return true;
  if (previous.timeMs === undefined || at.timeMs === undefined) return false;
  return Math.floor(at.timeMs / stride.ms) > Math.floor(previous.timeMs / stride.ms);
}
