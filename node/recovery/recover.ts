/**
 * Disaster recovery: a new service brought back from a surviving copy of a lost service's ledger.
 *
 * 1. `importLedger` copies the ledger's signed prefix (an unsigned tail cannot be trusted and is
 *    dropped, as CCF does) into the new node's store, verifies it (hash chain and Merkle roots by
 *    `Ledger.open`; every signature by a node the service identity of its time endorsed, that
 *    identity being the genesis one or one endorsed by its predecessor in the ledger) and rebuilds
 *    the public governance state: members, the latest recovery share round.
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
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { generateKeyPair, type KeyPair, keyId, type PublicKey, sign, verify } from "../../sdk/keys.js";
import { type EncryptionKeyPair, openRecoveryShare, type SealedShare } from "../../sdk/recovery.js";
import { serviceEndorsementMessage } from "../../sdk/receipt.js";
import { decodeEntry } from "../../runtime/ledger/entry.js";
import type { TransactionInput } from "../../runtime/ledger/ledger.js";
import { LEDGER_FILE } from "../../runtime/ledger/lmdb-store.js";
import { findLedgerStoreDir, openLedgerStore } from "../../runtime/ledger/open-store.js";
import { checkSignatureEntry, decodeSignatureRecord } from "../../runtime/ledger/signature.js";
import type { LedgerStore } from "../../runtime/ledger/store.js";
import { publicWriteSet } from "../genesis.js";
import {
  GOV,
  type NodeRecord,
  type ServiceEndorsementRecord,
  type ServiceRecord,
  SINGLETON_KEY,
} from "../gov/tables.js";
import { GovView } from "../gov/view.js";
import { CONFIG_KEY, CONFIG_MAP } from "../replica.js";
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

/**
 * Copies the signed prefix of the ledger in `sourceDir` into the empty `store` and verifies it
 * (see the module comment). Throws TreatyError LedgerCorrupt naming the first bad seqno,
 * Conflict when the ledger has no signed entry or no recovery share round, or SnapshotInvalid
 * (details `{baseSeqno}`) when the ledger starts after a snapshot.
 */
export async function importLedger(sourceDir: string, store: LedgerStore): Promise<ImportedLedger> {
  const source = openLedgerStore(ledgerFolder(sourceDir), { readOnly: true });
  const gov = new GovView();
  let lastSigned = 0;
  let lastView = 0;
  try {
    if (source.baseSeqno > 0) throw snapshotRequired(sourceDir, source.baseSeqno);
    // The signed prefix first: later entries are not copied.
    for (const record of source.range(1)) {
      if (decodeEntry(record.bytes, record.seqno).header.kind === "signature") lastSigned = record.seqno;
    }
    if (lastSigned === 0) throw new TreatyError("Conflict", `recover: ${sourceDir} has no signed entry`);
    const batch = [];
    for (const record of source.range(1, lastSigned)) {
      batch.push(record);
      if (batch.length === 1000) store.append(batch.splice(0));
    }
    if (batch.length > 0) store.append(batch);
  } finally {
    await source.close();
  }
  const trusted = new Map<string, PublicKey>();
  for (const record of store.range(1)) {
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
  };
}

/**
 * A ledger copy that starts after seqno `base` (its node joined or caught up from a snapshot at
 * that seqno, and keeps only the entries after it) cannot be recovered from alone.
 */
function snapshotRequired(sourceDir: string, base: number): TreatyError {
  return new TreatyError(
    "SnapshotInvalid",
    `recover: the ledger in ${sourceDir} starts after seqno ${base} (its node joined or caught up from a snapshot and keeps only the entries after it): recovering needs the state at seqno ${base}, which only that node's committed snapshot holds (snapshots/snapshot-${String(base).padStart(16, "0")}.committed in its data folder); recovery from a snapshot is not supported yet`,
    { baseSeqno: base },
  );
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
