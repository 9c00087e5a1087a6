/**
 * docs/contracts.md ("Compiling"): the contract compiler as a function, in this repository's
 * Node code. Run it from the repository root: `node dist/docs/examples/compile.js`.
 */
// #region compile
import { bundleManifest, compileContract, formatDiagnostic } from "../../runtime/compiler/index.js";
const result = compileContract("contracts/examples/bank"); // or { files: { "index.ts": "..." } }
if (!result.ok) for (const d of result.diagnostics) console.error(formatDiagnostic(d)); // index.ts:12:7 ...
else console.log(result.digest, bundleManifest(result.bundle));
// #endregion compile
