/**
 * Node configuration: a JSON or YAML file, validated here with messages that name the field.
 * Relative paths are resolved against the config file's folder. Defaults are written out in
 * DEFAULTS so an operator can read what a node does without reading code.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { TreatyError } from "../sdk/errors.js";
import {
  array,
  bad,
  boolean,
  integer,
  object,
  oneOf,
  optionalObject,
  string,
  stringArray,
} from "./config-fields.js";
import { type CorsPolicy, NO_CORS, parseOrigin } from "./http/cors.js";
import { type IdentityConfig, parseIdentities } from "./genesis-identities.js";
import { type NatsConfig, parseNatsConfig } from "./nats-config.js";
import { isInside, type SealingConfig } from "./secrets/sealing.js";
import { type EventsConfig, parseEventsConfig } from "./events/config.js";
import { type ConsensusTimingConfig, parseConsensusTiming } from "./consensus-timing.js";

export type { IdentityConfig } from "./genesis-identities.js";

export interface GenesisConfig {
  readonly members: readonly IdentityConfig[];
  readonly users: readonly IdentityConfig[];
  /** Contracts deployed at genesis: name and source folder. */
  readonly contracts: readonly { readonly name: string; readonly path: string }[];
  /** Open the service at once (no governance vote); for tests. */
  readonly open: boolean;
  /**
   * The service's initial trust policy for joining nodes (recorded in the service record, so
   * every leader applies it; members change it with `set_auto_trust_nodes`). For `treaty dev`.
   */
  readonly autoTrustNodes: boolean;
}

export interface NodeConfig {
  readonly dataDir: string;
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly maxBodyBytes: number;
    /** Other origins whose pages may call this node (node/http/cors.ts); none by default. */
    readonly cors: CorsPolicy;
    /**
     * HTTPS with a certificate endorsed by the service identity (node/tls/). Default true; plain
     * HTTP only when the config says `http.tls: false`, and the node then says so in its log and
     * status.
     */
    readonly tls: boolean;
    /**
     * The URL the node publishes (genesis record, join request, `/node/network`). Default:
     * the scheme, `host` and port it binds; required when `host` is a wildcard (0.0.0.0, ::).
     */
    readonly advertiseUrl: string | null;
  };
  /**
   * The node's identity key file, kept in clear (the operator's choice; keep it outside the data
   * folder); created on first start when missing. Null (the default): the identity lives in the node's sealed state, or only in memory.
   */
  readonly identityFile: string | null;
  /** Where the node's secrets survive a restart: node/secrets/sealing.ts. Default `memory`. */
  readonly sealing: SealingConfig;
  /** The NATS cluster, TLS, credentials and subject prefix (node/nats-config.ts); null: in-process only. */
  readonly nats: NatsConfig | null;
  readonly ledger: {
    /** A signature transaction after this many transactions... */
    readonly signatureIntervalTx: number;
    /** ...or after this many milliseconds with unsigned transactions, whichever comes first. */
    readonly signatureIntervalMs: number;
    /**
     * Also sign unsigned transactions, at most every 5 ms, once the leader's queue has run dry since
     * its last signature, or once the oldest has waited 5 ms while batches carry fewer than 8
     * calls (node/sequencer.ts); false: only the two intervals.
     */
    readonly signWhenIdle: boolean;
    /** A ledger chunk file closes at the first signature once it holds this many bytes. */
    readonly chunkBytes: number;
  };
  /** When to snapshot (node/snapshot/, docs/snapshots.md); defaults when absent. */
  readonly snapshots?: {
    /** A snapshot at the first committed signature after each multiple of this seqno count (the base stride)... */
    readonly everyEntries: number;
    /** ...and at the first signature whose recorded time enters a new period of this many ms. */
    readonly everyMs: number;
    /**
     * Both strides hold while the newest snapshot in the ledger is at most this many bytes, and
     * double with each doubling of its size past it (node/snapshot/schedule.ts); 0: they never grow.
     */
    readonly strideBytes: number;
    /** Committed snapshot files kept in `<dataDir>/snapshots/`. */
    readonly keep: number;
  };
  readonly requests: {
    /** Signed requests older or newer than this (by createdMs) are refused as StaleRequest. */
    readonly freshnessWindowMs: number;
    /**
     * Worker threads checking request signatures (node/verify/); 0 checks them on the main
     * thread. Absent: one per two cores, 1 to 4 (`defaultVerifyWorkers`).
     */
    readonly verifyWorkers?: number;
  };
  readonly genesis: GenesisConfig | null;
  /** Join an existing service: node URLs to ask, and its pinned identity key (from service.json). */
  readonly join: { readonly nodes: readonly string[]; readonly serviceKey: string } | null;
  /**
   * Disaster recovery: start a new service from the surviving ledger of a lost one (a node data
   * folder or its `ledger/` folder). A ledger that starts after a snapshot (its node joined or
   * caught up from one) is recovered from a committed snapshot: `snapshotFile` when given, else
   * the newest fitting one in the `snapshots/` folder beside the ledger folder. See
   * docs/recovery.md.
   */
  readonly recover: { readonly ledgerDir: string; readonly snapshotFile?: string } | null;
  readonly logLevel: "debug" | "info" | "warn" | "error";
  /** `/app/events` bounds and the JetStream export (node/events/config.ts); absent: defaults. */
  readonly events?: EventsConfig;
  /** Historical queries (node/history/): committed versions kept readable; absent or 0: off. */
  readonly history?: { readonly windowEntries: number };
  /** Tick, heartbeat and election timeout in ms (node/consensus-timing.ts); absent: defaults. */
  readonly consensus?: ConsensusTimingConfig;
}

export const DEFAULTS = {
  // Admits arguments at the default maxArgsBytes (576 KiB) plus the request envelope.
  http: { host: "127.0.0.1", port: 8000, maxBodyBytes: 1 << 20, cors: NO_CORS },
  ledger: {
    signatureIntervalTx: 1000,
    signatureIntervalMs: 100,
    signWhenIdle: true,
    chunkBytes: 4 * 1024 * 1024,
  },
  requests: { freshnessWindowMs: 5 * 60_000 },
  snapshots: { everyEntries: 10_000, everyMs: 10 * 60_000, strideBytes: 4 * 1024 * 1024, keep: 2 },
  logLevel: "info",
} as const;

/** Reads and validates a config file (`.json`, `.yaml` or `.yml`). */
export function loadConfig(file: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new TreatyError("MalformedRequest", `config ${file}: cannot read (${(err as Error).message})`);
  }
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new TreatyError(
      "MalformedRequest",
      `config ${file}: not valid ${/\.ya?ml$/i.test(file) ? "YAML" : "JSON"} (${(err as Error).message})`,
    );
  }
  return parseConfig(value, dirname(resolve(file)));
}

/** Validates a config value; relative paths resolve against `baseDir`. */
export function parseConfig(value: unknown, baseDir: string): NodeConfig {
  const root = object(value, "config");
  const path = (v: unknown, field: string) => resolve(baseDir, string(v, field));
  const http = optionalObject(root.http, "http");
  if ([root.genesis, root.join, root.recover].filter((s) => s != null).length > 1) {
    throw new TreatyError(
      "MalformedRequest",
      "config: genesis, join and recover exclude each other (create a service, join one, or recover one)",
    );
  }
  const ledger = optionalObject(root.ledger, "ledger");
  const requests = optionalObject(root.requests, "requests");
  const snapshots = optionalObject(root.snapshots, "snapshots");
  const dataDir = path(root.dataDir, "dataDir");
  const autoTrustDefault = legacyAutoTrust(root.autoTrustNodes);
  return {
    dataDir,
    http: {
      host:
        root.http === undefined || http.host === undefined
          ? DEFAULTS.http.host
          : string(http.host, "http.host"),
      port: http.port === undefined ? DEFAULTS.http.port : integer(http.port, "http.port", 0, 65535),
      maxBodyBytes:
        http.maxBodyBytes === undefined
          ? DEFAULTS.http.maxBodyBytes
          : integer(http.maxBodyBytes, "http.maxBodyBytes", 1024, 64 << 20),
      cors: parseCors(http.cors),
      tls: http.tls === undefined ? true : boolean(http.tls, "http.tls"),
      advertiseUrl: parseAdvertiseUrl(http),
    },
    identityFile: root.identityFile === undefined ? null : path(root.identityFile, "identityFile"),
    sealing: parseSealing(root.sealing, dataDir, path),
    nats: parseNatsConfig(root.nats, path),
    ledger: {
      signatureIntervalTx:
        ledger.signatureIntervalTx === undefined
          ? DEFAULTS.ledger.signatureIntervalTx
          : integer(ledger.signatureIntervalTx, "ledger.signatureIntervalTx", 1, 1_000_000),
      signatureIntervalMs:
        ledger.signatureIntervalMs === undefined
          ? DEFAULTS.ledger.signatureIntervalMs
          : integer(ledger.signatureIntervalMs, "ledger.signatureIntervalMs", 1, 3_600_000),
      signWhenIdle:
        ledger.signWhenIdle === undefined
          ? DEFAULTS.ledger.signWhenIdle
          : boolean(ledger.signWhenIdle, "ledger.signWhenIdle"),
      chunkBytes:
        ledger.chunkBytes === undefined
          ? DEFAULTS.ledger.chunkBytes
          : integer(ledger.chunkBytes, "ledger.chunkBytes", 1024, 1 << 30),
    },
    snapshots: {
      everyEntries:
        snapshots.everyEntries === undefined
          ? DEFAULTS.snapshots.everyEntries
          : integer(snapshots.everyEntries, "snapshots.everyEntries", 1, 1_000_000_000),
      everyMs:
        snapshots.everyMs === undefined
          ? DEFAULTS.snapshots.everyMs
          : integer(snapshots.everyMs, "snapshots.everyMs", 1000, 365 * 24 * 3_600_000),
      strideBytes:
        snapshots.strideBytes === undefined
          ? DEFAULTS.snapshots.strideBytes
          : integer(snapshots.strideBytes, "snapshots.strideBytes", 0, 2 ** 40),
      keep:
        snapshots.keep === undefined
          ? DEFAULTS.snapshots.keep
          : integer(snapshots.keep, "snapshots.keep", 1, 100),
    },
    requests: {
      freshnessWindowMs:
        requests.freshnessWindowMs === undefined
          ? DEFAULTS.requests.freshnessWindowMs
          : integer(requests.freshnessWindowMs, "requests.freshnessWindowMs", 1000, 24 * 3_600_000),
      ...(requests.verifyWorkers !== undefined && {
        verifyWorkers: integer(requests.verifyWorkers, "requests.verifyWorkers", 0, 64),
      }),
    },
    genesis:
      root.genesis === undefined || root.genesis === null
        ? null
        : parseGenesis(root.genesis, path, autoTrustDefault),
    join:
      root.join === undefined || root.join === null
        ? null
        : {
            nodes: stringArray(object(root.join, "join").nodes, "join.nodes"),
            serviceKey: string(object(root.join, "join").serviceKey, "join.serviceKey"),
          },
    recover:
      root.recover === undefined || root.recover === null
        ? null
        : {
            ledgerDir: path(object(root.recover, "recover").ledgerDir, "recover.ledgerDir"),
            ...(object(root.recover, "recover").snapshotFile != null && {
              snapshotFile: path(object(root.recover, "recover").snapshotFile, "recover.snapshotFile"),
            }),
          },
    consensus: parseConsensusTiming(root.consensus),
    logLevel:
      root.logLevel === undefined
        ? DEFAULTS.logLevel
        : oneOf(root.logLevel, "logLevel", ["debug", "info", "warn", "error"] as const),
    ...(root.events !== undefined &&
      root.events !== null && { events: parseEventsConfig(root.events, path) }),
    ...(root.history !== undefined &&
      root.history !== null && {
        history: {
          windowEntries: integer(
            object(root.history, "history").windowEntries ?? 0,
            "history.windowEntries",
            0,
            1_000_000,
          ),
        },
      }),
  };
}

/** Binding every interface publishes nothing reachable: such a node must name its public URL. */
const WILDCARD_HOSTS = ["0.0.0.0", "::", "[::]", ""];

function parseAdvertiseUrl(http: Record<string, unknown>): string | null {
  const host = http.host === undefined ? DEFAULTS.http.host : String(http.host);
  if (http.advertiseUrl === undefined) {
    if (WILDCARD_HOSTS.includes(host))
      throw new TreatyError(
        "MalformedRequest",
        `config http.advertiseUrl: required when http.host is the wildcard address ${JSON.stringify(host)} (a node must not publish it)`,
      );
    return null;
  }
  const text = string(http.advertiseUrl, "http.advertiseUrl");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad("http.advertiseUrl", "an http(s) URL", text);
  }
  const scheme = http.tls === false ? "http:" : "https:";
  if (url.protocol !== scheme || url.pathname !== "/" || url.search !== "" || url.hash !== "")
    throw bad(
      "http.advertiseUrl",
      `a ${scheme}//host:port URL without a path (http.tls decides the scheme)`,
      text,
    );
  if (WILDCARD_HOSTS.includes(url.hostname))
    throw bad("http.advertiseUrl", "a reachable host, not a wildcard", text);
  return text.replace(/\/+$/, "");
}

/**
 * The top-level `autoTrustNodes` of earlier versions: trust policy is now service state, so it
 * only still means something in a genesis config, as the default of `genesis.autoTrustNodes`
 * (existing `treaty dev` workspaces keep starting); anywhere else it has no effect.
 */
function legacyAutoTrust(value: unknown): boolean {
  return value === undefined ? false : boolean(value, "autoTrustNodes");
}

function parseGenesis(
  value: unknown,
  path: (v: unknown, field: string) => string,
  autoTrustDefault: boolean,
): GenesisConfig {
  const g = object(value, "genesis");
  const members = parseIdentities(g.members, "genesis.members");
  if (members.length === 0)
    throw new TreatyError("MalformedRequest", "genesis.members: at least one member is required");
  return {
    members,
    users: parseIdentities(g.users, "genesis.users"),
    contracts: array(g.contracts ?? [], "genesis.contracts").map((item, i) => {
      const o = object(item, `genesis.contracts[${i}]`);
      return {
        name: string(o.name, `genesis.contracts[${i}].name`),
        path: path(o.path, `genesis.contracts[${i}].path`),
      };
    }),
    open: g.open === undefined ? false : boolean(g.open, "genesis.open"),
    autoTrustNodes:
      g.autoTrustNodes === undefined ? autoTrustDefault : boolean(g.autoTrustNodes, "genesis.autoTrustNodes"),
  };
}

function parseSealing(
  value: unknown,
  dataDir: string,
  path: (v: unknown, field: string) => string,
): SealingConfig {
  if (value === undefined || value === null) return { provider: "memory" };
  const o = object(value, "sealing");
  const provider = oneOf(o.provider, "sealing.provider", ["memory", "virtual"] as const);
  if (provider === "memory") return { provider };
  if ((o.keyFile === undefined) === (o.keyEnv === undefined))
    throw bad("sealing", "exactly one of keyFile and keyEnv for the virtual provider", value);
  const keyFile = o.keyFile === undefined ? null : path(o.keyFile, "sealing.keyFile");
  if (keyFile !== null && isInside(keyFile, dataDir))
    throw new TreatyError(
      "MalformedRequest",
      "config sealing.keyFile: must lie outside dataDir (a copy of the data folder must not carry its own key)",
    );
  return { provider, keyFile, keyEnv: o.keyEnv === undefined ? null : string(o.keyEnv, "sealing.keyEnv") };
}

/** `http.cors`: `{allowedOrigins: ["https://console.example.org", ...]}`, exact origins. */
function parseCors(v: unknown): CorsPolicy {
  if (v === undefined || v === null) return NO_CORS;
  const field = "http.cors.allowedOrigins";
  const origins = stringArray(object(v, "http.cors").allowedOrigins ?? [], field);
  return { allowedOrigins: origins.map((o, i) => parseOrigin(o, `${field}[${i}]`)) };
}
