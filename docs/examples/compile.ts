/**
 * docs/contracts.md ("Compiling"): the contract compiler as a function, in this repository's
 * Node code. Run it from the repository root: `node dist/docs/examples/compile.js`.
 */
// #region compile
import { compileContract, formatDiagnostic } from "../../runtime/compiler/index.js";
import { ContractRuntime } from "../../runtime/executor/runtime.js";
const result = compileContract("contracts/examples/bank"); // or { files: { "index.ts": "..." } }
if (!result.ok) for (const d of result.diagnostics) console.error(formatDiagnostic(d)); // index.ts:12:7 ...
else {
  // The manifest as a node reads it: describe() run in the QuickJS sandbox, checked by the host.
  const runtime = await ContractRuntime.create({ spareInstances: 1 });
  console.log(result.digest, JSON.stringify(runtime.inspect(result.bundle, "contract")));
  runtime.dispose();
}
// #endregion compile
