/**
 * `treaty contract build | call`: the contract developer's loop without a network.
 *
 * - `build <dir>` compiles the contract, loads it in the real sandbox (so the manifest is the
 *   one a node would see) and prints `{"digest", "bytes", "methods"}`; compile problems go to
 *   stderr as `file:line:col message` and exit 1.
 * - `call <dir> <method>` compiles, opens an LMDB-backed KvStore (`--state`, default
 *   `.treaty-state/`), runs ONE call in the real sandbox and commits its write set when it
 *   succeeds. Prints `{"result"}` (plus `"events"` when there are any) or `{"error": {code,
 *   message}}` and exits 0 or 1.
 *
 * This is an entry point, so it may read the clock and randomness (the call's time and seed).
 */
import { basename, resolve } from "node:path";
import { CONTRACT_NAME, RESERVED_CONTRACT_NAMES } from "../../contracts/api/manifest-rules.js";
import { utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { parseStrictJson } from "../../sdk/strict-json.js";
import type { CompileResult } from "../../runtime/compiler/index.js";
import { secureRandomBytes } from "../../runtime/crypto.js";
import type { Caller, ContractCall, ContractRuntime } from "../../runtime/executor.js";
import type { KvStore } from "../../runtime/kv/store.js";
import type { ContractManifest } from "../../runtime/sandbox/abi.js";
import {
  type Command,
  EXIT_FAILED,
  EXIT_OK,
  parseFlags,
  printError,
  printJson,
  UsageError,
} from "./command.js";

/**
 * The compiler (TypeScript), the sandbox (QuickJS) and the store (LMDB) are loaded on first use:
 * every `treaty` command imports this module, and most never need them.
 */
async function heavy() {
  const [compiler, executor, kv] = await Promise.all([
    import("../../runtime/compiler/index.js"),
    import("../../runtime/executor.js"),
    import("../../runtime/kv/store.js"),
  ]);
  return { compiler, ContractRuntime: executor.ContractRuntime, KvStore: kv.KvStore };
}

/** Where `call` keeps state unless `--state` says otherwise (relative to the working directory). */
export const DEFAULT_STATE_DIR = ".treaty-state";

const BUILD_USAGE = `Usage: treaty contract build <dir>

Compiles the contract in <dir> (entry index.ts), loads it in the sandbox and prints
{"digest": <hex SHA-256 of the bundle>, "bytes": <bundle size>, "methods": <manifest>}.
Problems are printed on stderr as "file:line:col message"; the exit code is then 1.`;

const CALL_USAGE = `Usage: treaty contract call <dir> <method> [--args JSON] [--caller NAME] [--role user|member]
                            [--state DIR] [--name CONTRACT]

Compiles the contract in <dir> and runs one call of <method> in the sandbox against a local
state store; a successful readwrite call is committed there. Prints {"result": ...} or
{"error": {"code", "message"}} and exits 0 or 1.
  --args JSON        the arguments (default {})
  --caller NAME      call as this named identity: its id is NAME, as for user(NAME) and
                     member(NAME) in treaty/testing; without it the call is unsigned, which
                     only "anyone" methods accept
  --role ROLE        the caller's role: user (default) or member
  --state DIR        the state store (default ${DEFAULT_STATE_DIR}/ in the working directory)
  --name CONTRACT    the contract's name, which namespaces its maps (default: the folder name)`;

/** Prints compile problems on stderr (as `file:line:col message`); true when the compile succeeded. */
function reportCompile(
  result: CompileResult,
  format: (diagnostic: Extract<CompileResult, { ok: false }>["diagnostics"][number]) => string,
): result is Extract<CompileResult, { ok: true }> {
  if (result.ok) return true;
  for (const diagnostic of result.diagnostics) process.stderr.write(`${format(diagnostic)}\n`);
  return false;
}

/** Loads the bundle in a fresh runtime; InvalidContract problems become a diagnostic on stderr. */
function loadOrReport(runtime: ContractRuntime, name: string, bundle: string): ContractManifest | undefined {
  try {
    return runtime.load(name, bundle);
  } catch (err) {
    if (err instanceof TreatyError && err.code === "InvalidContract") {
      process.stderr.write(`index.ts:1:1 ${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}

function exactly(positionals: string[], count: number): string[] {
  if (positionals.length !== count)
    throw new UsageError(`expected ${count} argument(s), got ${positionals.length}`);
  return positionals;
}

export const contractBuildCommand: Command = {
  path: ["contract", "build"],
  summary: "compile a contract and print its digest and manifest",
  usage: BUILD_USAGE,
  async run(argv) {
    const { positionals } = parseFlags(argv, {});
    const [dir] = exactly(positionals, 1);
    const { compiler, ContractRuntime } = await heavy();
    const compiled = compiler.compileContract(resolve(dir!));
    if (!reportCompile(compiled, compiler.formatDiagnostic)) return EXIT_FAILED;
    const runtime = await ContractRuntime.create({ spareInstances: 1 });
    try {
      const manifest = loadOrReport(runtime, "contract", compiled.bundle);
      if (manifest === undefined) return EXIT_FAILED;
      printJson({
        digest: compiled.digest,
        bytes: utf8.encode(compiled.bundle).length,
        methods: manifest.methods,
      });
      return EXIT_OK;
    } finally {
      runtime.dispose();
    }
  },
};

export const contractCallCommand: Command = {
  path: ["contract", "call"],
  summary: "run one call of a contract against a local state store",
  usage: CALL_USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      args: { type: "string" },
      caller: { type: "string" },
      role: { type: "string" },
      state: { type: "string" },
      name: { type: "string" },
    });
    const [dir, method] = exactly(positionals, 2);
    const name = values.name ?? basename(resolve(dir!));
    if (!CONTRACT_NAME.test(name) || RESERVED_CONTRACT_NAMES.includes(name)) {
      throw new UsageError(
        `contract name ${JSON.stringify(name)} must match ${String(CONTRACT_NAME)} and not be gov or treaty; pass --name`,
      );
    }
    let args: unknown;
    try {
      args = parseStrictJson(values.args ?? "{}", "--args");
    } catch (err) {
      // Nested too deep or a key twice: the same refusal a node gives such a body.
      if (err instanceof TreatyError) throw new UsageError(err.message);
      throw new UsageError("--args: not valid JSON");
    }
    const role = values.role ?? "user";
    if (role !== "user" && role !== "member")
      throw new UsageError(`--role: expected user or member, got ${JSON.stringify(role)}`);
    if (values.role !== undefined && values.caller === undefined)
      throw new UsageError("--role needs --caller");
    const caller: Caller | null = values.caller === undefined ? null : { id: values.caller, role };

    const { compiler, ContractRuntime, KvStore } = await heavy();
    const compiled = compiler.compileContract(resolve(dir!));
    if (!reportCompile(compiled, compiler.formatDiagnostic)) return EXIT_FAILED;
    const runtime = await ContractRuntime.create({ spareInstances: 1 });
    let store: KvStore | undefined;
    try {
      const manifest = loadOrReport(runtime, name, compiled.bundle);
      if (manifest === undefined) return EXIT_FAILED;
      store = KvStore.open(resolve(values.state ?? DEFAULT_STATE_DIR));
      const version = store.appliedVersion + 1;
      const readonly =
        Object.hasOwn(manifest.methods, method!) && manifest.methods[method!]!.mode === "readonly";
      const call: ContractCall = {
        contract: name,
        method: method!,
        args,
        caller,
        txid: readonly ? null : `1.${version}`,
        timeMs: Date.now(),
        seed: secureRandomBytes(32),
      };
      const outcome = runtime.execute(call, store.begin());
      if (!outcome.ok) {
        printJson({ error: outcome.error });
        return EXIT_FAILED;
      }
      const written = outcome.writeSet.public.length + outcome.writeSet.private.length > 0;
      if (written) {
        store.apply(version, outcome.writeSet);
        await store.commit(version);
      }
      printJson(
        outcome.events.length > 0
          ? { result: outcome.result, events: outcome.events }
          : { result: outcome.result },
      );
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof TreatyError)) throw err;
      printError(err);
      return EXIT_FAILED;
    } finally {
      runtime.dispose();
      await store?.close();
    }
  },
};

/** Both commands, for node/cli/commands.ts. */
export const CONTRACT_COMMANDS: readonly Command[] = [contractBuildCommand, contractCallCommand];
