/**
 * Contract records for the governance table: compile a contract's sources (read from its folder
 * by ./contract-folder.ts) and describe the result as the `public:gov.contracts` row that nodes execute. The same path serves genesis
 * and governance deploys (both in the compiler thread, node/gov/compiler-worker.ts), so a
 * deployed contract is always exactly the sources on record. Importing this module loads
 * TypeScript: a node's main thread must not (read folders with ./contract-folder.ts).
 */
import { TreatyError } from "../../sdk/errors.js";
import { compileContract, formatDiagnostic } from "../../runtime/compiler/index.js";
import { defaultConstitutionFolder, readContractFolder } from "./contract-folder.js";
import type { ConstitutionRecord, ContractRecord } from "./tables.js";

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
 * The default constitution (contracts/constitution of this package) compiled on the calling
 * thread, once per process: for code that builds a genesis state in process (test scenarios). A
 * node's genesis compiles it in a compiler thread instead (node/genesis.ts).
 */
export function defaultConstitution(): ConstitutionRecord {
  if (defaultConstitutionRecord === undefined) {
    const { digest, bundle, source } = buildContractRecord(
      readContractFolder(defaultConstitutionFolder()),
      1,
    );
    defaultConstitutionRecord = { digest, bundle, source };
  }
  return defaultConstitutionRecord;
}
