/**
 * `treaty init [dir]`: scaffolds a contract project (node/init/templates.ts) that works at once:
 * `npm test` type-checks and runs the sample's tests, `npm run build` compiles the contract.
 * Existing files are never overwritten (they are listed as kept); an existing package.json gets
 * only what is missing: `"type": "module"`, the `test` and `build` scripts, and `treaty` as a
 * dev dependency. npm's placeholder test script (what `npm init -y` writes: it only fails) counts
 * as missing, since keeping it would make the `npm test` we print next fail.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { PROJECT_FILES, SCRIPTS } from "../init/templates.js";
import { type Command, EXIT_OK, parseFlags, printJson, UsageError } from "./command.js";

const USAGE = `Usage: treaty init [dir]

Writes a contract project into <dir> (default: the current directory): a sample contract
(contracts/registry/index.ts), its tests (test/registry.test.ts), tsconfig.json, .gitignore,
README.md, and package.json scripts "test" (treaty test) and "build" (treaty contract build).
Existing files are kept, never overwritten; an existing package.json only gains what is missing
(npm's placeholder test script from \`npm init\`, which only fails, is replaced by treaty test).
Prints {"dir", "created", "kept", "next"}. Then: npm test.`;

type PackageJson = Record<string, unknown> & {
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};

/** Writes the project into `dir`; returns what it created and what it kept. */
export function initProject(dir: string): { created: string[]; kept: string[] } {
  const root = resolve(dir);
  mkdirSync(root, { recursive: true });
  const manifestPath = join(root, "package.json");
  const existed = existsSync(manifestPath);
  let manifest: PackageJson;
  if (existed) {
    try {
      manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as PackageJson;
    } catch {
      throw new UsageError(`${manifestPath}: not valid JSON; fix or remove it first`);
    }
    if (typeof manifest !== "object" || manifest === null || Array.isArray(manifest))
      throw new UsageError(`${manifestPath}: expected a JSON object`);
  } else {
    manifest = { name: packageName(basename(root)), version: "0.1.0", private: true };
  }
  manifest.type ??= "module";
  // Fields init merges into must be objects: spreading a string would write its characters.
  for (const field of ["scripts", "dependencies", "devDependencies"] as const) {
    const given: unknown = manifest[field];
    if (given !== undefined && (typeof given !== "object" || given === null || Array.isArray(given)))
      throw new UsageError(`${manifestPath}: "${field}" must be an object`);
  }
  const scripts = { ...(manifest.scripts ?? {}) };
  if (scripts.test === NPM_PLACEHOLDER_TEST) delete scripts.test;
  manifest.scripts = { ...SCRIPTS, ...scripts };
  if (manifest.dependencies?.treaty === undefined && manifest.devDependencies?.treaty === undefined) {
    manifest.devDependencies = { ...(manifest.devDependencies ?? {}), treaty: `^${treatyVersion()}` };
  }
  // The project files go in only once package.json is known to be usable: a refused one leaves
  // the folder as it was.
  const created: string[] = [];
  const kept: string[] = [];
  for (const [path, content] of Object.entries(PROJECT_FILES)) {
    const target = join(root, path);
    mkdirSync(dirname(target), { recursive: true });
    try {
      // Exclusive create: never overwrites, and never writes through a symlink at that name
      // (a dangling one would otherwise create its target wherever it points).
      writeFileSync(target, content, { flag: "wx" });
      created.push(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      kept.push(path);
    }
  }
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  (existed ? kept : created).push("package.json");
  return { created, kept };
}

/** The test script `npm init` writes (npm 1 to 11): it prints an error and exits 1. */
const NPM_PLACEHOLDER_TEST = 'echo "Error: no test specified" && exit 1';

function treatyVersion(): string {
  const own = JSON.parse(readFileSync(join(findPackageRoot(), "package.json"), "utf8")) as {
    version: string;
  };
  return own.version;
}

/** A valid npm package name from a folder name. */
function packageName(folder: string): string {
  const name = folder
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[._-]+/, "");
  return name.length > 0 ? name.slice(0, 214) : "treaty-contracts";
}

export const initCommand: Command = {
  path: ["init"],
  summary: "scaffold a contract project (sample contract, tests, tsconfig, scripts)",
  usage: USAGE,
  async run(argv) {
    const { positionals } = parseFlags(argv, {});
    if (positionals.length > 1) throw new UsageError("expected at most one <dir>");
    const dir = positionals[0] ?? ".";
    const { created, kept } = initProject(dir);
    const cd = dir === "." ? [] : [`cd ${dir}`];
    printJson({
      dir: resolve(dir),
      created,
      kept,
      next: [...cd, "npm install   (if treaty is not installed there yet)", "npm test", "npm run build"],
    });
    return EXIT_OK;
  },
};
