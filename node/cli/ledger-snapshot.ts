/**
 * Snapshots in `treaty ledger verify`:
 * - `--snapshot FILE` checks a snapshot file against its evidence, offline, with the pinned
 *   service identity (node/snapshot/verify.ts): the evidence receipt, the evidence entry naming
 *   the body's seqno and digest, and the body's Merkle frontier against the signed root. With the
 *   ledger secret it also opens the private part. Prints a JSON report.
 * - A data dir whose ledger starts after a snapshot (the node joined or caught up from one) is
 *   audited from the snapshot the node kept: `auditStart` finds and checks it. `treaty ledger
 *   receipt | consistency` read such a ledger from the same snapshot (`openFromSnapshot`).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { toHex } from "../../sdk/bytes.js";
import { isTreatyError, TreatyError } from "../../sdk/errors.js";
import type { PublicKey } from "../../sdk/keys.js";
import { decodeEntry } from "../../runtime/ledger/entry.js";
import { Ledger, type LedgerBase } from "../../runtime/ledger/ledger.js";
import type { LedgerSecrets } from "../../runtime/ledger/secrets.js";
import type { LedgerStore } from "../../runtime/ledger/store.js";
import type { AuditBase } from "../../runtime/ledger/verify.js";
import type { MapWrites } from "../../runtime/kv/types.js";
import { UsageError } from "./command.js";
import { listSnapshotFiles, snapshotDir } from "../snapshot/files.js";
import { decodeBody, decodeFile, openBody, publicMaps, type SnapshotBody } from "../snapshot/format.js";
import { baseOf } from "../snapshot/restart.js";
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
 * seqno 1. Throws UsageError without a service key (an unpinned snapshot proves nothing),
 * TreatyError NotFound when that folder holds no such snapshot (`startSnapshot`), and
 * SnapshotInvalid when none there verifies.
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
  return startSnapshot(storeDir, baseSeqno, (bytes) => {
    const { body, evidenceTxid } = verifySnapshot(bytes, [serviceKey]);
    return { body, evidence: evidenceTxid };
  });
}

/**
 * The snapshot a ledger that starts after `baseSeqno` is read from by `treaty ledger receipt |
 * consistency`: the Merkle tree's state there (its frontier, as a node restores it on install)
 * lets the entries after it be proven; its public state holds the service endorsements recorded
 * before it.
 */
export interface ReadStart {
  readonly base: LedgerBase;
  /** The snapshot file. */
  readonly snapshot: string;
  /** Its public maps (what it records of the state at its seqno). */
  readonly publicState: readonly MapWrites[];
}

/**
 * The snapshot the ledger in `storeDir` starts after (the same one `auditStart` picks), or
 * undefined for a ledger from seqno 1. With `serviceKey` it must verify against it as for an
 * audit; without, it need only decode: `Ledger.open` binds its frontier to the root the first
 * signature after it signed (`openFromSnapshot`), and a receipt or proof made from it is
 * checked against the service identity by whoever verifies it. Throws TreatyError NotFound when
 * the folder holds no such snapshot, SnapshotInvalid when none there decodes (or verifies).
 */
export function readStart(
  storeDir: string,
  baseSeqno: number,
  serviceKey: PublicKey | undefined,
): ReadStart | undefined {
  if (baseSeqno === 0) return undefined;
  return startSnapshot(storeDir, baseSeqno, (bytes) => {
    const body =
      serviceKey === undefined
        ? decodeBody(decodeFile(bytes).body)
        : verifySnapshot(bytes, [serviceKey]).body;
    return { body, publicState: publicMaps(body) };
  });
}

/** `readStart`'s snapshot, with the ledger opened from it. */
export interface SnapshotLedger {
  readonly ledger: Ledger;
  readonly start: ReadStart | undefined;
}

/**
 * Opens the ledger over `store` (in `storeDir`), from the snapshot it starts after when it does
 * not start at seqno 1 (`readStart`). A snapshot whose Merkle state does not fit the ledger (of
 * another ledger, or altered) fails with TreatyError SnapshotInvalid naming the file, not as a
 * corrupt ledger: its frontier gives another root than the first signature after it signed, or
 * its seqno and view are not the ledger's.
 */
export function openFromSnapshot(
  storeDir: string,
  store: LedgerStore,
  serviceKey: PublicKey | undefined,
): SnapshotLedger {
  const start = readStart(storeDir, store.baseSeqno, serviceKey);
  if (start === undefined) return { ledger: Ledger.open({ store }), start };
  try {
    return { ledger: Ledger.open({ store, base: start.base }), start };
  } catch (err) {
    if (!isTreatyError(err, "LedgerCorrupt") || !snapshotMisfit(err, store, start.base.seqno)) throw err;
    throw new TreatyError(
      "SnapshotInvalid",
      `${start.snapshot} does not fit the ledger in ${storeDir} (${err.message}): it is not the snapshot this ledger starts after, or it was altered; use the committed snapshot file of the node that wrote this ledger`,
      { seqno: start.base.seqno },
    );
  }
}

/**
 * Whether `err`, from opening `store` at a base at `baseSeqno`, is the base's fault: the base
 * does not fit the store or its tree, or the root it leads to differs at the first signature
 * after it (the next ones were checked against roots the store's own entries give).
 */
function snapshotMisfit(err: TreatyError, store: LedgerStore, baseSeqno: number): boolean {
  const field = err.details?.field;
  if (field === "base" || field === "base.frontier") return true;
  if (field !== "signature.root") return false;
  for (const record of store.range(baseSeqno + 1)) {
    if (decodeEntry(record.bytes, record.seqno).header.kind === "signature")
      return record.seqno === err.details?.seqno;
  }
  return false;
}

/**
 * The oldest committed snapshot in the `snapshots/` folder beside `storeDir` at or after
 * `baseSeqno` that `open` accepts (it throws TreatyError SnapshotInvalid for one that does not
 * check, and gives the body), as a ledger base (`baseOf`, as a node restores it). Throws NotFound
 * naming the file needed and the folder when there is none at all, SnapshotInvalid with every
 * file's reason when none is accepted.
 */
function startSnapshot<T extends { readonly body: SnapshotBody }>(
  storeDir: string,
  baseSeqno: number,
  open: (bytes: Uint8Array) => T,
): T & { readonly base: LedgerBase; readonly snapshot: string } {
  const folder = snapshotDir(dirname(storeDir));
  const candidates = listSnapshotFiles(folder, "committed").filter((f) => f.seqno >= baseSeqno);
  if (candidates.length === 0)
    throw new TreatyError(
      "NotFound",
      `the ledger in ${storeDir} starts after seqno ${baseSeqno} (its node joined or caught up from a snapshot there), and reading it needs that snapshot: ${snapshotFileName(baseSeqno)} (or a later committed one), looked for in ${folder}, which holds none; copy it there from the node's <data-dir>/snapshots/`,
      { seqno: baseSeqno + 1, snapshot: join(folder, snapshotFileName(baseSeqno)) },
    );
  const reasons: string[] = [];
  for (const { path } of candidates) {
    try {
      const opened = open(new Uint8Array(readFileSync(path)));
      const { body } = opened;
      if (body.seqno < baseSeqno) {
        reasons.push(`${path}: its body is for seqno ${body.seqno}`);
        continue;
      }
      return { ...opened, base: baseOf(body), snapshot: path };
    } catch (err) {
      if (!(err instanceof TreatyError)) throw err;
      reasons.push(`${path}: ${err.message}`);
    }
  }
  throw new TreatyError(
    "SnapshotInvalid",
    `the ledger starts after seqno ${baseSeqno}, and no committed snapshot in ${folder} at or after it verifies (${reasons.join("; ")})`,
    { seqno: baseSeqno + 1 },
  );
}

/** `snapshot-<seqno, 16 digits>.committed` (node/snapshot/files.ts). */
export function snapshotFileName(seqno: number): string {
  return `snapshot-${String(seqno).padStart(16, "0")}.committed`;
}
