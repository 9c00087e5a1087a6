/**
 * Disaster recovery: a new service brought back from a surviving copy of a lost service's ledger.
 *
 * 1. `importLedger` copies the ledger's signed prefix (an unsigned tail cannot be trusted and is
 *    dropped, as CCF does) into the new node's store, verifies it (hash chain and Merkle roots by
 *    `Ledger.open`; every signature by a node the service identity of its time endorsed, that
 *    identity being the genesis one or one endorsed by its predecessor in the ledger) and rebuilds
 *    the public governance state: members, the latest recovery share round. A ledger that starts
 *    after seqno 1 (its node joined or caught up from a snapshot) starts from a committed
 *    snapshot instead: verified against the identities its own public state establishes, its
 *    public state is where governance starts, and the new store is rebased at its seqno.
 * 2. `ShareCollector` takes members' shares (node/recovery/phase.ts serves them over HTTP): each is
 *    sealed to this node's key, signed by its member, and checked against the round's commitment,
 *    so a wrong or forged share is refused and changes nothing.
 * 3. At the threshold, `recoverSecrets` (shares.ts) opens the ledger secrets and the previous
 *    service identity key; `recoveryEntry` makes the new service identity, endorsed by the previous
 *    one, and the entry that records it: service `recovering` under the new identity, the old
 *    nodes retired, this node trusted and alone in the configuration. Members then open the
 *    service by vote (`transition_service_to_open`), and receipts issued before the disaster still
 *    verify against the original identity (sdk/receipt.ts follows the endorsement chain).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { generateKeyPair, type KeyPair, keyId, type PublicKey, sign, verify } from "../../sdk/keys.js";
import { type EncryptionKeyPair, openRecoveryShare, type SealedShare } from "../../sdk/recovery.js";
import { serviceEndorsementMessage } from "../../sdk/receipt.js";
import { decodeEntry } from "../../runtime/ledger/entry.js";
import { Ledger, type LedgerBase, type TransactionInput } from "../../runtime/ledger/ledger.js";
import { LEDGER_FILE } from "../../runtime/ledger/lmdb-store.js";
import { findLedgerStoreDir, openLedgerStore } from "../../runtime/ledger/open-store.js";
import { checkSignatureEntry, decodeSignatureRecord } from "../../runtime/ledger/signature.js";
import type { LedgerStore } from "../../runtime/ledger/store.js";
import { refuseIfMarkedDamaged } from "../damage-marker.js";
import { publicWriteSet } from "../genesis.js";
import {
  GOV,
  type NodeRecord,
  OWN_NODE_FEATURES,
  type ServiceEndorsementRecord,
  type ServiceRecord,
  SINGLETON_KEY,
} from "../gov/tables.js";
import { GovView } from "../gov/view.js";
import { CONFIG_KEY, CONFIG_MAP } from "../replica.js";
import { listSnapshotFiles, snapshotDir } from "../snapshot/files.js";
import { decodeBody, decodeFile, publicMaps, type SnapshotBody } from "../snapshot/format.js";
import { baseOf } from "../snapshot/restart.js";
import { verifySnapshot } from "../snapshot/verify.js";
import { checkShare, type RecoveryRecord } from "./shares.js";

/** What the imported ledger says about the lost service. */
export interface ImportedLedger {
  readonly gov: GovView;
  readonly lastSeqno: number;
  readonly lastView: number;
  /** The lost service's identity (the latest one in its ledger). */
  readonly serviceKey: PublicKey;
  /** Every identity the ledger establishes (genesis, then each endorsed one), hex. */
  readonly identities: readonly string[];
  readonly record: RecoveryRecord;
  /** The snapshot the ledger starts from (undefined: the ledger starts at seqno 1). */
  readonly snapshot: ImportedSnapshot | undefined;
}

/** The ledger folder inside `path` (a node data folder or a ledger folder itself). */
export function ledgerFolder(path: string): string {
  const dir = findLedgerStoreDir(path);
  if (dir === undefined)
    throw new TreatyError(
      "MalformedRequest",
      `recover: ${path} holds no ledger (no ledger store here or in ledger/: ${LEDGER_FILE} or ledger_*.chunk files)`,
    );
  return dir;
}

/** Where a recovery finds the state before the ledger copy's first entry. */
export interface ImportOptions {
  /**
   * A committed snapshot file of the lost service (`snapshot-<seqno>.committed`). Without it, a
   * ledger that starts after seqno 1 is recovered from the `snapshots/` folder beside its ledger
   * folder (a node data folder's own), and a ledger from seqno 1 from the ledger alone.
   */
  readonly snapshotFile?: string;
}

/** The snapshot a recovery starts from, verified (see `importLedger`). */
export interface ImportedSnapshot {
  readonly path: string;
  readonly bytes: Uint8Array;
  readonly body: SnapshotBody;
  /** The ledger base it gives the new node's ledger. */
  readonly base: LedgerBase;
}

/**
 * Copies the signed prefix of the ledger in `sourceDir` into `store` (emptied first) and verifies
 * it (see the module comment). A ledger that starts after seqno 1 (its node joined or caught up
 * from a snapshot) starts from a committed snapshot at or after the seqno it starts after and at
 * or before its last signature: `options.snapshotFile`, or the newest such file in the
 * `snapshots/` folder beside the ledger folder that verifies (a ledger from seqno 1 does only
 * when `options.snapshotFile` is given). The snapshot is verified as a node verifies one it
 * installs (`verifySnapshot`: its evidence receipt, evidence entry, digest and frontier) against
 * the service identities its own public state establishes (`snapshotIdentities`); its public
 * state is where the governance state starts, `store` is rebased at its seqno and only the
 * entries after it are copied; `Ledger.open` then binds its frontier to them (the first
 * signature after it signs a root that includes it).
 *
 * Refuses first, before it opens anything, a copy whose data folder (the folder holding the
 * ledger folder) holds a damage marker: TreatyError LedgerCorrupt with `details.marker`.
 * Throws TreatyError LedgerCorrupt naming the first bad seqno, Conflict when the ledger has no
 * signed entry or no recovery share round, SnapshotInvalid (details `{baseSeqno}`) when the
 * ledger starts after seqno 1 and no snapshot fits and verifies (the message lists each file
 * tried and why), NotFound when `options.snapshotFile` does not exist.
 */
export async function importLedger(
  sourceDir: string,
  store: LedgerStore,
  options: ImportOptions = {},
): Promise<ImportedLedger> {
  const folder = ledgerFolder(sourceDir);
  // The data folder the copy is: the one holding the ledger folder (its snapshots/ are beside).
  // One its node marked damaged is not read: as a start refuses it (node/damage-marker.ts).
  refuseIfMarkedDamaged(dirname(folder), "recover");
  const source = openLedgerStore(folder, { readOnly: true });
  let gov = new GovView();
  let trusted = new Map<string, PublicKey>();
  let snapshot: ImportedSnapshot | undefined;
  let lastSigned = 0;
  try {
    const sourceBase = source.baseSeqno;
    // The signed prefix first: later entries are not copied.
    for (const record of source.range(sourceBase + 1)) {
      if (decodeEntry(record.bytes, record.seqno).header.kind === "signature") lastSigned = record.seqno;
    }
    if (sourceBase > 0 || options.snapshotFile !== undefined) {
      const chosen = chooseSnapshot(folder, sourceBase, Math.max(lastSigned, sourceBase), options);
      ({ gov, trusted, snapshot } = chosen);
      lastSigned = Math.max(lastSigned, chosen.snapshot.body.seqno);
    }
    if (lastSigned === 0) throw new TreatyError("Conflict", `recover: ${sourceDir} has no signed entry`);
    const start = snapshot?.body.seqno ?? 0;
    // An interrupted attempt left entries (or a base): start over.
    if (store.lastSeqno > 0 || store.baseSeqno > 0 || start > 0) store.rebase(start);
    const batch = [];
    for (const record of source.range(start + 1, lastSigned)) {
      batch.push(record);
      if (batch.length === 1000) store.append(batch.splice(0));
    }
    if (batch.length > 0) store.append(batch);
  } finally {
    await source.close();
  }
  let lastView = snapshot?.body.view ?? 0;
  for (const record of store.range((snapshot?.body.seqno ?? 0) + 1)) {
    const entry = decodeEntry(record.bytes, record.seqno);
    lastView = record.view;
    if (entry.header.kind === "signature") {
      const signature = decodeSignatureRecord(entry.signatureBytes!, record.seqno);
      const key = trusted.get(toHex(signature.serviceKey.publicKey));
      if (key === undefined)
        throw new TreatyError(
          "LedgerCorrupt",
          `recover: the signature at seqno ${record.seqno} is by a node of service ${toHex(signature.serviceKey.publicKey)}, which the ledger does not establish`,
        );
      checkSignatureEntry(entry.header, signature, signature.root, key);
      continue;
    }
    const touched = gov.applyEntry(record).tables;
    if (touched.has(GOV.service) || touched.has(GOV.serviceEndorsements)) trustIdentities(gov, trusted);
  }
  // Hash chain and Merkle roots; from a snapshot, its frontier against the next signed root.
  Ledger.open({ store, ...(snapshot !== undefined && { base: snapshot.base }) });
  const service = gov.row<ServiceRecord>(GOV.service, SINGLETON_KEY);
  const record = gov.row<RecoveryRecord>(GOV.recovery, SINGLETON_KEY);
  if (service === undefined)
    throw new TreatyError("LedgerCorrupt", "recover: the ledger has no service record");
  if (record === undefined)
    throw new TreatyError(
      "Conflict",
      "recover: the ledger holds no recovery share round (the service never opened with members holding encryption keys): its private state cannot be recovered",
    );
  return {
    gov,
    lastSeqno: lastSigned,
    lastView,
    serviceKey: { curve: "ed25519", publicKey: hexKey(service.identity) },
    identities: [...trusted.keys()],
    record,
    snapshot,
  };
}

/**
 * The snapshot to start from (see `importLedger`): the given file, or the committed files in the
 * `snapshots/` folder beside `ledgerDir` with a seqno in [`from`, `to`], newest first; the first
 * that verifies and fits. Also the governance view and trusted identities of its public state.
 */
function chooseSnapshot(
  ledgerDir: string,
  from: number,
  to: number,
  options: ImportOptions,
): { gov: GovView; trusted: Map<string, PublicKey>; snapshot: ImportedSnapshot } {
  const folder = snapshotDir(dirname(ledgerDir));
  let candidates: string[];
  if (options.snapshotFile !== undefined) {
    if (!existsSync(options.snapshotFile))
      throw new TreatyError("NotFound", `recover.snapshotFile: ${options.snapshotFile}: no such file`);
    candidates = [options.snapshotFile];
  } else {
    candidates = listSnapshotFiles(folder, "committed")
      .filter((f) => f.seqno >= from && f.seqno <= to)
      .map((f) => f.path)
      .reverse();
  }
  const reasons: string[] = [];
  for (const path of candidates) {
    try {
      return checkSnapshot(path, from, to);
    } catch (err) {
      if (!(err instanceof TreatyError)) throw err;
      reasons.push(`${path}: ${err.message}`);
    }
  }
  const where =
    options.snapshotFile !== undefined
      ? "the snapshot file given (recover.snapshotFile) does not fit or verify"
      : `no committed snapshot in ${folder} at a seqno from ${from} to ${to} verifies; give the lost service's snapshot in recover.snapshotFile (a snapshot-<seqno>.committed file from a node's <data-dir>/snapshots/)`;
  throw new TreatyError(
    "SnapshotInvalid",
    `recover: the ledger in ${ledgerDir} ${from > 0 ? `starts after seqno ${from} (its node joined or caught up from a snapshot and keeps only the entries after it)` : `ends at seqno ${to}`}: ${where}${reasons.length > 0 ? ` (${reasons.join("; ")})` : ""}`,
    { baseSeqno: from },
  );
}

/** Reads and verifies one snapshot file for a ledger holding (from, to]; throws TreatyError. */
function checkSnapshot(
  path: string,
  from: number,
  to: number,
): { gov: GovView; trusted: Map<string, PublicKey>; snapshot: ImportedSnapshot } {
  const bytes = new Uint8Array(readFileSync(path));
  const body = decodeBody(decodeFile(bytes).body);
  if (body.seqno < from || body.seqno > to)
    throw new TreatyError(
      "SnapshotInvalid",
      `its seqno ${body.seqno} is outside the ledger copy's ${from} to ${to} (its last signature)`,
    );
  const gov = new GovView();
  try {
    // Read before it is verified (the identities to verify it with are in it): hostile input.
    gov.loadState(body.seqno, publicMaps(body));
  } catch (err) {
    if (err instanceof TreatyError) throw err;
    throw new TreatyError("SnapshotInvalid", `its public state: ${(err as Error).message}`);
  }
  const trusted = snapshotIdentities(gov);
  verifySnapshot(bytes, [...trusted.values()]);
  return { gov, trusted, snapshot: { path, bytes, body, base: baseOf(body) } };
}

/**
 * The service identities a snapshot's public state establishes, oldest first: the identity its
 * service record names and, walking back, each one that endorsed it (its
 * `public:gov.serviceEndorsements` row, whose signature must verify). Throws SnapshotInvalid.
 */
export function snapshotIdentities(gov: GovView): Map<string, PublicKey> {
  const service = gov.row<ServiceRecord>(GOV.service, SINGLETON_KEY);
  if (service === undefined) throw new TreatyError("SnapshotInvalid", "its state has no service record");
  const chain = [service.identity];
  for (;;) {
    const identity = chain.at(-1)!;
    const e = gov.row<ServiceEndorsementRecord>(GOV.serviceEndorsements, identity);
    if (e === undefined) break;
    if (chain.includes(e.endorsedBy))
      throw new TreatyError(
        "SnapshotInvalid",
        `its service endorsements loop at ${String(e.endorsedBy).slice(0, 16)}…`,
      );
    const by: PublicKey = { curve: "ed25519", publicKey: snapshotKey(e.endorsedBy) };
    if (!verify(by, serviceEndorsementMessage(snapshotKey(identity)), snapshotKey(e.signature, 64)))
      throw new TreatyError(
        "SnapshotInvalid",
        `the endorsement of service identity ${identity.slice(0, 16)}… by ${e.endorsedBy.slice(0, 16)}… does not verify`,
      );
    chain.push(e.endorsedBy);
  }
  return new Map(
    chain
      .reverse()
      .map((hex) => [hex, { curve: "ed25519", publicKey: snapshotKey(hex) } satisfies PublicKey]),
  );
}

function snapshotKey(hex: unknown, bytes = 32): Uint8Array {
  if (typeof hex !== "string" || !/^[0-9a-f]*$/.test(hex) || hex.length !== bytes * 2)
    throw new TreatyError("SnapshotInvalid", `${String(hex).slice(0, 80)} is not ${bytes} bytes of hex`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** The genesis identity, and each later one endorsed by an identity already trusted. */
function trustIdentities(gov: GovView, trusted: Map<string, PublicKey>): void {
  const service = gov.row<ServiceRecord>(GOV.service, SINGLETON_KEY);
  if (trusted.size === 0 && service !== undefined)
    trusted.set(service.identity, { curve: "ed25519", publicKey: hexKey(service.identity) });
  for (const [identity, e] of gov.rows<ServiceEndorsementRecord>(GOV.serviceEndorsements)) {
    const by = trusted.get(e.endorsedBy);
    if (trusted.has(identity) || by === undefined) continue;
    const key: PublicKey = { curve: "ed25519", publicKey: hexKey(identity) };
    if (verify(by, serviceEndorsementMessage(key.publicKey), hexKey(e.signature, 64)))
      trusted.set(identity, key);
  }
}

function hexKey(hex: string, bytes = 32): Uint8Array {
  if (!/^[0-9a-f]*$/.test(hex) || hex.length !== bytes * 2)
    throw new TreatyError("LedgerCorrupt", `recover: ${hex.slice(0, 80)} is not ${bytes} bytes of hex`);
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** Members' shares for one round, each checked on arrival. */
export class ShareCollector {
  readonly #record: RecoveryRecord;
  readonly #node: EncryptionKeyPair;
  readonly #shares = new Map<string, Uint8Array>();

  constructor(record: RecoveryRecord, nodeEncryptionKey: EncryptionKeyPair) {
    this.#record = record;
    this.#node = nodeEncryptionKey;
  }

  get received(): number {
    return this.#shares.size;
  }
  get needed(): number {
    return this.#record.threshold;
  }
  get complete(): boolean {
    return this.#shares.size >= this.#record.threshold;
  }
  shares(): Uint8Array[] {
    return [...this.#shares.values()];
  }

  /**
   * Takes `memberId`'s share, sealed to this node. Throws TreatyError InvalidRecoveryShare (not
   * for this member, round or node, or not the member's share) and changes nothing then.
   */
  async submit(memberId: string, sealed: SealedShare): Promise<void> {
    if (sealed.memberId !== memberId || sealed.round !== this.#record.round)
      throw new TreatyError(
        "InvalidRecoveryShare",
        `share: sealed for member ${String(sealed.memberId).slice(0, 16)}… round ${sealed.round}, expected ${memberId.slice(0, 16)}… round ${this.#record.round}`,
      );
    let share: Uint8Array;
    try {
      share = await openRecoveryShare(this.#node, sealed);
    } catch (err) {
      throw new TreatyError(
        "InvalidRecoveryShare",
        `share: does not open with this node's key (${(err as Error).message})`,
      );
    }
    checkShare(this.#record, memberId, share);
    this.#shares.set(memberId, share);
  }
}

/** The new service identity, its endorsement by the previous one, and the entry recording them. */
export function recoveryEntry(input: {
  imported: ImportedLedger;
  previousServiceKey: KeyPair;
  node: { id: string; publicKey: Uint8Array; measurement: string; url: string };
  timeMs: number;
}): { serviceKey: KeyPair; entry: TransactionInput } {
  const { imported, previousServiceKey, node } = input;
  if (toHex(previousServiceKey.publicKey) !== toHex(imported.serviceKey.publicKey))
    throw new TreatyError(
      "DecryptionFailed",
      "recover: the recovered identity key is not the ledger's service identity",
    );
  const serviceKey = generateKeyPair("ed25519");
  const previous = imported.gov.row<ServiceRecord>(GOV.service, SINGLETON_KEY)!;
  const endorsement: ServiceEndorsementRecord = {
    endorsedBy: toHex(previousServiceKey.publicKey),
    signature: toHex(sign(previousServiceKey, serviceEndorsementMessage(serviceKey.publicKey))),
    timeMs: input.timeMs,
  };
  const rows: Array<{ map: string; key: string; value: unknown }> = [
    {
      map: GOV.service,
      key: SINGLETON_KEY,
      value: {
        ...previous,
        status: "recovering",
        identity: toHex(serviceKey.publicKey),
        previousIdentity: toHex(previousServiceKey.publicKey),
      } satisfies ServiceRecord,
    },
    { map: GOV.serviceEndorsements, key: toHex(serviceKey.publicKey), value: endorsement },
    {
      map: GOV.nodes,
      key: node.id,
      value: {
        publicKey: toHex(node.publicKey),
        status: "trusted",
        measurement: node.measurement,
        url: node.url,
        features: OWN_NODE_FEATURES,
      } satisfies NodeRecord,
    },
    { map: CONFIG_MAP, key: CONFIG_KEY, value: [node.id] },
  ];
  for (const [id, record] of imported.gov.rows<NodeRecord>(GOV.nodes)) {
    if (id !== node.id && record.status !== "retired")
      rows.push({ map: GOV.nodes, key: id, value: { ...record, status: "retired" } satisfies NodeRecord });
  }
  return {
    serviceKey,
    entry: {
      kind: "internal",
      writeSet: publicWriteSet(rows),
      meta: { timeMs: input.timeMs, contract: null, method: "recover_service", callerId: null },
    },
  };
}

/** For logs and status: a short form of a service identity. */
export function identityLabel(key: PublicKey): string {
  return `${toHex(key.publicKey).slice(0, 16)}… (${keyId(key).slice(0, 12)})`;
}

export { RECOVERY_SHARES_PATH as RECOVERY_SUBMIT_PATH } from "../../sdk/recovery.js";
