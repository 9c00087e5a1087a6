/**
 * The ledger's public surface for the rest of the node: entries, the Merkle tree, signatures,
 * receipts, the durable store, chunk export and the offline audit. See each module for details.
 */
export type { ChunkedLedgerStoreOptions, ChunkInfo, ChunkState } from "./chunk-store.js";
export { ChunkedLedgerStore } from "./chunk-store.js";
export { DEFAULT_CHUNK_BYTES, exportChunks, listChunkFiles, readChunkFiles } from "./chunks.js";
export type { DecodedEntry, EntryHeader, PrivatePart, TxMetadata } from "./entry.js";
export { decodeEntry, decodePublicWrites, entryWriteSet, openPrivatePart } from "./entry.js";
export type { LedgerOptions, RandomBytes, SignatureState, TransactionInput } from "./ledger.js";
export { Ledger, nodeHasher } from "./ledger.js";
export { ledgerStoreDir, LmdbLedgerStore } from "./lmdb-store.js";
export { MerkleFrontier, MerkleTree } from "./merkle-tree.js";
export { findLedgerStoreDir, openLedgerStore } from "./open-store.js";
export type { SignatureClock, SignaturePolicy } from "./policy.js";
export { DEFAULT_SIGNATURE_POLICY, parseSignaturePolicy, signatureDue } from "./policy.js";
export { buildReceipt } from "./receipts.js";
export { generateLedgerSecret, LedgerSecret, LedgerSecrets, parseLedgerSecrets } from "./secrets.js";
export type { NodeEndorsement, NodeSigner, SignatureRecord } from "./signature.js";
export { endorseNode, nodeSigner } from "./signature.js";
export type { LedgerRecord, LedgerStore } from "./store.js";
export { MemoryLedgerStore } from "./store.js";
export type { AuditRecord, VerifyLedgerOptions, VerifyReport } from "./verify.js";
export { verifyLedger } from "./verify.js";
