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
 */
import { join, resolve } from "node:path";
import { parseConfig } from "../../node/config.js";
import { testSnapshots } from "./snapshot-schedule.js";
import { silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import { type NodeRuntime, TreatyNode } from "../../node/service.js";
import { MemoryNetwork } from "../../node/transport/memory.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { toHex } from "../../sdk/bytes.js";
import type { KeyPair } from "../../sdk/keys.js";
import { until } from "./poll.js";

export interface MemoryNodesOptions {
  /** The test's temp dir (read when a node starts, so it may be made in `before`). */
  readonly dir: () => string;
  /** Config fields of node `index` over the defaults above. */
  readonly config?: (index: number, dir: string) => Record<string, unknown>;
  /** Runtime fields over the real runtime's (e.g. shorter `loadRetryDelays`). */
  readonly runtime?: Partial<Pick<NodeRuntime, "loadRetryDelays">>;
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
    options?: { readonly count?: number; readonly contracts?: readonly string[] },
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
