/**
 * `node dist/bench/replica-apply.js`: a follower's main-thread work per replicated entry, in one
 * process and without the network, so that A/B runs on a loaded machine still compare. The
 * leader's side is built first (not timed): `--entries N` signed-write-like transactions (one
 * public row; the nonce row and a seed in the private part, as `log.writePublic` writes), a
 * signature entry every `--sign-every`, cut into append messages of `--per-append` entries and
 * encoded as the leader's replica sends them. The timed loop then does, per message, what
 * node/replica.ts does on a follower: decode the message (byte strings as views into it, or
 * `--decode copy` as before), `Ledger.appendReplicated`, `Ledger.writeSetAt` of each entry, the
 * apply packed (`packItems`) and posted to a worker thread with its buffers transferred, as the
 * execution service posts it (the worker only counts the items: its unpack and KV apply are not
 * measured here), and a `persist` into a memory store every message.
 *
 * Prints, for `--rounds` rounds, the main thread's CPU µs per entry (/proc/thread-self, Linux),
 * its wall µs per entry, and the whole process's CPU µs per entry (the worker's decoding and V8's
 * GC threads too); the lowest round is the steadiest figure on a shared machine.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { utf8 } from "../sdk/bytes.js";
import { decode, decodeViews, encode } from "../sdk/codec.js";
import { generateKeyPair } from "../sdk/keys.js";
import { secureRandomBytes, sha256 } from "../runtime/crypto.js";
import type { WriteSet } from "../runtime/kv/types.js";
import { Ledger, type TransactionInput } from "../runtime/ledger/ledger.js";
import { generateLedgerSecret, LedgerSecrets } from "../runtime/ledger/secrets.js";
import { endorseNode, nodeSigner } from "../runtime/ledger/signature.js";
import { MemoryLedgerStore, type LedgerRecord } from "../runtime/ledger/store.js";
import { packItems } from "../node/execution/pack.js";
import { nonceKey, nonceValue } from "../node/execution/nonces.js";
import { INTERNAL } from "../node/gov/tables.js";

const { values: flags } = parseArgs({
  options: {
    entries: { type: "string", default: "20000" },
    "per-append": { type: "string", default: "50" },
    "sign-every": { type: "string", default: "40" },
    rounds: { type: "string", default: "5" },
    decode: { type: "string", default: "views" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  process.stdout.write(`node dist/bench/replica-apply.js [options]
  --entries N       transactions replicated per round (default 20000)
  --per-append N    entries per append message (default 50)
  --sign-every N    a signature entry after every N transactions (default 40)
  --rounds N        rounds, each on a fresh follower ledger (default 5)
  --decode views|copy  how the message is decoded (node/replica.ts uses views)
Prints main-thread CPU and wall, and process CPU, µs per entry for each round, then the lowest.
`);
  process.exit(0);
}
const ENTRIES = Number(flags.entries);
const PER_APPEND = Number(flags["per-append"]);
const SIGN_EVERY = Number(flags["sign-every"]);
const ROUNDS = Number(flags.rounds);
const decodeMessage = flags.decode === "copy" ? decode : decodeViews;

const service = generateKeyPair("ed25519");
const node = generateKeyPair("ed25519");
const now = Date.now();
const signer = nodeSigner(node, endorseNode(service, node, now - 1000, now + 3600_000), service);
const secrets = () => new LedgerSecrets([generateLedgerSecret(1, () => new Uint8Array(32).fill(7))]);
const caller = "c".repeat(64);

/** What `log.writePublic` records: one public row; the nonce row and the seed are private. */
function transaction(i: number): TransactionInput {
  const writeSet: WriteSet = {
    public: [
      { map: "public:log.entries", writes: [[utf8.encode(`${i}`), utf8.encode(`{"msg":"entry ${i}"}`)]] },
    ],
    private: [
      {
        map: INTERNAL.nonceLog,
        writes: [[nonceKey(caller, `nonce-${i}`, now + i), nonceValue({ txid: `1.${i}`, timeMs: now + i })]],
      },
    ],
  };
  return {
    kind: "user",
    writeSet,
    meta: { timeMs: now + i, contract: "log", method: "writePublic", callerId: caller },
    seed: sha256(`seed ${i}`),
    requestDigest: sha256(`request ${i}`),
  };
}

/** The leader's append messages, encoded as node/replica.ts sends them. */
function leaderMessages(): Uint8Array[] {
  const leader = Ledger.open({
    store: new MemoryLedgerStore(),
    secrets: secrets(),
    random: secureRandomBytes,
    serviceKey: service,
  });
  const records: LedgerRecord[] = [];
  for (let i = 0; i < ENTRIES; i++) {
    records.push(leader.appendTransaction(1, transaction(i)));
    if ((i + 1) % SIGN_EVERY === 0) records.push(leader.appendSignature(1, signer, now + i));
  }
  const messages: Uint8Array[] = [];
  for (let at = 0; at < records.length; at += PER_APPEND) {
    const entries = records.slice(at, at + PER_APPEND).map((r) => ({
      view: r.view,
      seqno: r.seqno,
      signature: false,
      payload: r.bytes,
    }));
    const m = {
      type: "append",
      from: "leader",
      to: "follower",
      view: 1,
      prevSeqno: entries[0]!.seqno - 1,
      prevView: 1,
      entries,
      commitSeqno: entries[0]!.seqno - 1,
    };
    messages.push(encode({ t: "c", m }));
  }
  return messages;
}

/** User + system CPU of this thread in µs (Linux: /proc/thread-self/stat, 100 ticks a second). */
function threadCpuMicros(): number {
  const fields = readFileSync("/proc/thread-self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const worker = new Worker(
  `const { parentPort } = require("node:worker_threads");
   let applied = 0;
   parentPort.on("message", (m) => {
     if (m === "done") parentPort.postMessage(applied);
     else applied += m.items.versions.length;
   });`,
  { eval: true },
);
const workerCount = () =>
  new Promise<number>((resolve) => {
    worker.once("message", resolve);
    worker.postMessage("done");
  });

const messages = leaderMessages();
const results: Array<{ cpu: number; wall: number; process: number }> = [];
for (let round = 0; round < ROUNDS; round++) {
  const follower = Ledger.open({ store: new MemoryLedgerStore(), secrets: secrets(), serviceKey: service });
  // The transport hands each message over as a fresh buffer.
  const received = messages.map((m) => new Uint8Array(m));
  let entries = 0;
  const cpu0 = threadCpuMicros();
  const process0 = process.cpuUsage();
  const wall0 = performance.now();
  for (const bytes of received) {
    const wire = decodeMessage<{
      m: { entries: Array<{ seqno: number; view: number; payload: Uint8Array }> };
    }>(bytes, "consensus message");
    const records = wire.m.entries.map((e) => ({ seqno: e.seqno, view: e.view, bytes: e.payload }));
    follower.appendReplicated(records);
    const items = records.map((r) => ({ version: r.seqno, writeSet: follower.writeSetAt(r.seqno) }));
    // Packed and transferred as the execution service posts an apply (node/execution/pack.ts).
    const packed = packItems(items);
    worker.postMessage({ id: 0, op: "apply", items: packed.items }, packed.transfer);
    follower.persist();
    entries += records.length;
  }
  const wall = performance.now() - wall0;
  const cpu = threadCpuMicros() - cpu0;
  const applied = await workerCount();
  const used = process.cpuUsage(process0);
  const all = used.user + used.system;
  if (applied !== entries * (round + 1)) throw new Error(`worker applied ${applied}, sent ${entries}`);
  results.push({ cpu: cpu / entries, wall: (wall * 1000) / entries, process: all / entries });
  process.stderr.write(
    `round ${round + 1}: ${entries} entries, main thread ${(cpu / entries).toFixed(1)} µs CPU, ${((wall * 1000) / entries).toFixed(1)} µs wall; process (worker and V8 threads too) ${(all / entries).toFixed(1)} µs CPU per entry\n`,
  );
}
await worker.terminate();
const best = {
  cpu: Math.min(...results.map((r) => r.cpu)),
  wall: Math.min(...results.map((r) => r.wall)),
  process: Math.min(...results.map((r) => r.process)),
};
process.stderr.write(
  `lowest: main thread ${best.cpu.toFixed(1)} µs CPU, ${best.wall.toFixed(1)} µs wall; process ${best.process.toFixed(1)} µs CPU per entry (decode: ${flags.decode})\n`,
);
process.stdout.write(`${JSON.stringify({ decode: flags.decode, rounds: results, best })}\n`);
