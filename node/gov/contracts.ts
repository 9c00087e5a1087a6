/**
 * Contract records for the governance table: read a contract folder, compile it, and describe
 * the result as the `public:gov.contracts` row that nodes execute. The same path serves genesis
 * and governance deploys, so a deployed contract is always exactly the sources on record.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { TreatyError } from "../../sdk/errors.js";
import { compileContract, formatDiagnostic } from "../../runtime/compiler/index.js";
import type { ConstitutionRecord, ContractRecord } from "./tables.js";

const MAX_FILES = 256;

/** The `.ts` files of a contract folder (relative path → text), tests and node_modules excluded. */
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

/** Compiles `files` into a contract record; CompileError lists the diagnostics. */
export function buildContractRecord(
  files: Readonly<Record<string, string>>,
  version: number,
): ContractRecord {
  const compiled = compileContract({ files });
  if (!compiled.ok) {
    throw new TreatyError("CompileError", compiled.diagnostics.map(formatDiagnostic).join("\n"), {
      diagnostics: compiled.diagnostics,
    });
  }
  return { version, digest: compiled.digest, bundle: compiled.bundle, source: { ...files } };
}

let defaultConstitutionRecord: ConstitutionRecord | undefined;

/**
 * The default constitution (contracts/constitution of this package), compiled once per process:
 * every genesis writes it, and compiling is the slow part of starting a service.
 */
export function defaultConstitution(): ConstitutionRecord {
  if (defaultConstitutionRecord === undefined) {
    const { digest, bundle, source } = buildContractRecord(
      readContractFolder(join(findPackageRoot(), "contracts", "constitution")),
      1,
    );
    defaultConstitutionRecord = { digest, bundle, source };
  }
  return defaultConstitutionRecord;
}
