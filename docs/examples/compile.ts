/**
 * docs/contracts.md ("Compiling"): the contract compiler as a function, with the package's own
 * entry points (`treaty/compiler`, `treaty/testing`), as a project that installed Treaty writes
 * it. Run it from the repository root: `node dist/docs/examples/compile.js`.
 */
// #region compile
import { compileContract, formatDiagnostic, parseManifestJson } from "treaty/compiler";
import { loadBundle } from "treaty/testing";
const result = compileContract("contracts/examples/bank"); // or { files: { "index.ts": "..." } }
if (!result.ok) for (const d of result.diagnostics) console.error(formatDiagnostic(d)); // index.ts:12:7 ...
else {
  // The manifest: the bundle's describe(), checked by the rules a node applies (InvalidContract).
  const manifest = parseManifestJson(loadBundle(result.bundle).describe());
  console.log(result.digest, JSON.stringify(manifest));
}
// #endregion compile
