/**
 * Several real Treaty nodes in this process on one in-memory transport (node/transport/memory.ts):
 * for tests of replication, joins and governance that need no NATS. Node `i` keeps its data in
 * `<dir>/node<i>` and serves HTTP on an ephemeral loopback port, with a 20 ms signature interval
 * and error-level (silent) logs; `config(i, dir)` adds each test's fields (sealing, identity
 * file, TLS, `autoTrustNodes`), and `start`'s `extra` the per-node ones (genesis or join).
 *
 * Ownership: `stopAll()` stops every node still in `running` (a test that stops one itself
 * removes it); the caller deletes `dir`.
 *
 * @example
 *   const { running, start, startNetwork, stopAll } = memoryNodes({ dir: () => dir });
 *   const { founder } = await startNetwork({ genesis: { ... } }); // three nodes, all voting
 *
 * `logNetwork` wraps the common case (three nodes with file identities serving `log`) with its
 * own temp dir, keys, start and stop:
 * @example
 *   const net = logNetwork("treaty-my-test-");
 *   before(async () => {
 *     [leader, follower] = await net.start();
 *   });
 *   after(() => net.stop());
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseConfig } from "../../node/config.js";
import { testSnapshots } from "./snapshot-schedule.js";
import { silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import { type NodeRuntime, TreatyNode } from "../../node/service.js";
import { pinnedFetch } from "../../node/tls/client.js";
import { MemoryNetwork } from "../../node/transport/memory.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { toHex } from "../../sdk/bytes.js";
import { Client, type ClientOptions } from "../../sdk/client.js";
import { generateKeyPair, type KeyPair } from "../../sdk/keys.js";
import { until } from "./poll.js";

export interface MemoryNodesOptions {
  /** The test's temp dir (read when a node starts, so it may be made in `before`). */
  readonly dir: () => string;
  /** Config fields of node `index` over the defaults above. */
  readonly config?: (index: number, dir: string) => Record<string, unknown>;
  /** Runtime fields over the real runtime's (e.g. shorter `loadRetryDelays`). */
  readonly runtime?: Partial<Pick<NodeRuntime, "loadRetryDelays">>;
}

/** Options of `startNetwork`. */
export interface NetworkOptions {
  /** Nodes in the network (default 3). */
  readonly count?: number;
  /** Contracts the founder must have loaded before the others join. */
  readonly contracts?: readonly string[];
}

export interface MemoryNodes {
  /** The shared transport (tests drop or delay frames with its filters). */
  readonly network: MemoryNetwork;
  /** Nodes started and not stopped, in start order. */
  readonly running: Set<TreatyNode>;
  /** Starts node `index` with `extra` config fields (its genesis or join section, ...). */
  start(index: number, extra?: Record<string, unknown>): Promise<TreatyNode>;
  /**
   * Starts a network of `count` nodes (default 3): node 0 founds the service with the `founder`
   * config fields (its genesis, sealing, ...) and leads with `contracts` loaded; the others join it.
   * Resolves once all of them vote, with the founder and the join section (for later joiners).
   */
  startNetwork(
    founder: Record<string, unknown>,
    options?: NetworkOptions,
  ): Promise<{ founder: TreatyNode; joining: Record<string, unknown> }>;
  /** Stops every running node. */
  stopAll(): Promise<void>;
}

export function memoryNodes(options: MemoryNodesOptions): MemoryNodes {
  const network = new MemoryNetwork();
  const running = new Set<TreatyNode>();
  const nodes: MemoryNodes = {
    network,
    running,
    async start(index, extra = {}) {
      const dir = options.dir();
      const fields: Record<string, unknown> = {
        dataDir: join(dir, `node${index}`),
        http: { host: "127.0.0.1", port: 0 },
        ledger: { signatureIntervalMs: 20 },
        logLevel: "error",
        ...options.config?.(index, dir),
        ...extra,
      };
      const config = parseConfig({ ...fields, snapshots: testSnapshots(fields.snapshots) }, dir);
      const runtime: NodeRuntime = {
        ...realRuntime(config, silentLogger),
        ...options.runtime,
        transport: async ({ serviceId, identity, sessionEpoch }) =>
          network.createTransport({ serviceId, nodeId: identity.id, identity, sessionEpoch }),
      };
      const node = await TreatyNode.start(config, runtime);
      running.add(node);
      return node;
    },
    async startNetwork(founderFields, { count = 3, contracts = [] } = {}) {
      const founder = await nodes.start(0, founderFields);
      await until(
        `the founder to lead${contracts.length > 0 ? ` and load ${contracts.join(", ")}` : ""}`,
        () =>
          founder.replica.consensus.status().role === "Leader" &&
          contracts.every((c) => founder.manifests.has(c)),
      );
      const joining = { join: { nodes: [founder.url], serviceKey: toHex(founder.serviceKey.publicKey) } };
      await Promise.all(Array.from({ length: count - 1 }, (_, i) => nodes.start(i + 1, joining)));
      await until(`${count} voting nodes`, () => founder.replica.consensus.status().config?.length === count);
      return { founder, joining };
    },
    async stopAll() {
      await Promise.all([...running].map((node) => node.stop()));
      running.clear();
    },
  };
  return nodes;
}

/**
 * Starts an open 3-node network on `nodes` with one member, one user and the `log` example
 * contract (nodes trusted automatically); resolves once every node has loaded `log`, with the
 * leader and the two followers.
 */
export async function startLogNetwork(
  nodes: MemoryNodes,
  member: KeyPair,
  user: KeyPair,
): Promise<{ leader: TreatyNode; followers: [TreatyNode, TreatyNode] }> {
  await nodes.startNetwork(
    {
      genesis: {
        members: [{ curve: member.curve, publicKey: toHex(member.publicKey) }],
        users: [{ curve: user.curve, publicKey: toHex(user.publicKey) }],
        contracts: [{ name: "log", path: resolve(findPackageRoot(), "contracts/examples/log") }],
        open: true,
        autoTrustNodes: true,
      },
    },
    { contracts: ["log"] },
  );
  const leader = await until("a leader", () =>
    [...nodes.running].find((n) => n.replica.consensus.status().role === "Leader"),
  );
  const followers = [...nodes.running].filter((n) => n !== leader) as [TreatyNode, TreatyNode];
  await until("every node to load log", () => followers.every((n) => n.manifests.has("log")));
  return { leader, followers };
}

/**
 * Config fields giving node `index` an identity file and a virtual sealing key file in `dir`
 * (`node<index>.identity.json`, `node<index>.sealing.key`): what keeps a node's identity across
 * restarts and the tests of identities and sealing at rest need.
 */
export function fileIdentity(index: number, dir: string): Record<string, unknown> {
  return {
    identityFile: join(dir, `node${index}.identity.json`),
    sealing: { provider: "virtual", keyFile: join(dir, `node${index}.sealing.key`) },
  };
}

/** Options of `logNetwork`: what a test changes from its defaults. */
export interface LogNetworkOptions {
  /** Config fields of node `index` over fileIdentity's (e.g. `consensus` timeouts). */
  readonly config?: (index: number, dir: string) => Record<string, unknown>;
  /** Runtime fields over the real runtime's (see MemoryNodesOptions). */
  readonly runtime?: MemoryNodesOptions["runtime"];
}

/** See `logNetwork`. */
export interface LogNetwork {
  /** The nodes (its `network` is the shared memory transport; `stopAll` stops them). */
  readonly nodes: MemoryNodes;
  /** The service's one member and one user. */
  readonly member: KeyPair;
  readonly user: KeyPair;
  /** The temp dir of the network started last (throws before `start`). */
  readonly dir: string;
  /**
   * Makes a temp dir and starts the network in it (startLogNetwork); resolves with the leader,
   * then the two followers. A `describe` calls it in `before`, and `stop` in `after`; a later
   * `describe` may start a new network on the same memory transport once the first stopped.
   */
  start(): Promise<[leader: TreatyNode, follower: TreatyNode, other: TreatyNode]>;
  /** Stops every running node and deletes the temp dir. */
  stop(): Promise<void>;
  /** A client of `node` signing with `key` (default: the user), pinned to the node's certificate. */
  client(node: TreatyNode, key?: KeyPair, options?: Partial<ClientOptions>): Client;
}

/**
 * The open 3-node `log` network of startLogNetwork with what most memory-network tests set up
 * around it: fresh member and user keys, file identities (fileIdentity) and a temp dir named
 * `<prefix>…` per start, deleted by `stop`.
 */
export function logNetwork(prefix: string, options: LogNetworkOptions = {}): LogNetwork {
  let dir: string | undefined;
  const nodes = memoryNodes({
    dir: () => dir!,
    config: (index, dir) => ({ ...fileIdentity(index, dir), ...options.config?.(index, dir) }),
    ...(options.runtime !== undefined && { runtime: options.runtime }),
  });
  const member = generateKeyPair("ed25519");
  const user = generateKeyPair("ed25519");
  return {
    nodes,
    member,
    user,
    get dir() {
      if (dir === undefined) throw new Error("logNetwork: not started");
      return dir;
    },
    async start() {
      dir = mkdtempSync(join(tmpdir(), prefix));
      const { leader, followers } = await startLogNetwork(nodes, member, user);
      return [leader, ...followers];
    },
    async stop() {
      await nodes.stopAll();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
    client: (node, key = user, clientOptions = {}) =>
      new Client({
        nodes: [node.url],
        serviceKey: node.serviceKey,
        key,
        fetch: pinnedFetch(node.serviceCertificate),
        ...clientOptions,
      }),
  };
}

/**
 * Holds `node`'s durable step: `ledger.persistAsync` still writes, but resolves only after
 * `release()`, so the node's consensus core can learn a commit point the node cannot fold yet.
 */
export function holdDurable(node: TreatyNode): { release(): void } {
  const ledger = node.ledger;
  const original = ledger.persistAsync;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  ledger.persistAsync = function (this: typeof ledger) {
    const written = original.call(this);
    return gate.then(() => written);
  };
  return {
    release() {
      ledger.persistAsync = original;
      release();
    },
  };
}

export { until } from "./poll.js";
