/**
 * The contract compiler (TypeScript source → sandbox bundle) and its tooling helpers.
 * See compiler.ts for the rules, bundle.ts for the output shape.
 */
export {
  type CompileResult,
  type CompilerOptions,
  ContractCompiler,
  compileContract,
  type Diagnostic,
  formatDiagnostic,
} from "./compiler.js";
export { reusesInstance } from "./bundle.js";
export { MAX_MANIFEST_BYTES, manifestMethod, parseManifest, parseManifestJson } from "./manifest.js";
export { findPackageRoot } from "./package-root.js";
export { type ContractSource, DEFAULT_SOURCE_LIMITS, ENTRY, type SourceLimits } from "./source.js";
