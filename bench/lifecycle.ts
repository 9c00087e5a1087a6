/**
 * `npm run bench:lifecycle -- [--sizes 100000,1000000]`: what restart and join cost as the
 * ledger grows. For each size N, in a temp directory:
 * 1. build: a real node creates a service (genesis) and stops; N transactions (and a signature
 *    every 100) are then appended through the runtime (runtime/ledger Ledger with the node's own
 *    keys and secrets, runtime/kv KvStore with its at-rest key; not HTTP), each writing one
 *    public and one private row out of 10,000 keys each; the node starts once more (reading its
 *    whole ledger: printed as `firstStartMs`), commits, and writes a snapshot whose evidence
 *    commits; it stops.
 * 2. restart: a fresh child process starts the node on that data folder and measures the time
 *    until it serves (`restartMs`, the ledger read from the snapshot on) and its RSS then.
 * 3. join: over a real nats-server, the built node runs as a 1-node service in its own process
 *    (`treaty node start`); a user writes one `log` message after the snapshot and waits for
 *    it to commit; then a brand-new node process starts with an empty data folder and
 *    `join` config. `joinMs` is the time from spawning it until it answers a committed read
 *    (`log.readPublic`, `x-treaty-consistency: committed`) of that message: the join request,
 *    the snapshot transfer from the leader (512 KiB chunks over NATS), its verification and
 *    install, the replication of the entries after it, the learner phase, the read. Also printed:
 *    when the joiner logged "snapshot installed" (`joinSnapshotInstalledMs`, from the spawn) and
 *    the joiner's RSS once it served (`joinRssMB`, from /proc).
 * `--profile-join DIR` writes the joining process's CPU profile there (`node --cpu-prof`).
 * Prints one JSON line per size, then the ratios of the largest size to the smallest. Targets
 * (issue 11): restart ≤ 3 s and RSS ≤ 300 MB at 1M, join ≤ 5 s at 1M, flat between sizes.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { fromHex, toHex, utf8 } from "../sdk/bytes.js";
import type logContract from "../contracts/examples/log/index.js";
import { Client } from "../sdk/client.js";
import { fromKeyFile, generateKeyPair, type KeyPair, type PublicKey } from "../sdk/keys.js";
import { findPackageRoot } from "../runtime/compiler/package-root.js";
import { sha256 } from "../runtime/crypto.js";
import { KvStore } from "../runtime/kv/store.js";
import { Ledger, type TransactionInput } from "../runtime/ledger/ledger.js";
import { ledgerStoreDir } from "../runtime/ledger/lmdb-store.js";
import { openLedgerStore } from "../runtime/ledger/open-store.js";
import { LedgerSecret, LedgerSecrets } from "../runtime/ledger/secrets.js";
import { nodeSigner } from "../runtime/ledger/signature.js";
import { loadConfig, type NodeConfig } from "../node/config.js";
import { silentLogger } from "../node/log.js";
import { realRuntime } from "../node/main.js";
import { createSealingProvider } from "../node/secrets/sealing.js";
import { TreatyNode } from "../node/service.js";
import { type NatsServer, startNatsServer } from "../node/nats-server.js";
import { CLI } from "../test/support/cli.js";
import { freePorts } from "../test/support/cluster.js";
import { pollFor, until } from "../test/support/poll.js";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100000,1000000" },
    child: { type: "string" },
    config: { type: "string" },
    /** Write the joining node's CPU profile (node --cpu-prof) into this folder. */
    "profile-join": { type: "string" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  process.stdout.write(`node dist/bench/lifecycle.js [options]  (npm run bench:lifecycle)
  Builds ledgers of each size through the runtime, then times restart, RSS and a fresh node's join.
  --sizes 100000,1000000   ledger sizes in transactions
  --profile-join DIR       the joining node process writes a V8 CPU profile there
One JSON line per size on stdout, then the ratios of the largest size to the smallest.
`);
  process.exit(0);
}

const KEYS = 10_000;
const SIGNATURE_EVERY = 100;
/** The schedule's entry interval: the build ends just past a multiple of it. */
const SNAPSHOT_EVERY = 10_000;
const rssMB = () => Math.round(process.memoryUsage().rss / 2 ** 20);

function unsealed(config: NodeConfig) {
  const sealed = createSealingProvider(config.sealing, config.dataDir, {
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
  }).unseal();
  if (sealed?.secrets === undefined) throw new Error("the node's secrets are not sealed in its data dir");
  const secrets = sealed.secrets;
  const service = fromKeyFile(secrets.serviceKey);
  return {
    identity: fromKeyFile(sealed.identity),
    secrets,
    serviceKey: { curve: service.curve, publicKey: service.publicKey },
    ledgerSecrets: new LedgerSecrets(
      secrets.ledgerSecrets.map((s) => new LedgerSecret(s.version, fromHex(s.key))),
    ),
  };
}

async function startNode(config: NodeConfig): Promise<TreatyNode> {
  const node = await TreatyNode.start(config, realRuntime(config, silentLogger));
  await until("the node to serve", () => node.lifecycle.serving, 600_000, 5);
  return node;
}

function transaction(i: number, now: number): TransactionInput {
  return {
    kind: "user",
    writeSet: {
      public: [
        { map: "public:bench.rows", writes: [[utf8.encode(`r${i % KEYS}`), utf8.encode(`{"n":${i}}`)]] },
      ],
      private: [{ map: "bench.secret", writes: [[utf8.encode(`s${i % KEYS}`), utf8.encode(`{"n":${i}}`)]] }],
    },
    meta: { timeMs: now, contract: "bench", method: "write", callerId: "c".repeat(64) },
    seed: null,
    requestDigest: sha256(`request ${i}`),
  };
}

/** Appends `entries` transactions to a stopped node's ledger and KV (see the module comment). */
async function extend(config: NodeConfig, entries: number): Promise<number> {
  const { identity, secrets, serviceKey, ledgerSecrets } = unsealed(config);
  const signer = nodeSigner(
    identity,
    {
      nodeId: identity.id,
      curve: identity.curve,
      publicKey: identity.publicKey,
      validFromMs: secrets.endorsement.validFromMs,
      validToMs: secrets.endorsement.validToMs,
      signature: fromHex(secrets.endorsement.signature),
    },
    serviceKey,
  );
  const store = openLedgerStore(ledgerStoreDir(config.dataDir)); // the node's own kind of store
  const ledger = Ledger.open({
    store,
    secrets: ledgerSecrets,
    random: (n) => new Uint8Array(randomBytes(n)),
    serviceKey,
  });
  const kv = KvStore.open(join(config.dataDir, "kv"), { atRestKey: fromHex(secrets.atRestKey!) });
  // The rows below extend committed state: a gap would leave the genesis tables out of the KV.
  if (kv.committedVersion !== ledger.lastSeqno)
    throw new Error(`the KV is committed at ${kv.committedVersion}, the ledger ends at ${ledger.lastSeqno}`);
  const view = ledger.lastView;
  const now = Date.now();
  // End 20 past a multiple of the snapshot interval, the last signature 50 before it: the node's
  // first signature after the restart is a snapshot point.
  const end = Math.ceil((ledger.lastSeqno + entries) / SNAPSHOT_EVERY) * SNAPSHOT_EVERY + 20;
  let i = 0;
  let lastSignature = ledger.lastSignatureAtOrBefore(ledger.lastSeqno);
  while (ledger.lastSeqno < end) {
    const seqno = ledger.lastSeqno + 1;
    if (seqno % SIGNATURE_EVERY === SIGNATURE_EVERY / 2) {
      ledger.appendSignature(view, signer, now);
      // The KV's version marker moves to the signature (the commit point) with an empty write set.
      if (seqno < end - 70) {
        kv.apply(seqno, { public: [], private: [] });
        lastSignature = seqno;
      }
    } else {
      const tx = transaction(i++, now);
      ledger.appendTransaction(view, tx);
      if (seqno < end - 70) kv.apply(seqno, tx.writeSet);
    }
    if (seqno % 1000 === 0) {
      ledger.persist();
      if (lastSignature > kv.committedVersion) await kv.commit(lastSignature);
    }
  }
  ledger.persist();
  await kv.commit(lastSignature);
  await kv.close();
  await store.close();
  const hardPath = join(config.dataDir, "consensus.json");
  const hard = JSON.parse(readFileSync(hardPath, "utf8")) as Record<string, unknown>;
  writeFileSync(hardPath, JSON.stringify({ ...hard, commitSeqno: lastSignature }));
  return end;
}

interface Built {
  readonly dir: string;
  readonly configFile: string;
  readonly firstStartMs: number;
  readonly buildMs: number;
  readonly serviceKey: PublicKey;
  readonly user: KeyPair;
}

async function build(dir: string, entries: number, nats: NatsServer): Promise<Built> {
  const started = performance.now();
  const member = generateKeyPair("ed25519");
  const user = generateKeyPair("ed25519");
  const configFile = join(dir, "node.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      dataDir: join(dir, "data"),
      sealing: { provider: "virtual", keyFile: join(dir, "sealing.key") },
      http: { host: "127.0.0.1", port: 0 },
      nats: { servers: [nats.url] },
      ledger: { signatureIntervalMs: 50 },
      snapshots: { everyEntries: SNAPSHOT_EVERY },
      genesis: {
        members: [{ curve: member.curve, publicKey: toHex(member.publicKey) }],
        users: [{ curve: user.curve, publicKey: toHex(user.publicKey) }],
        contracts: [{ name: "log", path: resolve(findPackageRoot(), "contracts/examples/log") }],
        open: true,
        autoTrustNodes: true,
      },
      logLevel: "error",
    }),
  );
  const config = loadConfig(configFile);
  const genesis = await startNode(config);
  // Stop only once the execution KV has committed every genesis entry (extend appends after them).
  await until(
    "the genesis entries to commit in the KV",
    () => {
      const status = genesis.replica.consensus.status();
      return (
        status.commitSeqno === genesis.ledger.lastSeqno &&
        genesis.execution.committedVersion === status.commitSeqno
      );
    },
    120_000,
  );
  await genesis.stop();
  const end = await extend(config, entries);
  const first = performance.now();
  const node = await startNode(config);
  const firstStartMs = performance.now() - first;
  await until(
    "a usable snapshot after the build",
    () => (node.snapshots.latest()?.seqno ?? 0) >= end,
    120_000,
  );
  await node.stop();
  const { serviceKey } = unsealed(config);
  return { dir, configFile, firstStartMs, buildMs: performance.now() - started, serviceKey, user };
}

/** Child: start the node, measure until it serves. */
async function childRestart(configFile: string): Promise<void> {
  const config = loadConfig(configFile);
  const started = performance.now();
  const node = await startNode(config);
  const restartMs = performance.now() - started;
  const rss = rssMB();
  const result = {
    restartMs: Math.round(restartMs),
    restartRssMB: rss,
    lastSeqno: node.ledger.lastSeqno,
    ledgerBase: node.ledger.base?.seqno ?? 0,
    entriesRead: node.ledger.lastSeqno - node.ledger.openedFromSeqno,
  };
  await node.stop();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** A node process (`treaty node start --config`), its stdout and stderr in `logFile`. */
function spawnNode(configFile: string, logFile: string, nodeArgs: readonly string[] = []): ChildProcess {
  const out = openSync(logFile, "a");
  const proc = spawn(process.execPath, [...nodeArgs, CLI, "node", "start", "--config", configFile], {
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  return proc;
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

function processRssMB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match === null ? -1 : Math.round(Number(match[1]) / 1024);
}

/** Polls `probe` every 10 ms until it returns a value; fails when `proc` exits or after the timeout. */
function poll<T>(
  what: string,
  proc: ChildProcess,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const exited = () =>
    proc.exitCode !== null || proc.signalCode !== null
      ? `the process exited (${proc.exitCode ?? proc.signalCode})`
      : undefined;
  return pollFor(what, probe, { timeoutMs, pollMs: 10, abort: exited });
}

/** Runs the built node as a 1-node service and times a fresh node joining it (module comment, 3). */
async function joinRun(built: Built): Promise<Record<string, number>> {
  const [leaderPort, joinerPort] = await freePorts(2);
  const leaderUrl = `http://127.0.0.1:${leaderPort}`;
  const joinerUrl = `http://127.0.0.1:${joinerPort}`;
  const leaderConfig = JSON.parse(readFileSync(built.configFile, "utf8")) as Record<string, unknown>;
  writeFileSync(
    built.configFile,
    JSON.stringify({ ...leaderConfig, http: { host: "127.0.0.1", port: leaderPort, tls: false } }),
  );
  const leader = spawnNode(built.configFile, join(built.dir, "leader.log"));
  let joiner: ChildProcess | undefined;
  try {
    const status = async (url: string) =>
      (await (await fetch(`${url}/node/status`, { signal: AbortSignal.timeout(2_000) })).json()) as {
        role?: string;
        phase?: string;
        serviceStatus?: string;
      };
    await poll("the built node to lead", leader, 600_000, async () => {
      const s = await status(leaderUrl);
      return s.role === "leader" && s.phase === "serving" && s.serviceStatus === "open" ? true : undefined;
    });
    const log = (url: string) =>
      new Client({ nodes: [url], serviceKey: built.serviceKey, key: built.user, retries: 1 }).contract<
        typeof logContract
      >("log");
    const written = await log(leaderUrl).writePublic({ id: 1, msg: "written after the snapshot" });
    await new Client({ nodes: [leaderUrl], serviceKey: built.serviceKey }).waitForCommit(written.txid!);

    const joinerConfig = join(built.dir, "joiner.json");
    const { genesis: _genesis, ...common } = leaderConfig;
    writeFileSync(
      joinerConfig,
      JSON.stringify({
        ...common,
        dataDir: join(built.dir, "joiner"),
        sealing: { provider: "virtual", keyFile: join(built.dir, "joiner-sealing.key") },
        http: { host: "127.0.0.1", port: joinerPort, tls: false },
        join: { nodes: [leaderUrl], serviceKey: toHex(built.serviceKey.publicKey) },
        logLevel: "info",
      }),
    );
    const joinerLog = join(built.dir, "joiner.log");
    const started = performance.now();
    const startedAt = Date.now();
    joiner = spawnNode(
      joinerConfig,
      joinerLog,
      values["profile-join"] === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${values["profile-join"]}`],
    );
    const reader = new Client({
      nodes: [joinerUrl],
      serviceKey: built.serviceKey,
      key: built.user,
      retries: 1,
      consistency: "committed",
    });
    await poll("the joiner to serve the message", joiner, 600_000, async () => {
      const answer = await reader.call("log", "readPublic", { id: 1 });
      return (answer.result as { msg?: string } | undefined)?.msg === "written after the snapshot"
        ? true
        : undefined;
    });
    const joinMs = performance.now() - started;
    const installed = readFileSync(joinerLog, "utf8")
      .split("\n")
      .filter((line) => line.includes('"snapshot installed"'))
      .map((line) => Date.parse((JSON.parse(line) as { t: string }).t))[0];
    return {
      joinMs: Math.round(joinMs),
      joinSnapshotInstalledMs: installed === undefined ? -1 : installed - startedAt,
      joinRssMB: processRssMB(joiner.pid!),
      leaderRssMB: processRssMB(leader.pid!),
    };
  } finally {
    if (joiner !== undefined) await stopProcess(joiner);
    await stopProcess(leader);
  }
}

function child(args: string[]): Record<string, number> {
  const script = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, [script, ...args], { encoding: "utf8", maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, number>;
}

async function main(): Promise<void> {
  if (values.child === "restart") return childRestart(values.config!);
  const results: Record<string, number>[] = [];
  const nats = await startNatsServer();
  try {
    for (const size of values.sizes.split(",").map(Number)) {
      const dir = mkdtempSync(join(tmpdir(), "treaty-lifecycle-"));
      try {
        const built = await build(dir, size, nats);
        const restart = child(["--child", "restart", "--config", built.configFile]);
        const join_ = await joinRun(built);
        const line = {
          transactions: size,
          buildMs: Math.round(built.buildMs),
          firstStartMs: Math.round(built.firstStartMs),
          ...restart,
          ...join_,
        };
        results.push(line);
        process.stdout.write(`${JSON.stringify(line)}\n`);
      } finally {
        if (process.env.TREATY_KEEP_BENCH === undefined) rmSync(dir, { recursive: true, force: true });
        else process.stderr.write(`kept ${dir}\n`);
      }
    }
  } finally {
    await nats.dispose();
  }
  if (results.length > 1) {
    const [small, large] = [results[0]!, results.at(-1)!];
    const ratio = (k: string) => Math.round((large[k]! / small[k]!) * 100) / 100;
    process.stdout.write(
      `${JSON.stringify({
        ratio: `${large.transactions} vs ${small.transactions}`,
        restartMs: ratio("restartMs"),
        restartRssMB: ratio("restartRssMB"),
        joinMs: ratio("joinMs"),
        joinRssMB: ratio("joinRssMB"),
      })}\n`,
    );
  }
}

await main();
