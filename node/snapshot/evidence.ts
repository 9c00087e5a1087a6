/**
 * Snapshot evidence: an `internal` transaction that writes the snapshot's seqno, body digest and
 * body size to the reserved public table `public:treaty.snapshot_evidence` (one key, `latest`: the
 * table holds one row whatever the ledger's length). Its receipt, once committed, makes the
 * snapshot self-proving (format.ts); its size sets the stride to the next snapshot (schedule.ts).
 */
import { fromHex, toHex, utf8 } from "../../sdk/bytes.js";
import type { WriteSet } from "../../runtime/kv/types.js";
import { decodePublicWrites, type DecodedEntry } from "../../runtime/ledger/entry.js";
import { publicWriteSet } from "../genesis.js";

export const EVIDENCE_MAP = "public:treaty.snapshot_evidence";
export const EVIDENCE_KEY = "latest";

/** What an evidence transaction records. */
export interface EvidenceRecord {
  readonly seqno: number;
  readonly digest: Uint8Array;
  /** The body's length in bytes (0 in evidence recorded before sizes were: no `bytes` field). */
  readonly bytes: number;
}

/** The write set of the evidence transaction for `record`. */
export function evidenceWriteSet(record: EvidenceRecord): WriteSet {
  const value = { seqno: record.seqno, digest: toHex(record.digest), bytes: record.bytes };
  return publicWriteSet([{ map: EVIDENCE_MAP, key: EVIDENCE_KEY, value }]);
}

/** The evidence an entry records, or undefined when it is not an evidence transaction (or malformed). */
export function evidenceOf(entry: DecodedEntry): EvidenceRecord | undefined {
  if (entry.header.kind !== "internal") return undefined;
  const map = decodePublicWrites(entry).find((w) => w.map === EVIDENCE_MAP);
  const value = map?.writes.find(([key]) => utf8.decode(key) === EVIDENCE_KEY)?.[1];
  if (value === undefined || value === null) return undefined;
  try {
    const parsed = JSON.parse(utf8.decode(value)) as { seqno?: unknown; digest?: unknown; bytes?: unknown };
    if (!Number.isSafeInteger(parsed.seqno) || typeof parsed.digest !== "string") return undefined;
    const bytes = parsed.bytes === undefined ? 0 : parsed.bytes;
    if (!Number.isSafeInteger(bytes) || (bytes as number) < 0) return undefined;
    const digest = fromHex(parsed.digest, "evidence.digest");
    return digest.length === 32
      ? { seqno: parsed.seqno as number, digest, bytes: bytes as number }
      : undefined;
  } catch {
    return undefined;
  }
}
