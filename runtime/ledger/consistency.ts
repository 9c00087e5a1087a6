/**
 * Consistency proofs on the node: between two signed tree sizes (each the size a committed
 * signature transaction signed), the two signed heads and the RFC 9162 proof that the older tree
 * is a prefix of the newer, as the JSON `ConsistencyProof` that `sdk/consistency.ts` verifies.
 */
import { toHex } from "../../sdk/bytes.js";
import type { ConsistencyProof, SignedTreeHead } from "../../sdk/consistency.js";
import { TreatyError } from "../../sdk/errors.js";
import { decodeEntry } from "./entry.js";
import type { MerkleTree } from "./merkle-tree.js";
import { decodeSignatureRecord } from "./signature.js";
import type { LedgerRecord } from "./store.js";

/** What a consistency proof needs from the ledger (the `Ledger` class provides it). */
export interface ConsistencySource {
  get(seqno: number): LedgerRecord | undefined;
  readonly tree: Pick<MerkleTree, "consistencyProof">;
}

/**
 * The signed head of the tree of `treeSize` leaves: the signature entry at seqno `treeSize + 1`.
 * Throws TreatyError TxNotFound (no signature entry there: not a signed size) or TxNotCommitted
 * (that signature is beyond `committedSeqno`).
 */
export function signedTreeHead(
  source: ConsistencySource,
  treeSize: number,
  committedSeqno: number,
): SignedTreeHead {
  const seqno = treeSize + 1;
  const record = source.get(seqno);
  const entry = record === undefined ? undefined : decodeEntry(record.bytes, seqno);
  if (entry === undefined || entry.header.kind !== "signature") {
    throw new TreatyError(
      "TxNotFound",
      `tree size ${treeSize} was never signed: seqno ${seqno} is not a signature transaction`,
      { seqno },
    );
  }
  if (seqno > committedSeqno) {
    throw new TreatyError(
      "TxNotCommitted",
      `the signature of tree size ${treeSize} (seqno ${seqno}) is not committed yet`,
      { seqno },
    );
  }
  const s = decodeSignatureRecord(entry.signatureBytes!, seqno);
  return {
    view: entry.header.view,
    seqno,
    treeSize: s.treeSize,
    root: toHex(s.root),
    timeMs: entry.header.meta.timeMs,
    signature: toHex(s.signature),
    node: {
      id: s.nodeId,
      curve: s.curve,
      publicKey: toHex(s.publicKey),
      endorsement: {
        validFromMs: s.endorsement.validFromMs,
        validToMs: s.endorsement.validToMs,
        signature: toHex(s.endorsement.signature),
      },
    },
  };
}

/**
 * The proof that signed tree `fromSize` is a prefix of signed tree `toSize`. Throws TreatyError
 * MalformedRequest (sizes not integers ≥ 1 or out of order), TxNotFound, TxNotCommitted.
 */
export function buildConsistencyProof(
  source: ConsistencySource,
  fromSize: number,
  toSize: number,
  committedSeqno: number,
): ConsistencyProof {
  for (const [name, size] of [
    ["from", fromSize],
    ["to", toSize],
  ] as const) {
    if (!Number.isSafeInteger(size) || size < 1)
      throw new TreatyError("MalformedRequest", `${name}: expected a signed tree size ≥ 1, got ${size}`);
  }
  if (fromSize > toSize)
    throw new TreatyError("MalformedRequest", `from (${fromSize}) must not be greater than to (${toSize})`);
  const to = signedTreeHead(source, toSize, committedSeqno);
  const from = signedTreeHead(source, fromSize, committedSeqno);
  return {
    version: 1,
    from,
    to,
    proof: source.tree.consistencyProof(fromSize, toSize).map(toHex),
  };
}

/** Parses a `?from=` / `?to=` size. Throws TreatyError MalformedRequest naming the parameter. */
export function parseTreeSize(text: string | null, name: string): number {
  if (text === null || !/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new TreatyError(
      "MalformedRequest",
      `${name}: expected a signed tree size (integer ≥ 1), got ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}
