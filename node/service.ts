/**
 * A Treaty node: the process-level object that owns the ledger, the consensus replica, the
 * execution service (contracts + KV in a worker), the transport and the HTTP API, and wires them
 * together. It reads no environment and no global clock: `NodeRuntime` hands those in.
 *
 * Start-up: a node with an empty ledger either creates a service (genesis: service identity,
 * ledger secret, first entry) or waits to join one; a node with a ledger reopens it, checks it
 * (the ledger rebuilds and verifies its Merkle tree), replays uncommitted write sets into the KV
 * and rebuilds its governance view from committed entries.
 */
import { HEADER_SIGNATURE_SCHEME } from "../sdk/ethereum.js";
import { NodeEvents } from "./events/index.js";
import { HistoryReads } from "./history/index.js";
import { AssertionFailure } from "../sdk/assert.js";
import { buildCoseReceipt } from "../runtime/ledger/cose-receipts.js";
import type { DecodedEntry } from "../runtime/ledger/entry.js";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fromHex, toHex } from "../sdk/bytes.js";
import { assert } from "../sdk/assert.js";
import { TreatyError } from "../sdk/errors.js";
import {
  fromKeyFile,
  generateKeyPair,
  type KeyPair,
  keyId,
  parsePublicKey,
  type PublicKey,
  toKeyFile,
} from "../sdk/keys.js";
import {
  endorseNode,
  type NodeEndorsement,
  type NodeSigner,
  nodeSigner,
} from "../runtime/ledger/signature.js";
import { generateLedgerSecret, LedgerSecret, LedgerSecrets } from "../runtime/ledger/secrets.js";
import { Ledger } from "../runtime/ledger/ledger.js";
import { MerkleArchiveFiles, merkleArchiveDir } from "../runtime/ledger/merkle-archive.js";
import { ledgerStoreDir } from "../runtime/ledger/lmdb-store.js";
import { openLedgerStore } from "../runtime/ledger/open-store.js";
import type { LedgerRecord, LedgerStore } from "../runtime/ledger/store.js";
import { AT_REST_KEY_BYTES } from "../runtime/kv/sealed-backend.js";
import type { MapWrites } from "../runtime/kv/types.js";
import type { ContractManifest } from "../runtime/sandbox/abi.js";
import type { NodeConfig } from "./config.js";
import { bootstrapState, ConsensusNode, emptyState } from "./consensus/node.js";
import type { PersistedState, Rng, SoftState, TxId, TxStatus } from "./consensus/types.js";
import { ExecutionService } from "./execution/service.js";
import { genesisTransaction, publicWriteSet } from "./genesis.js";
import {
  becomeMember,
  learnRetired,
  NOBODY_TO_ASK,
  startQuestion,
  type JoinArgs,
  type JoinResponse,
  joinService,
  MAX_FEATURE_LENGTH,
  MAX_JOIN_FEATURES,
  type NodeSecrets,
  type PeerDescription,
  sealSecrets,
  trustVoteReason,
} from "./join.js";
import { codeMeasurement } from "./attestation.js";
import { recordDamage, refuseIfMarkedDamaged } from "./damage-marker.js";
import { GOV, type NodeRecord, OWN_NODE_FEATURES } from "./gov/tables.js";
import { CompilerThread } from "./gov/compiler-thread.js";
import { GovReactions } from "./gov/reactions.js";
import { contractLoadKey, LoadRetries, type LoadRetryDelays } from "./gov/load-retry.js";
import { GOV_PREFIX, GovView, mayWriteGov } from "./gov/view.js";
import { RecoveryShareIssuer } from "./recovery/issuer.js";
import { runRecoveryPhase } from "./recovery/phase.js";
import { createVerifier, defaultVerifyWorkers, type SignatureVerifier } from "./verify/index.js";
import { LedgerRekey } from "./secrets/rekey.js";
import { AtRestRekey } from "./secrets/at-rest-rekey.js";
import {
  type HttpRequest,
  type HttpResponse,
  Router,
  type RunningHttpServer,
  startHttpServer,
} from "./http/server.js";
import { Lifecycle, type Progress, type ReplayHook } from "./lifecycle.js";
import type { Logger } from "./log.js";
import { MetricsRegistry } from "./metrics.js";
import {
  APPEND_PAYLOAD_BYTES,
  CONFIG_KEY,
  CONFIG_MAP,
  configOf,
  ledgerLogStorage,
  loadPersistedState,
  Replica,
} from "./replica.js";
import {
  batchItems,
  ForwardBatcher,
  type ForwardedAnswer,
  forwardedCommitWait,
  forwardedItems,
  refuseForwardedStream,
  serveBatch,
  serveItems,
} from "./forward-batch.js";
import { isSnapshotChunkRequest } from "./snapshot/transfer.js";
import { buildRouter } from "./routes.js";
import { isReadIndexRequest, ReadService } from "./reads/service.js";
import { Sequencer } from "./sequencer.js";
import { readJsonFile, writeDurable } from "./state-file.js";
import { SnapshotFiles, snapshotDir } from "./snapshot/files.js";
import { type RestartPoint, restartPoint, stateOf } from "./snapshot/restart.js";
import { Snapshots } from "./snapshot/snapshots.js";
import { evidenceWriteSet } from "./snapshot/evidence.js";
import { DEFAULTS } from "./config.js";
import { archiveUnreadableState, nodeIdentity } from "./secrets/restart.js";
import { createSealingProvider, type SealingProvider } from "./secrets/sealing.js";
import type { Transport, TransportStats } from "./transport/types.js";
import { decode, encode } from "../sdk/codec.js";
import {
  HEADER_CALLER,
  HEADER_SIGNATURE,
  parseBody,
  parseSignatureHeader,
  signingInput,
} from "../sdk/request.js";
import { verifySignature } from "../runtime/crypto.js";
import { bodyEncoding } from "./admission.js";
import { parseSignaturePolicy } from "../runtime/ledger/policy.js";
import { readFileSync } from "node:fs";
import { findPackageRoot } from "../runtime/compiler/package-root.js";
import { clientTlsOptions, endorsedTlsCredentials } from "./tls/serve.js";
import { serviceCertificate } from "./tls/certificates.js";
import { keyPinnedFetch } from "./tls/client.js";
import {
  type ConsensusTimingConfig,
  consensusTickLimits,
  DEFAULT_CONSENSUS_TIMING,
} from "./consensus-timing.js";
import { TickClock, TickTimer } from "./tick-clock.js";

/** What only an entry point may provide: clock, randomness, logging, the network. */
export interface NodeRuntime {
  readonly now: () => number;
  readonly randomBytes: (length: number) => Uint8Array;
  /** Reads an environment variable (a `virtual` sealing key may come from one). */
  readonly env?: (name: string) => string | undefined;
  readonly rng: Rng;
  readonly logger: Logger;
  /** Builds the node-to-node transport once the node knows its identity and service; null for a lone node. */
  readonly transport:
    | ((args: { serviceId: string; identity: KeyPair; sessionEpoch: number }) => Promise<Transport>)
    | null;
  /** Awaited at each yield of a start-up replay (tests hold a node in `replaying` with it). */
  readonly replayHook?: ReplayHook;
  /** Retry delays of failed governance loads (node/gov/load-retry.ts); default 1 s doubling to 5 min. */
  readonly loadRetryDelays?: LoadRetryDelays;
}

const ENDORSEMENT_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;
/** Endorsements start a day early so clock skew between nodes cannot make them not yet valid. */
const ENDORSEMENT_BACKDATE_MS = 24 * 3600 * 1000;
const FORWARD_TIMEOUT_MS = 10_000;
/** The public writes folded for an entry that writes no governance table (`mayWriteGov`). */
const NO_WRITES: readonly MapWrites[] = [];
/**
 * Longest a leader holds a forwarded request until its folded commit point reaches the
 * forwarder's (well inside FORWARD_TIMEOUT_MS); then it admits the request as it is.
 */
const FORWARDED_COMMIT_WAIT_MS = 2_000;
/** How long a linearizable read may wait for a leader, its read index and the local commit. */
const LINEARIZABLE_READ_TIMEOUT_MS = 5_000;
/** Response headers a follower passes on from the leader's answer to a forwarded request. */
const FORWARDED_RESPONSE_HEADER = /^x-treaty-[a-z0-9-]{1,64}$/;
/** Set (to the forwarding node's id) on requests a node serves for another; never forwarded again. */
const FORWARDED_HEADER = "x-treaty-forwarded-by";

export const TREATY_VERSION: string = (
  JSON.parse(readFileSync(join(findPackageRoot(), "package.json"), "utf8")) as { version: string }
).version;

/**
 * This node's own record in its committed governance state is `retired` (`retire_node`
 * accepted and the configuration change committed): a retired identity never serves again. A
 * start that finds it throws this (after logging the `NodeRetired` line); node/main.ts exits
 * with `EXIT_RETIRED`. Not a `TreatyError`: no client ever receives it.
 */
export class NodeRetired extends Error {
  /** The stable code of the log line. */
  readonly code = "NodeRetired";

  constructor(
    readonly nodeId: string,
    /** The entry that marked the node retired, when this node folded it (not when the state came from its KV or a snapshot). */
    readonly txid: string | null,
  ) {
    super(
      `node ${nodeId} was retired by governance${txid === null ? "" : ` (txid ${txid})`}: a retired node never serves again; disable its unit and archive its data folder`,
    );
    this.name = "NodeRetired";
  }
}

/**
 * Logs the one `NodeRetired` line of a retired node that stops: `source` "ledger" when its own
 * committed state says so, "service" when a node answered from its committed node table.
 */
function logRetired(logger: Logger, retired: NodeRetired, source: "ledger" | "service"): NodeRetired {
  logger.warn("this node is retired: stopping", {
    code: retired.code,
    node: retired.nodeId,
    txid: retired.txid,
    source,
  });
  return retired;
}

export class TreatyNode {
  readonly config: NodeConfig;
  readonly identity: KeyPair;
  readonly serviceKey: PublicKey;
  readonly serviceId: string;
  /** The service identity's self-signed certificate (PEM) that clients pin for TLS: node/tls/. */
  readonly serviceCertificate: string;
  readonly ledger: Ledger;
  /** This node's snapshots: written at committed signatures, installed from the leader (SnapshotPort). */
  readonly snapshots: Snapshots;
  readonly replica: Replica;
  readonly sequencer: Sequencer;
  readonly execution: ExecutionService;
  /** Readonly calls at the caller's consistency level. */
  readonly reads: ReadService;
  /** Committed public events: `/app/events` and the JetStream export (node/events/). */
  readonly events: NodeEvents;
  /** Readonly calls at a committed txid (`?at=`, node/history/). */
  readonly history: HistoryReads;
  readonly gov = new GovView();
  readonly metrics = new MetricsRegistry();
  readonly logger: Logger;
  readonly measurement: string;
  readonly runtime: NodeRuntime;
  /** Manifests of the loaded contracts (what `/app` dispatches on and `openapi.json` describes). */
  readonly manifests = new Map<string, ContractManifest>();
  /** Bumped on every change of `manifests`, so caches of what they render can key on it. */
  manifestsVersion = 0;
  /** Compiles the code of governance proposals off the main thread (a leader's job). */
  readonly compiler = new CompilerThread();
  /** Checks request signatures off the main thread (node/verify/; `requests.verifyWorkers`). */
  readonly verifier: SignatureVerifier;
  /** Start-up phase and progress (`/node/status`); app and gov calls wait until it serves. */
  readonly lifecycle: Lifecycle;
  readonly #http: RunningHttpServer;
  readonly #router: Router;
  #transport: Transport | null;
  /** The consensus timer, from `#serve` on (its `catchUp` runs before each slice of messages). */
  #tickTimer: TickTimer | undefined;
  /**
   * The leader's signature timer (`sequencer.maybeSign` every half signature interval), running
   * only while this node leads and serves: a follower's would wake it 100 times a second at the
   * default interval for a check that always finds it is not the leader.
   */
  #signTimer: NodeJS.Timeout | undefined;
  /** `#serve` ran: the timers may start. */
  #serving = false;
  #store: LedgerStore;
  #signer: NodeSigner;
  readonly #serviceKeyPair: KeyPair;
  #secrets: NodeSecrets;
  readonly #ledgerSecrets: LedgerSecrets;
  readonly #sealing: SealingProvider;
  readonly #rekey: LedgerRekey;
  /** Rotates this node's at-rest key when a ledger rekey commits. */
  readonly atRest: AtRestRekey;
  #govWork: Promise<void> = Promise.resolve();
  /** Committed seqno up to which governance reactions (contract loads...) have run. */
  #govSettledSeqno = 0;
  /** Committed seqno this node has folded into its governance view (see `committedSeqno`). */
  #foldedSeqno = 0;
  /**
   * For each reaction to a `REACTION_TABLES` change still running, oldest first: the first
   * seqno it acts on. `committedSeqno` stays below the oldest (see there). Empty nearly always.
   */
  readonly #reacting: number[] = [];
  /** Contracts whose committed code this node failed to load: digest and why (see `#syncContracts`). */
  readonly #failedLoads = new Map<string, { readonly digest: string; readonly message: string }>();
  readonly #reactions: GovReactions;
  /** Retries of contract, constitution and limits loads that failed (node/gov/load-retry.ts). */
  readonly loadRetries: LoadRetries;
  readonly #shares: RecoveryShareIssuer;
  #stopped = false;
  /** Tick, heartbeat and election timeout (the config's `consensus` section). */
  readonly #timing: ConsensusTimingConfig;
  /** Requests waiting for a leader to be known (#knownLeader); each removes itself when woken. */
  readonly #leaderWaiters = new Set<() => void>();
  /** Sends forwarded requests, a turn's worth to one leader in one transport request. */
  readonly #forwardBatcher = new ForwardBatcher((leader, payload) => {
    if (this.#transport === null)
      return Promise.reject(new TreatyError("Unavailable", "this node has no transport"));
    return this.#transport.request(leader, payload, FORWARD_TIMEOUT_MS);
  });
  /** Requests forwarded to a leader and not answered yet. */
  readonly #forwards = new Set<{ readonly leader: string; readonly fail: (err: TreatyError) => void }>();
  /** A joining node's wait to enter the consensus configuration. */
  #membership: Promise<void> = Promise.resolve();
  #fatal: ((err: unknown) => void) | undefined;
  #failed = false;
  /** Set once this starting node found its own record `retired` in its committed state. */
  #retirement: NodeRetired | undefined;
  /** Where the entry point stops a node found retired while it catches up (`onRetired`). */
  #retiredHandler: ((retired: NodeRetired) => void) | undefined;
  /** The txid of the committed entry that marked this node `retired`, when one was folded. */
  #retiredTxid: string | null = null;

  private constructor(init: {
    config: NodeConfig;
    runtime: NodeRuntime;
    identity: KeyPair;
    serviceKey: PublicKey;
    serviceKeyPair: KeyPair;
    secrets: NodeSecrets;
    ledgerSecrets: LedgerSecrets;
    sealing: SealingProvider;
    signer: NodeSigner;
    store: LedgerStore;
    ledger: Ledger;
    execution: ExecutionService;
    persisted: PersistedState;
    serviceKeys: readonly PublicKey[];
    snapshotFiles: SnapshotFiles;
    transport: Transport | null;
    router: Router;
    http: RunningHttpServer;
    lifecycle: Lifecycle;
  }) {
    this.config = init.config;
    this.#timing = init.config.consensus ?? DEFAULT_CONSENSUS_TIMING;
    this.lifecycle = init.lifecycle;
    this.runtime = init.runtime;
    this.logger = init.runtime.logger;
    this.identity = init.identity;
    this.serviceKey = init.serviceKey;
    this.serviceId = keyId(init.serviceKey);
    this.serviceCertificate = serviceCertificate(init.serviceKeyPair);
    this.ledger = init.ledger;
    this.execution = init.execution;
    this.#store = init.store;
    this.#signer = init.signer;
    this.#serviceKeyPair = init.serviceKeyPair;
    this.#secrets = init.secrets;
    this.#ledgerSecrets = init.ledgerSecrets;
    this.#sealing = init.sealing;
    this.#transport = init.transport;
    this.#router = init.router;
    this.#http = init.http;
    this.measurement = codeMeasurement();
    const consensus = new ConsensusNode(
      {
        id: init.identity.id,
        rng: init.runtime.rng,
        storage: ledgerLogStorage(init.ledger),
        limits: { ...consensusTickLimits(this.#timing), maxBatchBytes: APPEND_PAYLOAD_BYTES },
      },
      init.persisted,
    );
    this.replica = new Replica({
      consensus,
      ledger: init.ledger,
      execution: init.execution,
      transport: init.transport,
      hardStatePath: join(init.config.dataDir, "consensus.json"),
      logger: this.logger,
      beforeCommit: (from, to) => this.snapshots.beforeCommit(from, to),
      onCommit: (from, to) => this.#onCommit(from, to),
      onRoleChange: (soft) => this.#onRoleChange(soft),
      onAppended: (records) => this.#onAppended(records),
      onFatal: (err) => this.#failFatally(err),
      beforeSlice: () => this.#tickTimer?.catchUp(),
      // Install-snapshot: the port is `this.snapshots` (created below; it rebuilds governance).
      snapshots: {
        latestSeqno: () => this.snapshots.latestSeqno(),
        latestView: () => this.snapshots.latestView(),
        readLatest: () => this.snapshots.readLatest(),
        install: (bytes) => this.snapshots.install(bytes),
      },
      onSnapshotInstalled: async (seqno) => this.reads.onCommit(seqno),
      now: init.runtime.now,
    });
    this.sequencer = new Sequencer({
      replica: this.replica,
      ledger: init.ledger,
      execution: init.execution,
      signer: () => this.#signer,
      policy: parseSignaturePolicy({
        maxTxs: init.config.ledger.signatureIntervalTx,
        maxIntervalMs: init.config.ledger.signatureIntervalMs,
      }),
      now: init.runtime.now,
      logger: this.logger,
      onFatal: (err) => this.#failFatally(err),
      ...(!init.config.ledger.signWhenIdle && { idleSignatureGapMs: null }),
    });
    this.snapshots = new Snapshots({
      ledger: init.ledger,
      execution: init.execution,
      secrets: init.ledgerSecrets,
      serviceKeys: init.serviceKeys,
      files: init.snapshotFiles,
      schedule: init.config.snapshots ?? DEFAULTS.snapshots,
      logger: this.logger,
      isLeader: () => this.replica.consensus.status().role === "Leader",
      recordEvidence: (record) =>
        this.sequencer.appendInternal({
          kind: "internal",
          writeSet: evidenceWriteSet(record),
          meta: { timeMs: init.runtime.now(), contract: null, method: "snapshot_evidence", callerId: null },
        }),
      onInstalled: (seqno) => this.#afterInstall(seqno),
    });
    this.reads = new ReadService({
      replica: this.replica,
      ledger: init.ledger,
      execution: init.execution,
      transport: init.transport,
      knownLeader: (timeoutMs) => this.#knownLeader(timeoutMs),
      self: init.identity.id,
      timeoutMs: LINEARIZABLE_READ_TIMEOUT_MS,
      committedSeqno: () => this.committedSeqno,
    });
    this.events = new NodeEvents({
      ledger: init.ledger,
      config: init.config.events,
      isLeader: () => this.replica.consensus.status().role === "Leader",
      logger: this.logger,
    });
    this.history = new HistoryReads({
      ledger: init.ledger,
      windowEntries: init.config.history?.windowEntries ?? 0,
      contracts: () => new Map(this.gov.rows<{ digest: string; bundle: string }>(GOV.contracts)),
      logger: this.logger,
      snapshotState: (seqno) => this.snapshots.stateAtOrBelow(seqno),
    });
    // A KV store found damaged at run time stops the node: it must not keep serving from it. The
    // stop starts after this turn, so the request that met the damage can still be answered.
    init.execution.onLedgerCorrupt((err) => setImmediate(() => this.#failFatally(err)));
    this.loadRetries = new LoadRetries({
      logger: this.logger,
      ...(init.runtime.loadRetryDelays !== undefined && { delays: init.runtime.loadRetryDelays }),
      // Queued behind the reactions (loads never overlap) and held by no commit point.
      run: (key) => {
        this.#govWork = this.#govWork.then(() => {
          if (this.#stopped) return; // stopping: the execution service is closing
          return key.startsWith("contract:")
            ? this.#syncContracts(key.slice("contract:".length))
            : this.#reactions.retry(key);
        });
      },
    });
    // A restarted worker may load what failed on the last one: retry now, not after the backoff.
    init.execution.onRestart(() => this.loadRetries.retryNow("the execution worker restarted"));
    this.#reactions = new GovReactions({
      retries: this.loadRetries,
      gov: this.gov,
      logger: this.logger,
      now: init.runtime.now,
      isLeader: () => this.replica.consensus.status().role === "Leader",
      latestConfig: () => this.replica.consensus.status().config,
      loadConstitution: (record) => this.execution.loadConstitution(record),
      setLimits: (limits) => this.execution.setLimits(limits),
      appendInternal: (input) => this.sequencer.appendInternal(input),
      changeMembership: (change, input) => this.sequencer.changeMembership(change, input),
    });
    this.#rekey = new LedgerRekey({
      identity: init.identity,
      gov: this.gov,
      secrets: init.ledgerSecrets,
      logger: this.logger,
      now: init.runtime.now,
      randomBytes: init.runtime.randomBytes,
      isLeader: () => this.replica.consensus.status().role === "Leader",
      appendInternal: (input) => this.sequencer.appendInternal(input),
      onActivated: () => {
        this.#resealLedgerSecrets();
        this.atRest.onLedgerVersion(Math.max(...init.ledgerSecrets.activeVersions));
      },
    });
    this.atRest = new AtRestRekey({
      execution: init.execution,
      secrets: () => this.#secrets,
      seal: (secrets) => {
        this.#secrets = secrets;
        this.#sealing.seal({ identity: toKeyFile(this.identity), secrets });
      },
      randomBytes: init.runtime.randomBytes,
      logger: this.logger,
      stopped: () => this.#stopped,
    });
    this.#shares = new RecoveryShareIssuer({
      gov: this.gov,
      logger: this.logger,
      now: init.runtime.now,
      randomBytes: init.runtime.randomBytes,
      leaderView: () => {
        const status = this.replica.consensus.status();
        return status.role === "Leader" ? status.view : null;
      },
      secrets: () => ({ ledgerSecrets: this.#secrets.ledgerSecrets, serviceKey: this.#secrets.serviceKey }),
      appendInternal: (input) => this.sequencer.appendInternal(input),
    });
    // Last: the pool starts its threads at once, and a constructor that threw above (a ledger
    // its consensus state refuses) would leave them running, holding the process open.
    this.verifier = createVerifier(init.config.requests.verifyWorkers ?? defaultVerifyWorkers(), this.logger);
  }

  /**
   * Opens the node in `config.dataDir` and starts serving: reopens its ledger, or (empty data
   * folder) creates a service from `config.genesis` or joins one from `config.join`. A data folder
   * marked damaged by an earlier fail-stop is refused first: `LedgerCorrupt` with
   * `details.marker`, before anything is opened (node/damage-marker.ts).
   */
  static async start(config: NodeConfig, runtime: NodeRuntime): Promise<TreatyNode> {
    refuseIfMarkedDamaged(config.dataDir, "start");
    mkdirSync(config.dataDir, { recursive: true });
    const sealing = createSealingProvider(config.sealing, config.dataDir, runtime);
    const sealed = sealing.unseal();
    const identity = nodeIdentity(config.identityFile, sealed);
    // Seal a new identity at once: a node stopped while waiting to join comes back as itself.
    if (sealed === undefined) sealing.seal({ identity: toKeyFile(identity) });
    const logger = runtime.logger.child({ nodeId: identity.id.slice(0, 12) });
    // Bind the HTTP port first (answering Unavailable until the node is ready), so the URL the
    // node records at genesis or sends when joining is the one it really serves on.
    const router = new Router();
    const http = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      router,
      maxBodyBytes: config.http.maxBodyBytes,
      cors: config.http.cors,
      logger,
      ...clientTlsOptions(config, identity, runtime.now(), logger),
    });
    const cleanup: Array<() => Promise<void>> = [() => http.close()];
    const lifecycle = new Lifecycle({
      logger,
      now: runtime.now,
      ...(runtime.replayHook !== undefined && { hook: runtime.replayHook }),
    });
    const boot: BootInfo = { nodeId: identity.id, serviceKey: null };
    router.add("GET", "/node/status", () => ({ body: bootStatus(boot, lifecycle.progress) }));
    router.setGate((path) => gate(lifecycle.progress, path));
    try {
      return await TreatyNode.#open(config, runtime, {
        identity,
        logger,
        sealing,
        sealed: sealed?.secrets,
        router,
        http,
        cleanup,
        lifecycle,
        boot,
      });
    } catch (err) {
      for (const close of cleanup.reverse()) await close().catch(() => undefined);
      throw err;
    }
  }

  static async #open(
    config: NodeConfig,
    runtime: NodeRuntime,
    ctx: {
      identity: KeyPair;
      logger: Logger;
      sealing: SealingProvider;
      sealed: NodeSecrets | undefined;
      router: Router;
      http: RunningHttpServer;
      cleanup: Array<() => Promise<void>>;
      lifecycle: Lifecycle;
      boot: BootInfo;
    },
  ): Promise<TreatyNode> {
    const { identity, logger, sealing, lifecycle } = ctx;
    const nodeUrl = ctx.http.url; // http.advertiseUrl when set
    let secrets = ctx.sealed;
    const seal = (value: NodeSecrets) => sealing.seal({ identity: toKeyFile(identity), secrets: value });
    let joinedPeers: readonly PeerDescription[] = [];
    let store = openLedgerStore(ledgerStoreDir(config.dataDir), { maxChunkBytes: config.ledger.chunkBytes });
    if (secrets === undefined && config.recover) {
      const hardStatePath = join(config.dataDir, "consensus.json");
      if (existsSync(hardStatePath))
        throw new TreatyError(
          "SecretsUnavailable",
          `${config.dataDir}: this node recovered the service before and its secrets were lost at the stop; rejoin the recovered service instead`,
        );
      lifecycle.enter("recovering");
      // An interrupted attempt's entries, base and snapshot are dropped there: it starts over.
      secrets = await runRecoveryPhase({
        ledgerDir: config.recover.ledgerDir,
        ...(config.recover.snapshotFile !== undefined && { snapshotFile: config.recover.snapshotFile }),
        snapshotDir: snapshotDir(config.dataDir),
        store,
        hardStatePath,
        identity,
        measurement: codeMeasurement(),
        url: nodeUrl,
        router: ctx.router,
        freshnessWindowMs: config.requests.freshnessWindowMs,
        now: runtime.now,
        randomBytes: runtime.randomBytes,
        logger,
      });
      seal(secrets);
    }
    if (secrets === undefined && store.lastSeqno > 0) {
      await store.close();
      archiveUnreadableState(config, sealing.kind, runtime.now(), logger);
      store = openLedgerStore(ledgerStoreDir(config.dataDir), { maxChunkBytes: config.ledger.chunkBytes });
    }
    const opened = store;
    ctx.cleanup.push(() => opened.close());
    if (store.lastSeqno === 0 && config.join) {
      // Also after a restart before the first entry arrived: joining again is how we learn the peers.
      const serviceKey: PublicKey = {
        curve: "ed25519",
        publicKey: fromHex(config.join.serviceKey, "join.serviceKey"),
      };
      if (runtime.transport) {
        // Fail before asking to join: a joiner the service trusts but that cannot reach its
        // peers (wrong NATS credentials or certificate) would only be dead weight.
        logger.info("checking the NATS connection before joining");
        const probe = await runtime.transport({
          serviceId: keyId(serviceKey),
          identity,
          sessionEpoch: nextSessionEpoch(join(config.dataDir, "epoch.json"), runtime.now()),
        });
        await probe.close();
      }
      logger.info("joining the service", { nodes: config.join.nodes });
      lifecycle.enter("joining");
      const joined = await joinService({
        nodes: config.join.nodes,
        serviceKey,
        fetch: keyPinnedFetch(serviceKey),
        identity,
        args: {
          publicKey: toHex(identity.publicKey),
          measurement: codeMeasurement(),
          url: nodeUrl,
          features: OWN_NODE_FEATURES,
        },
        now: runtime.now,
        logger,
        onPending: (waitingFor) => lifecycle.pending(waitingFor),
      }).catch((err: unknown) => {
        // A retired identity started on an empty data folder: the service's committed node
        // table says it is retired; stop as a retired node does, not as a failed start.
        if (err instanceof TreatyError && err.code === "Forbidden" && err.details?.status === "retired")
          throw logRetired(logger, new NodeRetired(identity.id, null), "service");
        throw err;
      });
      lifecycle.enter("starting");
      secrets = {
        ...joined.secrets,
        ...(secrets?.atRestKey !== undefined && { atRestKey: secrets.atRestKey }),
      };
      joinedPeers = joined.nodes;
      seal(secrets);
    } else if (store.lastSeqno === 0 && config.genesis && !secrets) {
      secrets = createServiceSecrets(identity, runtime);
      seal(secrets);
    }
    if (!secrets) {
      throw new TreatyError(
        "MalformedRequest",
        "config: the data folder is empty and there is neither a genesis nor a join section",
      );
    }
    if (secrets.atRestKey === undefined || secrets.atRestKeyFor === undefined) {
      secrets = {
        ...secrets,
        atRestKey: secrets.atRestKey ?? toHex(runtime.randomBytes(AT_REST_KEY_BYTES)),
        atRestKeyFor: Math.max(...secrets.ledgerSecrets.map((s) => s.version)),
      };
      seal(secrets);
    }
    const serviceKeyPair = fromKeyFile(secrets.serviceKey);
    const serviceKey: PublicKey = { curve: serviceKeyPair.curve, publicKey: serviceKeyPair.publicKey };
    ctx.boot.serviceKey = serviceKey;
    if (config.http.tls)
      ctx.http.setTlsCredentials(endorsedTlsCredentials(serviceKeyPair, identity, secrets, nodeUrl));
    const endorsement: NodeEndorsement = {
      nodeId: identity.id,
      curve: identity.curve,
      publicKey: identity.publicKey,
      validFromMs: secrets.endorsement.validFromMs,
      validToMs: secrets.endorsement.validToMs,
      signature: fromHex(secrets.endorsement.signature),
    };
    const ledgerSecrets = new LedgerSecrets(
      secrets.ledgerSecrets.map((x) => new LedgerSecret(x.version, fromHex(x.key))),
    );
    const previousServiceKeys = (secrets.previousServiceKeys ?? []).map((hex) => ({
      curve: "ed25519" as const,
      publicKey: fromHex(hex, "secrets.previousServiceKeys"),
    }));
    const serviceKeys = [serviceKey, ...previousServiceKeys];
    const snapshotFiles = new SnapshotFiles(
      snapshotDir(config.dataDir),
      (config.snapshots ?? DEFAULTS.snapshots).keep,
    );
    // Restart from the latest usable snapshot: the ledger reads only the entries after it.
    const restart: RestartPoint | undefined = restartPoint(snapshotFiles, store, serviceKeys, logger);
    const verify = lifecycle.replay("ledger", store.lastSeqno - (restart?.base.seqno ?? 0));
    const archive = new MerkleArchiveFiles(merkleArchiveDir(config.dataDir));
    const ledger = await Ledger.openPaced(
      {
        store,
        secrets: ledgerSecrets,
        random: runtime.randomBytes,
        serviceKey,
        ...(restart !== undefined && { base: restart.base }),
        previousServiceKeys,
        archive,
        // What loadPersistedState and snapshots look for among compacted internal entries.
        retainInternal: (record) => configOf(record) !== undefined,
      },
      (done) => verify(done - (restart?.base.seqno ?? 0)),
    );
    let persisted: PersistedState;
    if (ledger.lastSeqno > 0) {
      persisted = loadPersistedState(ledger, join(config.dataDir, "consensus.json"));
    } else if (config.genesis) {
      const genesis = await genesisTransaction({
        genesis: config.genesis,
        nodeId: identity.id,
        nodePublicKey: identity.publicKey,
        serviceKey: serviceKey.publicKey,
        measurement: codeMeasurement(),
        nodeUrl,
        timeMs: runtime.now(),
      });
      const record = ledger.appendTransaction(1, genesis);
      ledger.persist();
      persisted = bootstrapState([identity.id], record.bytes);
      logger.info("created a new service", { serviceKey: toHex(serviceKey.publicKey) });
    } else {
      persisted = emptyState(); // joined: the leader replicates the whole log to us
    }
    const execution = await ExecutionService.start({
      kvPath: join(config.dataDir, "kv"),
      atRestKey: fromHex(secrets.atRestKey!, "secrets.atRestKey"),
      olderAtRestKeys: (secrets.olderAtRestKeys ?? []).map((hex) => fromHex(hex, "secrets.olderAtRestKeys")),
      retention: { nonceMs: config.requests.freshnessWindowMs },
      measurement: codeMeasurement(),
      logger,
      replaySource: (from) => replaySource(ledger, from),
    });
    ctx.cleanup.push(() => execution.close());
    if (restart !== undefined && execution.committedVersion < restart.base.seqno) {
      // The KV is behind the snapshot (an install interrupted by a crash, or a lost KV folder).
      const state = stateOf(restart, serviceKeys, ledgerSecrets);
      await execution.installState(state.seqno, [...state.public, ...state.private]);
      await execution.apply([...replaySource(ledger, state.seqno)]);
    }
    const sessionEpoch = nextSessionEpoch(join(config.dataDir, "epoch.json"), runtime.now());
    const transport = runtime.transport
      ? await runtime.transport({ serviceId: keyId(serviceKey), identity, sessionEpoch })
      : null;
    if (transport) ctx.cleanup.push(() => transport.close());
    const node = new TreatyNode({
      config,
      runtime: { ...runtime, logger },
      identity,
      serviceKey,
      serviceKeyPair,
      secrets,
      ledgerSecrets,
      sealing,
      signer: nodeSigner(identity, endorsement, serviceKey),
      store,
      ledger,
      execution,
      persisted,
      serviceKeys,
      snapshotFiles,
      transport,
      router: ctx.router,
      http: ctx.http,
      lifecycle,
    });
    ctx.cleanup.push(() => node.verifier.close());
    // `#serve` starts the tick and signature timers; a start that fails after it (or inside it)
    // must not leave them keeping the process alive.
    ctx.cleanup.push(async () => {
      node.#tickTimer?.stop();
      node.#serving = false;
      node.#leadSignatureTimer(false);
    });
    for (const peer of joinedPeers) node.#addPeer(peer.id, peer.publicKey);
    await node.#recover(persisted.hardState.commitSeqno);
    // Governance retired this node (its committed state says so): it must not serve again.
    if (node.#retirement !== undefined) throw node.#retirement;
    await node.#serve();
    node.atRest.resume();
    lifecycle.enter("catching_up");
    node.#observe();
    const member = node.replica.consensus.status().member;
    const joinOptions = (nodes: readonly string[]) => ({
      nodes,
      serviceKey,
      fetch: keyPinnedFetch(serviceKey),
      identity,
      args: {
        publicKey: toHex(identity.publicKey),
        measurement: node.measurement,
        url: nodeUrl,
        features: OWN_NODE_FEATURES,
      },
      now: runtime.now,
      logger,
      cancelled: () => node.#stopped,
    });
    // Asks the service until it answers, or until this node serves (a leader replicates to it).
    const askRetired = (nodes: readonly string[]): Promise<void> =>
      learnRetired({ ...joinOptions(nodes), cancelled: () => node.#stopped || node.lifecycle.serving }).then(
        (answer) => {
          // A node that serves by now is in a leader's configuration: the answer is stale.
          if (answer === "retired" && !node.lifecycle.serving) node.#retire(null, "service");
          else if (answer === "member") logger.info("voting member of the service");
        },
        (err: unknown) => {
          if (!node.#stopped && !node.lifecycle.serving)
            logger.error("could not learn whether this node is retired", { err });
        },
      );
    const question = startQuestion({
      status: node.gov.node(identity.id)?.status,
      member,
      serving: node.lifecycle.serving,
      joinNodes: config.join?.nodes,
      advertised: node.#advertisedPeerUrls(),
    });
    if (question?.ask === "retired") {
      // Its own ledger may end before the entry marking it `retired` (see `startQuestion`).
      node.#membership = askRetired(question.nodes);
    } else if (question?.ask === "member") {
      const nodes = question.nodes;
      logger.info("not in the consensus configuration: asking to be added", { nodes });
      node.#membership = becomeMember(joinOptions(nodes)).then(
        () => logger.info("voting member of the service"),
        (err: unknown) => {
          // Admitted but stopped before it was added, and retired (or being retired) since: the
          // service's committed node table says so. Asked again as above (one decision path):
          // it stops on `retired`, and keeps asking while `retiring`.
          const status =
            err instanceof TreatyError && err.code === "Forbidden" ? err.details?.status : undefined;
          if (status === "retired" || status === "retiring") return askRetired(nodes);
          // A stop cancels the request: nothing went wrong.
          if (!node.#stopped) logger.error("could not become a voting member", { err });
          return undefined;
        },
      );
    } else if (question?.ask === "nobody") {
      logger.warn(`not in the consensus configuration: ${NOBODY_TO_ASK}`);
      node.lifecycle.waiting(NOBODY_TO_ASK);
    }
    return node;
  }

  /** The node's key and its endorsement by the service, as it signs now (signed answers). */
  get signer(): NodeSigner {
    return this.#signer;
  }

  /** The HTTP routes this node serves, as `METHOD /pattern` (docs and tests check them). */
  get endpoints(): string[] {
    return this.#router.endpoints();
  }

  /** The HTTP base URL. */
  get url(): string {
    return this.#http.url;
  }

  /**
   * This node's commit point as it can act on it: every committed entry up to it is in `gov`
   * (members, users, proposals, node records: what admission checks), in the sequencer's and
   * the events' view, and the node has finished reacting to the governance changes among them
   * that its execution worker must take in (`REACTION_TABLES`: contract code loaded or
   * unloaded, the constitution loaded, sandbox limits applied). It is the point folded from the
   * consensus core's commit point once the replica handed that on (`#onCommit`, after the
   * Ready's entries are durable; a start's `#recover` and a snapshot install's `#afterInstall`
   * set it too), held just below the first entry whose reaction is still running. Ordinary
   * writes start no reaction, so nearly always this is the folded point itself; a deploy holds
   * it (and so the Committed answers of the writes after it) while the worker loads the code. A
   * reaction that fails releases it like one that succeeds (`#syncContracts` says what a
   * contract that did not load answers).
   */
  get committedSeqno(): number {
    const reacting = this.#reacting;
    return reacting.length === 0 ? this.#foldedSeqno : Math.min(this.#foldedSeqno, reacting[0]! - 1);
  }

  /**
   * The error for a call to `contract`, which this node does not serve: `InvalidContract` when
   * governance committed code for it that this node failed to load, else `UnknownContract`.
   */
  contractUnavailable(contract: string): TreatyError {
    const failed = this.#failedLoads.get(contract);
    if (failed === undefined)
      return new TreatyError("UnknownContract", `contract ${JSON.stringify(contract)} is not deployed`);
    return new TreatyError(
      "InvalidContract",
      `contract ${JSON.stringify(contract)}: the code governance committed (digest ${failed.digest.slice(0, 16)}) did not load on this node: ${failed.message}`,
    );
  }

  /**
   * The status of `view.seqno` as this node can act on it: the consensus core's status with its
   * commit point capped at `committedSeqno`. So a Committed transaction's governance changes are
   * in this node's `gov` when the answer is given (a commit the core learned and the node has
   * not folded yet is still Pending). Every answer to a client goes through this.
   */
  txStatus(view: number, seqno: number): TxStatus {
    return this.replica.consensus.txStatus(view, seqno, this.committedSeqno);
  }

  /**
   * A leader that has not committed in its view yet: its governance view (committed entries
   * only) may miss what earlier leaders committed, so it must not refuse on what it lacks.
   */
  governanceMayLag(): boolean {
    const consensus = this.replica.consensus;
    return consensus.status().role === "Leader" && !consensus.committedInView();
  }

  /** Requests this node forwarded to a leader, and the transport requests that carried them. */
  forwardStats(): { readonly requests: number; readonly sends: number } {
    return this.#forwardBatcher.stats;
  }

  /** The node-to-node transport's counters, or undefined for a node without one. */
  transportStats(): TransportStats | undefined {
    return this.#transport?.stats();
  }

  /**
   * Called when the node hits a fatal error (a broken invariant, a replica failure, stored state
   * found damaged at run time: `LedgerCorrupt`, e.g. from the KV's LMDB file); the entry point
   * then stops the node and exits (node/main.ts). Without a handler the node stops itself.
   */
  onFatal(handler: (err: unknown) => void): void {
    this.#fatal = handler;
  }

  /**
   * Called when this node, while catching up after a start, folds a committed entry that marks
   * it `retired` (a start that finds it in its stored committed state throws `NodeRetired`
   * instead); the entry point then stops the node and exits with `EXIT_RETIRED`
   * (node/main.ts). Without a handler the node stops itself.
   */
  onRetired(handler: (retired: NodeRetired) => void): void {
    this.#retiredHandler = handler;
  }

  /**
   * A node that is not serving yet (starting or catching up) and whose own record in the
   * committed governance view is `retired` stops: it can never be a member again. Only the
   * committed view is read (`gov` folds committed entries only), so a `retire_node` that was
   * rolled back never stops a node; a node still `retiring` keeps running. A serving node
   * that governance retires keeps running (as `role: "retired"`) until its operator stops it.
   */
  #noticeRetirement(): void {
    if (this.lifecycle.serving || !this.#isRetired()) return;
    this.#retire(this.#retiredTxid, "ledger");
  }

  /** The URLs the other nodes' committed records advertise (those not retired). */
  #advertisedPeerUrls(): string[] {
    return this.gov
      .rows<NodeRecord>(GOV.nodes)
      .filter(([id, n]) => id !== this.identity.id && n.status !== "retired" && n.url !== undefined)
      .map(([, n]) => n.url!);
  }

  /**
   * Stops this node, retired by governance: `source` "ledger" when its own committed state says
   * so, "service" when a node answered from its committed node table (`learnRetired`).
   */
  #retire(txid: string | null, source: "ledger" | "service"): void {
    if (this.#retirement !== undefined || this.#stopped) return;
    const retired = logRetired(this.logger, new NodeRetired(this.identity.id, txid), source);
    this.#retirement = retired;
    // During `start` (phase before catching_up) the start throws it; afterwards the entry point stops.
    if (this.lifecycle.progress.phase !== "catching_up") return;
    // After this turn: this runs inside the replica's commit callback, which a stop closes.
    setImmediate(() => {
      if (this.#retiredHandler !== undefined) this.#retiredHandler(retired);
      else void this.stop();
    });
  }

  /** True once a fatal error stopped (or is stopping) this node. */
  get failed(): boolean {
    return this.#failed;
  }

  #failFatally(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.logger.error(
      err instanceof AssertionFailure
        ? "invariant broken: stopping"
        : err instanceof TreatyError && err.code === "LedgerCorrupt"
          ? "stored state is damaged: stopping"
          : "fatal error: stopping",
      { err, ...(err instanceof TreatyError && { code: err.code }) },
    );
    // Before the stop: no later start may serve from this data folder (node/damage-marker.ts).
    if (err instanceof TreatyError && err.code === "LedgerCorrupt")
      recordDamage(this.config.dataDir, err, this.runtime.now(), this.logger);
    if (this.#fatal !== undefined) this.#fatal(err);
    else void this.stop();
  }

  /** Stops timers, the HTTP server, the transport, the worker and the stores. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.loadRetries.stop();
    this.#tickTimer?.stop();
    this.#leadSignatureTimer(false);
    for (const wake of [...this.#leaderWaiters]) wake();
    this.replica.close();
    await this.events.stop();
    await this.history.close();
    this.sequencer.failQueued(new TreatyError("Unavailable", "the node is stopping"));
    await this.#membership;
    await this.#http.close();
    await this.verifier.close();
    await this.#transport?.close();
    await this.#govWork.catch(() => undefined);
    await this.compiler.close();
    await this.snapshots.settled();
    await this.execution.close();
    try {
      this.replica.flushCommit();
    } catch (err) {
      // The next start loads more of the ledger; nothing is lost.
      this.logger.warn("could not write the commit point", { err });
    }
    await this.#store.close();
    this.logger.info("node stopped");
  }

  /**
   * The COSE receipt of a committed `txid`, signed by the service identity key (issue 14;
   * runtime/ledger/cose-receipts.ts). Throws like `Ledger.receipt`.
   */
  coseReceipt(txid: string): Uint8Array {
    return buildCoseReceipt(this.ledger, txid, this.committedSeqno, this.#serviceKeyPair);
  }

  /**
   * Forwards a request to the leader over the transport and answers with the leader's response
   * (status, body and its `x-treaty-*` headers). `NotLeader` when the request was certainly not
   * executed (no leader known, or this node is a leader's forward target that no longer leads);
   * `OutcomeUnknown` when it was sent and no answer came back (the leader changed, timed out or
   * the link failed): a resend of the same signed bytes learns what happened.
   */
  async forwardToLeader(req: HttpRequest): Promise<HttpResponse> {
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      throw new TreatyError("NotLeader", "leadership moved while the request was forwarded: resend it");
    }
    // During an election no leader is known: wait for one (an election takes under a second)
    // rather than send the client into retries it may run out of.
    const leader = await this.#knownLeader(FORWARD_TIMEOUT_MS);
    if (this.#transport === null || leader === null || leader === this.identity.id) {
      throw new TreatyError("NotLeader", "no other leader is known right now: retry shortly");
    }
    const headers: Record<string, string> = {};
    for (const name of [
      "content-type",
      HEADER_CALLER,
      HEADER_SIGNATURE,
      HEADER_SIGNATURE_SCHEME,
      "authorization",
    ]) {
      const value = req.headers[name];
      if (typeof value === "string") headers[name] = value;
    }
    const query = req.query.toString();
    const request = {
      method: req.method,
      url: req.path + (query ? `?${query}` : ""),
      headers,
      body: req.body,
      committed: this.committedSeqno,
    };
    let answer: unknown;
    try {
      answer = await new Promise<unknown>((resolve, reject) => {
        const pending = { leader, fail: reject };
        this.#forwards.add(pending);
        this.#forwardBatcher
          .forward(leader, request)
          .then(resolve, reject)
          .finally(() => this.#forwards.delete(pending));
      });
    } catch (err) {
      // Once the bytes may have left, the leader may have executed them: only a resend can tell.
      const why = err instanceof Error ? err.message : String(err);
      throw new TreatyError(
        "OutcomeUnknown",
        `the request was forwarded to the leader and no answer came back (${why}): it may or may not have executed; resend the same signed request to learn its txid`,
      );
    }
    const reply = answer as { status?: unknown; body?: unknown; headers?: unknown } | null;
    if (
      typeof reply !== "object" ||
      reply === null ||
      typeof reply.status !== "number" ||
      !Number.isInteger(reply.status) ||
      reply.status < 200 ||
      reply.status > 599
    )
      throw new TreatyError("Internal", "the leader sent a malformed response");
    const passed: Record<string, string> = {};
    if (typeof reply.headers === "object" && reply.headers !== null) {
      for (const [name, value] of Object.entries(reply.headers)) {
        if (FORWARDED_RESPONSE_HEADER.test(name) && typeof value === "string" && value.length <= 256) {
          passed[name] = value;
        }
      }
    }
    return { status: reply.status, body: reply.body, headers: passed };
  }

  /** The leader, or once one is known (woken by #onRoleChange, not polled), or null after `timeoutMs`. */
  async #knownLeader(timeoutMs: number): Promise<string | null> {
    const { leader } = this.replica.consensus.status();
    if (leader !== null || this.#stopped) return leader;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#leaderWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#leaderWaiters.add(wake);
    });
    return this.replica.consensus.status().leader;
  }

  /** Serves a request (or a batch of them, node/forward-batch.ts) another node forwarded to us. */
  async #serveForwarded(from: string, payload: Uint8Array): Promise<Uint8Array> {
    const request = decode<unknown>(payload, "forwarded request");
    const items = forwardedItems(request);
    if (items !== null) return serveItems(items, (item) => this.#answerForwarded(from, item));
    const batch = batchItems(request);
    if (batch === null) return this.#serveOneForwarded(from, request);
    return serveBatch(batch, (item) => this.#serveOneForwarded(from, item));
  }

  /** Serves one forwarded request in the single form (we believe we lead). */
  async #serveOneForwarded(from: string, decoded: unknown): Promise<Uint8Array> {
    if (isReadIndexRequest(decoded)) return this.reads.serveReadIndex();
    if (isSnapshotChunkRequest(decoded)) return this.replica.serveSnapshotChunk(decoded);
    return encode(await this.#answerForwarded(from, decoded));
  }

  /** Routes one forwarded HTTP request `{method, url, headers, body}` as if it had come to us. */
  async #answerForwarded(from: string, decoded: unknown): Promise<ForwardedAnswer> {
    const request = decoded as { method?: unknown; url?: unknown; headers?: unknown; body?: unknown } | null;
    if (
      request === null ||
      typeof request !== "object" ||
      typeof request.method !== "string" ||
      typeof request.url !== "string" ||
      typeof request.headers !== "object" ||
      request.headers === null ||
      !(request.body instanceof Uint8Array)
    ) {
      throw new TreatyError("MalformedRequest", "forwarded request: expected {method, url, headers, body}");
    }
    // What the forwarder answered Committed is what its client acts on next (a member just added
    // signs its first request, a contract just deployed is called): admit only once this leader
    // can act as far too (folded, and reacted: `committedSeqno`). It learned the commit first, so
    // this rarely waits; a leader that cannot catch up in time admits as it is. A `committed`
    // that is not a seqno, or beyond this leader's log, is refused at once.
    const leading = this.replica.consensus.leaderView() !== null;
    const wait = forwardedCommitWait(
      request,
      leading ? { lastSeqno: this.ledger.lastSeqno, folded: this.committedSeqno } : null,
    );
    if (wait !== null) await this.reads.commitReached(wait, FORWARDED_COMMIT_WAIT_MS);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers))
      if (typeof value === "string") headers[name] = value;
    headers[FORWARDED_HEADER] = from; // the authenticated sender, whatever the request says
    const response = await this.#router.dispatch(
      { method: request.method, url: request.url, headers, body: request.body },
      this.logger,
    );
    if (response.stream !== undefined) refuseForwardedStream(response.stream);
    return { status: response.status ?? 200, body: response.body ?? null, headers: response.headers ?? {} };
  }

  /**
   * `POST /node/join` on the leader: checks the joining node's signed request and code
   * measurement, records it as pending, and trusts it when the service's trust policy says so
   * (`autoTrustNodes` in the service record, the same whichever node leads); otherwise it
   * answers that the node waits for a `trust_node` vote. A trusted node's poll is answered with
   * the service secrets sealed to its key.
   */
  async admitJoin(req: HttpRequest): Promise<HttpResponse> {
    if (this.replica.consensus.status().role !== "Leader") return this.forwardToLeader(req);
    // Joins are judged by committed governance (allowed code, node records): a new leader's may
    // lag until it commits in its view, and a refusal there would be final for the joiner.
    if (this.governanceMayLag())
      throw new TreatyError("Unavailable", "the new leader has not committed in its view yet: retry shortly");
    const { id, key, args } = verifyJoinRequest(
      req,
      this.serviceId,
      this.runtime.now(),
      this.config.requests.freshnessWindowMs,
    );
    const record = this.gov.node(id);
    if (record?.status === "trusted") {
      if (!args.ready && this.#rekey.deliveryPending())
        return { body: { status: "pending", waitingFor: "a ledger rekey in progress to commit" } };
      const member = this.replica.consensus.status().config?.includes(id) ?? false;
      if (args.ready && !member) await this.#transient(this.#addToConfiguration(id));
      return { body: this.#trustedJoinResponse(key, member) };
    }
    if (record !== undefined && record.status !== "pending") {
      // `details.status`: a retiring node restarted learns from it that it is retired (learnRetired).
      throw new TreatyError(
        "Forbidden",
        `node ${id}: ${record.status}; a retired node must join with a new identity`,
        { status: record.status },
      );
    }
    if (this.gov.row(GOV.nodeCode, args.measurement) === undefined) {
      throw new TreatyError(
        "Forbidden",
        `args.measurement: code ${args.measurement} is not allowed by governance`,
      );
    }
    if (record === undefined) {
      const pending: NodeRecord = {
        publicKey: args.publicKey,
        status: "pending",
        measurement: args.measurement,
        url: args.url,
        ...(args.features !== undefined && { features: args.features }),
      };
      await this.sequencer.appendInternal({
        kind: "internal",
        writeSet: publicWriteSet([{ map: GOV.nodes, key: id, value: pending }]),
        meta: { timeMs: this.runtime.now(), contract: null, method: "join_node", callerId: id },
      });
      this.logger.info("node asked to join", { joiner: id.slice(0, 12) });
    } else if (this.gov.service()?.autoTrustNodes === true) {
      await this.#transient(this.trustNode(id));
    }
    const response: JoinResponse = {
      status: "pending",
      waitingFor:
        this.gov.service()?.autoTrustNodes === true
          ? `the service trusts joining nodes automatically: node ${id} is being trusted`
          : trustVoteReason(id),
    };
    return { body: response };
  }

  /**
   * Leader: trusts a pending node without a vote (the service's `autoTrustNodes` policy; with
   * it off, governance's `trust_node` sets the same status). A trusted node's next poll gets
   * the service secrets and its endorsement; it joins the consensus configuration once it runs
   * and says so (`ready`).
   */
  async trustNode(id: string): Promise<TxId> {
    const record = this.gov.node(id);
    if (record?.status !== "pending") throw new TreatyError("Conflict", `node ${id}: not pending`);
    const now = this.runtime.now();
    const trusted: NodeRecord = { ...record, status: "trusted" };
    const txid = await this.sequencer.appendInternal({
      kind: "internal",
      writeSet: publicWriteSet([{ map: GOV.nodes, key: id, value: trusted }]),
      meta: { timeMs: now, contract: null, method: "trust_node", callerId: null },
    });
    this.logger.info("node trusted", { joiner: id.slice(0, 12), txid: `${txid.view}.${txid.seqno}` });
    return txid;
  }

  /** Leader: adds a trusted, running node to the consensus configuration (one entry). */
  async #addToConfiguration(id: string): Promise<TxId> {
    const config = this.replica.consensus.status().config ?? [];
    const writeSet = publicWriteSet([{ map: CONFIG_MAP, key: CONFIG_KEY, value: [...config, id].sort() }]);
    const txid = await this.sequencer.changeMembership(
      { add: id },
      {
        kind: "internal",
        writeSet,
        meta: { timeMs: this.runtime.now(), contract: null, method: "add_node", callerId: null },
      },
    );
    this.logger.info("node added to the configuration", {
      node: id.slice(0, 12),
      txid: `${txid.view}.${txid.seqno}`,
    });
    return txid;
  }

  /** Awaits work that may fail for a passing reason (a change in flight, no commit in this view yet). */
  async #transient(work: Promise<unknown>): Promise<void> {
    try {
      await work;
    } catch (err) {
      if (!(err instanceof TreatyError) || !["Conflict", "Unavailable", "NotLeader"].includes(err.code))
        throw err;
    }
  }

  /**
   * The sealed secrets for a trusted joiner. Its endorsement by the service identity is made
   * here, by the leader that seals them, not recorded in the ledger: the service key never
   * enters a transaction, so governance (the constitution's trust_node) only decides the status.
   */
  #trustedJoinResponse(key: PublicKey, member: boolean): JoinResponse {
    const now = this.runtime.now();
    const endorsement = endorseNode(
      this.#serviceKeyPair,
      key,
      now - ENDORSEMENT_BACKDATE_MS,
      now + ENDORSEMENT_VALIDITY_MS,
    );
    const sealed = sealSecrets(
      this.identity,
      this.#secrets.endorsement,
      key,
      {
        serviceKey: this.#secrets.serviceKey,
        ledgerSecrets: this.#secrets.ledgerSecrets,
        ...(this.#secrets.previousServiceKeys && { previousServiceKeys: this.#secrets.previousServiceKeys }),
        endorsement: {
          validFromMs: endorsement.validFromMs,
          validToMs: endorsement.validToMs,
          signature: toHex(endorsement.signature),
        },
      },
      this.runtime.randomBytes,
    );
    const nodes = this.gov
      .rows<NodeRecord>(GOV.nodes)
      .filter(([, n]) => n.status !== "retired")
      .map(([nodeId, n]) => ({ id: nodeId, publicKey: n.publicKey, url: n.url ?? null }));
    return { status: "trusted", nodes, sealed, member };
  }

  #addPeer(id: string, publicKeyHex: string): void {
    if (this.#transport === null || id === this.identity.id) return;
    this.#transport.addPeer({
      id,
      publicKey: { curve: "ed25519", publicKey: fromHex(publicKeyHex, "node publicKey") },
    });
  }

  /** Transport peers follow the committed node table: pending and trusted nodes, not retired ones. */
  #syncPeers(): void {
    if (this.#transport === null) return;
    const known = new Set(this.#transport.peers());
    for (const [id, record] of this.gov.rows<NodeRecord>(GOV.nodes)) {
      if (record.status === "retired") {
        if (known.has(id)) this.#transport.removePeer(id);
      } else {
        this.#addPeer(id, record.publicKey);
      }
    }
  }

  /**
   * Rebuilds the governance view after a start: from the execution KV's committed state (gov
   * tables and configuration, O(state)) when it has any, then by folding the committed entries
   * after it; reacts to every table it filled.
   */
  async #recover(commitSeqno: number): Promise<void> {
    const committed = Math.min(Math.max(commitSeqno, this.execution.committedVersion), this.ledger.lastSeqno);
    this.snapshots.started(committed);
    const touched = new Set<string>();
    const kvVersion = this.execution.committedVersion;
    if (kvVersion > 0 && kvVersion <= committed) {
      const gov = await this.execution.committedMaps(GOV_PREFIX);
      const config = await this.execution.committedMaps(CONFIG_MAP);
      assert(
        gov.version === kvVersion && config.version === kvVersion,
        "the KV's committed version held still",
      );
      for (const table of this.gov.loadState(kvVersion, [...gov.maps, ...config.maps])) touched.add(table);
    }
    if (committed > this.gov.seqno) this.#onCommit(this.gov.seqno + 1, committed, touched);
    else {
      const from = this.#foldedSeqno + 1;
      this.#foldedSeqno = Math.max(this.#foldedSeqno, committed);
      this.#react(touched, committed, from);
    }
    this.#noticeRetirement();
    await this.#govWork;
  }

  /** After a snapshot install: the governance view and its reactions follow the new state. */
  async #afterInstall(seqno: number): Promise<void> {
    const gov = await this.execution.committedMaps(GOV_PREFIX);
    const config = await this.execution.committedMaps(CONFIG_MAP);
    const touched = this.gov.replaceState(seqno, [...gov.maps, ...config.maps]);
    // The new state's reactions act on everything after what this node had folded.
    const from = this.#foldedSeqno + 1;
    this.#foldedSeqno = Math.max(this.#foldedSeqno, seqno);
    this.#react(touched, seqno, from);
    this.#noticeRetirement();
    await this.#govWork;
  }

  #isRetired(): boolean {
    return this.gov.node(this.identity.id)?.status === "retired";
  }

  /** Starts the signature timer when this serving node leads, stops it when it does not. */
  #leadSignatureTimer(leading: boolean): void {
    if (leading && this.#serving && !this.#stopped) {
      this.#signTimer ??= setInterval(
        () => void this.sequencer.maybeSign().catch(() => undefined),
        Math.max(5, Math.floor(this.config.ledger.signatureIntervalMs / 2)),
      );
    } else if (this.#signTimer !== undefined) {
      clearInterval(this.#signTimer);
      this.#signTimer = undefined;
    }
  }

  /** Whether the signature timer runs (it does exactly while this node leads and serves). */
  get signatureTimerRunning(): boolean {
    return this.#signTimer !== undefined;
  }

  /** Feeds the consensus state to the lifecycle (catching_up → serving). */
  #observe(): void {
    const s = this.replica.consensus.status();
    this.lifecycle.observe({
      isLeader: s.role === "Leader",
      // Caught up means the contracts of that state are loaded too, not only its entries.
      commitSeqno: Math.min(s.commitSeqno, this.#govSettledSeqno),
      leaderCommitSeqno: this.replica.leaderCommitSeqno,
    });
  }

  async #serve(): Promise<void> {
    // A broken invariant in any request's path stops the node (it must not keep serving).
    this.#router.onBrokenInvariant = (err) => this.#failFatally(err);
    buildRouter(this, this.#router);
    this.#transport?.onRequest((from, payload) => this.#serveForwarded(from, payload));
    const tickMs = this.#timing.tickMs;
    // Ticks run as the clock says; the timer wakes the thread only when one may act (tick-clock.ts).
    this.#tickTimer = new TickTimer({
      clock: new TickClock(tickMs, this.runtime.now()),
      now: this.runtime.now,
      tick: () => this.replica.tick(),
      afterFiring: () => {
        this.replica.process();
        if (!this.lifecycle.serving) this.#observe();
      },
      // Until it serves, the lifecycle is fed every tick (#observe).
      ticksUntilTimeout: () => (this.lifecycle.serving ? this.replica.consensus.ticksUntilTimeout() : 1),
    });
    this.#tickTimer.start();
    this.#serving = true;
    this.#leadSignatureTimer(this.replica.consensus.status().role === "Leader");
    this.replica.process();
    this.events.start();
    this.logger.info("node serving", { url: this.#http.url });
  }

  #onRoleChange(soft: SoftState): void {
    this.logger.info("role changed", {
      role: soft.role,
      view: soft.view,
      leader: soft.leader?.slice(0, 12) ?? null,
    });
    // A request forwarded to a leader that lost its role may never be answered: fail it now
    // rather than after the forward timeout. The old leader may have executed it, so the answer
    // is OutcomeUnknown: a resend of the same bytes executes at most once and learns the txid.
    for (const pending of this.#forwards) {
      if (pending.leader !== soft.leader) {
        this.#forwards.delete(pending);
        pending.fail(new TreatyError("OutcomeUnknown", "the leader changed while the request was forwarded"));
      }
    }
    if (soft.leader !== null) for (const wake of [...this.#leaderWaiters]) wake();
    this.#leadSignatureTimer(soft.role === "Leader");
    if (soft.role === "Leader") {
      this.sequencer.onBecameLeader();
      void this.sequencer.maybeSign().catch(() => undefined);
    } else {
      this.sequencer.failQueued(new TreatyError("NotLeader", "leadership changed: resend the request"));
    }
  }

  /**
   * Follower: hands replicated entries, as the ledger decoded them, to the rekey watcher. A loop in
   * a method, not a `map` arrow made per append: a closure made per call loses its optimized code
   * (with the ledger's `entry` inlined) at every major GC (docs/performance.md, "Hot closures
   * recompiled after every major GC").
   */
  #onAppended(records: readonly LedgerRecord[]): void {
    const entries = new Array<DecodedEntry>(records.length);
    for (let i = 0; i < records.length; i++) entries[i] = this.ledger.entry(records[i]!.seqno)!;
    this.#rekey.onAppended(entries);
  }

  /**
   * Folds newly committed entries into the governance view and reacts to what changed.
   * `touched` may come filled with tables a start loaded from state (`#recover`): their
   * reactions act on everything this node had not folded.
   */
  #onCommit(fromSeqno: number, toSeqno: number, touched = new Set<string>()): void {
    this.sequencer.onCommit(toSeqno);
    this.snapshots.onCommit(fromSeqno, toSeqno);
    this.#store.markCommitted?.(Math.min(toSeqno, this.ledger.persistedSeqno));
    this.events.onCommit(toSeqno);
    this.history.onCommit(toSeqno);
    // The first seqno a reaction the commit point waits for acts on (0: none).
    let reactFrom = touched.size > 0 && needsReaction(touched) ? this.#foldedSeqno + 1 : 0;
    for (let seqno = Math.max(fromSeqno, this.gov.seqno + 1); seqno <= toSeqno; seqno++) {
      // Recent entries come decoded from the ledger (no store read, no second decode). Their
      // public writes too when something read them already (a follower's apply); else they are
      // decoded only when their bytes may name a governance table (the leader's, most often not).
      const entry = this.ledger.entry(seqno);
      if (!entry || entry.header.kind === "signature") continue;
      const writes =
        this.ledger.recentPublicWrites(seqno) ??
        (mayWriteGov(entry.publicBytes) ? this.ledger.publicWritesAt(seqno) : NO_WRITES);
      const tables = this.gov.applyCommitted(seqno, writes);
      if (tables.size === 0) continue;
      if (tables.has(GOV.nodes) && this.#retiredTxid === null && this.#isRetired())
        this.#retiredTxid = `${entry.header.view}.${seqno}`;
      for (const table of tables) touched.add(table);
      if (reactFrom === 0 && needsReaction(tables)) reactFrom = seqno;
    }
    this.#foldedSeqno = Math.max(this.#foldedSeqno, toSeqno);
    this.#react(touched, toSeqno, reactFrom);
    this.#noticeRetirement();
    // Wakes the reads and long polls the commit point reached; they resume after this method.
    this.reads.onCommit(this.committedSeqno);
  }

  /**
   * Reacts to committed changes of governance tables (contracts, peers, constitution...); the
   * node's governance is settled up to `seqno` once the reactions ran. With `reactFrom` (a
   * `REACTION_TABLES` table is among `touched`, first changed at that seqno) `committedSeqno`
   * stays below it until the reactions to these tables ran (and the earlier ones: they run in
   * order), whether they succeeded or not.
   */
  #react(touched: ReadonlySet<string>, seqno: number, reactFrom = 0): void {
    if (reactFrom > 0 && !needsReaction(touched)) reactFrom = 0;
    if (reactFrom > 0) this.#reacting.push(reactFrom);
    if (touched.has(GOV.contracts)) this.#govWork = this.#govWork.then(() => this.#syncContracts());
    if (touched.has(GOV.nodes)) this.#syncPeers();
    this.#rekey.onCommit(touched);
    this.#govWork = this.#govWork
      .then(() => this.#reactions.onCommit(touched))
      .finally(() => {
        this.#govSettledSeqno = Math.max(this.#govSettledSeqno, seqno);
        if (reactFrom > 0) {
          // Reactions run in order on `#govWork`, so this one is the oldest still held.
          this.#reacting.shift();
          this.reads.onCommit(this.committedSeqno);
        }
      });
    // Detached: issuing appends an entry, and the governance queue must not wait on it.
    this.#govWork = this.#govWork.then(() => {
      void this.#shares.onCommit(touched);
    });
  }

  /** The active ledger secret versions changed (a rekey committed): keep the sealed copy current. */
  #resealLedgerSecrets(): void {
    this.#secrets = {
      ...this.#secrets,
      ledgerSecrets: this.#ledgerSecrets.activeVersions.map((version) => ({
        version,
        key: toHex(this.#ledgerSecrets.get(version)!.exportKey()),
      })),
    };
    this.#sealing.seal({ identity: toKeyFile(this.identity), secrets: this.#secrets });
  }

  /**
   * Loads every contract version the governance tables name and unloads removed ones. Never
   * rejects. A version that fails to load (governance accepted it, yet this node's worker
   * refuses it or dies loading it) is logged and leaves the contract unserved on this node: an
   * older version it had loaded is unloaded (it is not the code governance decided), and calls
   * are refused `InvalidContract` naming the failure (`contractUnavailable`). The load is tried
   * again with backoff (`loadRetries`, node/gov/load-retry.ts: a retry runs this with `only`,
   * the contract's name), at the next change of the contracts table and at a restart.
   */
  async #syncContracts(only?: string): Promise<void> {
    const wanted = new Map(this.gov.rows<{ digest: string; bundle: string }>(GOV.contracts));
    for (const name of [...this.#failedLoads.keys()]) {
      if (wanted.has(name)) continue;
      this.#failedLoads.delete(name);
      this.loadRetries.dropped(contractLoadKey(name));
    }
    for (const name of [...this.manifests.keys()]) {
      if (!wanted.has(name)) await this.#unload(name);
    }
    for (const [name, record] of wanted) {
      if (only !== undefined && name !== only) continue;
      if (this.#loadedDigests.get(name) === record.digest) continue;
      const digest = record.digest.slice(0, 16);
      try {
        this.manifests.set(name, await this.execution.loadContract(name, record.bundle));
        this.manifestsVersion++;
        this.#loadedDigests.set(name, record.digest);
        this.#failedLoads.delete(name);
        this.logger.info("contract loaded", { contract: name, digest });
        this.loadRetries.succeeded(contractLoadKey(name), { contract: name, digest });
      } catch (err) {
        this.loadRetries.failed(contractLoadKey(name), record.digest, err, { contract: name, digest });
        const message = err instanceof Error ? err.message : String(err);
        this.#failedLoads.set(name, { digest: record.digest, message });
        if (this.manifests.has(name)) await this.#unload(name);
      }
    }
  }

  /** Stops serving contract `name` on this node (its manifest and its code in the worker). */
  async #unload(name: string): Promise<void> {
    this.manifests.delete(name);
    this.manifestsVersion++;
    this.#loadedDigests.delete(name);
    try {
      await this.execution.unloadContract(name);
    } catch (err) {
      // The worker died meanwhile: its successor loads only the bundles still registered.
      this.logger.error("contract failed to unload", { contract: name, err });
    }
  }

  readonly #loadedDigests = new Map<string, string>();
}

/**
 * Governance tables whose committed change the node acts on in its execution worker (contract
 * code, the constitution, sandbox limits): `committedSeqno` waits for those reactions. The
 * other reactions need no wait: peers and ledger secrets follow synchronously in `#react`, JWT
 * issuer keys are read from `gov` at each admission, and the leader's retirement, rekey and
 * recovery-share steps are new writes of their own.
 */
const REACTION_TABLES: readonly string[] = [GOV.contracts, GOV.constitution, GOV.limits];

function needsReaction(tables: ReadonlySet<string>): boolean {
  for (const table of REACTION_TABLES) if (tables.has(table)) return true;
  return false;
}

function createServiceSecrets(identity: KeyPair, runtime: NodeRuntime): NodeSecrets {
  const service = generateKeyPair("ed25519");
  const now = runtime.now();
  const endorsement = endorseNode(
    service,
    identity,
    now - ENDORSEMENT_BACKDATE_MS,
    now + ENDORSEMENT_VALIDITY_MS,
  );
  const secret = generateLedgerSecret(1, runtime.randomBytes);
  return {
    serviceKey: toKeyFile(service),
    ledgerSecrets: [{ version: secret.version, key: toHex(secret.exportKey()) }],
    endorsement: {
      validFromMs: endorsement.validFromMs,
      validToMs: endorsement.validToMs,
      signature: toHex(endorsement.signature),
    },
  };
}

/** Write sets of the ledger's entries after `fromVersion`, in order (empty for signatures). */
function* replaySource(ledger: Ledger, fromVersion: number) {
  // Entries up to a snapshot base are in the KV through the snapshot (and may not be held).
  for (let seqno = Math.max(fromVersion, ledger.base?.seqno ?? 0) + 1; seqno <= ledger.lastSeqno; seqno++) {
    yield { version: seqno, writeSet: ledger.writeSetAt(seqno) };
  }
}

/** The next transport session epoch: above every earlier one of this node, persisted first. */
function nextSessionEpoch(path: string, nowMs: number): number {
  const previous = readJsonFile<{ epoch: number }>(path)?.epoch ?? 0;
  const epoch = Math.max(nowMs, previous + 1);
  writeDurable(path, JSON.stringify({ epoch }));
  return epoch;
}

/** Checks a join request: signed by the key it presents, fresh, well formed. */
function verifyJoinRequest(
  req: HttpRequest,
  serviceId: string,
  nowMs: number,
  freshnessWindowMs: number,
): { id: string; key: PublicKey; args: JoinArgs } {
  const body = parseBody(req.body, bodyEncoding(req.headers));
  const a = body.args as Partial<Record<keyof JoinArgs, unknown>> | null;
  for (const field of ["publicKey", "measurement", "url"] as const) {
    if (typeof a?.[field] !== "string" || a[field].length > 1024) {
      throw new TreatyError("MalformedRequest", `args.${field}: expected a string`);
    }
  }
  const features = a?.features;
  if (
    features !== undefined &&
    (!Array.isArray(features) ||
      features.length > MAX_JOIN_FEATURES ||
      !features.every((f) => typeof f === "string" && f.length > 0 && f.length <= MAX_FEATURE_LENGTH))
  ) {
    throw new TreatyError(
      "MalformedRequest",
      `args.features: expected at most ${MAX_JOIN_FEATURES} names of 1 to ${MAX_FEATURE_LENGTH} characters`,
    );
  }
  const args = a as JoinArgs;
  const key = parsePublicKey("ed25519", args.publicKey, "args.publicKey");
  const id = keyId(key);
  if (req.headers[HEADER_CALLER] !== id)
    throw new TreatyError("MalformedRequest", `${HEADER_CALLER}: must be the id of args.publicKey`);
  const signatureHeader = req.headers[HEADER_SIGNATURE];
  if (typeof signatureHeader !== "string")
    throw new TreatyError("MalformedRequest", `${HEADER_SIGNATURE}: required`);
  if (
    !verifySignature(key, signingInput(serviceId, req.path, req.body), parseSignatureHeader(signatureHeader))
  ) {
    throw new TreatyError(
      "BadSignature",
      `${HEADER_SIGNATURE}: does not verify with args.publicKey for this service (wrong key, or a different pinned service key)`,
    );
  }
  if (body.createdMs === undefined || Math.abs(nowMs - body.createdMs) > freshnessWindowMs) {
    throw new TreatyError("StaleRequest", "body.createdMs: missing or outside the freshness window");
  }
  return { id, key, args };
}

/** What a node knows about itself before it serves (for `/node/status` during start-up). */
interface BootInfo {
  readonly nodeId: string;
  serviceKey: PublicKey | null;
}

/** `/node/status` before the node serves its full API: who it is and where it is. */
function bootStatus(boot: BootInfo, progress: Progress) {
  return {
    nodeId: boot.nodeId,
    phase: progress.phase,
    progress,
    ...(boot.serviceKey !== null && {
      serviceKey: { curve: boot.serviceKey.curve, publicKey: toHex(boot.serviceKey.publicKey) },
      serviceId: keyId(boot.serviceKey),
    }),
    version: TREATY_VERSION,
  };
}

/**
 * Refuses what a node cannot answer yet with a retryable Unavailable naming its phase: before it
 * runs, everything but `/node/status`; while it catches up, app and governance calls (its state
 * is older than what the service committed before it started).
 */
function gate(progress: Progress, path: string): void {
  if (progress.phase === "serving" || path === "/node/status") return;
  if (progress.phase === "catching_up" && !path.startsWith("/app/") && !path.startsWith("/gov/")) return;
  // Disaster recovery (node/recovery/phase.ts): members read the share round and submit shares.
  if (progress.phase === "recovering" && path.startsWith("/gov/recovery")) return;
  throw new TreatyError("Unavailable", `the node is ${describeProgress(progress)}: retry shortly`);
}

function describeProgress(p: Progress): string {
  switch (p.phase) {
    case "pending":
      return `pending: ${p.waitingFor ?? "waiting to be trusted"}`;
    case "replaying":
      return `replaying its ledger (${p.step}: ${p.done} of ${p.total})`;
    case "catching_up":
      if (p.waitingFor !== undefined) return `catching up (${p.waitingFor})`;
      return p.total === undefined
        ? "catching up (waiting to hear from a leader)"
        : `catching up (committed ${p.done} of ${p.total})`;
    case "recovering":
      return "recovering the service: waiting for members' recovery shares";
    default:
      return p.phase.replace("_", " ");
  }
}
