/**
 * Reading the KV for a snapshot and encoding the body (format.ts): the part of taking a snapshot
 * that scales with the state, shared by `Snapshots` and `bench/snapshot.ts`. The execution worker
 * reads the committed state and encodes its rows (ExecutionEngine.snapshotRows, in slices between
 * requests) into shared memory (rows.ts); the main thread seals the private part and hashes the
 * body, in slices too (format.ts, encodeBodyPartsSliced), BODY_PAUSE_MS apart, holding the body as
 * parts (the public rows as the worker wrote them) rather than assembling it.
 */
import type { LedgerSecret } from "../../runtime/ledger/secrets.js";
import type { ExecutionService } from "../execution/service.js";
import { TIMELINE, timeline } from "../timeline.js";
import { type BodyParts, encodeBodyPartsSliced, pauseOf, type SnapshotState } from "./format.js";

/**
 * Pause between two slices of sealing, copying or hashing a body on the main thread, ms. Every
 * node builds its body at about the same time; with a timer between slices (not only a turn of
 * the event loop) the thread leaves the cores to the node's other threads and to the other nodes
 * meanwhile, at ~1-2 ms of work per 1 MiB slice, instead of running the slices back to back.
 */
export const BODY_PAUSE_MS = 4;

/** A body (as its parts), its digest (bodyDigest) and how many KV rows it holds. */
export interface TakenBody {
  readonly body: BodyParts;
  readonly digest: Uint8Array;
  readonly rows: number;
}

/**
 * Reads the committed KV at `state.seqno` and encodes the body with `secret()` (read once the
 * rows are in; undefined: no secret, no snapshot). The read is queued on `execution` before this
 * returns, so the caller orders it against its commits: `state.seqno` must be the committed
 * version when the read runs, else the result is undefined (the KV moved on).
 */
export function takeSnapshotBody(
  execution: ExecutionService,
  state: Omit<SnapshotState, "public" | "private">,
  secret: () => LedgerSecret | undefined,
): Promise<TakenBody | undefined> {
  return execution.snapshotRows(state.seqno).then(async (read) => {
    if (read === null || read.version !== state.seqno) return undefined;
    const key = secret();
    if (key === undefined) return undefined;
    const started = performance.now();
    const { parts, digest } = await encodeBodyPartsSliced(
      state,
      read.publicBytes,
      read.privateBytes,
      key,
      pauseOf(BODY_PAUSE_MS),
    );
    if (TIMELINE) timeline("snapshot-body", started, performance.now() - started, state.seqno);
    return { body: parts, digest, rows: read.rows };
  });
}
