/**
 * The contract compiler: TypeScript source (a folder or files in memory, entry index.ts) to a
 * bundle in the shape of runtime/sandbox/abi.ts, plus its SHA-256 digest.
 *
 * Contracts are type-checked with the TypeScript 6 compiler API (TS 7 has no in-process API)
 * under strict options with lib ES2022 only (no DOM, no Node types: the sandbox has neither),
 * against the `treaty/contract` sources shipped in this package. Lib and API SourceFiles are
 * parsed once per compiler and reused, so a warm compile costs tens of milliseconds. Each
 * module is emitted as CommonJS and wrapped by bundle.ts; the output depends only on the
 * source (sorted paths, relative names, no timestamps), so equal sources give equal digests.
 *
 * Never throws for bad input: every problem comes back as a diagnostic with a position.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import { toHex } from "../../sdk/bytes.js";
import { sha256 } from "../crypto.js";
import { assembleBundle, type BundleModule } from "./bundle.js";
import { isReplaced, type SandboxProblem, sandboxProblems } from "./checks.js";
import { bigintLiterals } from "./bigint.js";
import { API_SPECIFIER, importProblems, resolveRelative } from "./imports.js";
import { findPackageRoot } from "./package-root.js";
import { declarativeBindings } from "./reuse.js";
import {
  type ContractSource,
  DEFAULT_SOURCE_LIMITS,
  ENTRY,
  type SourceLimits,
  SourceReader,
} from "./source.js";

/** One problem in a contract, positioned in its file (1-based line and column). */
export interface Diagnostic {
  /** Path relative to the contract folder (`index.ts`, `lib/util.ts`). */
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** `TS2322` for TypeScript's own checks; a name (`ForbiddenImport`, `SourceTooLarge`...) for Treaty's. */
  readonly code: string;
  readonly message: string;
}

/** The outcome of a compile. `digest` is the hex SHA-256 of the bundle's UTF-8 bytes. */
export type CompileResult =
  | { readonly ok: true; readonly bundle: string; readonly digest: string }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

/** `file:line:col message`, the form editors and CI logs understand. */
export function formatDiagnostic(diagnostic: Diagnostic): string {
  return `${diagnostic.file}:${diagnostic.line}:${diagnostic.column} ${diagnostic.message}`;
}

/** Options of a `ContractCompiler`. */
export interface CompilerOptions {
  /** The treaty package root holding contracts/api (default: found from this module). */
  readonly packageRoot?: string;
  readonly limits?: SourceLimits;
  /**
   * Report what the sandbox would refuse at run time (checks.ts: `Date`, `async` methods,
   * reserved error codes...). Default true; false only to test the sandbox's own defences with
   * code that breaks those rules (the checks can be evaded, so the sandbox never relies on them).
   */
  readonly sandboxChecks?: boolean;
}

/** Contract files live under this virtual root inside the TypeScript program. */
const CONTRACT_ROOT = "/__treaty_contract__/";
/** How API files are named inside bundles and messages (":" cannot occur in a contract path). */
const API_BUNDLE_PREFIX = "treaty:contract/";

/** Strict, ES2022-only options; the module format is what bundle.ts wraps. */
const TS_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noImplicitReturns: true,
  noImplicitOverride: true,
  noFallthroughCasesInSwitch: true,
  forceConsistentCasingInFileNames: true,
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2022.d.ts"],
  types: [],
  module: ts.ModuleKind.CommonJS,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  moduleDetection: ts.ModuleDetectionKind.Force,
  isolatedModules: true,
  useDefineForClassFields: true,
  skipLibCheck: true,
  removeComments: true,
  newLine: ts.NewLineKind.LineFeed,
  sourceMap: false,
  declaration: false,
  noEmitOnError: false,
  allowJs: false,
  resolveJsonModule: false,
};

/** TypeScript's "cannot find module" codes: imports.ts reports those with a clearer message. */
const UNRESOLVED_MODULE_CODES = new Set([2307, 2792]);

/**
 * A long-lived compiler: keep one per process (or use `compileContract`) so lib and API
 * SourceFiles are parsed once. Not re-entrant across threads; calls are synchronous.
 */
export class ContractCompiler {
  private readonly packageRoot: string;
  private readonly apiDir: string;
  private readonly apiEntry: string;
  private readonly libDir: string;
  private readonly limits: SourceLimits;
  private readonly sandboxChecks: boolean;
  /** Lib and API SourceFiles by file name: they never change while the process runs. */
  private readonly sharedFiles = new Map<string, ts.SourceFile>();
  /** Emitted CommonJS of API modules by file name. */
  private readonly apiOutputs = new Map<string, string>();
  /** Diagnostics of the API itself, checked on the first compile (non-empty = broken install). */
  private apiDiagnostics: Diagnostic[] | undefined;

  constructor(options: CompilerOptions = {}) {
    this.packageRoot = options.packageRoot ?? findPackageRoot();
    this.apiDir = join(this.packageRoot, "contracts", "api");
    this.apiEntry = join(this.apiDir, "index.ts");
    this.libDir = dirname(ts.getDefaultLibFilePath(TS_OPTIONS));
    this.limits = options.limits ?? DEFAULT_SOURCE_LIMITS;
    this.sandboxChecks = options.sandboxChecks ?? true;
  }

  /**
   * Compiles one contract. Never throws for bad input (see `CompileResult`): even source that
   * nests deeply enough to overflow TypeScript's recursive parser or checker comes back as a
   * `SourceTooComplex` diagnostic.
   */
  compile(source: ContractSource): CompileResult {
    try {
      return this.compileUnguarded(source);
    } catch (err) {
      if (!(err instanceof RangeError) || !/call stack/i.test(err.message)) throw err;
      // TypeScript may have been interrupted while filling its caches: start them afresh.
      this.sharedFiles.clear();
      this.apiOutputs.clear();
      this.apiDiagnostics = undefined;
      return failure([
        {
          file: ENTRY,
          line: 1,
          column: 1,
          code: "SourceTooComplex",
          message:
            "the contract nests expressions or types too deeply for the compiler (stack overflow); flatten it",
        },
      ]);
    }
  }

  private compileUnguarded(source: ContractSource): CompileResult {
    const reader = new SourceReader(source, this.limits);
    if (reader.problems.length > 0) return failure(reader.problems.map(sourceDiagnostic));
    if (reader.read(ENTRY) === undefined) {
      const problems = reader.problems.length > 0 ? reader.problems.map(sourceDiagnostic) : [];
      return failure([
        ...problems,
        { file: ENTRY, line: 1, column: 1, code: "MissingEntry", message: "a contract needs an index.ts" },
      ]);
    }
    const resolutions = new Map<string, Map<string, string>>();
    const program = ts.createProgram({
      rootNames: [CONTRACT_ROOT + ENTRY],
      options: TS_OPTIONS,
      host: this.host(reader, resolutions),
    });
    if (reader.problems.length > 0) return failure(reader.problems.map(sourceDiagnostic));
    const contractFiles = program.getSourceFiles().filter((file) => file.fileName.startsWith(CONTRACT_ROOT));

    const syntax = contractFiles.flatMap((file) => program.getSyntacticDiagnostics(file));
    if (syntax.length > 0) return failure(syntax.map((d) => this.diagnostic(d)));

    const diagnostics: Diagnostic[] = [];
    // Treaty's own problems per file; TypeScript's diagnostics at the same place are dropped.
    const replaced = new Map<string, SandboxProblem[]>();
    const checker = program.getTypeChecker();
    const origins = {
      isLibFile: (f: string) => f.startsWith(this.libDir + sep),
      isApiFile: (f: string) => f.startsWith(this.apiDir + sep),
    };
    for (const file of contractFiles) {
      const path = file.fileName.slice(CONTRACT_ROOT.length);
      const position = (start: number) => {
        const { line, character } = file.getLineAndCharacterOfPosition(start);
        return { file: path, line: line + 1, column: character + 1 };
      };
      const own: SandboxProblem[] = [];
      for (const problem of importProblems(file, path, (p) => reader.exists(p))) {
        diagnostics.push({ ...position(problem.start), code: "ForbiddenImport", message: problem.message });
        // TypeScript reports the same specifier as unresolved, or with an "install @types/node" hint.
        own.push({
          start: problem.start,
          code: "ForbiddenImport",
          message: problem.message,
          suppress: { start: problem.start, end: problem.start + 1 },
        });
      }
      for (const problem of this.sandboxChecks ? sandboxProblems(file, checker, origins) : []) {
        diagnostics.push({ ...position(problem.start), code: problem.code, message: problem.message });
        own.push(problem);
      }
      replaced.set(file.fileName, own);
      if (this.sandboxChecks) {
        for (const start of bigintLiterals(file)) {
          diagnostics.push({
            ...position(start),
            code: "BigIntNotSupported",
            message:
              "BigInt is not available in contracts (its operators cannot be metered): use numbers (safe integers) or strings",
          });
        }
      }
    }
    const semantic = [
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...contractFiles.flatMap((file) =>
        program.getSemanticDiagnostics(file).filter((d) => !isReplaced(d, replaced.get(file.fileName) ?? [])),
      ),
    ].filter((d) => !UNRESOLVED_MODULE_CODES.has(d.code));
    diagnostics.push(...semantic.map((d) => this.diagnostic(d)), ...this.checkApi(program));
    if (diagnostics.length > 0) return failure(sortDiagnostics(diagnostics));

    const entry = program.getSourceFile(CONTRACT_ROOT + ENTRY)!;
    const exportProblem = defaultExportProblem(program, entry);
    if (exportProblem !== undefined) return failure([exportProblem]);

    const bindings = new Map<string, string[] | undefined>();
    for (const file of contractFiles)
      bindings.set(file.fileName, declarativeBindings(file, checker, origins.isApiFile));
    const modules = this.emitModules(program, resolutions, bindings);
    const bundle = assembleBundle(modules);
    return { ok: true, bundle, digest: toHex(sha256(bundle)) };
  }

  /** The compiler host for one compile: contract files from `reader`, lib/API files shared. */
  private host(reader: SourceReader, resolutions: Map<string, Map<string, string>>): ts.CompilerHost {
    const getSourceFile = (
      fileName: string,
      languageVersion: ts.ScriptTarget | ts.CreateSourceFileOptions,
    ) => {
      if (fileName.startsWith(CONTRACT_ROOT)) {
        const text = reader.read(fileName.slice(CONTRACT_ROOT.length));
        return text === undefined ? undefined : ts.createSourceFile(fileName, text, languageVersion, true);
      }
      const cached = this.sharedFiles.get(fileName);
      if (cached !== undefined) return cached;
      if (!this.isSharedFile(fileName) || !existsSync(fileName)) return undefined;
      const file = ts.createSourceFile(fileName, readFileSync(fileName, "utf8"), languageVersion, true);
      this.sharedFiles.set(fileName, file);
      return file;
    };
    const fileExists = (fileName: string) =>
      fileName.startsWith(CONTRACT_ROOT)
        ? reader.exists(fileName.slice(CONTRACT_ROOT.length))
        : this.isSharedFile(fileName) && existsSync(fileName);
    return {
      getSourceFile,
      getDefaultLibFileName: (options) => ts.getDefaultLibFilePath(options),
      getDefaultLibLocation: () => this.libDir,
      writeFile: () => {},
      getCurrentDirectory: () => "/",
      getCanonicalFileName: (fileName) => fileName,
      useCaseSensitiveFileNames: () => true,
      getNewLine: () => "\n",
      fileExists,
      readFile: (fileName) =>
        fileExists(fileName) ? getSourceFile(fileName, ts.ScriptTarget.ES2022)?.text : undefined,
      directoryExists: (dir) => dir.startsWith(CONTRACT_ROOT.slice(0, -1)) || this.isSharedFile(`${dir}/`),
      realpath: (path) => path,
      resolveModuleNameLiterals: (literals, containingFile) =>
        literals.map((literal) => {
          const resolved = this.resolve(literal.text, containingFile, reader);
          if (resolved === undefined) return { resolvedModule: undefined };
          let table = resolutions.get(containingFile);
          if (table === undefined) {
            table = new Map();
            resolutions.set(containingFile, table);
          }
          table.set(literal.text, resolved);
          return {
            resolvedModule: {
              resolvedFileName: resolved,
              extension: ts.Extension.Ts,
              isExternalLibraryImport: false,
            },
          };
        }),
    };
  }

  /** Lib files, the API sources, and the ABI types they import: nothing else of the disk. */
  private isSharedFile(fileName: string): boolean {
    return (
      fileName.startsWith(this.libDir + sep) ||
      fileName.startsWith(this.apiDir + sep) ||
      fileName === join(this.packageRoot, "runtime", "sandbox", "abi.ts")
    );
  }

  private resolve(specifier: string, containingFile: string, reader: SourceReader): string | undefined {
    if (containingFile.startsWith(CONTRACT_ROOT)) {
      if (specifier === API_SPECIFIER) return this.apiEntry;
      const path = resolveRelative(containingFile.slice(CONTRACT_ROOT.length), specifier, (p) =>
        reader.exists(p),
      );
      return path === undefined ? undefined : CONTRACT_ROOT + path;
    }
    if (
      !containingFile.startsWith(this.apiDir + sep) ||
      !specifier.startsWith(".") ||
      !specifier.endsWith(".js")
    )
      return undefined;
    const target = resolve(dirname(containingFile), `${specifier.slice(0, -3)}.ts`);
    return this.isSharedFile(target) && existsSync(target) ? target : undefined;
  }

  /** The API's own diagnostics, computed once: a broken install fails every compile clearly. */
  private checkApi(program: ts.Program): Diagnostic[] {
    if (this.apiDiagnostics === undefined) {
      const apiFiles = program
        .getSourceFiles()
        .filter((file) => this.isSharedFile(file.fileName) && !file.fileName.startsWith(this.libDir));
      this.apiDiagnostics = apiFiles
        .flatMap((file) => [
          ...program.getSyntacticDiagnostics(file),
          ...program.getSemanticDiagnostics(file),
        ])
        .map((d) => this.diagnostic(d));
    }
    return this.apiDiagnostics;
  }

  private emitModules(
    program: ts.Program,
    resolutions: ReadonlyMap<string, ReadonlyMap<string, string>>,
    bindings: ReadonlyMap<string, readonly string[] | undefined>,
  ): BundleModule[] {
    const modules: BundleModule[] = [];
    const seen = new Set<string>();
    const queue = [CONTRACT_ROOT + ENTRY];
    while (queue.length > 0) {
      const fileName = queue.shift()!;
      if (seen.has(fileName)) continue;
      seen.add(fileName);
      const code = this.emitted(program, fileName);
      const requires: Record<string, string> = {};
      for (const [specifier, target] of resolutions.get(fileName) ?? []) {
        // Type-only imports are erased by the emit: bundle only what the code requires.
        if (!code.includes(`require(${JSON.stringify(specifier)})`)) continue;
        requires[specifier] = this.bundlePath(target);
        queue.push(target);
      }
      const shared = !fileName.startsWith(CONTRACT_ROOT);
      const declared = shared ? undefined : bindings.get(fileName);
      modules.push({
        path: this.bundlePath(fileName),
        code,
        requires,
        shared,
        ...(declared !== undefined && { bindings: declared }),
      });
    }
    return modules;
  }

  private emitted(program: ts.Program, fileName: string): string {
    const isApi = !fileName.startsWith(CONTRACT_ROOT);
    const cached = isApi ? this.apiOutputs.get(fileName) : undefined;
    if (cached !== undefined) return cached;
    let output: string | undefined;
    program.emit(program.getSourceFile(fileName), (name, text) => {
      if (name.endsWith(".js")) output = text;
    });
    if (output === undefined)
      throw new Error(`TypeScript emitted no JavaScript for ${this.bundlePath(fileName)}`);
    if (isApi) this.apiOutputs.set(fileName, output);
    return output;
  }

  /** `index.ts` for contract files, `treaty:contract/map.ts` for API files. */
  private bundlePath(fileName: string): string {
    if (fileName.startsWith(CONTRACT_ROOT)) return fileName.slice(CONTRACT_ROOT.length);
    if (fileName.startsWith(this.apiDir + sep))
      return API_BUNDLE_PREFIX + relative(this.apiDir, fileName).split(sep).join("/");
    return `treaty:${relative(this.packageRoot, fileName).split(sep).join("/")}`;
  }

  private diagnostic(d: ts.Diagnostic): Diagnostic {
    const message = this.cleanPaths(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    const code = `TS${d.code}`;
    if (d.file === undefined || d.start === undefined)
      return { file: ENTRY, line: 1, column: 1, code, message };
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return { file: this.bundlePath(d.file.fileName), line: line + 1, column: character + 1, code, message };
  }

  /** Messages must not leak the virtual root or this machine's paths. */
  private cleanPaths(message: string): string {
    return message
      .split(CONTRACT_ROOT)
      .join("")
      .split(this.apiDir + sep)
      .join(API_BUNDLE_PREFIX)
      .split(this.packageRoot + sep)
      .join("treaty:");
  }
}

function failure(diagnostics: readonly Diagnostic[]): CompileResult {
  return { ok: false, diagnostics };
}

function sourceDiagnostic(problem: { file: string; code: string; message: string }): Diagnostic {
  return { file: problem.file, line: 1, column: 1, code: problem.code, message: problem.message };
}

function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  return diagnostics.sort((a, b) =>
    a.file !== b.file
      ? a.file < b.file
        ? -1
        : 1
      : a.line !== b.line
        ? a.line - b.line
        : a.column - b.column,
  );
}

/** index.ts must default-export something with describe() and invoke(): a `contract({...})`. */
function defaultExportProblem(program: ts.Program, entry: ts.SourceFile): Diagnostic | undefined {
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(entry);
  const exported =
    moduleSymbol === undefined
      ? undefined
      : checker.getExportsOfModule(moduleSymbol).find((s) => s.escapedName === "default");
  const problem: Diagnostic = {
    file: ENTRY,
    line: 1,
    column: 1,
    code: "MissingDefaultExport",
    message: `index.ts must export default contract({...}) from "${API_SPECIFIER}"`,
  };
  if (exported === undefined) return problem;
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const type = checker.getTypeOfSymbol(symbol);
  const isMethod = (name: string) => {
    const property = checker.getPropertyOfType(type, name);
    return property !== undefined && checker.getTypeOfSymbol(property).getCallSignatures().length > 0;
  };
  if (isMethod("describe") && isMethod("invoke")) return undefined;
  const declaration = exported.declarations?.[0];
  if (declaration !== undefined && declaration.getSourceFile() === entry) {
    const { line, character } = entry.getLineAndCharacterOfPosition(declaration.getStart(entry));
    return { ...problem, line: line + 1, column: character + 1 };
  }
  return problem;
}

let shared: ContractCompiler | undefined;

/**
 * Compiles a contract with a process-wide compiler (created on first use, lib files cached).
 * @example const result = compileContract("contracts/examples/log");
 *          if (!result.ok) for (const d of result.diagnostics) console.error(formatDiagnostic(d));
 */
export function compileContract(source: ContractSource): CompileResult {
  shared ??= new ContractCompiler();
  return shared.compile(source);
}
