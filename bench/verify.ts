/**
 * `node dist/bench/verify.js`: what a request signature check costs, on the node's main thread
 * (`requests.verifyWorkers: 0`) and through the verify worker pool (node/verify/), with
 * `IN_FLIGHT` checks outstanding as under a closed-loop load: checks per second, main-thread µs
 * per check (event loop active time) and the process CPU per check (all threads).
 *
 * Kinds of check (`--kinds`, default all): `ed25519`, Treaty-signed requests with 16 keys;
 * `eip191` and `eip712`, wallet requests made by ethers wallets (16 of them), genuine;
 * `eip191-forged` and `eip712-forged`, the same requests naming a registered wallet's address
 * but signed by another wallet (a forgery costs the node a full check: it must be refused).
 * Inputs are the size of a signed `log.writePublic` request, and each check goes through
 * `checkJob`, the node's real check.
 *
 * Options: `--checks N` ed25519 checks per run (default 20000), `--wallet-checks N` wallet checks
 * per run (default 2000), `--workers 1,2` pool sizes (default 1,2), `--in-flight N` (default
 * 64), `--gap-ms N` (default 0: with N > 0, each of the in-flight callers waits N ms after each
 * answer before its next check, so a pool's worker sleeps between checks as in a node below
 * saturation, where every crossing wakes a sleeping thread: the pool's CPU per check less the
 * main thread's is then the crossing's cost). Each pool runs twice: with every check sent to a
 * worker (`inlineMaxJobs: 0`) and with the node's rule (checks made on the main thread when no
 * worker holds a batch and few wait; node/verify/pool.ts). Numbers, not assertions: the median
 * of three runs each.
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Wallet } from "ethers";
import { utf8 } from "../sdk/bytes.js";
import {
  EIP191_SCHEME,
  EIP712_SCHEME,
  TREATY_TYPES,
  type WalletScheme,
  walletRequest,
  walletSignedBytes,
  walletTypedRequest,
} from "../sdk/ethereum.js";
import { generateKeyPair, sign } from "../sdk/keys.js";
import { parseBody, HEADER_SIGNATURE } from "../sdk/request.js";
import { fromHex } from "../sdk/bytes.js";
import { silentLogger } from "../node/log.js";
import {
  inlineVerifier,
  type SignatureVerifier,
  VerifierPool,
  type VerifyJob,
} from "../node/verify/index.js";

const KINDS = ["ed25519", "eip191", "eip191-forged", "eip712", "eip712-forged"] as const;
type Kind = (typeof KINDS)[number];

const { values: flags } = parseArgs({
  options: {
    checks: { type: "string", default: "20000" },
    "wallet-checks": { type: "string", default: "2000" },
    workers: { type: "string", default: "1,2" },
    "in-flight": { type: "string", default: "64" },
    "gap-ms": { type: "string", default: "0" },
    kinds: { type: "string", default: KINDS.join(",") },
  },
});
const IN_FLIGHT = Number(flags["in-flight"]);
const GAP_MS = Number(flags["gap-ms"]);
const POOL_SIZES = flags.workers.split(",").map(Number);
const RUN_KINDS = flags.kinds.split(",").map((kind) => {
  if (!(KINDS as readonly string[]).includes(kind))
    throw new Error(`--kinds: expected some of ${KINDS.join(",")}, got ${kind}`);
  return kind as Kind;
});
const ROUNDS = 3;
const KEYS = 16;
const INPUTS = 256;
const SERVICE_ID = "ab".repeat(32);
const PATH = "/app/log/writePublic";

interface Run {
  readonly checksPerSecond: number;
  readonly mainThreadMicrosPerCheck: number;
  readonly cpuMicrosPerCheck: number;
}

/** INPUTS jobs of `kind` (a job's input is copied per check: the verifier takes ownership). */
async function makeJobs(kind: Kind): Promise<{ jobs: VerifyJob[]; valid: boolean }> {
  if (kind === "ed25519") {
    const signers = Array.from({ length: KEYS }, () => generateKeyPair("ed25519"));
    const jobs = Array.from({ length: INPUTS }, (_, i): VerifyJob => {
      const signer = signers[i % KEYS]!;
      const input = utf8.encode(
        `treaty-request-v1\n${SERVICE_ID}\n${PATH}\n{"args":{"id":${i},"msg":"${"x".repeat(90)}"},"nonce":"${"cd".repeat(16)}","createdMs":1700000000000}`,
      );
      return {
        kind: "key",
        key: { curve: signer.curve, publicKey: signer.publicKey },
        input,
        signature: sign(signer, input),
      };
    });
    return { jobs, valid: true };
  }
  const scheme: WalletScheme = kind.startsWith("eip191") ? EIP191_SCHEME : EIP712_SCHEME;
  const forged = kind.endsWith("-forged");
  const wallets = Array.from({ length: KEYS }, () => Wallet.createRandom());
  const forger = Wallet.createRandom();
  const jobs: VerifyJob[] = [];
  for (let i = 0; i < INPUTS; i++) {
    const wallet = wallets[i % KEYS]!;
    const signer = forged ? forger : wallet;
    const address = wallet.address.toLowerCase();
    const args = { id: i, msg: "x".repeat(90) };
    const request =
      scheme === EIP191_SCHEME
        ? await walletRequest((text) => signer.signMessage(text), address, SERVICE_ID, PATH, args)
        : await walletTypedRequest(
            (d) =>
              signer.signTypedData(d.domain, { TreatyRequest: [...TREATY_TYPES.TreatyRequest] }, d.message),
            address,
            SERVICE_ID,
            PATH,
            args,
          );
    const signature = fromHex((request.headers[HEADER_SIGNATURE] as string).slice(2));
    const body = parseBody(request.body, "json");
    jobs.push({
      kind: "wallet",
      scheme,
      address,
      signed: walletSignedBytes(scheme, SERVICE_ID, PATH, request.body, body),
      signature,
    });
  }
  return { jobs, valid: !forged };
}

function copyOf(job: VerifyJob): VerifyJob {
  return job.kind === "key" ? { ...job, input: job.input.slice() } : { ...job, signed: job.signed.slice() };
}

async function run(
  verifier: SignatureVerifier,
  jobs: VerifyJob[],
  valid: boolean,
  checks: number,
): Promise<Run> {
  let next = 0;
  let answered = 0;
  const one = async (): Promise<void> => {
    while (next < checks) {
      const i = next++;
      const digest = await verifier.verify(copyOf(jobs[i % jobs.length]!));
      if ((digest !== null) === valid) answered++;
      if (GAP_MS > 0) await new Promise((resolve) => setTimeout(resolve, GAP_MS));
    }
  };
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, one));
  const elapsedMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const active = performance.eventLoopUtilization(elu);
  if (answered !== checks) throw new Error(`bench: ${checks - answered} checks answered wrongly`);
  return {
    checksPerSecond: Math.round((checks / elapsedMs) * 1000),
    mainThreadMicrosPerCheck: Math.round(((active.active * 1000) / checks) * 10) / 10,
    cpuMicrosPerCheck: Math.round(((used.user + used.system) / checks) * 10) / 10,
  };
}

async function median(
  verifier: SignatureVerifier,
  jobs: VerifyJob[],
  valid: boolean,
  checks: number,
): Promise<Run> {
  await run(verifier, jobs, valid, Math.min(2000, checks)); // warm-up: key objects, JIT, threads
  const runs: Run[] = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await run(verifier, jobs, valid, checks));
  runs.sort((a, b) => a.cpuMicrosPerCheck - b.cpuMicrosPerCheck);
  return runs[1]!;
}

const results: Record<string, Run> = {};
for (const kind of RUN_KINDS) {
  const { jobs, valid } = await makeJobs(kind);
  const checks = Number(kind === "ed25519" ? flags.checks : flags["wallet-checks"]);
  const inline = inlineVerifier();
  results[`${kind}, main thread`] = await median(inline, jobs, valid, checks);
  await inline.close();
  for (const workers of POOL_SIZES) {
    for (const rule of [false, true]) {
      const pool = new VerifierPool({ workers, logger: silentLogger, ...(!rule && { inlineMaxJobs: 0 }) });
      results[`${kind}, pool of ${workers}${rule ? ", inline rule" : ""}`] = await median(
        pool,
        jobs,
        valid,
        checks,
      );
      await pool.close();
    }
  }
}
process.stderr.write(
  `signature checks (${IN_FLIGHT} in flight, gap ${GAP_MS} ms) checks/s  main-thread µs/check  CPU µs/check (all threads)\n`,
);
for (const [name, r] of Object.entries(results))
  process.stderr.write(
    `${name.padEnd(36)}${String(r.checksPerSecond).padStart(10)}${String(r.mainThreadMicrosPerCheck).padStart(22)}${String(r.cpuMicrosPerCheck).padStart(28)}\n`,
  );
process.stdout.write(
  `${JSON.stringify({ checks: Number(flags.checks), walletChecks: Number(flags["wallet-checks"]), inFlight: IN_FLIGHT, gapMs: GAP_MS, results }, null, 2)}\n`,
);
