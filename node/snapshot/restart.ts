/**
 * Restart from a snapshot: the newest committed snapshot file that verifies gives the ledger its
 * base, so `Ledger.open` reads only the entries after it (the KV is already on disk at its
 * committed version). A store that does not reach the snapshot's seqno (an install interrupted
 * before the ledger moved) is rebased there; the KV, if behind, is reloaded from the file by the
 * caller (`stateOf`).
 */
import type { PublicKey } from "../../sdk/keys.js";
import type { LedgerBase } from "../../runtime/ledger/ledger.js";
import type { LedgerSecrets } from "../../runtime/ledger/secrets.js";
import type { LedgerStore } from "../../runtime/ledger/store.js";
import type { Logger } from "../log.js";
import type { SnapshotFiles } from "./files.js";
import { openBody, type SnapshotBody, type SnapshotState } from "./format.js";
import { verifySnapshot } from "./verify.js";

/** The ledger base a verified snapshot body describes. */
export function baseOf(
  body: Pick<SnapshotBody, "seqno" | "view" | "frontier" | "views" | "config">,
): LedgerBase {
  return {
    seqno: body.seqno,
    view: body.view,
    frontier: body.frontier,
    views: body.views,
    ...(body.config !== null && { config: body.config }),
  };
}

/** A snapshot to restart from: its base and (to reload a KV that is behind) its bytes. */
export interface RestartPoint {
  readonly base: LedgerBase;
  readonly bytes: Uint8Array;
}

/**
 * The newest committed snapshot in `files` that verifies against `serviceKeys` and fits `store`
 * (rebasing the store when it ends before the snapshot), or undefined: then the whole store is
 * read. A file that does not verify is skipped with a warning (an older one may still serve).
 */
export function restartPoint(
  files: SnapshotFiles,
  store: LedgerStore,
  serviceKeys: readonly PublicKey[],
  logger: Logger,
): RestartPoint | undefined {
  for (const seqno of files.list("committed").reverse()) {
    const bytes = files.read(seqno, "committed");
    if (bytes === undefined) continue;
    try {
      const { body } = verifySnapshot(bytes, serviceKeys);
      if (store.baseSeqno > body.seqno) continue; // the store starts after it: a newer one is needed
      if (store.lastSeqno < body.seqno) store.rebase(body.seqno);
      return { base: baseOf(body), bytes };
    } catch (err) {
      logger.warn("snapshot file does not verify: skipped", { seqno, err });
    }
  }
  return undefined;
}

/** The full state of a restart point (its private part opened): for a KV that is behind it. */
export function stateOf(
  point: RestartPoint,
  serviceKeys: readonly PublicKey[],
  secrets: LedgerSecrets,
): SnapshotState {
  const { body } = verifySnapshot(point.bytes, serviceKeys);
  return openBody(body, secrets.get(body.secretVersion));
}
