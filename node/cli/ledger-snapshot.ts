/**
 * Snapshots in `treaty ledger verify`:
 * - `--snapshot FILE` checks a snapshot file against its evidence, offline, with the pinned
 *   service identity (node/snapshot/verify.ts): the evidence receipt, the evidence entry naming
 *   the body's seqno and digest, and the body's Merkle frontier against the signed root. With the
 *   ledger secret it also opens the private part. Prints a JSON report.
 * - A data dir whose ledger starts after a snapshot (the node joined or caught up from one) is
 *   audited from the snapshot the node kept: `auditStart` finds and checks it.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { PublicKey } from "../../sdk/keys.js";
import type { LedgerSecrets } from "../../runtime/ledger/secrets.js";
import type { AuditBase } from "../../runtime/ledger/verify.js";
import { UsageError } from "./command.js";
import { listSnapshotFiles, snapshotDir } from "../snapshot/files.js";
import { openBody, publicMaps } from "../snapshot/format.js";
import { verifySnapshot } from "../snapshot/verify.js";

/** What a checked snapshot file holds and what proves it. */
export interface SnapshotFileReport {
  readonly ok: true;
  readonly snapshot: string;
  readonly seqno: number;
  readonly view: number;
  readonly digest: string;
  readonly evidence: string;
  readonly signedBy: string;
  readonly publicMaps: number;
  /** Private maps, or null when no ledger secret was given (the private part was not opened). */
  readonly privateMaps: number | null;
}

/** Checks the snapshot file at `path`; throws TreatyError SnapshotInvalid / NotFound. */
export function verifySnapshotFile(
  path: string,
  serviceKey: PublicKey,
  secrets: LedgerSecrets | undefined,
): SnapshotFileReport {
  if (!existsSync(path)) throw new TreatyError("NotFound", `${path}: no such file`);
  const verified = verifySnapshot(new Uint8Array(readFileSync(path)), [serviceKey]);
  const { body } = verified;
  const state = secrets === undefined ? undefined : openBody(body, secrets.get(body.secretVersion));
  return {
    ok: true,
    snapshot: path,
    seqno: body.seqno,
    view: body.view,
    digest: toHex(verified.digest),
    evidence: verified.evidenceTxid,
    signedBy: verified.signedBy,
    publicMaps: publicMaps(body).length,
    privateMaps: state === undefined ? null : state.private.length,
  };
}

/** Where the audit of a ledger that starts after a snapshot begins. */
export interface AuditStart {
  readonly base: AuditBase;
  /** The snapshot file it starts from. */
  readonly snapshot: string;
  readonly evidence: string;
}

/**
 * The start of an audit of the ledger store in `storeDir` (a node's `<data-dir>/ledger`) whose
 * entries begin after `baseSeqno`: the oldest committed snapshot in the node's `snapshots/` at or
 * after that seqno that verifies against `serviceKey` (a node may have replaced the one it
 * installed by newer ones; the audit then starts at the newer one). Undefined for a ledger from
 * seqno 1. Throws UsageError without a service key (an unpinned snapshot proves nothing), and
 * TreatyError SnapshotInvalid when no snapshot there fits and verifies.
 */
export function auditStart(
  storeDir: string,
  baseSeqno: number,
  serviceKey: PublicKey | undefined,
): AuditStart | undefined {
  if (baseSeqno === 0) return undefined;
  if (serviceKey === undefined)
    throw new UsageError(
      `the ledger in ${storeDir} starts after a snapshot (seqno ${baseSeqno}): --service-key is needed to check the snapshot it starts from`,
    );
  const folder = snapshotDir(dirname(storeDir));
  const reasons: string[] = [];
  for (const { seqno, path } of listSnapshotFiles(folder, "committed")) {
    if (seqno < baseSeqno) continue;
    try {
      const { body, evidenceTxid } = verifySnapshot(new Uint8Array(readFileSync(path)), [serviceKey]);
      if (body.seqno < baseSeqno) {
        reasons.push(`${path}: its body is for seqno ${body.seqno}`);
        continue;
      }
      return {
        base: { seqno: body.seqno, view: body.view, frontier: body.frontier },
        snapshot: path,
        evidence: evidenceTxid,
      };
    } catch (err) {
      if (!(err instanceof TreatyError)) throw err;
      reasons.push(`${path}: ${err.message}`);
    }
  }
  throw new TreatyError(
    "SnapshotInvalid",
    `the ledger starts after seqno ${baseSeqno}, and no committed snapshot in ${folder} at or after it verifies${reasons.length > 0 ? ` (${reasons.join("; ")})` : ""}`,
    { seqno: baseSeqno + 1 },
  );
}
