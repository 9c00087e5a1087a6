/**
 * `treaty dev`: a whole local Treaty network in one command, kept running until Ctrl-C.
 *
 * The workspace folder receives `member0.json` and `user0.json` (key files), `service.json`
 * (the pinned service key and node URLs), `node<i>.json` (each node's config) and `node<i>/`
 * (each node's data). Node 0 creates the service with the sample contracts; member0 then opens
 * it through governance, as in production (it proposes `transition_service_to_open` and votes
 * for it: one member is a majority), so users can call at once. The service trusts joining
 * nodes without a vote (development only: `genesis.autoTrustNodes`, a policy recorded in the
 * service record, so it holds whichever node leads); the other nodes join it. With
 * `nats-server` installed, each node is its own process on a private nats-server, as in
 * production; without it (or with `inProcess`), all nodes run in this process on the in-memory
 * transport.
 *
 * Running `treaty dev` again on the same workspace restarts the same network with its data: every
 * node that has a ledger starts at once (one alone has no quorum to elect a leader), then the
 * network waits for a leader; nodes asked for beyond those join it. Aborting `signal` (Ctrl-C)
 * during start-up stops what was started and removes the nats-server's temp dir.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readdirSync, writeFileSync, writeSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TreatyError } from "../sdk/errors.js";
import { Client } from "../sdk/client.js";
import { actions, Governance } from "../sdk/governance.js";
import {
  fromKeyFile,
  generateKeyPair,
  type KeyFile,
  type KeyPair,
  parsePublicKey,
  toKeyFile,
} from "../sdk/keys.js";
import { findPackageRoot } from "../runtime/compiler/package-root.js";
import { loadConfig } from "./config.js";
import { createLogger, type Logger } from "./log.js";
import { realRuntime } from "./main.js";
import { findNatsServer, type NatsServer, startNatsServer } from "./nats-server.js";
import { type NodeRuntime, TreatyNode } from "./service.js";
import { readJsonFile, writeDurable } from "./state-file.js";
import { MemoryNetwork } from "./transport/memory.js";

export interface DevOptions {
  readonly nodes: number;
  readonly basePort: number;
  readonly workspace: string;
  /** Run every node in this process on the in-memory transport even when nats-server is installed. */
  readonly inProcess?: boolean;
  /** Where progress goes (the CLI passes stdout). */
  readonly say: (line: string) => void;
  /** Aborting it stops the start-up: what was started is stopped and `startDevNetwork` rejects. */
  readonly signal?: AbortSignal;
}

export interface DevNetwork {
  readonly urls: readonly string[];
  readonly mode: "nats" | "in-process";
  stop(): Promise<void>;
}

const SAMPLES = ["log", "bank", "meter"] as const;
const READY_TIMEOUT_MS = 120_000;

/** Starts (or restarts) the network described by the workspace. */
export async function startDevNetwork(options: DevOptions): Promise<DevNetwork> {
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 7) {
    throw new TreatyError("MalformedRequest", "--nodes: expected 1 to 7");
  }
  const signal = options.signal ?? new AbortController().signal;
  const ws = resolve(options.workspace);
  mkdirSync(ws, { recursive: true });
  const member = keyFile(join(ws, "member0.json"));
  const user = keyFile(join(ws, "user0.json"));
  // A restart starts every node that has data, even beyond --nodes: they form the quorum.
  const existing = Array.from({ length: 7 }, (_, i) => i).filter((i) => hasData(ws, i));
  const count = Math.max(options.nodes, (existing.at(-1) ?? -1) + 1);
  const urls = Array.from(
    { length: count },
    (_, i) => `http://127.0.0.1:${httpPort(ws, i, options.basePort)}`,
  );
  const natsBinary = options.inProcess === true ? undefined : findNatsServer();
  const nats = natsBinary ? await startNatsServer() : undefined;
  const mode = nats ? "nats" : "in-process";
  const runner = nats ? new ProcessRunner(ws) : new InProcessRunner(ws);
  const stopAll = async () => {
    await runner.stopAll();
    await nats?.dispose();
  };
  try {
    checkAborted(signal);
    options.say(
      nats
        ? `nats-server running at ${nats.url}; starting ${count} node process(es)`
        : `${options.inProcess === true ? "--in-process" : "nats-server is not installed"}: running ${count} node(s) in this process on the in-memory transport`,
    );
    let leader: { url: string; status: Record<string, unknown> };
    if (existing.length === 0) {
      writeNodeConfig(ws, 0, options.basePort, nats, urls, {
        genesis: {
          members: [{ publicKey: member.publicKey, curve: member.curve }],
          users: [{ publicKey: user.publicKey, curve: user.curve }],
          contracts: SAMPLES.map((name) => ({
            name,
            path: join(findPackageRoot(), "contracts", "examples", name),
          })),
          autoTrustNodes: true,
        },
      });
      await runner.start(0, true);
      leader = await waitForLeader([urls[0]!], signal, "node 0 to lead the service");
    } else {
      options.say(`restarting node(s) ${existing.join(", ")} from ${ws}`);
      for (const i of existing) {
        writeNodeConfig(ws, i, options.basePort, nats, urls, {});
        await runner.start(i, false);
      }
      leader = await waitForLeader(
        existing.map((i) => urls[i]!),
        signal,
        `a leader among node(s) ${existing.join(", ")}`,
      );
    }
    const serviceKey = leader.status.serviceKey as { curve: string; publicKey: string };
    if (leader.status.serviceStatus !== "open") {
      await openService(leader.url, serviceKey, fromKeyFile(member));
      options.say("member0 opened the service (proposal transition_service_to_open, accepted)");
    }
    writeFileSync(join(ws, "service.json"), `${JSON.stringify({ serviceKey, nodes: urls }, null, 2)}\n`);
    for (let i = 0; i < count; i++) {
      if (existing.includes(i) || i === 0) continue;
      checkAborted(signal);
      writeNodeConfig(ws, i, options.basePort, nats, urls, {
        join: { nodes: [leader.url], serviceKey: serviceKey.publicKey },
      });
      await runner.start(i, false);
    }
    await waitFor(
      leader.url,
      (s) => (s.config as string[] | null)?.length === count,
      signal,
      `all ${count} node(s) to join`,
      "/node/network",
    );
    await waitForContracts(leader.url, signal);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { urls, mode, stop: stopAll };
}

/** The commands to try against a running dev network. */
export function devInstructions(workspace: string, urls: readonly string[]): string {
  const ws = resolve(workspace);
  const key = join(ws, "user0.json");
  const svc = join(ws, "service.json");
  const write = join(ws, "write.json"); // the write's {"result", "txid", "status"}: its txid has the receipt
  return [
    "",
    `Treaty dev network: ${urls.length} node(s)`,
    ...urls.map((u, i) => `  node ${i}: ${u}`),
    `Console: ${urls[0]}/console (any node serves it; load member0.json or user0.json in the page to sign)`,
    `Workspace: ${ws} (member0.json, user0.json, service.json, node<i>/)`,
    "",
    "Try:",
    `  npx treaty call log writePrivate --args '{"id": 1, "msg": "hello"}' --key ${key} --node ${urls[0]} --service ${svc} --wait | tee ${write}`,
    `  npx treaty call log readPrivate --args '{"id": 1}' --key ${key} --node ${urls.at(-1)} --service ${svc}`,
    `  npx treaty receipt "$(jq -r .txid ${write})" --verify --node ${urls[0]} --service ${svc}`,
    `  npx treaty status --node ${urls[0]}`,
    `  node ${fileURLToPath(new URL("../examples/sdk-call.js", import.meta.url))} ${svc} ${key}`,
    "",
    "Press Ctrl-C to stop.",
  ].join("\n");
}

interface Runner {
  /** Starts node `index`; with `ready`, resolves only once it serves (in-process genesis only). */
  start(index: number, ready: boolean): Promise<void>;
  stopAll(): Promise<void>;
}

/** One child process per node (`treaty node start`), logs to `node<i>.log`. */
class ProcessRunner implements Runner {
  readonly #children: ChildProcess[] = [];
  constructor(private readonly ws: string) {}

  async start(index: number, _ready: boolean): Promise<void> {
    const cli = fileURLToPath(new URL("./cli.js", import.meta.url));
    const log = openSync(join(this.ws, `node${index}.log`), "a");
    const child = spawn(
      process.execPath,
      [cli, "node", "start", "--config", join(this.ws, `node${index}.json`)],
      {
        stdio: ["ignore", log, log],
      },
    );
    this.#children.push(child);
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
            child.once("exit", () => {
              clearTimeout(timer);
              done();
            });
            child.kill("SIGTERM");
          }),
      ),
    );
  }
}

/** All nodes in this process, on one in-memory network; logs to `node<i>.log`. */
class InProcessRunner implements Runner {
  readonly #network = new MemoryNetwork();
  readonly #nodes: TreatyNode[] = [];
  #stopped = false;
  constructor(private readonly ws: string) {}

  async start(index: number, ready: boolean): Promise<void> {
    const config = loadConfig(join(this.ws, `node${index}.json`));
    const fd = openSync(join(this.ws, `node${index}.log`), "a");
    const logger: Logger = createLogger({ level: config.logLevel, write: (line) => writeSync(fd, line) });
    const runtime: NodeRuntime = {
      ...realRuntime(config, logger),
      transport: async ({ serviceId, identity, sessionEpoch }) =>
        this.#network.createTransport({ serviceId, nodeId: identity.id, identity, sessionEpoch }),
    };
    // Joining waits for a leader, which runs in this same process: start without blocking.
    const starting = TreatyNode.start(config, runtime).then(async (node) => {
      if (this.#stopped) await node.stop();
      else this.#nodes.push(node);
    });
    if (ready) await starting;
    else starting.catch((err: unknown) => logger.error("node failed to start", { err }));
  }

  async stopAll(): Promise<void> {
    // A node still starting is stopped as soon as it is up (one still joining may never be).
    this.#stopped = true;
    await Promise.all(this.#nodes.splice(0).map((node) => node.stop()));
  }
}

/** True when node `index` of the workspace has a config and a non-empty ledger. */
function hasData(ws: string, index: number): boolean {
  const ledger = join(ws, `node${index}`, "ledger");
  return existsSync(join(ws, `node${index}.json`)) && existsSync(ledger) && readdirSync(ledger).length > 0;
}

/** An existing node keeps the HTTP port it was created with; a new one gets `basePort + index`. */
function httpPort(ws: string, index: number, basePort: number): number {
  if (!hasData(ws, index)) return basePort + index;
  const port = readJsonFile<{ http?: { port?: unknown } }>(join(ws, `node${index}.json`))?.http?.port;
  return typeof port === "number" ? port : basePort + index;
}

function writeNodeConfig(
  ws: string,
  index: number,
  basePort: number,
  nats: NatsServer | undefined,
  consoleOrigins: readonly string[],
  extra: Record<string, unknown>,
): void {
  const file = join(ws, `node${index}.json`);
  if (hasData(ws, index)) {
    // An existing node keeps its identity and data; only the NATS address may have changed.
    const existing = readJsonFile<Record<string, unknown>>(file) ?? {};
    writeDurable(
      file,
      `${JSON.stringify({ ...existing, nats: nats ? { servers: [nats.url] } : null }, null, 2)}\n`,
    );
    return;
  }
  const config = {
    dataDir: `node${index}`,
    // Development: each node's secrets sealed under a key in the workspace, outside its data folder.
    sealing: { provider: "virtual", keyFile: `node${index}.sealing.key` },
    // Plain HTTP on loopback keeps the tour (curl, the browser console) free of certificates;
    // each node's console (/console) reads the other nodes' status: their pages are allowed.
    http: { host: "127.0.0.1", port: basePort + index, tls: false, cors: { allowedOrigins: consoleOrigins } },
    nats: nats ? { servers: [nats.url] } : null,
    ledger: { signatureIntervalTx: 1000, signatureIntervalMs: 50 },
    logLevel: "info",
    ...extra,
  };
  writeDurable(file, `${JSON.stringify(config, null, 2)}\n`);
}

function keyFile(path: string): KeyFile {
  const existing = readJsonFile<KeyFile>(path);
  if (existing) return existing;
  const file = toKeyFile(generateKeyPair("ed25519"));
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  return file;
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new TreatyError("Unavailable", "start-up interrupted");
}

/** Polls `path` on each of `urls` until one answers what `ok` accepts; returns that one. */
async function waitForAny(
  urls: readonly string[],
  ok: (status: Record<string, unknown>) => boolean,
  signal: AbortSignal,
  what: string,
  path = "/node/status",
): Promise<{ url: string; status: Record<string, unknown> }> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    for (const url of urls) {
      checkAborted(signal);
      try {
        const response = await fetch(url + path, { signal });
        if (response.ok) {
          const status = (await response.json()) as Record<string, unknown>;
          if (ok(status)) return { url, status };
        }
      } catch {
        // not up yet (or aborted: checked above)
      }
    }
    if (Date.now() > deadline)
      throw new TreatyError("Timeout", `gave up waiting for ${what} (see the workspace's node logs)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitFor(
  url: string,
  ok: (status: Record<string, unknown>) => boolean,
  signal: AbortSignal,
  what: string,
  path = "/node/status",
): Promise<Record<string, unknown>> {
  return (await waitForAny([url], ok, signal, what, path)).status;
}

function waitForLeader(
  urls: readonly string[],
  signal: AbortSignal,
  what: string,
): Promise<{ url: string; status: Record<string, unknown> }> {
  return waitForAny(
    urls,
    (s) => s.role === "leader" && typeof s.commitSeqno === "number" && s.commitSeqno >= 1,
    signal,
    what,
  );
}

/** member0 proposes `transition_service_to_open` and votes for it (a majority of one member). */
async function openService(
  url: string,
  serviceKey: { curve: string; publicKey: string },
  member: KeyPair,
): Promise<void> {
  const client = new Client({
    nodes: [url],
    serviceKey: parsePublicKey(serviceKey.curve, serviceKey.publicKey, "serviceKey"),
  });
  const gov = new Governance(client, member);
  const { proposalId, state } = await gov.propose([actions.transitionServiceToOpen()]);
  if (state === "Open") await gov.vote(proposalId, "for");
  const final = await gov.waitForFinal(proposalId, { timeoutMs: READY_TIMEOUT_MS });
  if (final.state !== "Accepted") {
    throw new TreatyError(
      "Unavailable",
      `opening the service: the proposal is ${final.state}${final.error ? ` (${final.error.message})` : ""}`,
    );
  }
}

async function waitForContracts(url: string, signal: AbortSignal): Promise<void> {
  await waitFor(
    url,
    (doc) =>
      SAMPLES.every((name) =>
        Object.keys((doc.paths as Record<string, unknown>) ?? {}).some((p) => p.startsWith(`/app/${name}/`)),
      ),
    signal,
    "the sample contracts to load",
    "/app/openapi.json",
  );
}
