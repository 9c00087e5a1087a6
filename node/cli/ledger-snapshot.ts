/**
 * `treaty ledger verify --snapshot FILE`: checks a snapshot file against its evidence, offline,
 * with the pinned service identity (node/snapshot/verify.ts): the evidence receipt, the evidence
 * entry naming the body's seqno and digest, and the body's Merkle frontier against the signed
 * root. With the ledger secret it also opens the private part. Prints a JSON report.
 */
import { existsSync, readFileSync } from "node:fs";
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { PublicKey } from "../../sdk/keys.js";
import type { LedgerSecrets } from "../../runtime/ledger/secrets.js";
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
