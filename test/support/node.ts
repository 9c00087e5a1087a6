/**
 * Starts a real single Treaty node in-process for tests: a private temp dir, fresh member0 and
 * user0 keys, a genesis config (the sample contracts `log`, `bank` and `meter`, plus any extra
 * contract folders a test asks for; `open: true`; a short signature interval so commits come
 * quickly), HTTP on an ephemeral loopback port and a silent logger.
 *
 * Ownership: the caller must `dispose()` the handle (in `after`/`finally`): it stops the node
 * (HTTP server, execution worker, stores) and deletes the temp dir. `stop()` alone keeps the
 * data dir, so a test can inspect it offline (e.g. `treaty ledger verify`) or `restart()`.
 *
 * @example
 *   const net = await startTestNode();
 *   try {
 *     const { txid } = await net.client().call("log", "writePublic", { id: 1, msg: "hi" });
 *   } finally {
 *     await net.dispose();
 *   }
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { toHex } from "../../sdk/bytes.js";
import { Client, type ClientOptions } from "../../sdk/client.js";
import { generateKeyPair, type KeyPair, type PublicKey } from "../../sdk/keys.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { type NodeConfig, parseConfig } from "../../node/config.js";
import { testSnapshots } from "./snapshot-schedule.js";
import type { ReplayHook } from "../../node/lifecycle.js";
import { type Logger, silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import { TreatyNode } from "../../node/service.js";

/** A contract deployed at genesis: its name and source folder (absolute, or relative to the package root). */
export interface TestContract {
  readonly name: string;
  readonly path: string;
}

export interface TestNodeOptions {
  /** Contracts deployed at genesis besides the samples `log`, `bank` and `meter`. */
  readonly extraContracts?: readonly TestContract[];
  /** Signature interval, ms (default 20: commits and receipts come fast). */
  readonly signatureIntervalMs?: number;
  /** `ledger.signWhenIdle` (default true). */
  readonly signWhenIdle?: boolean;
  /** The config's `snapshots` section (default: the node's, but by entry count only: see snapshot-schedule.ts). */
  readonly snapshots?: {
    readonly everyEntries?: number;
    readonly everyMs?: number;
    readonly strideBytes?: number;
    readonly keep?: number;
  };
  /** Signed requests outside this window are StaleRequest (default: the node's default). */
  readonly freshnessWindowMs?: number;
  /** Ledger chunk size in bytes (default: the node's default, 4 MiB). */
  readonly ledgerChunkBytes?: number;
  /** HTTP body cap (default: the node's default, 1 MiB). */
  readonly maxBodyBytes?: number;
  /** Logs (default: silent). */
  readonly logger?: Logger;
  /** How long to wait for the node to lead and load every contract (default 30 s). */
  readonly readyTimeoutMs?: number;
  /** Genesis opens the service at once (default true); false leaves it "opening" for governance. */
  readonly open?: boolean;
  /** The node config's `events` section (node/events/config.ts); default: none. */
  readonly events?: Readonly<Record<string, unknown>>;
  /** The node config's `history` section (node/history/); default: none (queries off). */
  readonly history?: { readonly windowEntries: number };
  /** The node config's `consensus` section (node/consensus-timing.ts); default: none (defaults). */
  readonly consensus?: Readonly<Record<string, unknown>>;
  /** Genesis members and users (config entries) besides member0 and user0. */
  readonly extraGenesis?: { readonly members?: readonly unknown[]; readonly users?: readonly unknown[] };
}

/** A running test node. Everything here is owned by the handle; `dispose()` frees it all. */
export interface TestNode {
  /** The current node object (a new one after `restart()`). */
  readonly node: TreatyNode;
  /** `http://127.0.0.1:<port>`; the same port across restarts. */
  readonly url: string;
  /** The temp dir holding the node's data dir and config. */
  readonly dir: string;
  /** The node's data dir (ledger, KV, secrets). */
  readonly dataDir: string;
  /** The service identity's public key (pin it: receipts verify against it). */
  readonly serviceKey: PublicKey;
  /** `{serviceKey: {curve, publicKey}, nodes: [url]}`, as `treaty dev` writes service.json. */
  readonly serviceFile: { serviceKey: { curve: string; publicKey: string }; nodes: string[] };
  /** The genesis member (member0) and user (user0). */
  readonly member: KeyPair;
  readonly user: KeyPair;
  /**
   * A client of this node signing with `key` (default: user0); `null` for an anonymous client
   * (unsigned calls to readonly `anyone` methods). `options` override the defaults.
   */
  client(key?: KeyPair | null, options?: Partial<ClientOptions>): Client;
  /**
   * POSTs raw bytes to `path` (no SDK in the way: for hostile input). Resolves with the status
   * and the parsed JSON answer.
   */
  post(
    path: string,
    body: Uint8Array | string,
    headers?: Readonly<Record<string, string>>,
  ): Promise<RawAnswer>;
  /**
   * Waits until the ledger is quiet: every entry signed and committed. A test that checks
   * "nothing was written" takes `node.ledger.lastSeqno` after this and compares later.
   */
  settled(): Promise<number>;
  /**
   * Stops the node (keeps the data dir) and starts it again on the same dir and port; a
   * `replayHook` is awaited at each yield of the start-up replay (to hold the node there).
   */
  restart(options?: { replayHook?: ReplayHook }): Promise<void>;
  /** Stops the node and keeps the data dir. Idempotent. */
  stop(): Promise<void>;
  /** Stops the node and deletes the temp dir. Idempotent. */
  dispose(): Promise<void>;
}

/** What `TestNode.post` resolves with. */
export interface RawAnswer {
  readonly status: number;
  readonly json: unknown;
  /** The error code when the answer is `{error: {code, message}}`, else undefined. */
  readonly code: string | undefined;
}

const SAMPLE_CONTRACTS: readonly TestContract[] = [
  { name: "log", path: "contracts/examples/log" },
  { name: "bank", path: "contracts/examples/bank" },
  { name: "meter", path: "contracts/examples/meter" },
];

const POLL_MS = 10;

/** Starts a node with a new service (genesis) in a fresh temp dir; see the module comment. */
export async function startTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const root = findPackageRoot();
  const dir = mkdtempSync(join(tmpdir(), "treaty-node-"));
  const member = generateKeyPair("ed25519");
  const user = generateKeyPair("ed25519");
  const contracts = [...SAMPLE_CONTRACTS, ...(options.extraContracts ?? [])];
  const logger = options.logger ?? silentLogger;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const configValue = (port: number) => ({
    dataDir: join(dir, "data"),
    sealing: sealingOf(dir),
    http: {
      host: "127.0.0.1",
      port,
      tls: false, // in-process tests call the API with the platform fetch; TLS: test/tls/
      ...(options.maxBodyBytes !== undefined && { maxBodyBytes: options.maxBodyBytes }),
    },
    ledger: {
      signatureIntervalMs: options.signatureIntervalMs ?? 20,
      ...(options.signWhenIdle !== undefined && { signWhenIdle: options.signWhenIdle }),
      ...(options.ledgerChunkBytes !== undefined && { chunkBytes: options.ledgerChunkBytes }),
    },
    snapshots: testSnapshots(options.snapshots),
    ...(options.events !== undefined && { events: options.events }),
    ...(options.history !== undefined && { history: options.history }),
    ...(options.consensus !== undefined && { consensus: options.consensus }),
    ...(options.freshnessWindowMs !== undefined && {
      requests: { freshnessWindowMs: options.freshnessWindowMs },
    }),
    genesis: {
      members: [
        { curve: member.curve, publicKey: toHex(member.publicKey) },
        ...(options.extraGenesis?.members ?? []),
      ],
      users: [
        { curve: user.curve, publicKey: toHex(user.publicKey) },
        ...(options.extraGenesis?.users ?? []),
      ],
      contracts: contracts.map((c) => ({ name: c.name, path: resolve(root, c.path) })),
      open: options.open ?? true,
    },
    logLevel: "error",
  });
  const boot = async (config: NodeConfig, replayHook?: ReplayHook): Promise<TreatyNode> => {
    const started = await TreatyNode.start(config, {
      ...realRuntime(config, logger),
      ...(replayHook !== undefined && { replayHook }),
    });
    try {
      await waitReady(started, contracts, readyTimeoutMs);
    } catch (err) {
      await started.stop();
      throw err;
    }
    return started;
  };

  let node: TreatyNode;
  try {
    node = await boot(parseConfig(configValue(0), dir));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Later starts reuse the port, so URLs (and clients) stay valid across restarts.
  const port = Number(new URL(node.url).port);
  const url = node.url;
  let running = true;
  let disposed = false;
  const serviceKey = node.serviceKey;
  const stop = async () => {
    if (!running) return;
    running = false;
    await node.stop();
  };
  return {
    get node() {
      return node;
    },
    url,
    dir,
    dataDir: join(dir, "data"),
    serviceKey,
    serviceFile: {
      serviceKey: { curve: serviceKey.curve, publicKey: toHex(serviceKey.publicKey) },
      nodes: [url],
    },
    member,
    user,
    client: (key = user, overrides = {}) =>
      new Client({ nodes: [url], serviceKey, ...(key !== null && { key }), ...overrides }),
    post: async (path, body, headers = {}) => {
      const response = await fetch(url + path, {
        method: "POST",
        body: typeof body === "string" ? body : (body as Uint8Array<ArrayBuffer>),
        headers,
      });
      const json: unknown = await response.json();
      const error = (json as { error?: { code?: unknown } } | null)?.error;
      return {
        status: response.status,
        json,
        code: typeof error?.code === "string" ? error.code : undefined,
      };
    },
    settled: () => settle(node, readyTimeoutMs),
    restart: async (restartOptions = {}) => {
      if (disposed) throw new Error("restart after dispose");
      await stop();
      node = await boot(parseConfig(configValue(port), dir), restartOptions.replayHook);
      running = true;
    },
    stop,
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      try {
        await stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The sealing section of a test node in temp dir `dir` (its key file is `<dir>/sealing.key`). */
function sealingOf(dir: string) {
  return { provider: "virtual", keyFile: join(dir, "sealing.key") };
}

/**
 * Copies the data folder of `net` (stopped, so the copy is consistent) to `<net.dir>/<name>` and
 * writes `<net.dir>/<name>.json`, a config that starts a node on the copy (no genesis: it
 * restarts the service, with `net`'s sealing key), plain HTTP on an ephemeral loopback port and
 * `logLevel`. For tests that spoil the copy, then start a node on it in a child process.
 */
export function copyOfTestNode(
  net: TestNode,
  name: string,
  logLevel = "error",
): { dataDir: string; configPath: string } {
  const dataDir = join(net.dir, name);
  cpSync(net.dataDir, dataDir, { recursive: true });
  const configPath = join(net.dir, `${name}.json`);
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir,
      sealing: sealingOf(net.dir),
      http: { host: "127.0.0.1", port: 0, tls: false },
      logLevel,
    }),
  );
  return { dataDir, configPath };
}

/**
 * Waits until the node leads and has loaded every contract (which needs the genesis entry
 * committed, so a fresh service is ready for calls).
 */
async function waitReady(node: TreatyNode, contracts: readonly TestContract[], timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = node.replica.consensus.status();
    const ready = status.role === "Leader" && contracts.every((c) => node.manifests.has(c.name));
    if (ready) return;
    if (Date.now() > deadline) {
      const missing = contracts.filter((c) => !node.manifests.has(c.name)).map((c) => c.name);
      throw new Error(
        `test node not ready after ${timeoutMs} ms (role ${status.role}, commit ${status.commitSeqno}, contracts missing: ${missing.join(", ") || "none"})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Resolves with the last seqno once every entry is signed and committed (see `TestNode.settled`). */
async function settle(node: TreatyNode, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { commitSeqno } = node.replica.consensus.status();
    const last = node.ledger.lastSeqno;
    if (node.ledger.unsignedCount === 0 && commitSeqno === last) return last;
    if (Date.now() > deadline)
      throw new Error(`ledger not settled after ${timeoutMs} ms (last ${last}, commit ${commitSeqno})`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
