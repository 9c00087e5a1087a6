// node/snapshot/port.ts
/** What replication needs from snapshots: the latest usable one to send, and a verified install. */
export interface SnapshotPort {
  /**
   * Seqno of the snapshot `readLatest()` would return (0: none), known without reading it: what a
   * poll compares before it reads a file that may hold the whole state.
   */
  latestSeqno(): number;
  /**
   * The view of the snapshot `latestSeqno()` names when known without reading its file (the
   * ledger holds its entry); undefined otherwise, or when there is none.
   */
  latestView(): number | undefined;
  /**
   * Latest snapshot whose evidence is committed, self-contained (evidence receipt included), read
   * from disk off the main thread.
   */
  readLatest(): Promise<
    { readonly seqno: number; readonly view: number; readonly bytes: Uint8Array } | undefined
  >;
  /** Verify against the pinned service identity, then load (KV, ledger base, Merkle frontier).
   *  Throws TreatyError (code SnapshotInvalid, nothing loaded) when anything does not check. */
  install(bytes: Uint8Array): Promise<{ readonly seqno: number; readonly view: number }>;
}
