/**
 * `npm run check:linearizability -- [--seeds N] [--seed S] [--duration MS]`
 *
 * Starts one 3-node cluster over a private nats-server and runs seeds S..S+N-1 (default 1..10)
 * of the recorded-history check (history.ts): per seed, a concurrent workload of writes and
 * reads at every consistency level under a leader freeze and a leader kill, checked with
 * checker.ts. Prints one summary per seed and every violation; exit code 1 when any seed has
 * one. The cluster's logs and data are kept when TREATY_KEEP_CLUSTER=1.
 */
import { parseArgs } from "node:util";
import { startCluster } from "../support/cluster.js";
import { describeRun, runHistory } from "./history.js";

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: "string", default: "10" },
      seed: { type: "string", default: "1" },
      duration: { type: "string", default: "10000" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write("usage: npm run check:linearizability -- [--seeds N] [--seed S] [--duration MS]\n");
    return 0;
  }
  const int = (text: string, name: string, min: number): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`--${name}: expected an integer >= ${min}, got ${text}`);
    return n;
  };
  const first = int(values.seed, "seed", 1);
  const count = int(values.seeds, "seeds", 1);
  const durationMs = int(values.duration, "duration", 5000);
  const cluster = await startCluster({
    nodes: 3,
    contracts: [{ name: "log", path: "contracts/examples/log" }],
  });
  let failed = 0;
  try {
    for (let seed = first; seed < first + count; seed++) {
      const run = await runHistory(cluster, { seed, durationMs });
      process.stdout.write(`${describeRun(run)}\n`);
      if (run.report.violations.length > 0) failed++;
    }
  } finally {
    await cluster.dispose();
  }
  process.stdout.write(
    `summary: ${count} seeds (${first}..${first + count - 1}), ${failed} with violations\n`,
  );
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
