/**
 * `ExecutionEngine`: the KV store and the contract runtime of one node, and the synchronous
 * transaction path over them. It runs inside the execution worker (see worker.ts), but has no
 * thread of its own: tests drive it in-thread.
 *
 * A batch runs its calls one after another against the applied state. Each call gets a fresh
 * KvTx; a signed call's nonce is checked and recorded in that tx first (nonces.ts); then the
 * contract runs. A successful call takes the next seqno and its write set is applied to the KV at
 * that version before the next call begins, so later calls see it. A failed call abandons its tx:
 * it writes nothing and takes no seqno.
 *
 * Governance calls (`contract: "gov"`: propose, vote, withdraw) take the same path (nonce, seqno,
 * apply) but run in the proposal engine (node/gov/engine.ts) instead of a contract, which calls
 * the constitution the runtime holds privileged.
 *
 * Around every call the engine writes its progress (which call runs, how many started) to the
 * shared progress slots, for the main thread's watchdog; see protocol.ts.
 */
import { assert } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";
import { type CallOutcome, type ContractCall, ContractRuntime } from "../../runtime/executor/runtime.js";
import type { ResealCursor } from "../../runtime/kv/sealed-backend.js";
import { KvStore } from "../../runtime/kv/store.js";
import { isPublicMap, type KvTx, type MapWrites } from "../../runtime/kv/types.js";
import type { ContractManifest } from "../../runtime/sandbox/abi.js";
import { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from "../../runtime/sandbox/limits.js";
import { DRY_RUN_METHOD, GOV_CONTRACT, ProposalEngine } from "../gov/engine.js";
import { type ConstitutionRecord, GOV, INTERNAL } from "../gov/tables.js";
import {
  describeNonce,
  findLegacyNonce,
  findNonce,
  hasLegacyNonces,
  legacyNonceReaders,
  NONCE_PRUNE_SLACK_MS,
  nonceHorizon,
  nonceKey,
  pruneNonces,
  recordLegacyNonce,
  recordNonce,
} from "./nonces.js";
import { writeSetBytes } from "../../runtime/executor/runtime.js";
import { MAX_TX_WRITE_BYTES } from "../../runtime/sandbox/limits.js";
import type { WriteSet } from "../../runtime/kv/types.js";
import { type Retention, resolveRetention } from "./retention.js";
import {
  type ExecCall,
  type ExecResult,
  PROGRESS_RUNNING,
  PROGRESS_SLOTS,
  PROGRESS_SNAPSHOT_SLICES,
  PROGRESS_STARTED,
  type VersionedWriteSet,
} from "./protocol.js";
import { ReadonlyTx } from "./readonly-tx.js";
import { SNAPSHOT_PAUSE_MS, SnapshotScan } from "./snapshot-scan.js";
import { pauseOf } from "../snapshot/format.js";
import type { SnapshotRows } from "../snapshot/rows.js";

/** Longest slice of a snapshot read between two requests, ms (see snapshotRows). */
export const SNAPSHOT_SLICE_MS = 2;
import { recordPublicEvents, takeClaimsDigest } from "../events/record.js";

/**
 * Test-only hooks. Production never sets them; tests use them to make the worker hang or die
 * at a chosen call, deterministically, to exercise the watchdog.
 */
export interface EngineHooks {
  /** Runs inside the call's progress window, before the call's transaction opens. */
  beforeCall?(call: ExecCall, index: number): void;
}

/** Options of `ExecutionEngine.open`. */
export interface EngineOptions {
  /** LMDB directory of the KV, or null for an in-memory KV (tests, simulator). */
  readonly kvPath: string | null;
  /** Seals private maps' values on disk (runtime/kv/sealed-backend.ts); omit for tests. */
  readonly atRestKey?: Uint8Array;
  /** Older at-rest keys of an unfinished re-seal (they only open values). */
  readonly olderAtRestKeys?: readonly Uint8Array[];
  /** Initial sandbox limits (default DEFAULT_LIMITS). */
  readonly limits?: SandboxLimits;
  /** `PROGRESS_SLOTS` Int32 slots on shared memory for the watchdog (default: private slots). */
  readonly progress?: Int32Array;
  readonly hooks?: EngineHooks;
  /** Bounds on nonces and decided proposals (default DEFAULT_RETENTION). */
  readonly retention?: Partial<Retention>;
  /**
   * The code measurement of the node the engine runs in (node/attestation.ts): a node record
   * presenting it runs this code, so it reads `treaty.nonceLog` whether or not its record says so
   * (nonces.ts `legacyNonceReaders`). Omitted (tests, tools): only the records' announcements count.
   */
  readonly measurement?: string;
  /**
   * Least time between two KV commit writes, ms (KvStoreOptions.minCommitIntervalMs; default
   * KV_COMMIT_INTERVAL_MS on LMDB, 0 in memory).
   */
  readonly kvCommitIntervalMs?: number;
  /**
   * The write sets of `executeBatch`'s results hold the transactions' own byte arrays, which the
   * KV holds too, instead of copies (RuntimeOptions.shareWriteSets): only for a caller that copies
   * them before they go anywhere and never changes them. serve.ts sets it (it packs every batch's
   * write sets into its reply); default false.
   */
  readonly shareWriteSets?: boolean;
}

/**
 * Least time between two durable KV commits of an engine, ms. The node asks for a KV commit as
 * its consensus commit point moves, at most every 100 ms or 1,024 entries (node/replica-batch.ts),
 * or at once when the replica flushes (a rollback, a role change, a snapshot install), and each
 * LMDB commit has a fixed cost (~100 µs of this thread, ~200 µs more elsewhere: lmdb-js's write
 * thread and the fsync); paced, a commit joins the next write and the fixed cost is paid at most
 * 50 times a second. The ledger
 * is the source of truth (a restart replays above the KV's committed version), so this only
 * moves when a version is durable in the KV, never what the KV holds.
 */
export const KV_COMMIT_INTERVAL_MS = 20;

/** See the module comment. Owns its KvStore and ContractRuntime; `close()` releases both. */
export class ExecutionEngine {
  readonly #kv: KvStore;
  readonly #runtime: ContractRuntime;
  readonly #gov: ProposalEngine;
  readonly #progress: Int32Array;
  readonly #hooks: EngineHooks;
  readonly #retention: Retention;
  readonly #measurement: string | null;
  /**
   * A lower bound on the `createdMs` of every nonce the KV holds above the horizon, as far as
   * this engine knows (-Infinity: unknown): a prune pass is due only once it has expired for
   * NONCE_PRUNE_SLACK_MS (see nonces.ts). It only decides when to prune, never what is refused.
   */
  #oldestNonceMs = Number.NEGATIVE_INFINITY;
  /**
   * `treaty.nonceHorizon` at the applied version, once read (undefined: read it). Every signed
   * call needs it and it changes only in a prune pass, so it is forgotten by prune passes,
   * applied write sets that carry it, rollbacks and installs.
   */
  #horizon: number | undefined;
  /**
   * Whether the legacy nonce maps (`treaty.nonces`, `treaty.nonceExpiry`) hold rows at the applied
   * version (undefined: look, one bounded scan). Only applied write sets that touch them (a leader
   * of the previous version records there), this engine's prune passes that forget legacy rows,
   * rollbacks and installs change that, and each of them forgets it; a call that records there
   * (#legacyReaders) sets it. While false, a signed call skips the legacy lookup.
   */
  #legacyNonces: boolean | undefined;
  /**
   * Whether a node record that is not retired lacks the `nonceLog` announcement and presents
   * another code measurement than this node's, in `public:gov.nodes` at the applied version
   * (undefined: look, one scan of the node records):
   * while true, a signed call records its nonce in the legacy maps too (nonces.ts
   * `legacyNonceReaders`). Only the leader decides it (followers apply write sets), so it need
   * not agree across nodes, but it must follow the node records: applied and executed write sets
   * that touch `public:gov.nodes`, rollbacks and installs forget it.
   */
  #legacyReaders: boolean | undefined;
  /**
   * Whether this engine's own last prune pass set the nonce maps' low end since it last applied a
   * horizon from elsewhere, rolled back or installed: then no row lies below the horizon's ms and
   * a pass scans from there (pruneNonces, PruneBounds.fromHorizon).
   */
  #prunedHere = false;
  /** The prune pass the running call is due to carry (set by #checkNonce), or null. */
  #duePass: { readonly beforeMs: number; readonly horizon: number } | null = null;
  #closed = false;
  /** Snapshot reads in progress (snapshotRows), ended by close. */
  readonly #scans = new Set<SnapshotScan>();

  private constructor(
    kv: KvStore,
    runtime: ContractRuntime,
    progress: Int32Array,
    hooks: EngineHooks,
    retention: Retention,
    measurement: string | null,
  ) {
    this.#kv = kv;
    this.#runtime = runtime;
    this.#gov = new ProposalEngine(runtime, { decidedProposals: retention.decidedProposals });
    this.#progress = progress;
    this.#hooks = hooks;
    this.#retention = retention;
    this.#measurement = measurement;
    Atomics.store(progress, PROGRESS_RUNNING, -1);
  }

  /**
   * Opens the KV (at its committed version: applied = committed) and creates the contract
   * runtime with no contracts loaded. Throws the KV's TreatyError (`Unavailable`,
   * `LedgerCorrupt`) when the store cannot be opened, `InvalidArgs` for bad limits.
   */
  static async open(options: EngineOptions): Promise<ExecutionEngine> {
    const limits = resolveLimits(options.limits ?? DEFAULT_LIMITS);
    const retention = resolveRetention(options.retention);
    const progress = options.progress ?? new Int32Array(new SharedArrayBuffer(PROGRESS_SLOTS * 4));
    assert(progress.length >= PROGRESS_SLOTS, "engine: the progress buffer has PROGRESS_SLOTS slots");
    const runtime = await ContractRuntime.create({ limits, shareWriteSets: options.shareWriteSets === true });
    let kv: KvStore;
    try {
      kv = KvStore.open(options.kvPath, {
        // An in-memory KV's commits cost next to nothing: no pacing unless asked.
        minCommitIntervalMs:
          options.kvCommitIntervalMs ?? (options.kvPath === null ? 0 : KV_COMMIT_INTERVAL_MS),
        ...(options.atRestKey !== undefined && {
          atRestKey: options.atRestKey,
          ...(options.olderAtRestKeys !== undefined && { olderAtRestKeys: options.olderAtRestKeys }),
        }),
      });
    } catch (err) {
      runtime.dispose();
      throw err;
    }
    return new ExecutionEngine(
      kv,
      runtime,
      progress,
      options.hooks ?? {},
      retention,
      options.measurement ?? null,
    );
  }

  /** Highest version applied to the KV (committed or not). */
  get appliedVersion(): number {
    return this.#kv.appliedVersion;
  }

  /** Highest version durably persisted in the KV. */
  get committedVersion(): number {
    return this.#kv.committedVersion;
  }

  /** The sandbox limits in force. */
  get limits(): SandboxLimits {
    return this.#runtime.limits;
  }

  /**
   * Loads (or upgrades) contract `name` from its compiled bundle; returns its manifest. Throws
   * TreatyError `InvalidContract` (bad name, bundle does not evaluate, malformed manifest); the
   * previous version, if any, keeps serving then.
   */
  async loadContract(name: string, bundle: string): Promise<ContractManifest> {
    this.#alive();
    // Each contract takes a spare QuickJS instance: wait until one is ready.
    await this.#runtime.ready();
    return this.#runtime.load(name, bundle);
  }

  /**
   * Loads the constitution ahead of the first governance call (the proposal engine also loads
   * it lazily, by digest, from each call's own view of the KV). Throws TreatyError
   * `InvalidContract` when the bundle is not a loadable constitution.
   */
  async loadConstitution(record: ConstitutionRecord): Promise<void> {
    this.#alive();
    await this.#runtime.ready();
    this.#gov.preload(record);
  }

  /**
   * Resolves once the spare QuickJS instances are ready again (loading a contract or a
   * constitution takes one; the refill runs in the background between requests).
   */
  ready(): Promise<void> {
    this.#alive();
    return this.#runtime.ready();
  }

  /** Unloads contract `name`; false when it was not loaded. */
  unloadContract(name: string): boolean {
    this.#alive();
    return this.#runtime.unload(name);
  }

  /** Names of the loaded contracts, sorted. */
  contracts(): string[] {
    return this.#runtime.contracts();
  }

  /**
   * Applies new sandbox limits from the next call on, and waits until QuickJS instances with the
   * new heap cap are ready. Throws TreatyError `InvalidArgs` naming the field for bad limits.
   */
  async setLimits(limits: SandboxLimits): Promise<void> {
    this.#alive();
    this.#runtime.setLimits(resolveLimits(limits));
    await this.#runtime.ready();
  }

  /**
   * Runs `calls` in order as the leader (see the module comment). Successful calls get seqnos
   * `firstSeqno, firstSeqno + 1, ...` and txids `${view}.${seqno}`; returns one result per call.
   * `firstSeqno` must be above the applied version (assert: the node decides seqnos). A failure
   * that is not a call's (a host bug, a storage failure) is thrown after rolling the KV back to
   * where it was before the batch.
   */
  executeBatch(view: number, firstSeqno: number, calls: readonly ExecCall[]): ExecResult[] {
    this.#alive();
    assert(Number.isSafeInteger(view) && view >= 0, "executeBatch: view is a non-negative integer");
    assert(
      Number.isSafeInteger(firstSeqno) && firstSeqno > this.#kv.appliedVersion,
      "executeBatch: firstSeqno is above the applied version",
    );
    const before = this.#kv.appliedVersion;
    const results: ExecResult[] = [];
    let seqno = firstSeqno;
    try {
      for (let index = 0; index < calls.length; index++) {
        const call = calls[index]!;
        const txid = `${view}.${seqno}`;
        const result = this.#tracked(index, call, () => this.#executeOne(call, seqno, txid));
        if (result.ok) seqno++;
        results.push(result);
      }
    } catch (err) {
      // A host bug or storage failure: the caller gets no results, so it must see no effects.
      this.#rollbackKv(before);
      throw err;
    }
    assert(results.length === calls.length, "executeBatch: one result per call");
    return results;
  }

  /**
   * Runs a call read-only at `version` (committed..applied; default: the applied version): no
   * seqno, no nonce check, and any write is refused (`ReadonlyViolation`, fatal for the call).
   * The result's `seqno` is the version the call read at and its `txid` is empty: a read is not
   * a transaction. A version whose state is no longer (or not yet) held fails the call with
   * `Unavailable` (the caller picks a fresh version and retries).
   */
  read(call: ExecCall, version?: number): ExecResult {
    this.#alive();
    if (call.contract === GOV_CONTRACT) return this.#dryRun(call);
    return this.#tracked(0, call, () => {
      let tx: KvTx;
      try {
        tx = version === undefined ? this.#kv.begin() : this.#kv.beginAt(version);
      } catch (err) {
        if (!(err instanceof TreatyError) || err.code !== "NotFound") throw err;
        return { ok: false, error: { code: "Unavailable", message: `read: ${err.message}; retry` } };
      }
      const outcome = this.#runtime.execute(
        contractCall(call, null),
        new ReadonlyTx(tx, `${String(call.contract)}.${String(call.method)}`),
      );
      if (!outcome.ok)
        return { ok: false, error: { code: outcome.error.code, message: outcome.error.message } };
      assert(isEmpty(outcome), "read: a readonly transaction wrote nothing");
      return {
        ok: true,
        seqno: tx.readVersion,
        txid: "",
        result: outcome.result,
        writeSet: outcome.writeSet,
        events: outcome.events,
      };
    });
  }

  /**
   * A governance read: only the dry run of a proposal (ProposalEngine.dryRun). It runs in a
   * transaction that is dropped afterwards, so it records nothing; its report is the result.
   */
  #dryRun(call: ExecCall): ExecResult {
    return this.#tracked(0, call, () => {
      if (call.method !== DRY_RUN_METHOD) {
        return {
          ok: false,
          error: { code: "UnknownMethod", message: `gov: reads serve only ${DRY_RUN_METHOD}` },
        };
      }
      const tx = this.#kv.begin();
      const outcome = this.#gov.dryRun(call, tx);
      if (!outcome.ok) return { ok: false, error: outcome.error };
      return {
        ok: true,
        seqno: tx.readVersion,
        txid: "",
        result: outcome.result,
        writeSet: { public: [], private: [] },
        events: [],
      };
    });
  }

  /**
   * Applies replicated (or replayed) write sets at their versions, which must increase above
   * the applied version (assert); a malformed write set is TreatyError `LedgerCorrupt` and stops
   * the batch there (earlier items stay applied). `owned`: the caller hands the write sets' byte
   * arrays over, and the KV keeps them instead of copying them (`KvStore.apply`).
   */
  apply(items: readonly VersionedWriteSet[], owned = false): void {
    this.#alive();
    // Nonces recorded elsewhere (another leader, a replay) are not in #oldestNonceMs, a leader of
    // the previous version records in the legacy maps, and a prune pass elsewhere moves the
    // horizon (and, by a previous version, may leave rows of treaty.nonceLog below it).
    for (const { writeSet } of items) {
      if (touchesNodes(writeSet)) this.#legacyReaders = undefined;
      for (const { map } of writeSet.private) {
        if (map === INTERNAL.nonceLog) this.#oldestNonceMs = Number.NEGATIVE_INFINITY;
        else if (map === INTERNAL.nonceExpiry || map === INTERNAL.nonces) {
          this.#oldestNonceMs = Number.NEGATIVE_INFINITY;
          this.#legacyNonces = undefined;
        } else if (map === INTERNAL.nonceHorizon) {
          this.#horizon = undefined;
          this.#prunedHere = false;
        }
      }
    }
    for (const { version, writeSet } of items) this.#kv.apply(version, writeSet, owned);
  }

  /** Durably persists every applied version <= `version` (one LMDB commit). */
  commit(version: number): Promise<void> {
    this.#alive();
    return this.#kv.commit(version);
  }

  /** Drops applied versions above `version` (never below the committed version: assert). */
  rollback(version: number): void {
    this.#alive();
    this.#rollbackKv(version);
  }

  /** Rolls the KV back; the nonces a rolled-back pass forgot are back, so the bound is unknown. */
  #rollbackKv(version: number): void {
    this.#oldestNonceMs = Number.NEGATIVE_INFINITY;
    this.#horizon = undefined;
    this.#legacyNonces = undefined;
    this.#legacyReaders = undefined;
    this.#prunedHere = false;
    this.#kv.rollback(version);
  }

  /** The applied value of `key` in `map` (a fresh copy), or undefined. */
  get(map: string, key: Uint8Array): Uint8Array | undefined {
    this.#alive();
    return this.#kv.get(map, key);
  }

  /**
   * Up to `limit` entries of `map` (all when undefined) at the applied version, in bytewise key
   * order. Throws TreatyError `InvalidArgs` for a bad limit or map name.
   */
  scan(map: string, limit?: number): Array<[Uint8Array, Uint8Array]> {
    this.#alive();
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new TreatyError("InvalidArgs", `limit: expected a non-negative integer, got ${String(limit)}`);
    }
    const tx = this.#kv.begin();
    return [...tx.range(map, limit === undefined ? {} : { limit })];
  }

  /**
   * Every row of every map whose name starts with `prefix`, at the committed version (maps in
   * name order, keys bytewise): how a restarted node rebuilds its view of committed public
   * state without replaying the ledger.
   */
  committedMaps(prefix: string): { version: number; maps: MapWrites[] } {
    this.#alive();
    const version = this.#kv.committedVersion;
    const tx = this.#kv.beginAt(version);
    const maps: MapWrites[] = [];
    for (const map of this.#kv.knownMaps()) {
      if (!map.startsWith(prefix)) continue;
      const writes = [...tx.range(map)];
      if (writes.length > 0) maps.push({ map, writes });
    }
    return { version, maps };
  }

  /**
   * The committed state at `version` in the layout of a snapshot body (node/snapshot/rows.ts), or
   * null when the committed version is not `version` once the commits requested before this call
   * are done. The state is pinned in the KV's commit sequence (KvStore.pinCommitted), so commits
   * requested after this call go on; it is read in slices of at most `sliceMs` with a pause after
   * each (SnapshotScan.read, SNAPSHOT_PAUSE_MS): requests run meanwhile and never wait more than a
   * slice, and the read takes at most a tenth of a core. Each slice done adds one to the
   * PROGRESS_SNAPSHOT_SLICES slot (the main thread's deadline for the read is on that progress).
   * Rejects with TreatyError Unavailable when the engine closes first.
   */
  async snapshotRows(version: number, sliceMs = SNAPSHOT_SLICE_MS): Promise<SnapshotRows | null> {
    this.#alive();
    const pin = await this.#kv.pinCommitted(version);
    if (pin === null) return null;
    const scan = new SnapshotScan(pin);
    if (this.#closed) scan.end("the execution engine closed");
    this.#scans.add(scan);
    try {
      const pause = pauseOf(SNAPSHOT_PAUSE_MS);
      await scan.read(sliceMs, () => {
        Atomics.add(this.#progress, PROGRESS_SNAPSHOT_SLICES, 1);
        return pause();
      });
      return scan.finish();
    } finally {
      scan.end("the engine moved on");
      this.#scans.delete(scan);
    }
  }

  /**
   * Makes the committed state exactly `maps` at `version` (a snapshot's): drops uncommitted
   * versions, then applies and commits one write set that deletes every key `maps` lacks and
   * sets every row it has. `version` must be above the committed version (assert: the caller
   * checks).
   */
  async installState(version: number, maps: readonly MapWrites[]): Promise<void> {
    this.#alive();
    const committed = this.#kv.committedVersion;
    assert(version > committed, "a snapshot is installed above the committed version");
    this.#rollbackKv(committed);
    const wanted = new Map(maps.map((m) => [m.map, m.writes]));
    const tx = this.#kv.beginAt(committed);
    const names = [...new Set([...this.#kv.knownMaps(), ...wanted.keys()])].sort();
    const publicWrites: MapWrites[] = [];
    const privateWrites: MapWrites[] = [];
    for (const map of names) {
      const rows = new Map<string, readonly [Uint8Array, Uint8Array | null]>();
      for (const [key] of tx.range(map)) rows.set(Buffer.from(key).toString("hex"), [key, null]);
      for (const [key, value] of wanted.get(map) ?? [])
        rows.set(Buffer.from(key).toString("hex"), [key, value]);
      if (rows.size === 0) continue;
      const writes = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, w]) => w);
      (isPublicMap(map) ? publicWrites : privateWrites).push({ map, writes });
    }
    this.#kv.apply(version, { public: publicWrites, private: privateWrites });
    await this.#kv.commit(version);
  }

  /** At-rest rekey: seal with `key` from now on (KvStore.useAtRestKey). */
  useAtRestKey(key: Uint8Array): void {
    this.#alive();
    this.#kv.useAtRestKey(key);
  }

  /** One bounded step of the at-rest re-seal (KvStore.resealAtRest). */
  resealAtRest(after: ResealCursor | null, limit: number): Promise<ResealCursor | null> {
    this.#alive();
    return this.#kv.resealAtRest(after, limit);
  }

  /** Drops the older at-rest keys after a complete re-seal. */
  retireOlderAtRestKeys(): void {
    this.#alive();
    this.#kv.retireOlderAtRestKeys();
  }

  /** Disposes the sandboxes and closes the KV (after any commit in flight). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const scan of this.#scans) scan.end("the execution engine closed");
    this.#runtime.dispose();
    await this.#kv.close();
  }

  /**
   * One leader call at `seqno`: replay check, nonce record, contract, then a prune pass when one
   * is due (#prune); applies on success.
   */
  #executeOne(call: ExecCall, seqno: number, txid: string): ExecResult {
    const tx = this.#kv.begin();
    this.#duePass = null;
    const replay = this.#checkNonce(tx, call, txid);
    if (replay !== undefined) return replay;
    if (call.contract === GOV_CONTRACT) {
      const governed = this.#gov.execute(call, txid, tx);
      if (!governed.ok) return { ok: false, error: governed.error };
      let writeSet = tx.writeSet();
      // The constitution writes the node records (trust_node, retire_node, or whatever a
      // constitution of the members' does); contracts cannot (`gov` is a reserved contract name).
      if (touchesNodes(writeSet)) this.#legacyReaders = undefined;
      if (this.#duePass !== null) writeSet = this.#prune(tx, writeSet);
      this.#kv.applyTx(seqno, tx);
      return { ok: true, seqno, txid, result: governed.result, writeSet, events: [] };
    }
    const outcome = this.#runtime.execute(contractCall(call, txid), tx);
    if (!outcome.ok)
      return { ok: false, error: { code: outcome.error.code, message: outcome.error.message } };
    // A bound claims digest and declared public events travel in the entry (node/events/record.ts).
    const claims = takeClaimsDigest(outcome.events);
    if ("code" in claims) return { ok: false, error: claims };
    const manifest = this.#runtime.manifestOf(String(call.contract));
    const eventFailure = recordPublicEvents(tx, String(call.contract), manifest, claims.events);
    if (eventFailure !== undefined) return { ok: false, error: eventFailure };
    let writeSet = manifest?.events === undefined ? outcome.writeSet : tx.writeSet();
    if (this.#duePass !== null) writeSet = this.#prune(tx, writeSet);
    this.#kv.applyTx(seqno, tx);
    // Object literals of one shape each, no spread: a spread made V8 build the result's hidden
    // class anew on every call (a slow property definition in every call's profile).
    if (claims.claimsDigest === undefined)
      return { ok: true, seqno, txid, result: outcome.result, writeSet, events: claims.events };
    return {
      ok: true,
      seqno,
      txid,
      result: outcome.result,
      writeSet,
      events: claims.events,
      claimsDigest: claims.claimsDigest,
    };
  }

  /**
   * Checks and records a signed call's nonce in `tx` (see nonces.ts), and sets #duePass when the
   * call should carry a prune pass. Returns the failed result (Replay; StaleRequest for a call
   * created before the retention or the horizon of forgotten nonces; MalformedRequest for a nonce
   * without a valid `createdMs`) or undefined when the call may run.
   */
  #checkNonce(tx: KvTx, call: ExecCall, txid: string): ExecResult | undefined {
    if (call.caller === null || call.nonce === null) return undefined;
    try {
      const createdMs = call.createdMs;
      if (createdMs === undefined)
        throw new TreatyError("MalformedRequest", "body.createdMs: required with a nonce");
      const key = nonceKey(call.caller.id, call.nonce, createdMs);
      // The tx reads at the applied version (executeOne), where #horizon and #legacyNonces hold.
      assert(tx.readVersion === this.#kv.appliedVersion, "checkNonce: the tx reads the applied version");
      this.#legacyNonces ??= hasLegacyNonces(tx);
      const used =
        findNonce(tx, key) ??
        (this.#legacyNonces ? findLegacyNonce(tx, call.caller.id, call.nonce) : undefined);
      if (used !== undefined) {
        return {
          ok: false,
          error: {
            code: "Replay",
            message: `nonce ${describeNonce(call.nonce)}: already used by transaction ${used.txid}`,
            txid: used.txid,
          },
        };
      }
      const oldestMs = call.timeMs - this.#retention.nonceMs;
      this.#horizon ??= nonceHorizon(tx);
      const horizon = this.#horizon;
      if (createdMs < oldestMs || createdMs <= horizon) {
        return {
          ok: false,
          error: {
            code: "StaleRequest",
            message: `body.createdMs: ${createdMs} is older than the replay window (requests created before ${Math.max(oldestMs, horizon + 1)} are refused)`,
          },
        };
      }
      const record = { txid, timeMs: call.timeMs };
      recordNonce(tx, key, record);
      this.#legacyReaders ??= legacyNonceReaders(tx, this.#measurement);
      if (this.#legacyReaders) {
        recordLegacyNonce(tx, call.caller.id, call.nonce, createdMs, record);
        // The lookup above must see these rows from the next call on, so that a nonce is refused
        // whatever createdMs comes with it (nonces.ts); true is always safe (one more lookup).
        this.#legacyNonces = true;
      }
      // The bound only lowers here: if this call fails, its nonce is simply not in the KV.
      this.#oldestNonceMs = Math.min(this.#oldestNonceMs, createdMs);
      if (oldestMs - NONCE_PRUNE_SLACK_MS > this.#oldestNonceMs)
        this.#duePass = { beforeMs: oldestMs, horizon };
      return undefined;
    } catch (err) {
      if (err instanceof TreatyError)
        return { ok: false, error: { code: err.code, message: `nonce: ${err.message}` } };
      throw err;
    }
  }

  /**
   * Runs the due prune pass in `tx` after its call succeeded (`writeSet`: the call's write set so
   * far), within what the transaction write limit leaves beside the call's own writes, so the
   * pass never changes the call's outcome; returns the write set with the pass's writes.
   */
  #prune(tx: KvTx, writeSet: WriteSet): WriteSet {
    const due = this.#duePass!;
    this.#duePass = null;
    const { forgotten, forgottenLegacy, oldestKeptMs, clean } = pruneNonces(tx, due.beforeMs, due.horizon, {
      fromHorizon: this.#prunedHere,
      legacy: this.#legacyNonces !== false,
      budgetBytes: MAX_TX_WRITE_BYTES - writeSetBytes(writeSet),
    });
    // Null (the pass stopped at its bound, or had no room): the next call prunes again.
    this.#oldestNonceMs = oldestKeptMs ?? Number.NEGATIVE_INFINITY;
    // Nothing after the pass can fail the call (the caller applies the tx at once), so what the
    // pass saw and wrote is the state from here on.
    this.#prunedHere = clean;
    if (forgotten === 0) return writeSet;
    this.#horizon = undefined;
    if (forgottenLegacy > 0) this.#legacyNonces = undefined;
    return tx.writeSet();
  }

  /** Runs `run` inside the progress window of call `index` (see protocol.ts). */
  #tracked(index: number, call: ExecCall, run: () => ExecResult): ExecResult {
    Atomics.add(this.#progress, PROGRESS_STARTED, 1);
    Atomics.store(this.#progress, PROGRESS_RUNNING, index);
    try {
      this.#hooks.beforeCall?.(call, index);
      return run();
    } finally {
      Atomics.store(this.#progress, PROGRESS_RUNNING, -1);
    }
  }

  #alive(): void {
    if (this.#closed) throw new TreatyError("Unavailable", "execution engine: closed");
  }
}

/** The runtime's view of a call with `txid` (the nonce stays with the engine). */
function contractCall(call: ExecCall, txid: string | null): ContractCall {
  return {
    contract: call.contract,
    method: call.method,
    args: call.args,
    caller: call.caller,
    txid,
    timeMs: call.timeMs,
    seed: call.seed,
  };
}

/** Whether `writeSet` writes a node record (`public:gov.nodes`). */
function touchesNodes(writeSet: WriteSet): boolean {
  for (const { map } of writeSet.public) if (map === GOV.nodes) return true;
  return false;
}

function isEmpty(outcome: CallOutcome): boolean {
  return outcome.writeSet.public.length === 0 && outcome.writeSet.private.length === 0;
}
