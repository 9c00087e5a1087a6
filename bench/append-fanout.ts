/**
 * `node dist/bench/append-fanout.js`: what a leader's main thread spends to send one append to
 * each of its followers, in one process and without the network, so that A/B runs on a loaded
 * machine still compare. Per round it builds the payloads of `--followers` appends at the same
 * position (`--per-append` signed-write-like entries each, as the sequencer's batches are) and
 * seals each for its own follower with the real channel (AES-256-GCM MAC frames, as between
 * nodes of this version), in two ways:
 *
 * - `each`: one encode per follower, as node/replica.ts did before it shared payloads;
 * - `shared`: `encodeConsensusMessages`, what node/replica.ts does now (one encode for all).
 *
 * Prints CPU µs per append fan-out (this thread, /proc/thread-self) for each of `--rounds` rounds
 * of both, alternated; the lowest round is the steadiest figure on a shared machine.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { AppendMessage, Entry, Message } from "../node/consensus/types.js";
import { encodeConsensusMessages, WIRE_CONSENSUS } from "../node/replica.js";
import { SecureChannel } from "../node/transport/channel.js";
import { FrameKind, MAX_MESSAGE_BYTES, FRAME_OVERHEAD_BYTES } from "../node/transport/frame.js";
import { encode } from "../sdk/codec.js";
import { generateKeyPair } from "../sdk/keys.js";

const { values: flags } = parseArgs({
  options: {
    followers: { type: "string", default: "4" },
    "per-append": { type: "string", default: "50" },
    "entry-bytes": { type: "string", default: "700" },
    appends: { type: "string", default: "2000" },
    rounds: { type: "string", default: "5" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  process.stdout.write(`node dist/bench/append-fanout.js [options]
  --followers N     followers at the same position (default 4)
  --per-append N    entries per append (default 50)
  --entry-bytes N   bytes per entry payload (default 700, about a signed log.writePublic entry)
  --appends N       appends per round (default 2000)
  --rounds N        rounds of each way (default 5)
Prints the leader's CPU µs per append sent to every follower, one encode each vs one shared.
`);
  process.exit(0);
}
const FOLLOWERS = Number(flags.followers);
const PER_APPEND = Number(flags["per-append"]);
const ENTRY_BYTES = Number(flags["entry-bytes"]);
const APPENDS = Number(flags.appends);
const ROUNDS = Number(flags.rounds);

const leaderKey = generateKeyPair("ed25519");
const followerIds = Array.from({ length: FOLLOWERS }, (_, i) => `f${i}`);
const leader = new SecureChannel({
  serviceId: "bench",
  nodeId: "leader",
  identity: leaderKey,
  sessionEpoch: 1,
  sessionId: new Uint8Array(16).fill(1),
  maxFrameBytes: MAX_MESSAGE_BYTES + FRAME_OVERHEAD_BYTES,
});
// Each follower's channel seals one frame to the leader, so the leader sends it MAC frames.
for (const [i, id] of followerIds.entries()) {
  const key = generateKeyPair("ed25519");
  const follower = new SecureChannel({
    serviceId: "bench",
    nodeId: id,
    identity: key,
    sessionEpoch: 1,
    sessionId: new Uint8Array(16).fill(2 + i),
    maxFrameBytes: MAX_MESSAGE_BYTES + FRAME_OVERHEAD_BYTES,
  });
  follower.addPeer({ id: "leader", publicKey: { curve: "ed25519", publicKey: leaderKey.publicKey } });
  leader.addPeer({ id, publicKey: { curve: "ed25519", publicKey: key.publicKey } });
  const hello = follower.seal("leader", FrameKind.Message, new Uint8Array(1), false);
  if (!leader.open(hello.frame).ok) throw new Error("bench setup: the leader refused a follower's frame");
}
if (!followerIds.every((id) => leader.sendsMacFramesTo(id))) throw new Error("bench setup: no MAC frames");

/** The messages of one round: `APPENDS` appends to every follower, each at the same position. */
function fanOuts(): Message[][] {
  const out: Message[][] = [];
  let seqno = 1;
  for (let a = 0; a < APPENDS; a++) {
    const entries: Entry[] = [];
    for (let i = 0; i < PER_APPEND; i++)
      entries.push({
        view: 2,
        seqno: seqno + i,
        signature: false,
        payload: new Uint8Array(ENTRY_BYTES).fill(a),
      });
    out.push(
      followerIds.map(
        (to): AppendMessage => ({
          type: "append",
          from: "leader",
          to,
          view: 2,
          prevSeqno: seqno - 1,
          prevView: 2,
          entries,
          commitSeqno: seqno - 1,
        }),
      ),
    );
    seqno += PER_APPEND;
  }
  return out;
}

/** User + system CPU of this thread in µs (Linux: /proc/thread-self/stat, 100 ticks a second). */
function threadCpuMicros(): number {
  const fields = readFileSync("/proc/thread-self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const ways = {
  each: (messages: readonly Message[]) => messages.map((m) => encode({ t: WIRE_CONSENSUS, m })),
  shared: encodeConsensusMessages,
};

let sink = 0;
function round(way: keyof typeof ways): number {
  const rounds = fanOuts();
  const encodeAll = ways[way];
  const start = threadCpuMicros();
  for (const messages of rounds) {
    const payloads = encodeAll(messages);
    for (const [i, m] of messages.entries())
      sink += leader.seal(m.to, FrameKind.Message, payloads[i]!, true).frame.length;
  }
  return (threadCpuMicros() - start) / APPENDS;
}

const results: Record<keyof typeof ways, number[]> = { each: [], shared: [] };
round("each"); // warm-up
round("shared");
for (let r = 0; r < ROUNDS; r++) {
  for (const way of r % 2 === 0 ? (["each", "shared"] as const) : (["shared", "each"] as const)) {
    results[way].push(round(way));
  }
}
for (const way of ["each", "shared"] as const) {
  const all = results[way].map((v) => v.toFixed(0)).join(" ");
  process.stderr.write(
    `${way.padEnd(7)} CPU µs per append to ${FOLLOWERS} followers (${PER_APPEND} entries × ${ENTRY_BYTES} B): ${all}; lowest ${Math.min(...results[way]).toFixed(0)}\n`,
  );
}
process.stdout.write(`${JSON.stringify({ ...results, sink: sink > 0 })}\n`);
