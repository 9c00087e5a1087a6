/**
 * Starts a real multi-process Treaty network for integration tests: a private `nats-server`
 * (node/nats-server.ts) and N node PROCESSES, each `node <build>/node/cli.js node start --config
 * <file>` of the same build this module was compiled into (so `.build/<you>/` tests spawn
 * `.build/<you>/node/cli.js`, and `dist/` tests spawn `dist/node/cli.js`).
 *
 * Layout, as `treaty dev` does it: node 0 creates the service (genesis with fresh member0 and
 * user0 keys, the sample contracts, `open: true`); nodes 1..N-1 join it through node 0 and become
 * voting members. The service trusts joining nodes automatically (`genesis.autoTrustNodes`, a
 * policy of the service that whichever node leads applies) unless `autoTrustNodes: false`. Identities are created here before the first start, so node ids are known up
 * front; HTTP ports are fixed per node, so URLs survive restarts. Each node's JSON log lines go
 * to `<dir>/node<i>.log` (`tail()` reads them for failure messages).
 *
 * Per node: `kill()` (SIGKILL), `stop()` (SIGTERM, clean), `pause()` / `resume()` (SIGSTOP /
 * SIGCONT: the process and its NATS connection freeze, a partition without any production
 * hook), `start()` (restart on the same data dir and port), `status()`. A node process that
 * exits without being told to is recorded in `crashes()`, and every `waitFor` fails at once
 * with the tail of its log.
 *
 * Ownership: the caller must `dispose()` the cluster (in `after`/`finally`); it resumes paused
 * nodes, stops every node process and the nats-server, and deletes the temp dir, also when a
 * test failed half-way (set `TREATY_KEEP_CLUSTER=1` to keep the dir, logs and data for a
 * post-mortem; its path is printed). Node processes still running when the test process exits
 * are killed.
 *
 * @example
 *   const cluster = await startCluster({ nodes: 3 });
 *   try {
 *     const { txid } = await cluster.client().call("log", "writePublic", { id: 1, msg: "hi" });
 *     await cluster.client().waitForCommit(txid!);
 *     const leader = await cluster.waitForLeader();
 *     await leader.kill();
 *     await cluster.waitForLeader({ exclude: [leader] });
 *   } finally {
 *     await cluster.dispose();
 *   }
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { Client, type ClientOptions } from "../../sdk/client.js";
import {
  type Curve,
  generateKeyPair,
  type KeyPair,
  keyId,
  type PublicKey,
  toKeyFile,
} from "../../sdk/keys.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { type NatsServer, startNatsServer } from "../../node/nats-server.js";
import { keyPinnedFetch } from "../../node/tls/client.js";
import { pollFor } from "./poll.js";
import { testSnapshots } from "./snapshot-schedule.js";

/** A contract deployed at genesis: name and source folder (absolute, or relative to the package root). */
export interface ClusterContract {
  readonly name: string;
  readonly path: string;
}

export interface ClusterOptions {
  /** Node processes (1 to 7). Default 3. */
  readonly nodes?: number;
  /** Curve of the genesis user's key (user0). Default ed25519. */
  readonly userCurve?: Curve;
  /** Contracts at genesis. Default: the samples `log`, `bank` and `meter`. */
  readonly contracts?: readonly ClusterContract[];
  /** The ledger signature interval in ms (default 20: commits come fast). */
  readonly signatureIntervalMs?: number;
  /** Signature after this many transactions (default: the node's default). */
  readonly signatureIntervalTx?: number;
  /** Node log level (default "info": the logs are the first thing to read when a test fails). */
  readonly logLevel?: "debug" | "info" | "warn" | "error";
  /** How long `startCluster` waits for the whole network (default 60 s). */
  readonly readyTimeoutMs?: number;
  /** Members at genesis besides `member` (e.g. with an `encryptionKey` for recovery shares). */
  readonly extraMembers?: readonly { readonly publicKey: string; readonly encryptionKey?: string }[];
  /** Extra fields merged into every node's config (e.g. `requests`). */
  readonly extraConfig?: Readonly<Record<string, unknown>>;
  /**
   * The service's initial trust policy for joiners (default true). With false, nodes 1..N-1
   * cannot join at start-up: use `nodes: 1` and trust joiners by proposal.
   */
  readonly autoTrustNodes?: boolean;
  /** Extra arguments for `node` before the CLI path (e.g. `--cpu-prof`), per node index. */
  readonly nodeArgs?: (index: number) => readonly string[];
  /**
   * Attach the nodes to NATS servers the caller runs (and disposes) instead of a private
   * nats-server: `config(i)` is node i's `nats` config section (servers, TLS, credentials,
   * subject prefix); `handle` is what `cluster.nats` returns.
   */
  readonly externalNats?: {
    readonly handle: NatsServer;
    readonly config: (index: number) => Readonly<Record<string, unknown>>;
  };
  /**
   * Serve the client API over TLS (default false: plain HTTP, `http.tls: false`). With true,
   * node URLs are https, `client()` pins the service key (node/tls/client.ts `keyPinnedFetch`)
   * and `serviceFile` carries the service certificate; the harness's own status polls do not pin.
   */
  readonly tls?: boolean;
}

/** `GET /node/status` of a running node. */
export interface NodeStatusJson {
  readonly nodeId: string;
  readonly role: "leader" | "follower" | "candidate" | "learner" | "retired";
  readonly view: number;
  readonly leader: string | null;
  readonly commitSeqno: number;
  readonly lastSeqno: number;
  readonly serviceId: string;
  readonly serviceStatus: string;
  readonly [key: string]: unknown;
}

/** `GET /node/network` of a running node. */
export interface NetworkJson {
  readonly leader: string | null;
  readonly view: number;
  readonly config: readonly string[] | null;
  readonly nodes: readonly {
    readonly nodeId: string;
    readonly status: string;
    /** leader, follower (voter), learner (trusted, not in the configuration yet) or null. */
    readonly role: "leader" | "follower" | "learner" | null;
    readonly url: string | null;
  }[];
}

/** How a node process ended without being told to. */
export interface Crash {
  readonly index: number;
  readonly code: number | null;
  readonly signal: string | null;
}

/** One node process of the cluster. */
export interface ClusterNode {
  readonly index: number;
  /** The node id (`keyId` of its identity key). */
  readonly id: string;
  readonly identity: KeyPair;
  /** `http://127.0.0.1:<port>`, the same across restarts. */
  readonly url: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly logFile: string;
  /** True while the process runs (paused included). */
  running(): boolean;
  /** True while the process is stopped with SIGSTOP. */
  paused(): boolean;
  /** The process id while running. */
  pid(): number | undefined;
  /**
   * Starts the process (again) on the same config, data dir and port, with `args` after
   * `node start --config <file>` (e.g. `--recover <dir>`); does not wait for readiness.
   */
  start(args?: readonly string[]): Promise<void>;
  /** SIGKILL (a crash: nothing flushed, nothing cleaned up); resolves once the process is gone. */
  kill(): Promise<void>;
  /**
   * SIGTERM (a clean stop; SIGKILL after `graceMs`, default 15 s); resolves with the exit code,
   * or null when it had to be killed.
   */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGSTOP: the process freezes, its connections stay open but silent. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  /** `GET /node/status` (rejects when the node does not answer within 5 s). */
  status(): Promise<NodeStatusJson>;
  /** `GET /node/network`. */
  network(): Promise<NetworkJson>;
  /** The last `lines` lines of this node's log (all starts appended). */
  tail(lines?: number): string;
}

export interface Cluster {
  readonly nats: NatsServer;
  readonly nodes: readonly ClusterNode[];
  /** The temp dir holding every node's config, data dir and log. */
  readonly dir: string;
  readonly serviceKey: PublicKey;
  readonly serviceId: string;
  /** `{serviceKey: {curve, publicKey}, nodes: [url...]}`, as `treaty dev` writes service.json. */
  readonly serviceFile: {
    serviceKey: { curve: string; publicKey: string };
    nodes: string[];
    /** With `tls`: the service certificate (PEM) from node 0's `/node/status`. */
    serviceCertificate?: string;
  };
  /** The genesis member (member0) and user (user0). */
  readonly member: KeyPair;
  readonly user: KeyPair;
  /**
   * An SDK client over `nodes` (default: every node), signing with `key` (default user0; null:
   * anonymous). Each HTTP request times out after 5 s, so a paused node counts as unreachable
   * and the client moves on to the next one.
   */
  client(key?: KeyPair | null, options?: Partial<ClientOptions> & { nodes?: readonly string[] }): Client;
  /**
   * Resolves with the leader once every running, unpaused node not in `exclude` reports the same
   * leader in the same view and that leader is among them. Default timeout 20 s.
   */
  waitForLeader(options?: { exclude?: readonly ClusterNode[]; timeoutMs?: number }): Promise<ClusterNode>;
  /**
   * Waits until the given nodes (default: every running, unpaused node) agree on one
   * `lastSeqno`, have committed all of it, and report no uncommitted tail. Resolves with that
   * seqno. Default timeout 30 s.
   */
  waitForConvergence(options?: { nodes?: readonly ClusterNode[]; timeoutMs?: number }): Promise<number>;
  /**
   * Polls `check` every 50 ms until it returns a value other than undefined; throws after
   * `timeoutMs` (default 20 s) naming `what`, or at once when a node crashed, with log tails.
   * Exceptions from `check` count as "not yet" (a node restarting refuses connections).
   */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  /**
   * Creates and starts one more node process that joins the service through `via` (default:
   * every running node; a URL stands for a node, e.g. a proxy in front of one), as `treaty node
   * start --join` does; it is appended to `nodes` (and stopped by `dispose`). Resolves once the
   * process is spawned, not when it has joined: it may wait to be trusted (see `autoTrustNodes`).
   */
  addNode(options?: { via?: readonly (ClusterNode | string)[] }): Promise<ClusterNode>;
  /** Node processes that exited without `kill`/`stop`/`dispose` asking them to. */
  crashes(): readonly Crash[];
  /** Forgets recorded crashes (after a test made a node exit on purpose and checked why). */
  clearCrashes(): void;
  /** The tail of every node's log, for a failure message. */
  logs(lines?: number): string;
  /** Stops everything and deletes the temp dir. Idempotent. */
  dispose(): Promise<void>;
}

const CLI = fileURLToPath(new URL("../../node/cli.js", import.meta.url));
const SAMPLES: readonly ClusterContract[] = [
  { name: "log", path: "contracts/examples/log" },
  { name: "bank", path: "contracts/examples/bank" },
  { name: "meter", path: "contracts/examples/meter" },
];
const POLL_MS = 50;
const HTTP_TIMEOUT_MS = 5000;
const DEFAULT_STOP_GRACE_MS = 15_000;
const LOG_TAIL_LINES = 30;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts nats-server and the node processes and waits until the network is ready (see module comment). */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 7) throw new Error("nodes: expected 1 to 7");
  const contracts = options.contracts ?? SAMPLES;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const dir = mkdtempSync(join(tmpdir(), "treaty-cluster-"));
  const member = generateKeyPair("ed25519");
  const user = generateKeyPair(options.userCurve ?? "ed25519");
  const crashes: Crash[] = [];
  const nodes: NodeProcess[] = [];
  let nats: NatsServer | undefined;
  let disposed = false;

  const logs = (lines = LOG_TAIL_LINES) =>
    nodes.map((n) => `--- node ${n.index} (${n.id.slice(0, 12)}) ${n.logFile}\n${n.tail(lines)}`).join("\n");

  const waitFor = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> =>
    pollFor(what, check, {
      timeoutMs,
      pollMs: POLL_MS,
      context: () => logs(),
      abort: () => (crashes.length > 0 ? `node process(es) crashed: ${JSON.stringify(crashes)}` : undefined),
    });

  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    try {
      await Promise.all(nodes.map((n) => n.stop(5000)));
      if (options.externalNats === undefined) await nats?.dispose();
    } finally {
      // A debugging aid read here, in test support, never by the node itself.
      if (process.env.TREATY_KEEP_CLUSTER) process.stderr.write(`cluster kept in ${dir}\n`);
      else rmSync(dir, { recursive: true, force: true });
    }
  };

  try {
    nats = options.externalNats?.handle ?? (await startNatsServer());
    const ports = await freePorts(count);
    const scheme = options.tls === true ? "https" : "http";
    const urls = ports.map((port) => `${scheme}://127.0.0.1:${port}`);
    for (let i = 0; i < count; i++) {
      nodes.push(
        new NodeProcess(i, dir, urls[i]!, options.nodeArgs?.(i) ?? [], (crash) => crashes.push(crash)),
      );
    }
    const root = findPackageRoot();
    const base = (i: number) => ({
      dataDir: nodes[i]!.dataDir,
      identityFile: nodes[i]!.identityFile,
      sealing: { provider: "virtual", keyFile: join(dir, `node${i}-sealing.key`) },
      http: { host: "127.0.0.1", port: ports[i], tls: options.tls === true },
      nats: options.externalNats?.config(i) ?? { servers: [nats!.url] },
      ledger: {
        signatureIntervalMs: options.signatureIntervalMs ?? 20,
        ...(options.signatureIntervalTx !== undefined && {
          signatureIntervalTx: options.signatureIntervalTx,
        }),
      },
      logLevel: options.logLevel ?? "info",
      ...options.extraConfig,
      snapshots: testSnapshots(options.extraConfig?.snapshots),
    });
    nodes[0]!.writeConfig({
      ...base(0),
      genesis: {
        members: [
          { curve: member.curve, publicKey: toHex(member.publicKey) },
          ...(options.extraMembers ?? []),
        ],
        users: [{ curve: user.curve, publicKey: toHex(user.publicKey) }],
        contracts: contracts.map((c) => ({ name: c.name, path: resolve(root, c.path) })),
        open: true,
        autoTrustNodes: options.autoTrustNodes ?? true,
      },
    });
    await nodes[0]!.start();
    // Node 0's status names the service key once it has created the service (it answers
    // /node/status from the start, with its phase); the joiners' start-up overlaps its election.
    const first = await waitFor(
      "node 0 to create the service",
      async () => {
        const s = await nodes[0]!.status();
        return s.serviceKey === undefined ? undefined : s;
      },
      readyTimeoutMs,
    );
    const serviceKeyHex = (first.serviceKey as { publicKey: string }).publicKey;
    for (let i = 1; i < count; i++) {
      nodes[i]!.writeConfig({ ...base(i), join: { nodes: [urls[0]], serviceKey: serviceKeyHex } });
    }
    await Promise.all(nodes.slice(1).map((n) => n.start()));
    const ids = nodes.map((n) => n.id).sort();
    await waitFor(
      `all ${count} nodes to be voting members`,
      async () => {
        const net = await nodes[0]!.network();
        return JSON.stringify([...(net.config ?? [])].sort()) === JSON.stringify(ids) ? true : undefined;
      },
      readyTimeoutMs,
    );
    const serviceKey: PublicKey = { curve: "ed25519", publicKey: fromHex(serviceKeyHex) };
    const addNode = async ({ via }: { via?: readonly (ClusterNode | string)[] } = {}) => {
      const [port] = await freePorts(1);
      const index = nodes.length;
      const node = new NodeProcess(
        index,
        dir,
        `${scheme}://127.0.0.1:${port}`,
        options.nodeArgs?.(index) ?? [],
        (crash) => crashes.push(crash),
      );
      nodes.push(node);
      const joinVia = (via ?? nodes.filter((n) => n !== node && n.running())).map((n) =>
        typeof n === "string" ? n : n.url,
      );
      node.writeConfig({
        ...base(index),
        http: { host: "127.0.0.1", port, tls: options.tls === true },
        join: { nodes: joinVia, serviceKey: serviceKeyHex },
      });
      await node.start();
      return node;
    };
    const cluster = makeCluster({
      addNode,
      nats,
      nodes,
      dir,
      serviceKey,
      member,
      user,
      crashes,
      waitFor,
      logs,
      dispose,
    });
    await waitFor(
      "every node to know the leader and load the contracts",
      async () => {
        for (const n of nodes) {
          const s = await n.status();
          if (s.leader === null || s.serviceStatus !== "open") return undefined;
          const doc = (await getJson(`${n.url}/app/openapi.json`)) as { paths?: Record<string, unknown> };
          const paths = Object.keys(doc.paths ?? {});
          if (!contracts.every((c) => paths.some((p) => p.startsWith(`/app/${c.name}/`)))) return undefined;
        }
        return true;
      },
      readyTimeoutMs,
    );
    if (options.tls === true) {
      const status = await nodes[0]!.status();
      cluster.serviceFile.serviceCertificate = (
        status.clientApi as { serviceCertificate: string }
      ).serviceCertificate;
    }
    return cluster;
  } catch (err) {
    await dispose();
    throw err;
  }
}

function makeCluster(parts: {
  addNode: Cluster["addNode"];
  nats: NatsServer;
  nodes: NodeProcess[];
  dir: string;
  serviceKey: PublicKey;
  member: KeyPair;
  user: KeyPair;
  crashes: Crash[];
  waitFor: Cluster["waitFor"];
  logs: Cluster["logs"];
  dispose: () => Promise<void>;
}): Cluster {
  const { nodes, serviceKey, waitFor } = parts;
  const urls = nodes.map((n) => n.url);
  const pinned = keyPinnedFetch(serviceKey); // plain fetch for http URLs
  const reachable = (exclude: readonly ClusterNode[] = []) =>
    nodes.filter((n) => n.running() && !n.paused() && !exclude.includes(n));
  return {
    nats: parts.nats,
    nodes,
    dir: parts.dir,
    serviceKey,
    serviceId: keyId(serviceKey),
    serviceFile: {
      serviceKey: { curve: serviceKey.curve, publicKey: toHex(serviceKey.publicKey) },
      nodes: [...urls],
    },
    member: parts.member,
    user: parts.user,
    client: (key = parts.user, overrides = {}) =>
      new Client({
        nodes: overrides.nodes ?? urls,
        serviceKey,
        fetch: (input, init) => pinned(input, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }),
        ...(key !== null && { key }),
        ...overrides,
      }),
    waitForLeader: ({ exclude = [], timeoutMs = 20_000 } = {}) =>
      waitFor(
        "one leader agreed by every reachable node",
        async () => {
          const candidates = reachable(exclude);
          if (candidates.length === 0) throw new Error("no reachable node");
          const statuses = await Promise.all(candidates.map((n) => n.status()));
          const { leader, view } = statuses[0]!;
          if (leader === null || statuses.some((s) => s.leader !== leader || s.view !== view))
            return undefined;
          const node = candidates.find((n) => n.id === leader);
          return node !== undefined && statuses[candidates.indexOf(node)]!.role === "leader"
            ? node
            : undefined;
        },
        timeoutMs,
      ),
    waitForConvergence: ({ nodes: which, timeoutMs = 30_000 } = {}) =>
      waitFor(
        "the nodes to converge on one committed ledger",
        async () => {
          const targets = which ?? reachable();
          const statuses = await Promise.all(targets.map((n) => n.status()));
          const last = statuses[0]!.lastSeqno;
          return statuses.every((s) => s.lastSeqno === last && s.commitSeqno === last) ? last : undefined;
        },
        timeoutMs,
      ),
    waitFor,
    addNode: parts.addNode,
    crashes: () => [...parts.crashes],
    clearCrashes: () => {
      parts.crashes.length = 0;
    },
    logs: parts.logs,
    dispose: parts.dispose,
  };
}

class NodeProcess implements ClusterNode {
  readonly id: string;
  readonly identity: KeyPair;
  readonly dataDir: string;
  readonly identityFile: string;
  readonly configFile: string;
  readonly logFile: string;
  #child: ChildProcess | undefined;
  #paused = false;
  /** Set while we ask the process to exit, so its exit is not a crash. */
  #expectExit = false;

  constructor(
    readonly index: number,
    dir: string,
    readonly url: string,
    private readonly nodeArgs: readonly string[],
    private readonly onCrash: (crash: Crash) => void,
  ) {
    this.dataDir = join(dir, `node${index}`);
    this.identityFile = join(dir, `node${index}-identity.json`);
    this.configFile = join(dir, `node${index}.json`);
    this.logFile = join(dir, `node${index}.log`);
    this.identity = generateKeyPair("ed25519");
    this.id = this.identity.id;
    mkdirSync(this.dataDir, { recursive: true });
    writeFileSync(this.identityFile, `${JSON.stringify(toKeyFile(this.identity), null, 2)}\n`, {
      mode: 0o600,
    });
  }

  writeConfig(config: Record<string, unknown>): void {
    writeFileSync(this.configFile, `${JSON.stringify(config, null, 2)}\n`);
  }

  running(): boolean {
    const c = this.#child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  paused(): boolean {
    return this.running() && this.#paused;
  }

  pid(): number | undefined {
    return this.running() ? this.#child!.pid : undefined;
  }

  async start(args: readonly string[] = []): Promise<void> {
    if (this.running()) throw new Error(`node ${this.index} is already running`);
    installExitHook();
    const log = openSync(this.logFile, "a");
    let child: ChildProcess;
    try {
      const argv = [...this.nodeArgs, CLI, "node", "start", "--config", this.configFile, ...args];
      child = spawn(process.execPath, argv, {
        stdio: ["ignore", log, log],
        cwd: this.dataDir,
      });
    } finally {
      closeSync(log);
    }
    this.#child = child;
    this.#paused = false;
    this.#expectExit = false;
    live.add(child);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    child.once("exit", (code, signal) => {
      live.delete(child);
      if (!this.#expectExit && this.#child === child) this.onCrash({ index: this.index, code, signal });
    });
  }

  kill(): Promise<void> {
    return this.#end("SIGKILL", 0).then(() => undefined);
  }

  stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<number | null> {
    return this.#end("SIGTERM", graceMs);
  }

  pause(): void {
    if (!this.running()) throw new Error(`node ${this.index} is not running`);
    this.#child!.kill("SIGSTOP");
    this.#paused = true;
  }

  resume(): void {
    if (!this.running()) throw new Error(`node ${this.index} is not running`);
    this.#child!.kill("SIGCONT");
    this.#paused = false;
  }

  async status(): Promise<NodeStatusJson> {
    return (await getJson(`${this.url}/node/status`)) as NodeStatusJson;
  }

  async network(): Promise<NetworkJson> {
    return (await getJson(`${this.url}/node/network`)) as NetworkJson;
  }

  tail(lines = LOG_TAIL_LINES): string {
    let text: string;
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {
      return "(no log)";
    }
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** Sends `signal` (SIGKILL after `graceMs` unless it is SIGKILL); resolves with the exit code. */
  #end(signal: "SIGTERM" | "SIGKILL", graceMs: number): Promise<number | null> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      return Promise.resolve(child?.exitCode ?? null);
    }
    this.#expectExit = true;
    return new Promise<number | null>((resolve) => {
      const timer =
        signal === "SIGKILL" ? undefined : setTimeout(() => child.kill("SIGKILL"), Math.max(graceMs, 1));
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      // A stopped process handles no signal but SIGKILL: wake it first.
      if (this.#paused) child.kill("SIGCONT");
      this.#paused = false;
      child.kill(signal);
    });
  }
}

/** GET a JSON document; rejects on a non-2xx answer or after 5 s. */
async function getJson(url: string): Promise<unknown> {
  const response = url.startsWith("https:")
    ? await unpinnedGet(url)
    : await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
  const body: unknown = await response.json();
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status} ${JSON.stringify(body)}`);
  return body;
}

/**
 * GET over TLS without checking the certificate: the harness polls nodes before they are
 * endorsed (a joiner serves a provisional certificate), and its polls carry nothing to protect.
 */
function unpinnedGet(url: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { rejectUnauthorized: false, timeout: HTTP_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 502 })));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on("error", reject);
  });
}

/** `count` distinct free loopback ports (held together while probing, so they differ). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    return typeof address === "object" && address !== null ? address.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  if (ports.some((p) => p === 0)) throw new Error("no free port");
  return ports;
}

/** The first of `count` consecutive free loopback ports (for `treaty dev --port`, which uses base + i). */
export async function freePortRange(count: number): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    if ((await Promise.all(ports.map(canBind))).every(Boolean)) return base;
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}
