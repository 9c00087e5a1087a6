/**
 * `node dist/bench/verify.js`: what a request signature check costs the node's main thread, on
 * the thread (`requests.verifyWorkers: 0`) and through the verify worker pool (node/verify/), with
 * `IN_FLIGHT` checks outstanding as under a closed-loop load: main-thread µs per check (event loop
 * active time), checks per second, and the process CPU per check (all threads). ed25519 keys,
 * inputs the size of a signed `log.writePublic` request.
 *
 * Options: `--checks N` per run (default 20000), `--workers 1,2` pool sizes (default 1,2),
 * `--in-flight N` (default 64). Numbers, not assertions: the median of three runs each.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { utf8 } from "../sdk/bytes.js";
import { generateKeyPair, sign } from "../sdk/keys.js";
import { silentLogger } from "../node/log.js";
import { inlineVerifier, type SignatureVerifier, VerifierPool } from "../node/verify/index.js";

const { values: flags } = parseArgs({
  options: {
    checks: { type: "string", default: "20000" },
    workers: { type: "string", default: "1,2" },
    "in-flight": { type: "string", default: "64" },
  },
});
const CHECKS = Number(flags.checks);
const IN_FLIGHT = Number(flags["in-flight"]);
const POOL_SIZES = flags.workers.split(",").map(Number);
const ROUNDS = 3;
const KEYS = 16;

interface Run {
  readonly checksPerSecond: number;
  readonly mainThreadMicrosPerCheck: number;
  readonly cpuMicrosPerCheck: number;
}

const signers = Array.from({ length: KEYS }, () => generateKeyPair("ed25519"));
const inputs = Array.from({ length: 256 }, (_, i) =>
  utf8.encode(
    `treaty-request-v1\n${"ab".repeat(32)}\n/app/log/writePublic\n{"args":{"id":${i},"msg":"${"x".repeat(90)}"},"nonce":"${"cd".repeat(16)}","createdMs":1700000000000}`,
  ),
);
const signatures = inputs.map((input, i) => sign(signers[i % KEYS]!, input));

async function run(verifier: SignatureVerifier, checks: number): Promise<Run> {
  let next = 0;
  let valid = 0;
  const one = async (): Promise<void> => {
    while (next < checks) {
      const i = next++;
      const signer = signers[i % KEYS]!;
      const digest = await verifier.verify({
        kind: "key",
        key: { curve: signer.curve, publicKey: signer.publicKey },
        input: inputs[i % inputs.length]!.slice(),
        signature: signatures[i % inputs.length]!,
      });
      if (digest !== null) valid++;
    }
  };
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, one));
  const elapsedMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const active = performance.eventLoopUtilization(elu);
  if (valid !== checks) throw new Error(`bench: ${checks - valid} checks failed`);
  return {
    checksPerSecond: Math.round((checks / elapsedMs) * 1000),
    mainThreadMicrosPerCheck: Math.round(((active.active * 1000) / checks) * 10) / 10,
    cpuMicrosPerCheck: Math.round(((used.user + used.system) / checks) * 10) / 10,
  };
}

async function median(verifier: SignatureVerifier): Promise<Run> {
  await run(verifier, Math.min(2000, CHECKS)); // warm-up: key objects, JIT, threads
  const runs: Run[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await run(verifier, CHECKS));
  runs.sort((a, b) => a.mainThreadMicrosPerCheck - b.mainThreadMicrosPerCheck);
  return runs[1]!;
}

const results: Record<string, Run> = {};
const inline = inlineVerifier();
results["main thread"] = await median(inline);
await inline.close();
for (const workers of POOL_SIZES) {
  const pool = new VerifierPool({ workers, logger: silentLogger });
  results[`pool of ${workers}`] = await median(pool);
  await pool.close();
}
process.stderr.write(
  `signature checks (ed25519, ${IN_FLIGHT} in flight)   checks/s  main-thread µs/check  CPU µs/check (all threads)\n`,
);
for (const [name, r] of Object.entries(results))
  process.stderr.write(
    `${name.padEnd(36)}${String(r.checksPerSecond).padStart(10)}${String(r.mainThreadMicrosPerCheck).padStart(22)}${String(r.cpuMicrosPerCheck).padStart(28)}\n`,
  );
process.stdout.write(`${JSON.stringify({ checks: CHECKS, inFlight: IN_FLIGHT, results }, null, 2)}\n`);
