/**
 * `treaty test`: the contract project's test loop in one command, on every supported Node
 * version (Node 20 cannot run .ts): type-check and emit the project with its tsconfig.json, using
 * the TypeScript bundled with treaty; compile each contract folder directly in `contracts/` (a
 * nested folder with an index.ts may be a contract's own module, not a contract) with the
 * contract compiler (the checks `treaty contract build` makes: sandbox rules, imports); then run
 * the emitted `*.test.js` files with `node --test`. Exit 0 when all three pass.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { type Command, EXIT_FAILED, parseFlags, UsageError } from "./command.js";

const USAGE = `Usage: treaty test [--project DIR] [-- node-test-flags...]

In the project DIR (default: the current directory):
  1. type-checks and compiles it with its tsconfig.json (the TypeScript bundled with treaty),
     into its outDir (dist/ in a project from \`treaty init\`);
  2. compiles every contract folder directly in contracts/ (contracts/<name>/index.ts) with the
     contract compiler, reporting what \`treaty contract build\` reports;
  3. runs every emitted *.test.js with \`node --test\` (flags after -- go to node --test, e.g.
     -- --test-name-pattern=registry).
Problems print as file:line:col message on stderr. Exit 0 when everything passes, 1 otherwise.`;

const MAX_WALK_ENTRIES = 100_000;

/** Files under `dir` (not node_modules) whose name ends with `suffix`, sorted. */
function findFiles(dir: string, suffix: string): string[] {
  const out: string[] = [];
  let seen = 0;
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (++seen > MAX_WALK_ENTRIES) throw new UsageError(`${dir}: more than ${MAX_WALK_ENTRIES} entries`);
      if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(suffix)) out.push(path);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort();
}

/** Step 1: true when the project type-checks and was emitted; `outDir` is where. */
async function typecheck(project: string): Promise<{ ok: boolean; outDir: string }> {
  const ts = (await import("typescript")).default;
  const configPath = join(project, "tsconfig.json");
  if (!existsSync(configPath))
    throw new UsageError(`${configPath} not found: run treaty init, or pass --project`);
  const host: import("typescript").FormatDiagnosticsHost = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => project,
    getNewLine: () => "\n",
  };
  const read = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  if (read.error !== undefined) {
    process.stderr.write(ts.formatDiagnostics([read.error], host));
    return { ok: false, outDir: project };
  }
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, project, undefined, configPath);
  const outDir = parsed.options.outDir ?? project;
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const isError = (d: import("typescript").Diagnostic) => d.category === ts.DiagnosticCategory.Error;
  const checked = [...parsed.errors, ...ts.getPreEmitDiagnostics(program)];
  if (checked.length > 0) process.stderr.write(ts.formatDiagnostics(checked, host));
  if (checked.some(isError)) return { ok: false, outDir };
  const emitted = program.emit();
  if (emitted.diagnostics.length > 0) process.stderr.write(ts.formatDiagnostics(emitted.diagnostics, host));
  return { ok: !emitted.diagnostics.some(isError) && !emitted.emitSkipped, outDir };
}

/** Step 2: true when every contract under contracts/ compiles. */
async function buildContracts(project: string): Promise<boolean> {
  const root = join(project, "contracts");
  if (!existsSync(root)) return true;
  const { compileContract, formatDiagnostic } = await import("../../runtime/compiler/index.js");
  let ok = true;
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    if (!statSync(dir).isDirectory() || !existsSync(join(dir, "index.ts"))) continue;
    const result = compileContract(dir);
    if (result.ok) continue;
    ok = false;
    for (const d of result.diagnostics)
      process.stderr.write(
        `${relative(project, join(dir, d.file))}:${formatDiagnostic(d).slice(d.file.length + 1)}\n`,
      );
  }
  return ok;
}

/** Step 3: runs `node --test` on the emitted tests; resolves to its exit code. */
function runTests(project: string, outDir: string, extra: readonly string[]): Promise<number> {
  const files = findFiles(outDir, ".test.js");
  if (files.length === 0) {
    process.stderr.write(`no *.test.js under ${relative(project, outDir) || "."}: nothing to run\n`);
    return Promise.resolve(EXIT_FAILED);
  }
  return new Promise((done, fail) => {
    // Under a parent `node --test`, NODE_TEST_CONTEXT would make the child report to it in its
    // binary protocol instead of printing: this command always prints its own report.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(process.execPath, ["--test", ...extra, ...files], {
      cwd: project,
      stdio: "inherit",
      env,
    });
    child.once("error", fail);
    child.once("exit", (code, signal) => done(code ?? (signal === null ? EXIT_FAILED : EXIT_FAILED)));
  });
}

export const testCommand: Command = {
  path: ["test"],
  summary: "type-check a contract project, compile its contracts and run its tests",
  usage: USAGE,
  async run(argv) {
    const split = argv.indexOf("--");
    const own = split < 0 ? argv : argv.slice(0, split);
    const extra = split < 0 ? [] : argv.slice(split + 1);
    const { values, positionals } = parseFlags(own, { project: { type: "string" } }, false);
    if (positionals.length > 0) throw new UsageError("unexpected arguments (node --test flags go after --)");
    const project = resolve(values.project ?? ".");
    const checked = await typecheck(project);
    const built = await buildContracts(project);
    if (!checked.ok || !built) return EXIT_FAILED;
    return runTests(project, checked.outDir, extra);
  },
};
