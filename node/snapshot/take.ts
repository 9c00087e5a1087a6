/**
 * Reading the KV for a snapshot and encoding the body (format.ts): the part of taking a snapshot
 * that scales with the state, shared by `Snapshots` and `bench/snapshot.ts`. The execution worker
 * reads the committed state and encodes its rows (ExecutionEngine.snapshotRows, in slices between
 * requests); the main thread seals the private part, wraps the body and hashes it, in slices too
 * (format.ts, encodeBodyPartsSliced).
 */
import type { LedgerSecret } from "../../runtime/ledger/secrets.js";
import type { ExecutionService } from "../execution/service.js";
import { encodeBodyPartsSliced, nextTurn, type SnapshotState } from "./format.js";

/** A body, its digest (bodyDigest) and how many KV rows it holds. */
export interface TakenBody {
  readonly body: Uint8Array;
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
    const { body, digest } = await encodeBodyPartsSliced(
      state,
      read.publicBytes,
      read.privateBytes,
      key,
      nextTurn,
    );
    return { body, digest, rows: read.rows };
  });
}
