/**
 * Contract records for the governance table: compile a contract's sources (read from its folder
 * by ./contract-folder.ts) and describe the result as the `public:gov.contracts` row that nodes execute. The same path serves genesis
 * and governance deploys (both in the compiler thread, node/gov/compiler-worker.ts), so a
 * deployed contract is always exactly the sources on record. Importing this module loads
 * TypeScript: a node's main thread must not (read folders with ./contract-folder.ts).
 */
import { TreatyError } from "../../sdk/errors.js";
import { compileContract, formatDiagnostic } from "../../runtime/compiler/index.js";
import type { ContractRecord } from "./tables.js";

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
