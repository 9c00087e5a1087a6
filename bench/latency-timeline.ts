/**
 * Joins one `bench:network --latency-dump` CSV with the node timelines of the same run
 * (`TREATY_TIMELINE_DIR`, node/timeline.ts) to show what slow writes coincide with:
 *
 *     node dist/bench/latency-timeline.js DUMP.csv TIMELINE_DIR [--window MS] [--min-ms MS]
 *
 * Prints (1) every window of `--window` ms (default 50) of send times whose commit p50 is above
 * 1.5× the run's or whose slowest write is above 2× the run's p50, with the timeline events of
 * `--min-ms` ms or more (default 3) that started in it or in the window before; (2) for each kind
 * of such event (process, thread, event), how many there were and the commit p50 / p90 of the
 * writes sent in the 15 ms before one (the writes in flight when it began), beside all writes.
 * Processes are named `leader` (the one with sequencer batches) and `node-<pid>`. `exec-commit`
 * events are left out: their time includes waiting for the KV's commit pacing. (3) When the
 * timelines hold a snapshot (`exec-snapshotRows`, `snapshot-body`, `snapshot-write-pending`
 * events of any length, those less than 2 s apart being one snapshot), the commit p50 / p99 of
 * the writes sent before its reads, while every node reads (the first read's start to the first
 * read's end), from then to the end of the last pending file (bodies, files and the slower
 * nodes' reads), and after; then the whole run's without the body-and-files windows.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

interface Write {
  readonly sentEpochMs: number;
  readonly seqno: number;
  readonly ackMs: number;
  readonly commitMs: number;
}

interface TimelineEvent {
  readonly epochMs: number;
  readonly process: string;
  readonly kind: string;
  readonly ms: number;
  readonly count: number;
}

/**
 * One snapshot as the timelines show it: every node reading (from the first read's start to the
 * first read's end), then bodies and files (to the end of the last pending file).
 */
interface SnapshotSpan {
  readonly readsStart: number;
  readonly readsEnd: number;
  readonly end: number;
}

/** The timelines' snapshot events, those starting within 2 s of the previous one's end grouped. */
function snapshotSpans(events: readonly TimelineEvent[]): SnapshotSpan[] {
  const spans: { readsStart: number; readsEnd: number; start: number; end: number }[] = [];
  const isRead = (e: TimelineEvent) => e.kind.endsWith("exec-snapshotRows");
  const relevant = events.filter(
    (e) => isRead(e) || e.kind.endsWith("snapshot-body") || e.kind.endsWith("snapshot-write-pending"),
  );
  for (const e of relevant) {
    const current = spans.at(-1);
    const span =
      current !== undefined && e.epochMs <= current.end + 2000
        ? current
        : spans[
            spans.push({ readsStart: Infinity, readsEnd: -Infinity, start: e.epochMs, end: e.epochMs }) - 1
          ]!;
    span.end = Math.max(span.end, e.epochMs + e.ms);
    if (isRead(e)) {
      span.readsStart = Math.min(span.readsStart, e.epochMs);
      // The first read to end: from there on some node builds its body while others still read.
      span.readsEnd =
        span.readsEnd === -Infinity ? e.epochMs + e.ms : Math.min(span.readsEnd, e.epochMs + e.ms);
    }
  }
  // A snapshot whose reads are not on the timelines: its first event stands for them.
  return spans.map((s) =>
    s.readsStart === Infinity
      ? { readsStart: s.start, readsEnd: s.start, end: s.end }
      : { readsStart: s.readsStart, readsEnd: s.readsEnd, end: s.end },
  );
}

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    window: { type: "string", default: "50" },
    "min-ms": { type: "string", default: "3" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help || positionals.length !== 2) {
  process.stderr.write(
    "node dist/bench/latency-timeline.js DUMP.csv TIMELINE_DIR [--window MS] [--min-ms MS]\n" +
      "  DUMP.csv       one bench:network --latency-dump file (needs its sent_epoch_ms column)\n" +
      "  TIMELINE_DIR   the TREATY_TIMELINE_DIR folder of the same run (timeline-<pid>.csv files)\n" +
      "  --window MS    window of send times for the burst listing (default 50)\n" +
      "  --min-ms MS    least event duration listed and counted (default 3)\n",
  );
  process.exit(flags.help ? 0 : 2);
}
const WINDOW_MS = Number(flags.window);
const MIN_MS = Number(flags["min-ms"]);
if (!(WINDOW_MS > 0) || !(MIN_MS >= 0)) throw new Error("--window and --min-ms: expected positive numbers");

function readWrites(path: string): Write[] {
  const [header, ...lines] = readFileSync(path, "utf8").trimEnd().split("\n");
  const columns = header!.split(",");
  const at = (name: string) => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`${path}: no ${name} column`);
    return i;
  };
  const [epoch, seqno, ack, commit] = [at("sent_epoch_ms"), at("seqno"), at("ack_ms"), at("commit_ms")];
  return lines
    .map((line) => line.split(","))
    .map((f) => ({
      sentEpochMs: Number(f[epoch]),
      seqno: Number(f[seqno]),
      ackMs: Number(f[ack]),
      commitMs: Number(f[commit]),
    }))
    .sort((a, b) => a.sentEpochMs - b.sentEpochMs);
}

/**
 * The events of the processes that ran while the writes were in flight, from the first send to
 * the last commit (a bench run's earlier networks, such as the 1-node run, left their own files
 * in the folder).
 */
function readTimelines(dir: string, from: number, to: number): TimelineEvent[] {
  const events: TimelineEvent[] = [];
  for (const file of readdirSync(dir)) {
    const match = /^timeline-(\d+)\.csv$/.exec(file);
    if (match === null) continue;
    const rows = readFileSync(join(dir, file), "utf8")
      .trimEnd()
      .split("\n")
      .map((line) => line.split(","));
    const starts = rows.map((r) => Number(r[0]));
    const earliest = starts.reduce((a, b) => Math.min(a, b), Infinity);
    const latest = starts.reduce((a, b) => Math.max(a, b), -Infinity);
    if (earliest > to || latest < from) continue;
    const name = rows.some((r) => r[2] === "batch") ? "leader" : `node-${match[1]}`;
    for (const r of rows)
      if (r.length === 5)
        events.push({
          epochMs: Number(r[0]),
          process: name,
          kind: `${r[1]} ${r[2]}`,
          ms: Number(r[3]),
          count: Number(r[4]),
        });
  }
  return events.sort((a, b) => a.epochMs - b.epochMs);
}

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Writes whose send time is in [from, to), by binary search over the sorted writes. */
function sentBetween(writes: readonly Write[], from: number, to: number): Write[] {
  let lo = 0;
  let hi = writes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (writes[mid]!.sentEpochMs < from) lo = mid + 1;
    else hi = mid;
  }
  const out: Write[] = [];
  for (let i = lo; i < writes.length && writes[i]!.sentEpochMs < to; i++) out.push(writes[i]!);
  return out;
}

const writes = readWrites(positionals[0]!);
if (writes.length === 0) throw new Error(`${positionals[0]}: no writes`);
const first = writes[0]!.sentEpochMs;
const last = writes[writes.length - 1]!.sentEpochMs;
const timelines = readTimelines(
  positionals[1]!,
  first,
  writes.reduce((end, w) => Math.max(end, w.sentEpochMs + w.commitMs), last),
);
const notable = timelines.filter(
  (e) =>
    e.ms >= MIN_MS && !e.kind.endsWith("exec-commit") && e.epochMs >= first - WINDOW_MS && e.epochMs <= last,
);
const all = writes.map((w) => w.commitMs);
const p50 = quantile(all, 0.5);
const fmt = (n: number) => n.toFixed(1);

process.stdout.write(
  `${writes.length} writes over ${fmt((last - first) / 1000)} s: commit p50 ${fmt(p50)}, p90 ${fmt(quantile(all, 0.9))}, p99 ${fmt(quantile(all, 0.99))} ms\n` +
    `windows of ${WINDOW_MS} ms with commit p50 > ${fmt(1.5 * p50)} or max > ${fmt(2 * p50)} ms, and the events of >= ${MIN_MS} ms from the window before on (at ms from the window's start):\n`,
);
for (let start = first; start <= last; start += WINDOW_MS) {
  const inWindow = sentBetween(writes, start, start + WINDOW_MS);
  if (inWindow.length === 0) continue;
  const commits = inWindow.map((w) => w.commitMs);
  const windowP50 = quantile(commits, 0.5);
  const max = Math.max(...commits);
  if (windowP50 <= 1.5 * p50 && max <= 2 * p50) continue;
  const events = notable
    .filter((e) => e.epochMs >= start - WINDOW_MS && e.epochMs < start + WINDOW_MS)
    .map((e) => `${e.process} ${e.kind} ${fmt(e.ms)}@${Math.round(e.epochMs - start)}`);
  process.stdout.write(
    `  +${String(Math.round(start - first)).padStart(6)} ms  ${String(inWindow.length).padStart(3)} writes  ack p50 ${fmt(
      quantile(
        inWindow.map((w) => w.ackMs),
        0.5,
      ),
    )}  commit p50 ${fmt(windowP50)} max ${fmt(max)}  | ${events.join(", ") || "(none)"}\n`,
  );
}

process.stdout.write("commit p50 / p90 of the writes sent in the 15 ms before each kind of event:\n");
process.stdout.write(
  `  ${"all writes".padEnd(36)} ${String(writes.length).padStart(5)}  ${fmt(p50)} / ${fmt(quantile(all, 0.9))}\n`,
);
const kinds = new Map<string, number[]>();
const counts = new Map<string, number>();
for (const e of notable) {
  if (e.epochMs < first) continue;
  const key = `${e.process} ${e.kind}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
  const list = kinds.get(key) ?? [];
  for (const w of sentBetween(writes, e.epochMs - 15, e.epochMs)) list.push(w.commitMs);
  kinds.set(key, list);
}
for (const [key, list] of [...kinds].sort((a, b) => quantile(b[1], 0.5) - quantile(a[1], 0.5)))
  process.stdout.write(
    `  ${key.padEnd(36)} ${String(counts.get(key)).padStart(5)}  ${fmt(quantile(list, 0.5))} / ${fmt(quantile(list, 0.9))}\n`,
  );

const spans = snapshotSpans(timelines).filter((s) => s.end >= first && s.readsStart <= last);
if (spans.length > 0) {
  process.stdout.write(
    "commit p50 / p99 around each snapshot (reads: exec-snapshotRows until the first ends; then bodies and pending files), ms from the run's start:\n",
  );
  const row = (label: string, from: number, to: number) => {
    const list = sentBetween(writes, from, to).map((w) => w.commitMs);
    const range = `+${Math.round(Math.max(from, first) - first)}..+${Math.round(Math.min(to, last + 1) - first)}`;
    process.stdout.write(
      `  ${label.padEnd(22)} ${range.padEnd(14)} ${String(list.length).padStart(5)} writes  ${fmt(quantile(list, 0.5))} / ${fmt(quantile(list, 0.99))}\n`,
    );
  };
  let from = first;
  for (const span of spans) {
    row("before the reads", from, span.readsStart);
    row("during the reads", span.readsStart, span.readsEnd);
    row("bodies and files", span.readsEnd, span.end);
    from = span.end;
  }
  row("after", from, last + 1);
  const outside = writes
    .filter((w) => !spans.some((s) => w.sentEpochMs >= s.readsEnd && w.sentEpochMs < s.end))
    .map((w) => w.commitMs);
  process.stdout.write(
    `  ${"without bodies and files".padEnd(37)} ${String(outside.length).padStart(5)} writes  ${fmt(quantile(outside, 0.5))} / ${fmt(quantile(outside, 0.99))}\n`,
  );
}

/**
 * (4) Each write placed by stage, when the timelines hold the nodes' `persist` events (with the
 * leader's `sign`, `batch` and `commit`). The write at seqno s is committed by the first signature
 * after it, at seqno g (the leader's `sign` with count > s, at time `sign`); its stages:
 * - `queue`: send to the start of the leader's batch that ran it (the last `batch` to end by the
 *   signature: HTTP, signature check, the linger, waiting for the worker);
 * - `exec`: that batch's execution round trip; `sign`: its end to the signature's append;
 * - `durable`: the signature to durable on a majority (the 2nd of the 3 nodes' `persist` ends
 *   covering g; the leader's own persist, and a follower's as the time its entries arrived
 *   (`arrive`: the follower's persist starts, after transport and its queued slices) and then its
 *   write and sync, are shown beside it);
 * - `ack`: a majority durable to the leader's `commit` reaching g (the follower's acknowledgement
 *   crossing back, the leader's turn to handle it);
 * - `notice`: the leader's commit to the client seeing it (the commit long poll's answer and the
 *   client's own turn).
 */
function placeByStage(): void {
  const leaderOf = (kind: string) =>
    timelines
      .filter((e) => e.process === "leader" && e.kind === `main ${kind}`)
      .sort((a, b) => a.count - b.count);
  const persistsOf = new Map<string, TimelineEvent[]>();
  for (const e of timelines)
    if (e.kind === "main persist") {
      const list = persistsOf.get(e.process) ?? [];
      list.push(e);
      persistsOf.set(e.process, list);
    }
  const signs = leaderOf("sign");
  const commits = leaderOf("commit");
  const batches = timelines.filter((e) => e.process === "leader" && e.kind === "main batch"); // by time
  const leaderPersists = persistsOf.get("leader");
  const followers = [...persistsOf].filter(([name]) => name !== "leader").map(([, list]) => list);
  if (signs.length === 0 || commits.length === 0 || leaderPersists === undefined || followers.length < 2) {
    process.stdout.write("no per-write stages: the timelines hold no persist events (a build before them)\n");
    return;
  }
  for (const list of persistsOf.values()) list.sort((a, b) => a.count - b.count);
  /** The first event (sorted by count) whose count is at least `seqno`. */
  const firstCovering = (list: readonly TimelineEvent[], seqno: number): TimelineEvent | undefined => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.count < seqno) lo = mid + 1;
      else hi = mid;
    }
    return list[lo];
  };
  /** The last event (sorted by time) that ended by `at`. */
  const lastEndedBy = (list: readonly TimelineEvent[], at: number): TimelineEvent | undefined => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.epochMs + list[mid]!.ms <= at) lo = mid + 1;
      else hi = mid;
    }
    // Batches do not overlap: the one starting last before `at` ended last.
    return lo > 0 ? list[lo - 1] : undefined;
  };
  const STAGES = ["queue", "exec", "sign", "durable", "ack", "notice"] as const;
  interface Placed {
    readonly write: Write;
    readonly signSeqno: number;
    readonly stages: Record<(typeof STAGES)[number], number>;
    readonly leaderPersist: number;
    readonly arrive: number;
    readonly followerPersist: number;
  }
  const placed: Placed[] = [];
  for (const w of writes) {
    const sign = firstCovering(signs, w.seqno + 1);
    if (sign === undefined) continue;
    const g = sign.count;
    const batch = lastEndedBy(batches, sign.epochMs + 0.01);
    const leaderPersist = firstCovering(leaderPersists, g);
    const followerPersists = followers.map((list) => firstCovering(list, g));
    const commit = firstCovering(commits, g);
    if (
      batch === undefined ||
      leaderPersist === undefined ||
      commit === undefined ||
      followerPersists.some((e) => e === undefined)
    )
      continue;
    const ends = [leaderPersist, ...(followerPersists as TimelineEvent[])]
      .map((e) => e.epochMs + e.ms)
      .sort((a, b) => a - b);
    const majority = ends[Math.floor(ends.length / 2)]!;
    const faster = (followerPersists as TimelineEvent[]).reduce((a, b) =>
      a.epochMs + a.ms <= b.epochMs + b.ms ? a : b,
    );
    const batchEnd = batch.epochMs + batch.ms;
    placed.push({
      write: w,
      signSeqno: g,
      stages: {
        queue: batch.epochMs - w.sentEpochMs,
        exec: batch.ms,
        sign: sign.epochMs - batchEnd,
        durable: majority - sign.epochMs,
        ack: commit.epochMs - majority,
        notice: w.sentEpochMs + w.commitMs - commit.epochMs,
      },
      leaderPersist: leaderPersist.epochMs + leaderPersist.ms - sign.epochMs,
      arrive: faster.epochMs - sign.epochMs,
      followerPersist: faster.ms,
    });
  }
  if (placed.length === 0) return;
  const slow = [...placed]
    .sort((a, b) => b.write.commitMs - a.write.commitMs)
    .slice(0, Math.ceil(placed.length / 100));
  const columns = [...STAGES, "leader persist", "arrive", "f. persist"];
  const values = (p: Placed) => [
    ...STAGES.map((s) => p.stages[s]),
    p.leaderPersist,
    p.arrive,
    p.followerPersist,
  ];
  process.stdout.write(
    `stages of ${placed.length} writes placed (ms; durable = to a majority's persist end, beside it the leader's persist, the faster follower's arrival and persist):\n` +
      `  ${"".padEnd(22)} ${columns.map((c) => c.padStart(8)).join(" ")}\n`,
  );
  const summaryRow = (label: string, list: readonly Placed[], q: number) =>
    process.stdout.write(
      `  ${label.padEnd(22)} ${columns
        .map((_, i) =>
          fmt(
            quantile(
              list.map((p) => values(p)[i]!),
              q,
            ),
          ).padStart(8),
        )
        .join(" ")}\n`,
    );
  summaryRow("all: p50", placed, 0.5);
  summaryRow("all: p99", placed, 0.99);
  summaryRow(`slowest ${slow.length}: p50`, slow, 0.5);
  const largest = new Map<string, number>();
  for (const p of slow) {
    const top = STAGES.reduce((a, b) => (p.stages[a] >= p.stages[b] ? a : b));
    largest.set(top, (largest.get(top) ?? 0) + 1);
  }
  process.stdout.write(
    `  the slowest writes' largest stage: ${[...largest]
      .sort((a, b) => b[1] - a[1])
      .map(([s, n]) => `${s} ${n}`)
      .join(", ")}\n` +
      `  by signature (ms from the run's start, writes, the slowest's commit ms: stages ${STAGES.join(" / ")} | persist L / arrive / f; events of >= 1 ms while it was in flight):\n`,
  );
  const pauses = timelines.filter(
    (e) =>
      e.ms >= 1 &&
      (e.kind.includes("gc-") ||
        e.kind.endsWith("stall") ||
        e.kind.includes("snapshot") ||
        e.kind.endsWith("kv-write")),
  );
  // Writes committed by one signature share every stage after `queue`: one line per signature.
  const groups = new Map<number, Placed[]>();
  for (const p of slow.sort((a, b) => a.write.sentEpochMs - b.write.sentEpochMs)) {
    const key = p.signSeqno;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  for (const group of groups.values()) {
    const p = group.reduce((a, b) => (a.write.commitMs >= b.write.commitMs ? a : b));
    const from = group[0]!.write.sentEpochMs;
    const to = p.write.sentEpochMs + p.write.commitMs;
    const during = pauses
      .filter((e) => e.epochMs < to && e.epochMs + e.ms > from)
      .map((e) => `${e.process} ${e.kind} ${fmt(e.ms)}`);
    process.stdout.write(
      `  +${String(Math.round(from - first)).padStart(5)} ${String(group.length).padStart(3)}× ${fmt(p.write.commitMs).padStart(6)}: ${STAGES.map((s) => fmt(p.stages[s])).join(" / ")} | ${fmt(p.leaderPersist)} / ${fmt(p.arrive)} / ${fmt(p.followerPersist)}  ${during.join(", ")}\n`,
    );
  }
}
placeByStage();
