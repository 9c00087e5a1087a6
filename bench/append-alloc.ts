/**
 * `node dist/bench/append-alloc.js`: what the leader's main thread allocates and spends per write
 * in the ledger append and the commit fold, in one process. Transactions shaped as
 * `log.writePublic` writes them, in the execution worker's form (`EncodedWriteSet`: one public
 * row; the nonce row and a seed sealed), are appended (`Ledger.appendTransaction`) with a
 * signature every `--sign-every`, persisted to a memory store every `--batch`, and after each
 * persist the commit fold runs over the batch as the node's `#onCommit` does: the decoded entry,
 * `mayWriteGov` or the recent public writes, `GovView.applyCommitted`, `eventsOfEntry`.
 *
 * Prints per round the process CPU and wall µs per write and the GC count (PerformanceObserver);
 * with `--profile` the bytes allocated per write from V8's sampling heap profiler (every
 * allocation sampled, also what minor GCs collect) and the largest sites by function and caller.
 * The figures of docs/performance.md, "The leader's ledger append and commit fold" (session 21).
 */
import { Session } from "node:inspector/promises";
import { PerformanceObserver } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { utf8 } from "../sdk/bytes.js";
import { generateKeyPair } from "../sdk/keys.js";
import { secureRandomBytes, sha256 } from "../runtime/crypto.js";
import type { MapWrites } from "../runtime/kv/types.js";
import { EncodedWriteSet, encodeWrites } from "../runtime/ledger/entry.js";
import { Ledger, type TransactionInput } from "../runtime/ledger/ledger.js";
import { generateLedgerSecret, LedgerSecrets } from "../runtime/ledger/secrets.js";
import { endorseNode, nodeSigner } from "../runtime/ledger/signature.js";
import { MemoryLedgerStore } from "../runtime/ledger/store.js";
import { eventsOfEntry } from "../node/events/record.js";
import { nonceKey, nonceValue } from "../node/execution/nonces.js";
import { GovView, mayWriteGov } from "../node/gov/view.js";
import { INTERNAL } from "../node/gov/tables.js";

const { values: flags } = parseArgs({
  options: {
    writes: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
    "sign-every": { type: "string", default: "50" },
    batch: { type: "string", default: "64" },
    profile: { type: "boolean", default: false },
    top: { type: "string", default: "20" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  process.stdout.write(`node dist/bench/append-alloc.js [options]
  --writes N      writes per round (default 20000)
  --rounds N      measured rounds after three warm-up rounds (default 3)
  --sign-every N  a signature entry after every N writes (default 50)
  --batch N       writes per persist and commit fold (default 64)
  --profile       sample allocations (interval 256 bytes) and print bytes per write by site
  --top N         sites printed with --profile (default 20)
`);
  process.exit(0);
}
const WRITES = Number(flags.writes);
const SIGN_EVERY = Number(flags["sign-every"]);
const BATCH = Number(flags.batch);

const service = generateKeyPair("ed25519");
const node = generateKeyPair("ed25519");
const now = Date.now();
const signer = nodeSigner(node, endorseNode(service, node, now - 1000, now + 3600_000), service);
const secrets = new LedgerSecrets([generateLedgerSecret(1, secureRandomBytes)]);
const caller = "c".repeat(64);

/** A `log.writePublic` write as the execution worker hands it to the leader's ledger. */
function transaction(i: number): TransactionInput {
  const pub: MapWrites[] = [
    { map: "public:log.entries", writes: [[utf8.encode(`${i}`), utf8.encode(`{"msg":"entry ${i}"}`)]] },
  ];
  const priv: MapWrites[] = [
    {
      map: INTERNAL.nonceLog,
      writes: [[nonceKey(caller, `nonce-${i}`, now + i), nonceValue({ txid: `1.${i}`, timeMs: now + i })]],
    },
  ];
  return {
    kind: "user",
    writeSet: new EncodedWriteSet(encodeWrites(pub, true).slice(), encodeWrites(priv, false).slice()),
    meta: { timeMs: now + i, contract: "log", method: "writePublic", callerId: caller },
    seed: sha256(`seed ${i}`),
    requestDigest: sha256(`request ${i}`),
  };
}

const NO_WRITES: readonly MapWrites[] = [];

/** One round on a fresh ledger and governance view. */
function round(inputs: readonly TransactionInput[]): void {
  const ledger = Ledger.open({ store: new MemoryLedgerStore(), secrets, random: secureRandomBytes });
  const gov = new GovView();
  let folded = 0;
  for (let i = 0; i < inputs.length; i++) {
    ledger.appendTransaction(1, inputs[i]!);
    if ((i + 1) % SIGN_EVERY === 0) ledger.appendSignature(1, signer, now + i);
    if ((i + 1) % BATCH !== 0) continue;
    ledger.persist();
    const to = ledger.lastSeqno;
    for (let seqno = folded + 1; seqno <= to; seqno++) {
      const entry = ledger.entry(seqno)!;
      if (entry.header.kind === "signature") continue;
      const writes =
        ledger.recentPublicWrites(seqno) ??
        (mayWriteGov(entry.publicBytes) ? ledger.publicWritesAt(seqno) : NO_WRITES);
      gov.applyCommitted(seqno, writes);
      const record = ledger.get(seqno)!;
      eventsOfEntry(record.bytes, seqno, record.view, ledger.recentPublicWrites(seqno));
    }
    folded = to;
  }
}

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: ProfileNode[];
}

/** Bytes per write by allocating function and its caller, largest first. */
function sites(head: ProfileNode, writes: number): { total: number; top: Array<[string, number]> } {
  const bySite = new Map<string, number>();
  let total = 0;
  const name = (n: ProfileNode) =>
    `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber + 1}`;
  const walk = (n: ProfileNode, caller: string) => {
    const here = name(n);
    if (n.selfSize > 0) {
      total += n.selfSize;
      const site = `${here} < ${caller}`;
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
    }
    for (const child of n.children ?? []) walk(child, here);
  };
  walk(head, "");
  const top = [...bySite]
    .sort((a, b) => b[1] - a[1])
    .map(([site, bytes]): [string, number] => [site, bytes / writes]);
  return { total: total / writes, top };
}

const inputs = Array.from({ length: WRITES }, (_, i) => transaction(i));
for (let i = 0; i < 3; i++) round(inputs);
let gcs = 0;
const observer = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
const session = new Session();
session.connect();
for (let r = 0; r < Number(flags.rounds); r++) {
  gcs = 0;
  observer.observe({ entryTypes: ["gc"] });
  if (flags.profile)
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 256,
      includeObjectsCollectedByMinorGC: true,
      includeObjectsCollectedByMajorGC: true,
    });
  const cpu = process.cpuUsage();
  const started = performance.now();
  round(inputs);
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  // GC entries are delivered asynchronously: let them arrive before counting.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  const perWrite = (us: number) => (us / WRITES).toFixed(2);
  process.stdout.write(
    `round ${r + 1}: CPU ${perWrite(used.user + used.system)} µs per write, wall ${perWrite(wall * 1000)}, GCs ${gcs}\n`,
  );
  if (flags.profile) {
    const { profile } = await session.post("HeapProfiler.getSamplingProfile");
    await session.post("HeapProfiler.stopSampling");
    const { total, top } = sites(profile.head as ProfileNode, WRITES);
    process.stdout.write(`  allocated ${total.toFixed(0)} B per write (sampled); largest sites:\n`);
    for (const [site, bytes] of top.slice(0, Number(flags.top)))
      process.stdout.write(`  ${bytes.toFixed(0).padStart(6)}  ${site}\n`);
  }
}
session.disconnect();
