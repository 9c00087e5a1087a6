/**
 * A governed Treaty network for the governance end-to-end tests: a real `nats-server` and N node
 * PROCESSES (`node <build>/node/cli.js node start --config <file>`, the build this module was
 * compiled into), set up the way a consortium runs one rather than the way a dev network cuts
 * corners. The genesis node creates the service in the `opening` state with one founding member
 * and no users or contracts; joining nodes stay pending until members trust them by proposal
 * (the service's `autoTrustNodes` policy is off). Everything else (members, users, contracts, opening) is left to the
 * test, through governance.
 *
 * Why not test/support/cluster.ts: it starts an open service whose nodes trust each other
 * (`genesis.autoTrustNodes`), the right shape for consensus tests; these tests must start from an
 * unopened service with untrusted joiners. Why processes: a joining node waits to be trusted
 * inside its start-up, which cannot be cancelled in-process, while a process can always be
 * stopped.
 *
 * Node identities and HTTP ports are chosen before the first start, so ids are known up front
 * and URLs stay valid across `stop()`/`start()`. Each node logs to `<dir>/node<i>.log`.
 *
 * Ownership: the caller must `dispose()` the network (in `after`/`finally`): it stops every node
 * process and the nats-server and deletes the temp dir, also when a test failed half-way. Node
 * processes still running when the test process exits are killed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { freePorts } from "../support/cluster.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { generateKeyPair, type KeyPair, type PublicKey, toKeyFile } from "../../sdk/keys.js";
import { type NatsServer, startNatsServer } from "../../node/nats-server.js";
import { pollFor } from "../support/poll.js";
import { testSnapshots } from "../support/snapshot-schedule.js";

const CLI = fileURLToPath(new URL("../../node/cli.js", import.meta.url));
const POLL_MS = 50;
const HTTP_TIMEOUT_MS = 5000;
const STOP_GRACE_MS = 10_000;

/** `GET /node/status`, the fields these tests read. */
export interface StatusJson {
  readonly nodeId: string;
  readonly role: "leader" | "follower" | "candidate";
  readonly view: number;
  readonly leader: string | null;
  readonly commitSeqno: number;
  readonly lastSeqno: number;
  readonly serviceStatus: string;
  readonly serviceKey: { readonly curve: string; readonly publicKey: string };
}

/** One node process of the network. */
export interface NetNode {
  readonly index: number;
  /** The node id (`keyId` of its identity key). */
  readonly id: string;
  /** `http://127.0.0.1:<port>`, the same across restarts. */
  readonly url: string;
  /** True while the process runs. */
  running(): boolean;
  /** Starts the process (again) on its data dir; does not wait for it to serve. */
  start(): Promise<void>;
  /** SIGTERM (SIGKILL after 10 s); resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
  /** `GET /node/status` (rejects when the node does not answer within 5 s). */
  status(): Promise<StatusJson>;
  /** The last lines of this node's log. */
  tail(lines?: number): string;
}

export interface GovNetwork {
  readonly nats: NatsServer;
  readonly dir: string;
  readonly nodes: readonly NetNode[];
  readonly serviceKey: PublicKey;
  /** `{serviceKey: {curve, publicKey}, nodes: [url...]}`, also written to `serviceFilePath`. */
  readonly serviceFile: { serviceKey: { curve: string; publicKey: string }; nodes: string[] };
  readonly serviceFilePath: string;
  /** The founding member (the only genesis member); its key file is `<dir>/founder.json`. */
  readonly founder: KeyPair;
  /** An SDK client over `urls` (default: every node), signing with `key` (null: unsigned). */
  client(key: KeyPair | null, urls?: readonly string[]): Client;
  /**
   * Resolves with the node that every running node not in `exclude` agrees leads, in one view
   * (default timeout 20 s).
   */
  leader(options?: { exclude?: readonly NetNode[]; timeoutMs?: number }): Promise<NetNode>;
  /**
   * Polls `check` until it returns a value other than undefined; exceptions count as "not yet".
   * Throws after `timeoutMs` (default 20 s) naming `what`, with every node's log tail.
   */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
  /** Every node's log tail, for a failure message. */
  logs(lines?: number): string;
  /** Stops every node and the nats-server and deletes the temp dir. Idempotent. */
  dispose(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts nats-server and the genesis node and waits until it leads; the other `count - 1` nodes
 * are configured to join but not started (start them, then trust them by proposal).
 */
export async function startGovNetwork(count: number): Promise<GovNetwork> {
  const dir = mkdtempSync(join(tmpdir(), "treaty-gov-e2e-"));
  const founder = generateKeyPair("ed25519");
  writeFileSync(join(dir, "founder.json"), JSON.stringify(toKeyFile(founder)), { mode: 0o600 });
  const nodes: NodeProcess[] = [];
  let nats: NatsServer | undefined;
  let disposed = false;
  const logs = (lines = 40) =>
    nodes.map((n) => `--- node ${n.index} ${n.id.slice(0, 12)}\n${n.tail(lines)}`).join("\n");
  const waitFor = <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> =>
    pollFor(what, check, { timeoutMs, pollMs: POLL_MS, context: () => logs() });
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    try {
      await Promise.all(nodes.map((n) => n.stop()));
      await nats?.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    nats = await startNatsServer();
    const ports = await freePorts(count);
    const urls = ports.map((port) => `http://127.0.0.1:${port}`);
    const common = (i: number) => ({
      dataDir: join(dir, `node${i}`),
      identityFile: join(dir, `node${i}-identity.json`),
      sealing: { provider: "virtual", keyFile: join(dir, `node${i}-sealing.key`) },
      http: { host: "127.0.0.1", port: ports[i], tls: false },
      nats: { servers: [nats!.url] },
      ledger: { signatureIntervalMs: 20 },
      snapshots: testSnapshots(undefined),
      logLevel: "info",
    });
    for (let i = 0; i < count; i++) nodes.push(new NodeProcess(i, dir, urls[i]!));
    nodes[0]!.writeConfig({
      ...common(0),
      genesis: {
        members: [{ curve: founder.curve, publicKey: toHex(founder.publicKey) }],
        users: [],
        contracts: [],
        open: false,
      },
    });
    await nodes[0]!.start();
    const first = await waitFor(
      "the genesis node to lead",
      async () => {
        const s = await nodes[0]!.status();
        return s.role === "leader" && s.serviceStatus === "opening" ? s : undefined;
      },
      60_000,
    );
    const serviceFile = { serviceKey: first.serviceKey, nodes: [...urls] };
    const serviceFilePath = join(dir, "service.json");
    writeFileSync(serviceFilePath, JSON.stringify(serviceFile));
    for (let i = 1; i < count; i++) {
      nodes[i]!.writeConfig({
        ...common(i),
        join: { nodes: [urls[0]], serviceKey: first.serviceKey.publicKey },
      });
    }
    const serviceKey: PublicKey = { curve: "ed25519", publicKey: fromHex(first.serviceKey.publicKey) };
    const running = (exclude: readonly NetNode[]) => nodes.filter((n) => n.running() && !exclude.includes(n));
    return {
      nats,
      dir,
      nodes,
      serviceKey,
      serviceFile,
      serviceFilePath,
      founder,
      client: (key, which = urls) =>
        new Client({
          nodes: which,
          serviceKey,
          ...(key !== null && { key }),
          fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }),
        }),
      leader: ({ exclude = [], timeoutMs = 20_000 } = {}) =>
        waitFor(
          "one leader agreed by every running node",
          async () => {
            const candidates = running(exclude);
            const statuses = await Promise.all(candidates.map((n) => n.status()));
            const first = statuses[0];
            if (!first?.leader || statuses.some((s) => s.leader !== first.leader || s.view !== first.view))
              return undefined;
            const at = candidates.findIndex((n) => n.id === first.leader);
            return at >= 0 && statuses[at]!.role === "leader" ? candidates[at] : undefined;
          },
          timeoutMs,
        ),
      waitFor,
      logs,
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

class NodeProcess implements NetNode {
  readonly id: string;
  readonly #configFile: string;
  readonly #logFile: string;
  #child: ChildProcess | undefined;

  constructor(
    readonly index: number,
    dir: string,
    readonly url: string,
  ) {
    const identity = generateKeyPair("ed25519");
    this.id = identity.id;
    writeFileSync(join(dir, `node${index}-identity.json`), JSON.stringify(toKeyFile(identity)), {
      mode: 0o600,
    });
    this.#configFile = join(dir, `node${index}.json`);
    this.#logFile = join(dir, `node${index}.log`);
  }

  writeConfig(config: Record<string, unknown>): void {
    writeFileSync(this.#configFile, JSON.stringify(config, null, 2));
  }

  running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running()) throw new Error(`node ${this.index} is already running`);
    installExitHook();
    const log = openSync(this.#logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [CLI, "node", "start", "--config", this.#configFile], {
        stdio: ["ignore", log, log],
      });
    } finally {
      closeSync(log);
    }
    this.#child = child;
    live.add(child);
    child.once("exit", () => live.delete(child));
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
  }

  stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }

  async status(): Promise<StatusJson> {
    const response = await fetch(`${this.url}/node/status`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`node ${this.index}: /node/status HTTP ${response.status}`);
    return (await response.json()) as StatusJson;
  }

  tail(lines = 40): string {
    try {
      return readFileSync(this.#logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}
