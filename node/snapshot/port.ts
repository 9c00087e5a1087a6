// node/snapshot/port.ts
/** What replication needs from snapshots: the latest usable one to send, and a verified install. */
export interface SnapshotPort {
  /** Latest snapshot whose evidence is committed, self-contained (evidence receipt included). */
  latest(): { readonly seqno: number; readonly view: number; readonly bytes: Uint8Array } | undefined;
  /**
   * The seqno `latest()` would answer (0: none), without reading the snapshot: asked every
   * refresh, so a node reads and decodes its latest snapshot file only when there is a newer one.
   */
  latestSeqno(): number;
  /** Verify against the pinned service identity, then load (KV, ledger base, Merkle frontier).
   *  Throws TreatyError (code SnapshotInvalid, nothing loaded) when anything does not check. */
  install(bytes: Uint8Array): Promise<{ readonly seqno: number; readonly view: number }>;
}
