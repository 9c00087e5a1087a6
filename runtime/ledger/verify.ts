/**
 * The offline audit of a whole ledger (`treaty ledger verify`): walks every entry in order and
 * checks, stopping at the first problem with a TreatyError that names its seqno:
 * - positions: every seqno from 1 on (or from a verified snapshot's seqno + 1, for a ledger that
 *   starts there), none missing, repeated or out of order;
 * - encoding: outer map, header fields, write-set shape and order, content digest;
 * - views never go back, and the store's/chunk's view agrees with the header;
 * - at every signature: tree size, the Merkle root re-derived from the entries, the node id, the
 *   node's signature, the service identity's endorsement and its validity at the signing time;
 *   one service identity throughout (the pinned one, when given), or with `identities` the
 *   pinned one and those it endorsed, in turn, in the ledger (disaster recoveries);
 * - with ledger secrets: every private part decrypts and decodes;
 * - for chunk files: every chunk ends on a signature.
 *
 * Memory is O(log n) (a Merkle frontier), so ledgers of any length audit in constant space.
 */
import { toHex } from "../../sdk/bytes.js";
import type { PublicKey } from "../../sdk/keys.js";
import { ENTRY_KINDS, type EntryKind } from "../../sdk/receipt.js";
import {
  corrupt,
  type DecodedEntry,
  decodeEntry,
  decodePublicWrites,
  leafFields,
  openPrivatePart,
} from "./entry.js";
import { leafHash, nodeHasher } from "./ledger.js";
import { MerkleFrontier } from "./merkle-tree.js";
import type { LedgerSecrets } from "./secrets.js";
import { checkSignatureEntry, decodeSignatureRecord } from "./signature.js";
import type { LedgerRecord } from "./store.js";

/** A record as an audit source yields it; chunk readers mark the last record of each file. */
export interface AuditRecord extends LedgerRecord {
  /** Set on the last record of a chunk file (its name): that record must be a signature. */
  readonly endsChunk?: string;
}

export interface VerifyLedgerOptions {
  /** The pinned service identity. Without it, the first signature's service key is reported and required throughout. */
  readonly serviceKey?: PublicKey;
  /**
   * The service identities a signature may be endorsed by, when not only the pinned one (after
   * disaster recoveries: node/cli/ledger-identities.ts follows the recorded endorsements).
   */
  readonly identities?: ServiceIdentities;
  /** When given, every private part must decrypt. */
  readonly secrets?: LedgerSecrets;
  /** Called every `progressEveryEntries` entries. */
  readonly onProgress?: (progress: { readonly seqno: number; readonly bytes: number }) => void;
  readonly progressEveryEntries?: number;
  /**
   * Where the ledger starts when it does not start at seqno 1: a verified snapshot's seqno, view
   * and Merkle frontier (a node that joined or caught up from a snapshot keeps only the entries
   * after it). The walk starts after it, and the first signature's root binds the entries to it.
   */
  readonly base?: AuditBase;
}

/** The start of an audit after a snapshot (see `VerifyLedgerOptions.base`). */
export interface AuditBase {
  readonly seqno: number;
  readonly view: number;
  readonly frontier: readonly Uint8Array[];
}

/** Which service identities endorse signing nodes, as the walk goes on. */
export interface ServiceIdentities {
  /**
   * The identity to check the signature at `seqno` against, given the one it names (starting
   * from `pinned`); throws TreatyError LedgerCorrupt when the named one is not established.
   */
  keyFor(named: PublicKey, pinned: PublicKey, seqno: number): PublicKey;
  /** Sees every entry that is not a signature, in order (endorsements are recorded in them). */
  observe(entry: DecodedEntry, seqno: number): void;
}

export interface VerifyReport {
  /** Entries walked (after `baseSeqno`). */
  readonly entries: number;
  /** The seqno the walk started after: 0, or the snapshot's (`VerifyLedgerOptions.base`). */
  readonly baseSeqno: number;
  readonly lastSeqno: number;
  readonly bytes: number;
  readonly lastView: number;
  readonly kinds: Readonly<Record<EntryKind, number>>;
  readonly signatures: number;
  /** Seqno of the last signature (0 when none): everything up to it is covered by a signed root. */
  readonly lastSignedSeqno: number;
  /** Root signed by the last signature (hex), or null. */
  readonly signedRoot: string | null;
  /** Entries after the last signature: well-formed but not yet covered by a signed root. */
  readonly unsignedTail: number;
  readonly privateEntries: number;
  /** Private parts decrypted (0 without secrets). */
  readonly decryptedEntries: number;
  /** The service identity that endorsed every signing node, and whether it was pinned. */
  readonly serviceKey: {
    readonly curve: string;
    readonly publicKey: string;
    readonly pinned: boolean;
  } | null;
  /** Ids of the nodes that signed. */
  readonly signingNodes: readonly string[];
}

/**
 * Audits `records` (a store's `range(1)` or `readChunkFiles(...)`). Returns the report, or throws
 * TreatyError LedgerCorrupt / DecryptionFailed with `details.seqno` = the first bad seqno.
 */
export function verifyLedger(
  records: Iterable<AuditRecord>,
  options: VerifyLedgerOptions = {},
): VerifyReport {
  const base = options.base;
  const frontier = new MerkleFrontier(
    nodeHasher,
    base === undefined ? undefined : { size: base.seqno, frontier: base.frontier },
  );
  const kinds = Object.fromEntries(ENTRY_KINDS.map((k) => [k, 0])) as Record<EntryKind, number>;
  const signingNodes = new Set<string>();
  const every = Math.max(1, options.progressEveryEntries ?? 10_000);
  let serviceKey = options.serviceKey;
  const baseSeqno = base?.seqno ?? 0;
  let expected = baseSeqno + 1;
  let bytes = 0;
  let lastView = base?.view ?? 0;
  let signatures = 0;
  let lastSignedSeqno = 0;
  let signedRoot: string | null = null;
  let privateEntries = 0;
  let decryptedEntries = 0;

  for (const record of records) {
    if (record.seqno !== expected) {
      throw record.seqno > expected
        ? corrupt(expected, "entry", `missing (the next entry found is seqno ${record.seqno})`)
        : corrupt(record.seqno, "entry", `appears again after seqno ${expected - 1}`);
    }
    const entry = decodeEntry(record.bytes, record.seqno);
    const { header } = entry;
    if (header.view !== record.view) {
      throw corrupt(
        record.seqno,
        "view",
        `stored with view ${record.view}, but its header says view ${header.view}`,
      );
    }
    if (header.view < lastView)
      throw corrupt(record.seqno, "header.view", `view goes back from ${lastView} to ${header.view}`);
    decodePublicWrites(entry);
    if (entry.sealed !== null) {
      privateEntries++;
      if (options.secrets !== undefined) {
        openPrivatePart(entry, options.secrets);
        decryptedEntries++;
      }
    }
    if (header.kind === "signature") {
      const signature = decodeSignatureRecord(entry.signatureBytes!, record.seqno);
      serviceKey ??= signature.serviceKey;
      const endorsing =
        options.identities?.keyFor(signature.serviceKey, serviceKey, record.seqno) ?? serviceKey;
      checkSignatureEntry(header, signature, frontier.root(), endorsing);
      signatures++;
      lastSignedSeqno = record.seqno;
      signedRoot = toHex(signature.root);
      signingNodes.add(signature.nodeId);
    } else {
      options.identities?.observe(entry, record.seqno);
    }
    if (header.kind !== "signature" && record.endsChunk !== undefined) {
      throw corrupt(
        record.seqno,
        "chunk",
        `${record.endsChunk} must end on a signature entry, but entry ${record.seqno} is a ${header.kind} entry`,
      );
    }
    frontier.append(leafHash(leafFields(entry)));
    kinds[header.kind]++;
    lastView = header.view;
    bytes += record.bytes.length;
    if (record.seqno % every === 0) options.onProgress?.({ seqno: record.seqno, bytes });
    expected++;
  }

  return {
    entries: expected - 1 - baseSeqno,
    baseSeqno,
    lastSeqno: expected - 1,
    bytes,
    lastView,
    kinds,
    signatures,
    lastSignedSeqno,
    signedRoot,
    unsignedTail: expected - 1 - Math.max(lastSignedSeqno, baseSeqno),
    privateEntries,
    decryptedEntries,
    serviceKey:
      serviceKey === undefined
        ? null
        : {
            curve: serviceKey.curve,
            publicKey: toHex(serviceKey.publicKey),
            pinned: options.serviceKey !== undefined,
          },
    signingNodes: [...signingNodes],
  };
}
