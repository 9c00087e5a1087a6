/**
 * Reading a contract folder: the `.ts` sources that a compile (node/gov/contracts.ts, in the
 * compiler thread or a CLI) turns into a contract record. Kept apart from the compiler so that
 * code which only reads sources (genesis on a node's main thread, `treaty gov` proposals) does
 * not load TypeScript.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { TreatyError } from "../../sdk/errors.js";

const MAX_FILES = 256;

/**
 * The `.ts` files of a contract folder (relative path → text), tests and node_modules excluded.
 * Throws CompileError when the folder cannot be read or holds more than 256 files.
 */
export function readContractFolder(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (at: string) => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) {
        if (name !== "node_modules" && !name.startsWith(".")) walk(path);
      } else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) {
        if (Object.keys(files).length >= MAX_FILES)
          throw new TreatyError("CompileError", `${dir}: more than ${MAX_FILES} files`);
        files[relative(dir, path).split(sep).join("/")] = readFileSync(path, "utf8");
      }
    }
  };
  try {
    walk(dir);
  } catch (err) {
    if (err instanceof TreatyError) throw err;
    throw new TreatyError(
      "CompileError",
      `${dir}: cannot read the contract folder (${(err as Error).message})`,
    );
  }
  return files;
}

/** The folder of the default constitution: contracts/constitution of this package. */
export function defaultConstitutionFolder(): string {
  return join(findPackageRoot(), "contracts", "constitution");
}
