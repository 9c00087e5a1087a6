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
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fromHex, toHex } from "../sdk/bytes.js";
import { TreatyError } from "../sdk/errors.js";
import {
  fromKeyFile,
  generateKeyPair,
  type KeyFile,
  type KeyPair,
  keyId,
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
import { decodeEntry } from "../runtime/ledger/entry.js";
import { LmdbLedgerStore, ledgerStoreDir } from "../runtime/ledger/lmdb-store.js";
import type { ContractManifest } from "../runtime/sandbox/abi.js";
import type { NodeConfig } from "./config.js";
import { bootstrapState, ConsensusNode } from "./consensus/node.js";
import type { PersistedState, Rng, SoftState } from "./consensus/types.js";
import { ExecutionService } from "./execution/service.js";
import { genesisTransaction } from "./genesis.js";
import { codeMeasurement } from "./attestation.js";
import { GOV } from "./gov/tables.js";
import { GovView } from "./gov/view.js";
import { startHttpServer, type RunningHttpServer } from "./http/server.js";
import type { Logger } from "./log.js";
import { MetricsRegistry } from "./metrics.js";
import { loadPersistedState, Replica } from "./replica.js";
import { buildRouter } from "./routes.js";
import { Sequencer } from "./sequencer.js";
import { readJsonFile, writeDurable } from "./state-file.js";
import type { Transport } from "./transport/types.js";
import { parseSignaturePolicy } from "../runtime/ledger/policy.js";
import { readFileSync } from "node:fs";
import { findPackageRoot } from "../runtime/compiler/package-root.js";

/** What only an entry point may provide: clock, randomness, logging, the network. */
export interface NodeRuntime {
  readonly now: () => number;
  readonly randomBytes: (length: number) => Uint8Array;
  readonly rng: Rng;
  readonly logger: Logger;
  /** Builds the node-to-node transport once the node knows its identity and service; null for a lone node. */
  readonly transport: ((args: { serviceId: string; identity: KeyPair }) => Promise<Transport>) | null;
  /** Ms per consensus tick (default 50). */
  readonly tickMs?: number;
}

/** The sealed node secrets. On a TEE this file would be sealed to the code measurement. */
interface SecretsFile {
  readonly serviceKey: KeyFile;
  readonly ledgerSecrets: ReadonlyArray<{ version: number; key: string }>;
  readonly endorsement: { validFromMs: number; validToMs: number; signature: string };
}

const ENDORSEMENT_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;

export const TREATY_VERSION: string = (
  JSON.parse(readFileSync(join(findPackageRoot(), "package.json"), "utf8")) as { version: string }
).version;

export class TreatyNode {
  readonly config: NodeConfig;
  readonly identity: KeyPair;
  readonly serviceKey: PublicKey;
  readonly serviceId: string;
  readonly ledger: Ledger;
  readonly replica: Replica;
  readonly sequencer: Sequencer;
  readonly execution: ExecutionService;
  readonly gov = new GovView();
  readonly metrics = new MetricsRegistry();
  readonly logger: Logger;
  readonly measurement: string;
  readonly runtime: NodeRuntime;
  /** Manifests of the loaded contracts (what `/app` dispatches on and `openapi.json` describes). */
  readonly manifests = new Map<string, ContractManifest>();
  #http: RunningHttpServer | undefined;
  #transport: Transport | null;
  #timers: NodeJS.Timeout[] = [];
  #store: LmdbLedgerStore;
  #signer: NodeSigner;
  #govWork: Promise<void> = Promise.resolve();
  #stopped = false;
  #fatal: ((err: unknown) => void) | undefined;

  private constructor(init: {
    config: NodeConfig;
    runtime: NodeRuntime;
    identity: KeyPair;
    serviceKey: PublicKey;
    signer: NodeSigner;
    store: LmdbLedgerStore;
    ledger: Ledger;
    execution: ExecutionService;
    persisted: PersistedState;
    transport: Transport | null;
  }) {
    this.config = init.config;
    this.runtime = init.runtime;
    this.logger = init.runtime.logger;
    this.identity = init.identity;
    this.serviceKey = init.serviceKey;
    this.serviceId = keyId(init.serviceKey);
    this.ledger = init.ledger;
    this.execution = init.execution;
    this.#store = init.store;
    this.#signer = init.signer;
    this.#transport = init.transport;
    this.measurement = codeMeasurement();
    const consensus = new ConsensusNode({ id: init.identity.id, rng: init.runtime.rng }, init.persisted);
    this.replica = new Replica({
      consensus,
      ledger: init.ledger,
      execution: init.execution,
      transport: init.transport,
      hardStatePath: join(init.config.dataDir, "consensus.json"),
      logger: this.logger,
      onCommit: (from, to) => this.#onCommit(from, to),
      onRoleChange: (soft) => this.#onRoleChange(soft),
      onFatal: (err) => this.#fatal?.(err),
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
    });
  }

  /** Opens (or creates, with a genesis config) the node in `config.dataDir` and starts serving. */
  static async start(config: NodeConfig, runtime: NodeRuntime): Promise<TreatyNode> {
    mkdirSync(config.dataDir, { recursive: true });
    const identity = loadOrCreateIdentity(config.identityFile);
    const logger = runtime.logger.child({ nodeId: identity.id.slice(0, 12) });
    const store = LmdbLedgerStore.open(ledgerStoreDir(config.dataDir));
    const secretsPath = join(config.dataDir, "secrets.json");
    let secretsFile = readJsonFile<SecretsFile>(secretsPath);
    let genesisRecord: Uint8Array | undefined;
    if (store.lastSeqno === 0) {
      if (!config.genesis) {
        await store.close();
        throw new TreatyError(
          "MalformedRequest",
          "config: the ledger is empty and there is no genesis section (joining lands with the replicated network)",
        );
      }
      secretsFile = createServiceSecrets(identity, runtime);
      writeDurable(secretsPath, JSON.stringify(secretsFile, null, 2));
    }
    if (!secretsFile) {
      await store.close();
      throw new TreatyError("LedgerCorrupt", `${secretsPath}: missing; this node cannot read its own ledger`);
    }
    const serviceKeyPair = fromKeyFile(secretsFile.serviceKey);
    const serviceKey: PublicKey = { curve: serviceKeyPair.curve, publicKey: serviceKeyPair.publicKey };
    const endorsement: NodeEndorsement = {
      nodeId: identity.id,
      curve: identity.curve,
      publicKey: identity.publicKey,
      validFromMs: secretsFile.endorsement.validFromMs,
      validToMs: secretsFile.endorsement.validToMs,
      signature: fromHex(secretsFile.endorsement.signature),
    };
    const secrets = new LedgerSecrets(
      secretsFile.ledgerSecrets.map((s) => new LedgerSecret(s.version, fromHex(s.key))),
    );
    const ledger = Ledger.open({ store, secrets, random: runtime.randomBytes, serviceKey });
    let persisted: PersistedState;
    if (ledger.lastSeqno === 0) {
      const genesis = genesisTransaction({
        genesis: config.genesis!,
        nodeId: identity.id,
        nodePublicKey: identity.publicKey,
        endorsement,
        serviceKey: serviceKey.publicKey,
        measurement: codeMeasurement(),
        nodeUrl: `http://${config.http.host}:${config.http.port}`,
        timeMs: runtime.now(),
      });
      const record = ledger.appendTransaction(1, genesis);
      ledger.persist();
      genesisRecord = record.bytes;
      persisted = bootstrapState([identity.id], genesisRecord);
      logger.info("created a new service", { serviceKey: toHex(serviceKey.publicKey) });
    } else {
      persisted = loadPersistedState(ledger, join(config.dataDir, "consensus.json"));
    }
    const execution = await ExecutionService.start({
      kvPath: join(config.dataDir, "kv"),
      logger,
      replaySource: (from) => replaySource(ledger, from),
    });
    const transport = runtime.transport
      ? await runtime.transport({ serviceId: keyId(serviceKey), identity })
      : null;
    const node = new TreatyNode({
      config,
      runtime: { ...runtime, logger },
      identity,
      serviceKey,
      signer: nodeSigner(identity, endorsement, serviceKey),
      store,
      ledger,
      execution,
      persisted,
      transport,
    });
    await node.#recover(persisted.hardState.commitSeqno);
    await node.#serve();
    return node;
  }

  /** The HTTP base URL. */
  get url(): string {
    return this.#http!.url;
  }

  /** Called when the node hits a fatal error (the entry point exits). */
  onFatal(handler: (err: unknown) => void): void {
    this.#fatal = handler;
  }

  /** Stops timers, the HTTP server, the transport, the worker and the stores. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.sequencer.failQueued(new TreatyError("Unavailable", "the node is stopping"));
    await this.#http?.close();
    await this.#transport?.close();
    await this.#govWork.catch(() => undefined);
    await this.execution.close();
    await this.#store.close();
    this.logger.info("node stopped");
  }

  /** Brings the KV up to the ledger's end and the governance view up to the known commit point. */
  async #recover(commitSeqno: number): Promise<void> {
    const applied = this.execution.appliedVersion;
    const items = [...replaySource(this.ledger, applied)];
    if (items.length > 0) await this.execution.apply(items);
    const committed = Math.max(commitSeqno, this.execution.committedVersion);
    if (committed > 0) this.#onCommit(1, Math.min(committed, this.ledger.lastSeqno));
    await this.#govWork;
  }

  async #serve(): Promise<void> {
    this.#http = await startHttpServer({
      host: this.config.http.host,
      port: this.config.http.port,
      router: buildRouter(this),
      maxBodyBytes: this.config.http.maxBodyBytes,
      logger: this.logger,
    });
    const tickMs = this.runtime.tickMs ?? 50;
    this.#timers.push(
      setInterval(() => {
        this.replica.tick();
        this.replica.process();
      }, tickMs),
      setInterval(
        () => void this.sequencer.maybeSign().catch(() => undefined),
        Math.max(5, Math.floor(this.config.ledger.signatureIntervalMs / 2)),
      ),
    );
    this.replica.process();
    this.logger.info("node serving", { url: this.#http.url });
  }

  #onRoleChange(soft: SoftState): void {
    this.logger.info("role changed", {
      role: soft.role,
      view: soft.view,
      leader: soft.leader?.slice(0, 12) ?? null,
    });
    if (soft.role === "Leader") {
      this.sequencer.onBecameLeader();
      void this.sequencer.maybeSign().catch(() => undefined);
    } else {
      this.sequencer.failQueued(new TreatyError("NotLeader", "leadership changed: resend the request"));
    }
  }

  /** Folds newly committed entries into the governance view and reacts to what changed. */
  #onCommit(fromSeqno: number, toSeqno: number): void {
    const touched = new Set<string>();
    for (let seqno = Math.max(fromSeqno, this.gov.seqno + 1); seqno <= toSeqno; seqno++) {
      const record = this.ledger.get(seqno);
      if (!record || decodeEntry(record.bytes, seqno).header.kind === "signature") continue;
      for (const table of this.gov.applyEntry(record).tables) touched.add(table);
    }
    if (touched.has(GOV.contracts)) this.#govWork = this.#govWork.then(() => this.#syncContracts());
  }

  /** Loads every contract version the governance tables name and unloads removed ones. */
  async #syncContracts(): Promise<void> {
    const wanted = new Map(this.gov.rows<{ digest: string; bundle: string }>(GOV.contracts));
    for (const name of [...this.manifests.keys()]) {
      if (!wanted.has(name)) {
        await this.execution.unloadContract(name);
        this.manifests.delete(name);
      }
    }
    for (const [name, record] of wanted) {
      if (this.#loadedDigests.get(name) === record.digest) continue;
      try {
        this.manifests.set(name, await this.execution.loadContract(name, record.bundle));
        this.#loadedDigests.set(name, record.digest);
        this.logger.info("contract loaded", { contract: name, digest: record.digest.slice(0, 16) });
      } catch (err) {
        this.logger.error("contract failed to load", { contract: name, err });
      }
    }
  }

  readonly #loadedDigests = new Map<string, string>();
}

function loadOrCreateIdentity(file: string): KeyPair {
  const existing = readJsonFile<unknown>(file);
  if (existing !== undefined) return fromKeyFile(existing);
  const key = generateKeyPair("ed25519");
  writeDurable(file, `${JSON.stringify(toKeyFile(key), null, 2)}\n`);
  return key;
}

function createServiceSecrets(identity: KeyPair, runtime: NodeRuntime): SecretsFile {
  const service = generateKeyPair("ed25519");
  const now = runtime.now();
  const endorsement = endorseNode(service, identity, now - 24 * 3600 * 1000, now + ENDORSEMENT_VALIDITY_MS);
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
  for (let seqno = fromVersion + 1; seqno <= ledger.lastSeqno; seqno++) {
    yield { version: seqno, writeSet: ledger.writeSetAt(seqno) };
  }
}
