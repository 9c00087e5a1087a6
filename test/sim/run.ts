/**
 * `npm run sim -- [--seeds N] [--seed S] [--nodes 3|5|7] [--steps T] [--no-membership]`
 *
 * Runs many seeded simulations of a faulty cluster and prints progress and a summary. With
 * `--seed S` runs seeds S..S+N-1 (default: one seed when --seed is given, else 1..1000). Without
 * `--nodes`, seeds rotate through 3, 5 and 7 nodes. Exit code 1 when any seed fails; each failure
 * prints its seed, the replay command and a trace of the last events.
 */
import { parseArgs } from "node:util";
import { formatFailure, runSeed, type SimOptions } from "./simulate.js";

/** The sizes CI rotates through when --nodes is not given. */
export const CLUSTER_SIZES = [3, 5, 7] as const;

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: "string" },
      seed: { type: "string" },
      nodes: { type: "string" },
      steps: { type: "string", default: "800" },
      "no-membership": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      "usage: npm run sim -- [--seeds N] [--seed S] [--nodes 3|5|7] [--steps T] [--no-membership]\n",
    );
    return 0;
  }
  const int = (text: string | undefined, name: string, fallback: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new Error(`--${name}: expected a non-negative integer, got ${text}`);
    return n;
  };
  const first = int(values.seed, "seed", 1);
  const count = int(values.seeds, "seeds", values.seed === undefined ? 1000 : 1);
  const fixedNodes = values.nodes === undefined ? undefined : int(values.nodes, "nodes", 3);
  if (fixedNodes !== undefined && fixedNodes < 1) throw new Error("--nodes: expected at least 1");
  const steps = int(values.steps, "steps", 800);
  const membership = !values["no-membership"];

  const started = Date.now();
  let failures = 0;
  let committed = 0;
  let crashes = 0;
  let maxView = 0;
  for (let i = 0; i < count; i++) {
    const seed = first + i;
    const nodes = fixedNodes ?? CLUSTER_SIZES[seed % CLUSTER_SIZES.length]!;
    const options: SimOptions = { seed, nodes, steps, membership };
    const result = runSeed(options);
    if (result.ok) {
      committed += result.summary.committed;
      crashes += result.summary.crashes;
      maxView = Math.max(maxView, result.summary.maxView);
    } else {
      failures++;
      process.stdout.write(formatFailure(result.failure, options));
    }
    if ((i + 1) % 50 === 0 || i + 1 === count) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`${i + 1}/${count} seeds, ${failures} failed, ${seconds}s\n`);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(
    `summary: ${count} seeds (${first}..${first + count - 1}), ${failures} failed; ` +
      `${committed} entries committed, ${crashes} crashes, max view ${maxView}; ` +
      `${seconds.toFixed(1)}s (${((seconds * 1000) / Math.max(count, 1)).toFixed(1)} ms/seed)\n`,
  );
  return failures === 0 ? 0 : 1;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
