/**
 * `treaty ledger verify | export | receipt | consistency`: offline tools over a node's data dir (a stopped node,
 * or a copy) or exported chunk files. Results are JSON on stdout, progress and diagnostics on
 * stderr. Exit codes: 0 ok, 1 the ledger is invalid or the receipt cannot be made (the JSON error
 * names the first bad seqno), 2 usage.
 *
 * The command bodies take an `io` so tests run them in-process; `LEDGER_COMMANDS` binds them to
 * the process streams and clock (the CLI is an entry point: it may read both).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { isTreatyError, TreatyError } from "../../sdk/errors.js";
import { parseServiceFile } from "../../sdk/client.js";
import { parsePublicKey, type PublicKey } from "../../sdk/keys.js";
import type { ConsistencyProof } from "../../sdk/consistency.js";
import { parseTxId, type Receipt } from "../../sdk/receipt.js";
import {
  exportChunks,
  isChunkDirectory,
  listChunkFiles,
  parseChunkFileName,
  readChunkFiles,
} from "../../runtime/ledger/chunks.js";
import { buildConsistencyProof } from "../../runtime/ledger/consistency.js";
import { ChunkedLedgerStore, hasChunkStore } from "../../runtime/ledger/chunk-store.js";
import { LEDGER_FILE } from "../../runtime/ledger/lmdb-store.js";
import { findLedgerStoreDir, openLedgerStore } from "../../runtime/ledger/open-store.js";
import { LedgerSecrets, parseLedgerSecrets } from "../../runtime/ledger/secrets.js";
import type { LedgerStore } from "../../runtime/ledger/store.js";
import { type AuditRecord, verifyLedger } from "../../runtime/ledger/verify.js";
import { type DamageMarker, describeDamageMarker, findDamageMarker } from "../damage-marker.js";
import {
  type AuditStart,
  auditStart,
  openFromSnapshot,
  type ReadStart,
  type SnapshotLedger,
  snapshotFileName,
  verifySnapshotFile,
} from "./ledger-snapshot.js";
import { type Command, EXIT_FAILED, EXIT_OK, parseFlags, UsageError } from "./command.js";
import { EndorsementChain, recordedEndorsementChain } from "./ledger-identities.js";

/** Where commands write, and the clock they use for progress. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  nowMs(): number;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  nowMs: () => performance.now(),
};

const PROGRESS_INTERVAL_MS = 1000;

/** How receipt and consistency read a ledger that starts after a snapshot. */
const SNAPSHOT_START_TEXT = `A node that joined or caught up from a snapshot keeps only the entries after it (its ledger, or
an export of it, has ledger.base): the ledger is read from the snapshot it starts after, the
oldest committed snapshot at or after that seqno in the snapshots/ folder beside the ledger
folder (<data-dir>/snapshots, or <export-dir>/../snapshots), whose Merkle tree state must give
the root the next signature signed (else SnapshotInvalid). Without one there it fails NotFound
naming the file needed and the folder; a txid or signed size at or before the snapshot is not
in this ledger (TxNotFound).`;

const VERIFY_USAGE = `Usage: treaty ledger verify <data-dir | chunk-dir | chunk files...> [--service-key K] [--ledger-secret FILE] [--quiet]
       treaty ledger verify --snapshot FILE --service-key K [--ledger-secret FILE]

Walks the whole ledger from seqno 1: entry encoding and digests, seqno and view order, the Merkle
root at every signature, node signatures and their endorsement by the service identity, and
(with the secret) decrypts every private part. A node that joined or caught up from a snapshot
keeps only the entries after it: its data dir is walked from the oldest committed snapshot in its
snapshots/ at or after the ledger's start, which must verify under --service-key (required then);
the report names it ("snapshot", "baseSeqno"). Prints a JSON report; on the first problem prints
{"error": {"code", "message", "seqno", "chunk"}} (the first bad seqno and, for chunks, the
file that fails to supply it) and exits 1. A data dir marked damaged (DAMAGED.json, written by
a node that stopped on damaged stored state) is read all the same: a warning on stderr names the
marker and the report carries it ("damageMarker"); export, receipt and consistency warn the same.
  <data-dir>             a node data dir (reads its ledger/ store) or a store dir: a node's chunk
                         folder (committed ledger_<first>-<last>.chunk files, then its
                         uncommitted tail) or an LMDB store (${LEDGER_FILE})
  <chunk-dir>, files     ledger_<first>-<last>.chunk files (exported, archived or a node's)
  --service-key K        the pinned service identity: a service.json, a key file or public key
                         JSON file, "<curve>:<hex>", or hex (ed25519). Without it the key found in the
                         first signature is used and reported (not pinned). After a disaster
                         recovery, signatures by the recovered service verify through the
                         endorsement of its identity recorded in the ledger (serviceIdentities
                         in the report lists the chain, pinned key first).
  --ledger-secret FILE   JSON {"version", "key": hex} or a list of them (never on the command line)
  --quiet                no progress on stderr
  --snapshot FILE        instead: check a snapshot file (<data-dir>/snapshots/*.committed) against
                         its evidence: the evidence receipt under the pinned --service-key
                         (required), the evidence naming the snapshot's seqno and digest, its
                         Merkle frontier against the signed root; with --ledger-secret, also
                         open its private part`;

const EXPORT_USAGE = `Usage: treaty ledger export <data-dir> <out-dir> [--chunk-bytes N] [--up-to SEQNO]

Writes the signed part of the ledger as portable chunk files ledger_<first>-<last>.chunk, each
ending on a signature entry. Entries after the last signature are not exported (reported).
  --chunk-bytes N   close a chunk at the first signature past N bytes (default 4194304)
  --up-to SEQNO     export nothing beyond SEQNO (e.g. the commit index)`;

const RECEIPT_USAGE = `Usage: treaty ledger receipt <data-dir> <txid> [--commit-seqno N] [--service-key K]

Prints the receipt of txid ("view.seqno") as JSON, for offline verification with the SDK. After a
disaster recovery it carries the service endorsement chain recorded in the ledger
(serviceEndorsements), so it verifies against the original service identity.
${SNAPSHOT_START_TEXT}
  --commit-seqno N   the commit index; entries after it get no receipt (default: the seqno of the
                     last signature in the data dir, i.e. the data dir is taken as committed)
  --service-key K    the pinned service identity (as for verify): the snapshot read must verify
                     under it`;

const CONSISTENCY_USAGE = `Usage: treaty ledger consistency <data-dir> <from-size> <to-size> [--commit-seqno N] [--service-key K]

Prints, as JSON, the proof that the signed tree of <from-size> entries is a prefix of the signed
tree of <to-size> entries, with both signed roots: an auditor who kept the old root checks with
the SDK's verifyConsistencyProof that the ledger only grew. A size is a signed tree size (a
receipt's signature.treeSize; the signature transaction is at seqno size + 1). After a disaster
recovery the proof carries the service endorsement chain recorded in the ledger
(serviceEndorsements), so heads signed on either side verify against the original identity.
${SNAPSHOT_START_TEXT}
  --commit-seqno N   the commit index; signatures after it are refused (default: the seqno of the
                     last signature in the data dir, i.e. the data dir is taken as committed)
  --service-key K    the pinned service identity (as for verify): the snapshot read must verify
                     under it`;

export async function runLedgerVerify(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    "service-key": { type: "string" },
    "ledger-secret": { type: "string" },
    quiet: { type: "boolean", default: false },
    snapshot: { type: "string" },
  });
  if (values.snapshot !== undefined) {
    const file = values.snapshot;
    if (values["service-key"] === undefined) throw new UsageError("--snapshot needs --service-key");
    if (positionals.length > 0) throw new UsageError("--snapshot takes no other paths");
    const key = readServiceKey(values["service-key"]);
    const keys = values["ledger-secret"] === undefined ? undefined : readSecrets(values["ledger-secret"]);
    return reportingErrors(io, "verify", () => {
      io.out(`${JSON.stringify(verifySnapshotFile(file, key, keys), null, 2)}\n`);
      return EXIT_OK;
    });
  }
  if (positionals.length === 0) throw new UsageError("expected a data dir, a chunk dir or chunk files");
  const serviceKey = values["service-key"] === undefined ? undefined : readServiceKey(values["service-key"]);
  const secrets = values["ledger-secret"] === undefined ? undefined : readSecrets(values["ledger-secret"]);
  const started = io.nowMs();
  let lastPrint = started;
  return withSource(positionals, io, serviceKey, (source) => {
    const identities = new EndorsementChain();
    const report = verifyLedger(source.records, {
      identities,
      ...(source.start !== undefined ? { base: source.start.base } : {}),
      ...(serviceKey !== undefined ? { serviceKey } : {}),
      ...(secrets !== undefined ? { secrets } : {}),
      progressEveryEntries: 5000,
      onProgress: ({ seqno, bytes }) => {
        const now = io.nowMs();
        if (values.quiet || now - lastPrint < PROGRESS_INTERVAL_MS) return;
        lastPrint = now;
        io.err(`treaty ledger verify: seqno ${seqno}, ${formatRate(bytes, now - started)}\n`);
      },
    });
    const elapsedMs = Math.max(1, io.nowMs() - started);
    io.out(
      `${JSON.stringify({ ok: true, source: source.description, ...(source.damage !== undefined && { damageMarker: source.damage }), ...(source.start !== undefined && { snapshot: { file: source.start.snapshot, seqno: source.start.base.seqno, evidence: source.start.evidence } }), ...report, serviceIdentities: identities.identities, elapsedMs: Math.round(elapsedMs) }, null, 2)}\n`,
    );
    if (serviceKey === undefined && report.serviceKey !== null) {
      io.err(
        "treaty ledger verify: warning: no --service-key given; the service identity above was not pinned\n",
      );
    }
    return EXIT_OK;
  });
}

export async function runLedgerExport(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    "chunk-bytes": { type: "string" },
    "up-to": { type: "string" },
  });
  if (positionals.length !== 2) throw new UsageError("expected <data-dir> <out-dir>");
  const maxChunkBytes =
    values["chunk-bytes"] === undefined ? undefined : positiveInteger(values["chunk-bytes"], "--chunk-bytes");
  const upToSeqno = values["up-to"] === undefined ? undefined : positiveInteger(values["up-to"], "--up-to");
  const started = io.nowMs();
  let lastPrint = started;
  return withStore("export", positionals[0]!, io, (store) => {
    const result = exportChunks(store, positionals[1]!, {
      ...(maxChunkBytes !== undefined ? { maxChunkBytes } : {}),
      ...(upToSeqno !== undefined ? { upToSeqno } : {}),
      onProgress: (seqno, bytes) => {
        const now = io.nowMs();
        if (now - lastPrint < PROGRESS_INTERVAL_MS) return;
        lastPrint = now;
        io.err(`treaty ledger export: seqno ${seqno}, ${formatRate(bytes, now - started)}\n`);
      },
    });
    io.out(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
    if (result.unsignedTail > 0) {
      io.err(
        `treaty ledger export: ${result.unsignedTail} entries after the last signature were not exported\n`,
      );
    }
    return EXIT_OK;
  });
}

export async function runLedgerReceipt(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    "commit-seqno": { type: "string" },
    "service-key": { type: "string" },
  });
  if (positionals.length !== 2) throw new UsageError("expected <data-dir> <txid>");
  const commitSeqno =
    values["commit-seqno"] === undefined
      ? undefined
      : positiveInteger(values["commit-seqno"], "--commit-seqno");
  const serviceKey = values["service-key"] === undefined ? undefined : readServiceKey(values["service-key"]);
  const txid = positionals[1]!;
  return withLedger("receipt", positionals[0]!, serviceKey, io, ({ ledger, start }, store) => {
    const commit = commitSeqno ?? ledger.lastSignature?.seqno ?? 0;
    if (start !== undefined) {
      const { seqno } = parseTxId(txid);
      if (seqno <= store.baseSeqno)
        throw notInThisLedger(`txid ${txid}: seqno ${seqno}`, store.baseSeqno, start, seqno);
    }
    let receipt: Receipt;
    try {
      receipt = ledger.receipt(txid, commit);
    } catch (err) {
      throw start === undefined
        ? err
        : beforeLaterSnapshot(err, parseTxId(txid).seqno, store.baseSeqno, start);
    }
    io.out(`${JSON.stringify(withEndorsements(receipt, store, commit, start), null, 2)}\n`);
    return EXIT_OK;
  });
}

export async function runLedgerConsistency(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, {
    "commit-seqno": { type: "string" },
    "service-key": { type: "string" },
  });
  if (positionals.length !== 3) throw new UsageError("expected <data-dir> <from-size> <to-size>");
  const from = positiveInteger(positionals[1]!, "<from-size>");
  const to = positiveInteger(positionals[2]!, "<to-size>");
  const commitSeqno =
    values["commit-seqno"] === undefined
      ? undefined
      : positiveInteger(values["commit-seqno"], "--commit-seqno");
  const serviceKey = values["service-key"] === undefined ? undefined : readServiceKey(values["service-key"]);
  return withLedger("consistency", positionals[0]!, serviceKey, io, ({ ledger, start }, store) => {
    const commit = commitSeqno ?? ledger.lastSignature?.seqno ?? 0;
    if (start !== undefined) {
      // A signed size's head is its signature entry, at seqno size + 1.
      for (const size of [from, to])
        if (size + 1 <= store.baseSeqno)
          throw notInThisLedger(
            `tree size ${size}: its signature (seqno ${size + 1})`,
            store.baseSeqno,
            start,
            size + 1,
          );
    }
    let proof: ConsistencyProof;
    try {
      proof = buildConsistencyProof(ledger, from, to, commit);
    } catch (err) {
      throw start === undefined ? err : beforeLaterSnapshot(err, from + 1, store.baseSeqno, start);
    }
    io.out(`${JSON.stringify(withEndorsements(proof, store, commit, start), null, 2)}\n`);
    return EXIT_OK;
  });
}

/**
 * TxNotFound for `what`, at or before `baseSeqno` where a ledger that starts after a snapshot
 * starts: it is not in this ledger (it is in the snapshot's past), which is not damage.
 */
function notInThisLedger(what: string, baseSeqno: number, start: ReadStart, seqno: number): TreatyError {
  return new TreatyError(
    "TxNotFound",
    `${what} is not in this ledger: it starts after seqno ${baseSeqno} (its node joined or caught up from the snapshot ${start.snapshot}); ask a ledger that holds it (an older backup, or a node that holds the ledger from seqno 1)`,
    { seqno },
  );
}

/**
 * `err` made clear when it is the TxNotFound of a proof that needs entries the store does not
 * hold: read from a later snapshot than the one it starts after (that one was not beside it),
 * the ledger proves an entry at or before the later one only from the leaves it holds.
 */
function beforeLaterSnapshot(err: unknown, seqno: number, baseSeqno: number, start: ReadStart): unknown {
  if (!isTreatyError(err, "TxNotFound") || start.base.seqno === baseSeqno || seqno > start.base.seqno)
    return err;
  return new TreatyError(
    "TxNotFound",
    `seqno ${seqno}: its proof needs entries before seqno ${baseSeqno + 1}, where this ledger starts, and the ledger is read from ${start.snapshot}, later than the snapshot it starts after (${snapshotFileName(baseSeqno)}, not beside it): put that file in ${dirname(start.snapshot)} to prove the entries up to seqno ${start.base.seqno}`,
    { seqno },
  );
}

/**
 * Opens the store in `path` and the ledger over it, from the snapshot it starts after when its
 * node joined or caught up from one (`openFromSnapshot`: the snapshot in the \`snapshots/\`
 * folder beside the store, checked against `serviceKey` when given), and runs `body`.
 */
function withLedger(
  command: string,
  path: string,
  serviceKey: PublicKey | undefined,
  io: CliIo,
  body: (opened: SnapshotLedger, store: LedgerStore) => number,
): Promise<number> {
  return withStore(command, path, io, (store) =>
    body(openFromSnapshot(storeDirOf(path)!, store, serviceKey), store),
  );
}

/**
 * `answer` with the service endorsement chain recorded in the store's entries up to `commitSeqno`
 * (as the node's `/node/receipt` and `/node/consistency` attach it), so that what a recovered or
 * rekeyed service signed verifies against the original identity; unchanged without recoveries.
 * For a ledger that starts after a snapshot, the links recorded before it are read from the
 * snapshot's state.
 */
function withEndorsements<T extends object>(
  answer: T,
  store: LedgerStore,
  commitSeqno: number,
  start: ReadStart | undefined,
): T {
  const chain = recordedEndorsementChain(
    store.range(1, commitSeqno),
    start === undefined ? undefined : { seqno: start.base.seqno, state: start.publicState },
  );
  return chain.length === 0 ? answer : { ...answer, serviceEndorsements: chain };
}

/** The `treaty ledger` commands, bound to the process. */
export const LEDGER_COMMANDS: readonly Command[] = [
  {
    path: ["ledger", "verify"],
    summary: "audit a whole ledger (data dir or exported chunks)",
    usage: VERIFY_USAGE,
    run: (argv) => runLedgerVerify(argv, processIo),
  },
  {
    path: ["ledger", "export"],
    summary: "write the signed ledger as portable chunk files",
    usage: EXPORT_USAGE,
    run: (argv) => runLedgerExport(argv, processIo),
  },
  {
    path: ["ledger", "receipt"],
    summary: "print the receipt of a committed transaction",
    usage: RECEIPT_USAGE,
    run: (argv) => runLedgerReceipt(argv, processIo),
  },
  {
    path: ["ledger", "consistency"],
    summary: "print the proof that a signed tree extends an older one",
    usage: CONSISTENCY_USAGE,
    run: (argv) => runLedgerConsistency(argv, processIo),
  },
];

interface AuditSource {
  readonly records: Iterable<AuditRecord>;
  readonly description: string;
  /** For a ledger that starts after a snapshot: the snapshot the audit starts from. */
  readonly start?: AuditStart;
  /** The damage marker of the data folder read (node/damage-marker.ts), when it holds one. */
  readonly damage?: DamageMarker;
}

/** Resolves the paths to a store or chunk files, runs `body`, prints TreatyErrors, closes the store. */
async function withSource(
  paths: string[],
  io: CliIo,
  serviceKey: PublicKey | undefined,
  body: (source: AuditSource) => number,
): Promise<number> {
  if (paths.length === 1 && isDirectory(paths[0]!) && storeDirOf(paths[0]!) !== undefined) {
    const dir = storeDirOf(paths[0]!)!;
    return withStore("verify", paths[0]!, io, (store, damage) => {
      const description =
        store instanceof ChunkedLedgerStore
          ? `${store.files().filter((f) => f.state === "committed").length} committed chunk file(s) and the uncommitted tail in ${dir}`
          : `store ${dir}`;
      const marked = damage !== undefined ? { damage } : {};
      const start = auditStart(dir, store.baseSeqno, serviceKey);
      if (start === undefined) return body({ records: auditRecords(store, dir), description, ...marked });
      return body({
        records: after(start.base.seqno, auditRecords(store, dir)),
        description,
        start,
        ...marked,
      });
    });
  }
  const files = paths.length === 1 && isChunkDirectory(paths[0]!) ? listChunkFiles(paths[0]!) : paths;
  return reportingErrors(
    io,
    "verify",
    () => {
      for (const file of files) {
        if (!existsSync(file)) throw new TreatyError("NotFound", `${file}: no such file or directory`);
        if (parseChunkFileName(file) === undefined) {
          throw new TreatyError(
            "NotFound",
            `${file}: not a ledger (expected a data dir with a ledger/ store, or ledger_<first>-<last>.chunk files)`,
          );
        }
      }
      return body({ records: readChunkFiles(files), description: `${files.length} chunk file(s)` });
    },
    files,
  );
}

/**
 * What an audit of a store reads: for a chunked store, its committed chunk files as chunk files
 * (each must end on a signature) and then the uncommitted tail; for LMDB, every record.
 */
function* auditRecords(store: LedgerStore, dir: string): Generator<AuditRecord> {
  if (!(store instanceof ChunkedLedgerStore)) {
    yield* store.range(1);
    return;
  }
  const committed = store.files().filter((f) => f.state === "committed");
  yield* readChunkFiles(committed.map((f) => join(dir, f.name)));
  yield* store.range(Math.max(store.firstSeqno, (committed.at(-1)?.lastSeqno ?? 0) + 1));
}

/** The records of `records` after `seqno`. */
function* after(seqno: number, records: Iterable<AuditRecord>): Generator<AuditRecord> {
  for (const record of records) if (record.seqno > seqno) yield record;
}

/**
 * Opens the store in `path` read-only and runs `body` on it. A data folder marked damaged
 * (node/damage-marker.ts; the folder holding the store folder, as for a recovery) is read all
 * the same, these tools being how an operator checks one: `command` first warns on stderr that
 * it is marked, and `body` gets the marker (verify reports it).
 */
async function withStore(
  command: string,
  path: string,
  io: CliIo,
  body: (store: LedgerStore, damage: DamageMarker | undefined) => number,
): Promise<number> {
  let store: LedgerStore | undefined;
  const dir = storeDirOf(path);
  try {
    return reportingErrors(
      io,
      command,
      () => {
        if (dir === undefined)
          throw new TreatyError(
            "NotFound",
            `${path}: no ledger store (expected a data dir with ledger/, or a store dir: ${LEDGER_FILE} or ledger_* chunk files)`,
          );
        const damage = findDamageMarker(dirname(dir));
        if (damage !== undefined)
          io.err(
            `treaty ledger ${command}: warning: ${describeDamageMarker(dirname(dir), damage)}. ` +
              `A node refuses to start on it and a recovery refuses to read it; this command reads its ledger read-only ` +
              `(docs/deploy.md, "Damaged LMDB files")\n`,
          );
        store = openLedgerStore(dir, { readOnly: true });
        return body(store, damage);
      },
      dir !== undefined && hasChunkStore(dir) ? [dir] : [],
    );
  } finally {
    await store?.close();
  }
}

/**
 * A TreatyError becomes `{"error": {code, message, seqno?, chunk?}}` on stdout, a line on stderr,
 * and exit 1. `chunk` names the chunk file that failed to supply the seqno: from the error, or
 * else the one among `chunkSources` (chunk files, or a chunked store dir) whose range holds it.
 */
function reportingErrors(
  io: CliIo,
  command: string,
  body: () => number,
  chunkSources: readonly string[] = [],
): number {
  try {
    return body();
  } catch (err) {
    if (!(err instanceof TreatyError)) throw err;
    const seqno = typeof err.details?.seqno === "number" ? err.details.seqno : undefined;
    const chunk =
      typeof err.details?.chunk === "string"
        ? err.details.chunk
        : seqno === undefined
          ? undefined
          : chunkHolding(chunkSources, seqno);
    const where = { ...(seqno !== undefined && { seqno }), ...(chunk !== undefined && { chunk }) };
    io.out(`${JSON.stringify({ error: { code: err.code, message: err.message, ...where } }, null, 2)}\n`);
    io.err(
      `treaty ledger ${command}: ${err.code}: ${err.message}${chunk !== undefined ? ` (${chunk})` : ""}\n`,
    );
    return EXIT_FAILED;
  }
}

/** The chunk file name, among `sources` (files or directories of them), whose range holds `seqno`. */
function chunkHolding(sources: readonly string[], seqno: number): string | undefined {
  const names = sources.flatMap((source) => (isDirectory(source) ? readdirSync(source) : [basename(source)]));
  return names.find((name) => {
    const range = parseChunkFileName(name);
    return range !== undefined && range.firstSeqno <= seqno && seqno <= range.lastSeqno;
  });
}

function storeDirOf(path: string): string | undefined {
  return findLedgerStoreDir(path);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** `--service-key`: a JSON file with {curve, publicKey}, "<curve>:<hex>", or bare hex (ed25519). */
function readServiceKey(value: string): PublicKey {
  try {
    if (existsSync(value)) {
      const json = JSON.parse(readFileSync(value, "utf8")) as {
        curve?: unknown;
        publicKey?: unknown;
        serviceKey?: unknown;
      };
      // A service.json (what members and apps hold: `treaty dev` writes one) pins its serviceKey.
      if (json?.serviceKey !== undefined) return parseServiceFile(json).serviceKey;
      return parsePublicKey(json.curve, json.publicKey, "--service-key publicKey");
    }
    const colon = value.indexOf(":");
    return colon < 0
      ? parsePublicKey("ed25519", value, "--service-key")
      : parsePublicKey(value.slice(0, colon), value.slice(colon + 1), "--service-key");
  } catch (err) {
    throw new UsageError(`--service-key: ${(err as Error).message}`);
  }
}

function readSecrets(path: string): LedgerSecrets {
  try {
    return new LedgerSecrets(parseLedgerSecrets(JSON.parse(readFileSync(path, "utf8"))));
  } catch (err) {
    throw new UsageError(`--ledger-secret: ${(err as Error).message}`);
  }
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!/^[1-9][0-9]*$/.test(text) || !Number.isSafeInteger(value))
    throw new UsageError(`${flag}: expected a positive integer, got "${text}"`);
  return value;
}

function formatRate(bytes: number, elapsedMs: number): string {
  const mb = bytes / 1e6;
  return `${mb.toFixed(1)} MB, ${(mb / Math.max(elapsedMs / 1000, 1e-3)).toFixed(1)} MB/s`;
}
