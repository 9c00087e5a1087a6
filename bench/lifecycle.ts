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
 * 3. join: a fresh child process installs the node's latest snapshot through
 *    `SnapshotPort.install` into an empty data folder (ledger store, KV), which is what a joining
 *    node does before it replicates the entries after the snapshot (`joinInstallMs`, RSS).
 * Prints one JSON line per size, then the ratios of the largest size to the smallest. Targets
 * (issue 11): restart ≤ 3 s and RSS ≤ 300 MB at 1M, flat between sizes.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, mkdtempSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { fromHex, toHex, utf8 } from "../sdk/bytes.js";
import { fromKeyFile, generateKeyPair } from "../sdk/keys.js";
import { sha256 } from "../runtime/crypto.js";
import { KvStore } from "../runtime/kv/store.js";
import { Ledger, type TransactionInput } from "../runtime/ledger/ledger.js";
import { ledgerStoreDir } from "../runtime/ledger/lmdb-store.js";
import { openLedgerStore } from "../runtime/ledger/open-store.js";
import { LedgerSecret, LedgerSecrets } from "../runtime/ledger/secrets.js";
import { nodeSigner } from "../runtime/ledger/signature.js";
import { loadConfig, type NodeConfig } from "../node/config.js";
import { ExecutionService } from "../node/execution/service.js";
import { silentLogger } from "../node/log.js";
import { realRuntime } from "../node/main.js";
import { createSealingProvider } from "../node/secrets/sealing.js";
import { TreatyNode } from "../node/service.js";
import { SnapshotFiles, snapshotDir } from "../node/snapshot/files.js";
import { Snapshots } from "../node/snapshot/snapshots.js";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "100000,1000000" },
    child: { type: "string" },
    config: { type: "string" },
    out: { type: "string" },
  },
});

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
  const deadline = Date.now() + 600_000;
  while (!node.lifecycle.serving) {
    if (Date.now() > deadline) throw new Error("the node did not serve within 10 minutes");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
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

async function build(
  dir: string,
  entries: number,
): Promise<{ configFile: string; firstStartMs: number; buildMs: number }> {
  const started = performance.now();
  const member = generateKeyPair("ed25519");
  const configFile = join(dir, "node.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      dataDir: join(dir, "data"),
      sealing: { provider: "virtual", keyFile: join(dir, "sealing.key") },
      http: { host: "127.0.0.1", port: 0 },
      ledger: { signatureIntervalMs: 50 },
      snapshots: { everyEntries: SNAPSHOT_EVERY },
      genesis: {
        members: [{ curve: member.curve, publicKey: toHex(member.publicKey) }],
        users: [],
        contracts: [],
        open: true,
      },
      logLevel: "error",
    }),
  );
  const config = loadConfig(configFile);
  await (await startNode(config)).stop();
  const end = await extend(config, entries);
  const first = performance.now();
  const node = await startNode(config);
  const firstStartMs = performance.now() - first;
  const deadline = Date.now() + 120_000;
  while ((node.snapshots.latest()?.seqno ?? 0) < end) {
    if (Date.now() > deadline) throw new Error("no usable snapshot after the build");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await node.stop();
  return { configFile, firstStartMs, buildMs: performance.now() - started };
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

/** Child: install the node's latest snapshot into the empty folder `out` (what a joiner does first). */
async function childJoin(configFile: string, out: string): Promise<void> {
  const config = loadConfig(configFile);
  const { serviceKey, ledgerSecrets } = unsealed(config);
  const dir = snapshotDir(config.dataDir);
  const latest = readdirSync(dir)
    .filter((n) => n.endsWith(".committed"))
    .sort()
    .at(-1)!;
  const bytes = new Uint8Array(readFileSync(join(dir, latest)));
  const started = performance.now();
  const store = openLedgerStore(join(out, "ledger"));
  const ledger = Ledger.open({ store, secrets: ledgerSecrets, serviceKey });
  const execution = await ExecutionService.start({
    kvPath: join(out, "kv"),
    logger: silentLogger,
    replaySource: () => [],
  });
  const snapshots = new Snapshots({
    ledger,
    execution,
    secrets: ledgerSecrets,
    serviceKeys: [serviceKey],
    files: new SnapshotFiles(snapshotDir(out), 2),
    schedule: { everyEntries: SNAPSHOT_EVERY, everyMs: 600_000 },
    logger: silentLogger,
    isLeader: () => false,
    recordEvidence: async () => undefined,
    onInstalled: async () => undefined,
  });
  const { seqno } = await snapshots.install(bytes);
  const joinInstallMs = performance.now() - started;
  const result = {
    joinInstallMs: Math.round(joinInstallMs),
    joinRssMB: rssMB(),
    snapshotSeqno: seqno,
    snapshotBytes: bytes.length,
  };
  await execution.close();
  await store.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function child(args: string[]): Record<string, number> {
  const script = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, [script, ...args], { encoding: "utf8", maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, number>;
}

async function main(): Promise<void> {
  if (values.child === "restart") return childRestart(values.config!);
  if (values.child === "join") return childJoin(values.config!, values.out!);
  const results: Record<string, number>[] = [];
  for (const size of values.sizes.split(",").map(Number)) {
    const dir = mkdtempSync(join(tmpdir(), "treaty-lifecycle-"));
    try {
      const built = await build(dir, size);
      const restart = child(["--child", "restart", "--config", built.configFile]);
      const join_ = child([
        "--child",
        "join",
        "--config",
        built.configFile,
        "--out",
        mkdtempSync(join(dir, "join-")),
      ]);
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
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (results.length > 1) {
    const [small, large] = [results[0]!, results.at(-1)!];
    const ratio = (k: string) => Math.round((large[k]! / small[k]!) * 100) / 100;
    process.stdout.write(
      `${JSON.stringify({
        ratio: `${large.transactions} vs ${small.transactions}`,
        restartMs: ratio("restartMs"),
        restartRssMB: ratio("restartRssMB"),
        joinInstallMs: ratio("joinInstallMs"),
        joinRssMB: ratio("joinRssMB"),
      })}\n`,
    );
  }
}

await main();
