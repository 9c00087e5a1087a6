/**
 * `npm run sim:failover -- [--seeds N] [--seed S] [--nodes 3,5] [--latency-ms 1-3] [--disk-ms 0-2]
 *   [--tick-late-ms 3] [--load 0.3] [--timeout-ms 500-750] [--retry-ms MIN-MAX]`
 *
 * The failover timing study (simulate-failover.ts): per cluster size, N seeded rounds of "kill
 * the leader under load at a random moment", then the split rate (rounds with more than one
 * real election) and the time to a new leader and to its first commit (p50/p90/p99/max, ms after
 * the kill). `--timeout-ms` and `--retry-ms` override the election timeout and the candidate
 * retry (node/consensus-timing.ts) to compare variants. Exit code 1 when a round fails.
 */
import { parseArgs } from "node:util";
import { DEFAULT_CONSENSUS_TIMING, parseConsensusTiming } from "../../node/consensus-timing.js";
import {
  type FailoverOptions,
  type FailoverRound,
  failoverRound,
  type MsRange,
  type Percentiles,
  summarize,
} from "./simulate-failover.js";

function range(text: string, name: string): MsRange {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (m === null) throw new Error(`--${name}: expected MIN-MAX in ms, got ${text}`);
  const min = Number(m[1]);
  const max = Number(m[2] ?? m[1]);
  if (max < min) throw new Error(`--${name}: MAX below MIN in ${text}`);
  return { min, max };
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: "string", default: "1000" },
      seed: { type: "string", default: "1" },
      nodes: { type: "string", default: "3,5" },
      "latency-ms": { type: "string", default: "1-3" },
      "disk-ms": { type: "string", default: "0-2" },
      "tick-late-ms": { type: "string", default: "3" },
      load: { type: "string", default: "0.3" },
      "timeout-ms": { type: "string" },
      "retry-ms": { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      "usage: npm run sim:failover -- [--seeds N] [--seed S] [--nodes 3,5] [--latency-ms 1-3] [--disk-ms 0-2]\n" +
        "  [--tick-late-ms 3] [--load 0.3] [--timeout-ms 500-750] [--retry-ms MIN-MAX]\n",
    );
    return 0;
  }
  const seeds = Number(values.seeds);
  const first = Number(values.seed);
  if (!Number.isSafeInteger(seeds) || seeds < 1 || !Number.isSafeInteger(first))
    throw new Error("--seeds, --seed: expected integers");
  const timeout = values["timeout-ms"] === undefined ? undefined : range(values["timeout-ms"], "timeout-ms");
  const retry = values["retry-ms"] === undefined ? undefined : range(values["retry-ms"], "retry-ms");
  // Fields not given keep the node's defaults (the retry's derived from the heartbeat and timeout).
  const timing = parseConsensusTiming({
    tickMs: DEFAULT_CONSENSUS_TIMING.tickMs,
    heartbeatMs: DEFAULT_CONSENSUS_TIMING.heartbeatMs,
    ...(timeout !== undefined && { electionTimeoutMs: timeout }),
    ...(retry !== undefined && { electionRetryMs: retry }),
  });
  const latencyMs = range(values["latency-ms"], "latency-ms");
  if (latencyMs.min < 1) throw new Error("--latency-ms: at least 1 ms (one step)");
  const diskMs = range(values["disk-ms"], "disk-ms");
  const tickLateMs = Number(values["tick-late-ms"]);
  if (!Number.isSafeInteger(tickLateMs) || tickLateMs < 0 || tickLateMs >= timing.tickMs)
    throw new Error(`--tick-late-ms: expected an integer from 0 to ${timing.tickMs - 1}`);
  const load = Number(values.load);
  if (!(load >= 0 && load <= 1)) throw new Error("--load: expected a chance per ms from 0 to 1");
  const sizes = values.nodes.split(",").map(Number);
  if (!sizes.every((n) => Number.isSafeInteger(n) && n >= 2))
    throw new Error("--nodes: expected cluster sizes of at least 2, comma-separated");
  let failed = 0;
  for (const nodes of sizes) {
    const rounds: FailoverRound[] = [];
    const started = Date.now();
    for (let i = 0; i < seeds; i++) {
      const options: FailoverOptions = {
        seed: first + i,
        nodes,
        timing,
        latencyMs,
        diskMs,
        tickLateMs,
        load,
      };
      try {
        rounds.push(failoverRound(options));
      } catch (err) {
        failed++;
        process.stdout.write(`FAILED seed ${options.seed}, ${nodes} nodes: ${String(err)}\n`);
      }
    }
    const s = summarize(rounds);
    const p = (x: Percentiles) => `p50 ${x.p50} p90 ${x.p90} p99 ${x.p99} max ${x.max}`;
    const hist = new Map<number, number>();
    for (const r of rounds) hist.set(r.elections, (hist.get(r.elections) ?? 0) + 1);
    process.stdout.write(
      `${nodes} nodes (${nodes - 1} survivors), ${s.rounds} rounds, timeout ${timing.electionTimeoutMs.min}-${timing.electionTimeoutMs.max} ms, retry ${timing.electionRetryMs.min}-${timing.electionRetryMs.max} ms` +
        `, latency ${latencyMs.min}-${latencyMs.max} ms, disk ${diskMs.min}-${diskMs.max} ms, timers late <= ${tickLateMs} ms:\n` +
        `  split/lost votes (>1 election): ${s.splits} (${((100 * s.splits) / s.rounds).toFixed(2)}%); elections per round ${[
          ...hist,
        ]
          .sort((a, b) => a[0] - b[0])
          .map(([e, n]) => `${e}:${n}`)
          .join(" ")}\n` +
        `  new leader (ms after kill): ${p(s.elected)}\n` +
        `  its first commit:           ${p(s.committed)}; over 1,000 ms: ${s.over1s}\n` +
        `  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
    );
  }
  return failed === 0 ? 0 : 1;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
