/**
 * `npm run bench:runtime`: calls per second of the `log` sample through the full runtime
 * (compiled once; then per call: a KV transaction, the sandboxed call, the write set applied to
 * the store, committed in batches as a node does), next to the bare QuickJS function-call rate
 * of this machine, and a no-op contract (what the runtime itself costs per call). Prints a table
 * on stderr and JSON on stdout.
 *
 * Numbers, not assertions: this machine is shared and noisy, so each rate is the median of
 * several rounds after a warm-up, printed with the median single call (p50) and the process
 * CPU time per call, which a loaded machine disturbs less than the wall clock.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newQuickJSWASMModuleFromVariant, RELEASE_SYNC } from "quickjs-emscripten";
import { compileContract, findPackageRoot } from "../runtime/compiler/index.js";
import { type ContractCall, ContractRuntime } from "../runtime/executor.js";
import { KvStore } from "../runtime/kv/store.js";

const ROUNDS = 5;
const ROUND_MS = 1000;
const WARMUP_CALLS = 2000;
const COMMIT_EVERY = 500;
/** A contract that does nothing: what the runtime itself costs per call (checks, sandbox, host, outcome). */
const FLOOR_BUNDLE = `(function () {
  "use strict";
  return function () {
    return {
      describe() { return JSON.stringify({ methods: { noop: { mode: "readonly", auth: "anyone", args: { type: "any" } } } }); },
      invoke() { return '{"ok":true,"result":null}'; },
    };
  };
})()`;
const MESSAGE = "The quick brown fox jumps over the lazy dog; a typical short log line of about 100 bytes.";

interface Rate {
  /** Median rate over the rounds (wall clock). */
  readonly callsPerSecond: number;
  readonly microsPerCall: number;
  /** Median of single calls timed alone (wall clock): robust to a loaded machine's stalls. */
  readonly p50Micros: number;
  /** Process CPU time over the timed rounds per call (all threads: includes GC helpers). */
  readonly cpuMicrosPerCall: number;
}

/** Process CPU time (user + system) in µs. */
function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/**
 * Median calls/s over ROUNDS rounds of about ROUND_MS each, after WARMUP_CALLS calls; the
 * median single call, and CPU time per call over the rounds.
 */
function measure(callOnce: (i: number) => void): Rate {
  let i = 0;
  for (; i < WARMUP_CALLS; i++) callOnce(i);
  const rates: number[] = [];
  const singles: number[] = [];
  let cpu = 0;
  let total = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    const cpuStart = cpuMicros();
    let calls = 0;
    while (performance.now() - start < ROUND_MS) {
      for (let k = 0; k < 99; k++) callOnce(i++);
      const single = performance.now();
      callOnce(i++);
      singles.push(performance.now() - single);
      calls += 100;
    }
    cpu += cpuMicros() - cpuStart;
    total += calls;
    rates.push(calls / ((performance.now() - start) / 1000));
  }
  rates.sort((a, b) => a - b);
  singles.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  return {
    callsPerSecond: Math.round(median),
    microsPerCall: round1(1e6 / median),
    p50Micros: round1(singles[Math.floor(singles.length / 2)]! * 1000),
    cpuMicrosPerCall: round1(cpu / total),
  };
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The bare QuickJS round trip: one string in, one string out, no limits, no host. */
async function bareQuickJs(): Promise<Rate> {
  const module = await newQuickJSWASMModuleFromVariant(RELEASE_SYNC);
  const context = module.newContext();
  const fn = context.unwrapResult(context.evalCode("(function (s) { return s; })"));
  try {
    return measure(() => {
      const arg = context.newString('{"id":1}');
      const result = context.unwrapResult(context.callFunction(fn, context.undefined, arg));
      context.getString(result);
      result.dispose();
      arg.dispose();
    });
  } finally {
    fn.dispose();
    context.dispose();
  }
}

async function main(): Promise<void> {
  const compiled = compileContract(join(findPackageRoot(), "contracts", "examples", "log"));
  if (!compiled.ok) throw new Error(`log does not compile: ${JSON.stringify(compiled.diagnostics)}`);
  const runtime = await ContractRuntime.create();
  const loadStart = performance.now();
  runtime.load("log", compiled.bundle);
  const loadMs = performance.now() - loadStart;
  const dir = mkdtempSync(join(tmpdir(), "treaty-bench-runtime-"));
  const store = KvStore.open(dir);
  const seed = new Uint8Array(32).fill(1);
  const caller = { id: "bench-user", role: "user" } as const;
  const call = (method: string, id: number): ContractCall => ({
    contract: "log",
    method,
    args: method === "writePrivate" ? { id, msg: MESSAGE } : { id },
    caller,
    txid: null,
    timeMs: 1_700_000_000_000,
    seed,
  });
  try {
    let pending: Promise<void> = Promise.resolve();
    let written = 0;
    const write = measure((i) => {
      written = Math.max(written, Math.min(i + 1, 10_000));
      const outcome = runtime.execute(call("writePrivate", i % 10_000), store.begin());
      if (!outcome.ok)
        throw new Error(`writePrivate failed: ${outcome.error.code}: ${outcome.error.message}`);
      const version = store.appliedVersion + 1;
      store.apply(version, outcome.writeSet);
      if (version % COMMIT_EVERY === 0) pending = store.commit(version);
    });
    await pending;
    await store.commit(store.appliedVersion);
    const read = measure((i) => {
      // Only ids the write rounds reached (a slow or loaded machine writes fewer than 10,000).
      const outcome = runtime.execute(call("readPrivate", i % written), store.begin());
      if (!outcome.ok) throw new Error(`readPrivate failed: ${outcome.error.code}: ${outcome.error.message}`);
    });
    await runtime.ready();
    runtime.load("floor", FLOOR_BUNDLE);
    const floor = measure(() => {
      const outcome = runtime.execute({ ...call("noop", 0), contract: "floor", args: {} }, store.begin());
      if (!outcome.ok) throw new Error(`noop failed: ${outcome.error.code}`);
    });
    const bare = await bareQuickJs();
    const report = {
      machine: { node: process.version, cpus: (await import("node:os")).cpus().length },
      contract: {
        name: "log",
        bundleBytes: Buffer.byteLength(compiled.bundle),
        loadMs: Math.round(loadMs * 10) / 10,
      },
      writePrivate: {
        ...write,
        ratioToBareQuickJs: Math.round((write.callsPerSecond / bare.callsPerSecond) * 1000) / 1000,
      },
      readPrivate: {
        ...read,
        ratioToBareQuickJs: Math.round((read.callsPerSecond / bare.callsPerSecond) * 1000) / 1000,
      },
      runtimeFloor: {
        ...floor,
        ratioToBareQuickJs: Math.round((floor.callsPerSecond / bare.callsPerSecond) * 1000) / 1000,
      },
      bareQuickJsCall: bare,
    };
    const rows: [string, Rate, string][] = [
      ["log.writePrivate (full runtime)", write, report.writePrivate.ratioToBareQuickJs.toFixed(3)],
      ["log.readPrivate (full runtime)", read, report.readPrivate.ratioToBareQuickJs.toFixed(3)],
      ["no-op contract (runtime floor)", floor, report.runtimeFloor.ratioToBareQuickJs.toFixed(3)],
      ["bare QuickJS call", bare, "1.000"],
    ];
    process.stderr.write(
      `${"what".padEnd(34)}${"calls/s".padStart(10)}${"µs/call".padStart(10)}${"p50 µs".padStart(9)}${"cpu µs".padStart(9)}${"ratio".padStart(8)}\n`,
    );
    for (const [what, rate, ratio] of rows) {
      process.stderr.write(
        `${what.padEnd(34)}${String(rate.callsPerSecond).padStart(10)}${rate.microsPerCall.toFixed(1).padStart(10)}${rate.p50Micros.toFixed(1).padStart(9)}${rate.cpuMicrosPerCall.toFixed(1).padStart(9)}${ratio.padStart(8)}\n`,
      );
    }
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    runtime.dispose();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
