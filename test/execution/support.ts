/**
 * Shared set-up for execution tests: fixture contracts compiled once per process, calls with
 * recorded defaults, temp directories that are always removed, and a tiny in-memory ledger that
 * plays the main thread's part (it decides seqnos and serves `replaySource`).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecCall, ExecResult, VersionedWriteSet } from "../../node/execution/protocol.js";
import { compileContract } from "../../runtime/compiler/compiler.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { resolveLimits, type SandboxLimits } from "../../runtime/sandbox/limits.js";

/**
 * `counter`: integer counters by name. `poison` and `explode` are ordinary writes; the hooked
 * test worker (fixtures/hooked-worker.ts) hangs or dies when they are called, before they run.
 */
const COUNTER_SOURCE = `
import { ContractError, caller, contract, map, method, t } from "treaty/contract";

const counters = map<string, number>("counters");
const audit = map<string, string>("audit", { public: true });
const keyArgs = { key: t.string({ maxLength: 64 }) };

function bump(key: string, by: number): number {
  const next = (counters.get(key) ?? 0) + by;
  counters.set(key, next);
  return next;
}

export default contract({
  add: method({
    mode: "readwrite",
    auth: "users_and_members",
    args: { key: t.string({ maxLength: 64 }), by: t.integer() },
    run: ({ key, by }) => {
      audit.set(key, caller()?.id ?? "nobody");
      return bump(key, by);
    },
  }),
  get: method({
    mode: "readonly",
    auth: "anyone",
    args: keyArgs,
    run: ({ key }) => counters.get(key) ?? null,
  }),
  fail: method({
    mode: "readwrite",
    auth: "users",
    args: keyArgs,
    run: ({ key }) => {
      bump(key, 1000);
      throw new ContractError("Refused", "counter " + key + ": refused on purpose");
    },
  }),
  spin: method({
    mode: "readwrite",
    auth: "users",
    args: keyArgs,
    run: ({ key }) => {
      bump(key, 1);
      let n = 0;
      for (;;) n++;
    },
  }),
  poison: method({ mode: "readwrite", auth: "users", args: keyArgs, run: ({ key }) => bump(key, 1_000_000) }),
  explode: method({ mode: "readwrite", auth: "users", args: keyArgs, run: ({ key }) => bump(key, 2_000_000) }),
});
`;

const bundles = new Map<string, string>();

function compileOnce(name: string, source: () => Parameters<typeof compileContract>[0]): string {
  let bundle = bundles.get(name);
  if (bundle === undefined) {
    const result = compileContract(source());
    if (!result.ok)
      throw new Error(`fixture ${name} does not compile: ${JSON.stringify(result.diagnostics)}`);
    bundle = result.bundle;
    bundles.set(name, bundle);
  }
  return bundle;
}

/** The `counter` fixture's bundle. */
export function counterBundle(): string {
  return compileOnce("counter", () => ({ files: { "index.ts": COUNTER_SOURCE } }));
}

/** The sample `log` contract's bundle (contracts/examples/log). */
export function logBundle(): string {
  return compileOnce("log", () => join(findPackageRoot(), "contracts", "examples", "log"));
}

/**
 * `blob`: `fill` writes `text` under keys "0".."copies-1" and `extra` under "x", so a test can
 * write a chosen number of bytes (up to the transaction's write limit) in one call.
 */
const BLOB_SOURCE = `
import { contract, map, method, t } from "treaty/contract";

const blobs = map<string, string>("blobs");

export default contract({
  fill: method({
    mode: "readwrite",
    auth: "users_and_members",
    args: { text: t.string(), copies: t.integer(), extra: t.string() },
    run: ({ text, copies, extra }) => {
      for (let i = 0; i < copies; i++) blobs.set(String(i), text);
      blobs.set("x", extra);
      return null;
    },
  }),
});
`;

/** The `blob` fixture's bundle (see BLOB_SOURCE). */
export function blobBundle(): string {
  return compileOnce("blob", () => ({ files: { "index.ts": BLOB_SOURCE } }));
}

/** Limits for tests: a small heap and fuel budget so `spin` ends fast; a roomy wall clock. */
export const TEST_LIMITS: SandboxLimits = resolveLimits({
  heapBytes: 24 * 1024 * 1024,
  executionBudget: 2_000_000,
  wallClockMs: 10_000,
});

let seedCounter = 0;

/** The recorded time of a test call, and the `createdMs` of a test call with a nonce, by default. */
export const DEFAULT_TIME_MS = 1_700_000_000_000;

/**
 * A call with recorded defaults: caller user `alice`, no nonce, fixed time, a fresh seed. A call
 * with a nonce is created at DEFAULT_TIME_MS unless `createdMs` says otherwise (whatever its
 * `timeMs`), so the same nonce sent again is the same request.
 */
export function call(
  contract: string,
  method: string,
  args: unknown,
  overrides: Partial<Pick<ExecCall, "caller" | "nonce" | "timeMs" | "createdMs">> = {},
): ExecCall {
  const seed = new Uint8Array(16);
  new DataView(seed.buffer).setUint32(0, ++seedCounter);
  const nonce = overrides.nonce === undefined ? null : overrides.nonce;
  const createdMs = overrides.createdMs ?? (nonce === null ? undefined : DEFAULT_TIME_MS);
  return {
    contract,
    method,
    args,
    caller: overrides.caller === undefined ? { id: "alice", role: "user" } : overrides.caller,
    nonce,
    timeMs: overrides.timeMs ?? DEFAULT_TIME_MS,
    ...(createdMs !== undefined && { createdMs }),
    seed,
  };
}

/** The result of a successful call, or a thrown assertion naming the error. */
export function okResult(result: ExecResult | undefined): Extract<ExecResult, { ok: true }> {
  if (result === undefined || !result.ok) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result;
}

/**
 * `results` with each write set as its two lists of maps: the service answers a batch's write sets
 * encoded (runtime/ledger/entry.ts `EncodedWriteSet`), an in-thread engine as objects.
 */
export function withPlainWriteSets(results: readonly ExecResult[]): ExecResult[] {
  return results.map((r) =>
    r.ok ? { ...r, writeSet: { public: [...r.writeSet.public], private: [...r.writeSet.private] } } : r,
  );
}

/** The error code of a failed call, or "ok". */
export function codeOf(result: ExecResult | undefined): string {
  if (result === undefined) return "missing";
  return result.ok ? "ok" : result.error.code;
}

/** A temp directory removed by `cleanup()`. */
export class TempDirs {
  readonly #dirs: string[] = [];

  make(prefix = "treaty-exec-"): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.#dirs.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The main thread's ledger, reduced to what the execution service needs: the write sets of
 * successful calls by version, and the committed version.
 */
export class TestLedger {
  readonly entries: VersionedWriteSet[] = [];
  committed = 0;

  /** Appends the successful results of a batch (as the leader does). */
  record(results: readonly ExecResult[]): void {
    for (const result of results) {
      if (result.ok) this.entries.push({ version: result.seqno, writeSet: result.writeSet });
    }
  }

  /** The next seqno to hand out. */
  get nextSeqno(): number {
    return (this.entries.at(-1)?.version ?? this.committed) + 1;
  }

  /** Drops entries above `version` (a consensus truncation). */
  truncate(version: number): void {
    while ((this.entries.at(-1)?.version ?? 0) > version) this.entries.pop();
  }

  readonly replaySource = (fromVersion: number): VersionedWriteSet[] =>
    this.entries.filter((entry) => entry.version > fromVersion);
}
