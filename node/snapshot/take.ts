/**
 * Reading the KV for a snapshot and encoding the body (format.ts): the part of taking a snapshot
 * that scales with the state, shared by `Snapshots` and `bench/snapshot.ts`.
 */
import type { LedgerSecret } from "../../runtime/ledger/secrets.js";
import { isPublicMap } from "../../runtime/kv/types.js";
import type { ExecutionService } from "../execution/service.js";
import { encodeBody, type SnapshotState } from "./format.js";

/** A body and how many KV rows it holds. */
export interface TakenBody {
  readonly body: Uint8Array;
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
  const maps = execution.committedMaps("");
  return maps.then((read) => {
    if (read.version !== state.seqno) return undefined;
    const key = secret();
    if (key === undefined) return undefined;
    const sorted = [...read.maps].sort((a, b) => (a.map < b.map ? -1 : a.map > b.map ? 1 : 0));
    const body = encodeBody(
      {
        ...state,
        public: sorted.filter((m) => isPublicMap(m.map)),
        private: sorted.filter((m) => !isPublicMap(m.map)),
      },
      key,
    );
    return { body, rows: sorted.reduce((n, m) => n + m.writes.length, 0) };
  });
}
