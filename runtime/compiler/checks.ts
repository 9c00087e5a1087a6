/**
 * Checks on a type-checked contract for what the sandbox would refuse only when a method runs:
 * globals the lockdown removes (`Date`, `Math.random`, `eval`, `new Function`, `WeakRef`...) or
 * that never exist there (timers, `console`, Node's globals), `async` method bodies, reserved or
 * malformed `ContractError` codes written as literals, and the two declarations whose TypeScript
 * errors say little (`map<number, V>` without `{ key: "number" }`, `auth: "anyone"` on a
 * readwrite method). Each problem names the fix; it may replace TypeScript's own diagnostics
 * at the same place (`suppress`), which would only repeat it less clearly.
 *
 * The checks resolve symbols with the type checker, so a local variable named `Date` or a
 * contract's own `method` helper is not mistaken for the global or the API.
 */
import ts from "typescript";
import { RESERVED_ERROR_CODES } from "../../contracts/api/errors.js";

/** One problem, at `start` of the file; TypeScript diagnostics starting in `suppress` are dropped. */
export interface SandboxProblem {
  readonly start: number;
  readonly code:
    | "ForbiddenImport"
    | "ForbiddenGlobal"
    | "AsyncMethod"
    | "ReservedErrorCode"
    | "InvalidErrorCode"
    | "NumberKeyOption"
    | "AnyoneReadwrite";
  readonly message: string;
  readonly suppress?: { readonly start: number; readonly end: number };
}

/** Where a symbol is declared: the ES lib, the `treaty/contract` API, or elsewhere. */
export interface SymbolOrigins {
  isLibFile(fileName: string): boolean;
  isApiFile(fileName: string): boolean;
}

const NOW = 'now() from "treaty/contract" (the transaction\'s time in ms, the same on every replica)';
const RANDOM =
  'randomInt(max), randomBytes(n) or randomHex(n) from "treaty/contract" (seeded per transaction)';
const NO_STRINGS = "contracts cannot compile code from strings; write the code itself";
const SYNC = "methods run synchronously to completion; do the work in the method itself";

/** Lib globals the lockdown deletes, with the fix. */
const REMOVED_GLOBALS: ReadonlyMap<string, string> = new Map([
  ["Date", `Date is not available in contracts (replicas must agree on time): use ${NOW}`],
  ["eval", `eval is not available in contracts: ${NO_STRINGS}`],
  [
    "WeakRef",
    "WeakRef is not available in contracts (garbage collection differs between replicas): keep a plain reference",
  ],
  [
    "FinalizationRegistry",
    "FinalizationRegistry is not available in contracts (garbage collection differs between replicas): clean up explicitly",
  ],
  ["SharedArrayBuffer", "SharedArrayBuffer is not available in contracts: use ArrayBuffer"],
  ["Atomics", "Atomics is not available in contracts (there are no threads): use plain reads and writes"],
]);

/** Names absent from ES2022 (TypeScript says only "Cannot find name"), with the fix. */
const ABSENT_GLOBALS: ReadonlyMap<string, string> = new Map([
  ...["setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "clearImmediate"].map(
    (name): [string, string] => [
      name,
      `${name} is not available in contracts (there are no timers): ${SYNC}`,
    ],
  ),
  ["queueMicrotask", `queueMicrotask is not available in contracts: ${SYNC}`],
  [
    "console",
    'console is not available in contracts: return the data from the method, or emit(name, data) an event from "treaty/contract"',
  ],
  ...["process", "require", "module", "__dirname", "__filename", "global"].map((name): [string, string] => [
    name,
    `${name} is a Node.js global; contracts run in a sandbox without Node: use only "treaty/contract" and the ES2022 library`,
  ]),
  [
    "Buffer",
    'Buffer is not available in contracts: use utf8Encode, utf8Decode, toHex and fromHex from "treaty/contract"',
  ],
  [
    "TextEncoder",
    'TextEncoder is not available in contracts: use utf8Encode and utf8Decode from "treaty/contract"',
  ],
  [
    "TextDecoder",
    'TextDecoder is not available in contracts: use utf8Encode and utf8Decode from "treaty/contract"',
  ],
  ["fetch", "fetch is not available in contracts: a contract reaches nothing outside the ledger"],
]);

/** TypeScript's "cannot find name" codes (with or without its @types/node hint). */
const CANNOT_FIND_NAME = new Set([2304, 2580, 2582, 2584, 2591]);

const CONTRACT_CODE = /^[A-Z][A-Za-z0-9]{0,63}$/;

/** TypeScript codes a replaced declaration error may carry (argument count or type mismatch). */
export const DECLARATION_CODES: ReadonlySet<number> = new Set([2322, 2345, 2353, 2554, 2741, 2769]);

/** Every problem in `file`, in source order. */
export function sandboxProblems(
  file: ts.SourceFile,
  checker: ts.TypeChecker,
  origins: SymbolOrigins,
): SandboxProblem[] {
  const problems: SandboxProblem[] = [];
  const symbolOf = (node: ts.Node): ts.Symbol | undefined => {
    const symbol = checker.getSymbolAtLocation(node);
    return symbol !== undefined && symbol.flags & ts.SymbolFlags.Alias
      ? checker.getAliasedSymbol(symbol)
      : symbol;
  };
  const declaredIn = (symbol: ts.Symbol | undefined, test: (fileName: string) => boolean): boolean => {
    const declarations = symbol?.declarations ?? [];
    return declarations.length > 0 && declarations.every((d) => test(d.getSourceFile().fileName));
  };
  const isLib = (node: ts.Node) => declaredIn(symbolOf(node), (f) => origins.isLibFile(f));
  const apiName = (node: ts.Expression): string | undefined => {
    if (!ts.isIdentifier(node) && !ts.isPropertyAccessExpression(node)) return undefined;
    const symbol = symbolOf(node);
    return declaredIn(symbol, (f) => origins.isApiFile(f)) ? symbol!.name : undefined;
  };
  const at = (node: ts.Node) => node.getStart(file);

  const visit = (node: ts.Node): void => {
    // Type positions (`x: Date`, `typeof Date`) run nothing in the sandbox.
    if (ts.isTypeNode(node) && !ts.isExpressionWithTypeArguments(node)) return;
    if (ts.isInterfaceDeclaration(node) || ts.isTypeAliasDeclaration(node)) return;
    if (ts.isIdentifier(node)) checkIdentifier(node);
    else if (ts.isPropertyAccessExpression(node)) checkPropertyAccess(node);
    else if (ts.isCallExpression(node) || ts.isNewExpression(node)) checkCall(node);
    ts.forEachChild(node, visit);
  };

  const checkIdentifier = (node: ts.Identifier) => {
    const parent = node.parent;
    // Only references: not a declared name, not a property name after a dot or in a literal.
    if (ts.isPropertyAccessExpression(parent) && parent.name === node) return;
    if ((ts.isPropertyAssignment(parent) || ts.isMethodDeclaration(parent)) && parent.name === node) return;
    if (
      "name" in parent &&
      (parent as ts.NamedDeclaration).name === node &&
      !ts.isPropertyAccessExpression(parent)
    )
      return;
    const removed = REMOVED_GLOBALS.get(node.text);
    if (removed !== undefined && isLib(node)) {
      problems.push({ start: at(node), code: "ForbiddenGlobal", message: removed });
      return;
    }
    const absent = ABSENT_GLOBALS.get(node.text);
    if (absent !== undefined && checker.getSymbolAtLocation(node) === undefined) {
      problems.push({
        start: at(node),
        code: "ForbiddenGlobal",
        message: absent,
        suppress: { start: at(node), end: node.end },
      });
    }
  };

  const checkPropertyAccess = (node: ts.PropertyAccessExpression) => {
    if (node.name.text === "random" && ts.isIdentifier(node.expression) && node.expression.text === "Math") {
      if (isLib(node.expression)) {
        problems.push({
          start: at(node),
          code: "ForbiddenGlobal",
          message: `Math.random is not available in contracts (replicas must agree): use ${RANDOM}`,
        });
      }
    }
  };

  const checkCall = (node: ts.CallExpression | ts.NewExpression) => {
    const callee = node.expression;
    if (ts.isIdentifier(callee) && callee.text === "Function" && isLib(callee)) {
      problems.push({
        start: at(node),
        code: "ForbiddenGlobal",
        message: `the Function constructor is disabled in contracts: ${NO_STRINGS}`,
      });
      return;
    }
    const name = apiName(callee);
    if (name === "ContractError" && ts.isNewExpression(node)) checkErrorCode(node);
    else if (name === "method" && ts.isCallExpression(node)) checkMethod(node);
    else if (name === "map" && ts.isCallExpression(node)) checkMap(node);
  };

  const checkErrorCode = (node: ts.NewExpression) => {
    const arg = node.arguments?.[0];
    if (arg === undefined) return;
    const type = checker.getTypeAtLocation(arg);
    const codes = type.isUnion() ? type.types : [type];
    for (const t of codes) {
      if (!t.isStringLiteral()) continue;
      const code = t.value;
      if (!CONTRACT_CODE.test(code)) {
        problems.push({
          start: at(arg),
          code: "InvalidErrorCode",
          message: `ContractError code ${JSON.stringify(code)} is invalid: codes match /^[A-Z][A-Za-z0-9]{0,63}$/ (e.g. "${suggestCode(code)}")`,
        });
      } else if (RESERVED_ERROR_CODES.includes(code)) {
        problems.push({
          start: at(arg),
          code: "ReservedErrorCode",
          message: `ContractError code "${code}" is reserved by Treaty (callers must be able to trust it came from Treaty): choose your own, e.g. "${code}Error" or a more specific name`,
        });
      }
    }
  };

  const checkMethod = (node: ts.CallExpression) => {
    const spec = node.arguments[0];
    if (spec === undefined || !ts.isObjectLiteralExpression(spec)) return;
    const property = (key: string) =>
      spec.properties.find((p) => p.name !== undefined && ts.isIdentifier(p.name) && p.name.text === key);
    const literalOf = (key: string): string | undefined => {
      const p = property(key);
      if (p === undefined || !ts.isPropertyAssignment(p)) return undefined;
      const type = checker.getTypeAtLocation(p.initializer);
      return type.isStringLiteral() ? type.value : undefined;
    };
    const auth = property("auth");
    if (auth !== undefined && literalOf("mode") === "readwrite" && literalOf("auth") === "anyone") {
      problems.push({
        start: at(auth),
        code: "AnyoneReadwrite",
        message:
          'auth "anyone" lets unsigned callers in and is allowed for readonly methods only: use auth "users", "members" or "users_and_members" for this readwrite method, or make it mode "readonly"',
        suppress: { start: at(spec), end: at(spec) + 1 },
      });
    }
    const run = property("run");
    if (run === undefined) return;
    const body = ts.isPropertyAssignment(run) ? run.initializer : run;
    const isAsync =
      ts.isFunctionLike(body) &&
      (ts.getCombinedModifierFlags(body as ts.Declaration) & ts.ModifierFlags.Async) !== 0;
    if (isAsync || returnsThenable(body)) {
      problems.push({
        start: at(run),
        code: "AsyncMethod",
        message:
          "run must be synchronous: the host API is synchronous and a method's result is taken when it returns, so remove async/await (a returned Promise fails every call with ContractFault)",
      });
    }
  };

  const returnsThenable = (node: ts.Node): boolean => {
    const signatures = checker.getTypeAtLocation(node).getCallSignatures();
    return signatures.some((s) => {
      const result = checker.getReturnTypeOfSignature(s);
      return (result.isUnion() ? result.types : [result]).some(
        (t) => checker.getPropertyOfType(t, "then") !== undefined,
      );
    });
  };

  const checkMap = (node: ts.CallExpression) => {
    const signature = checker.getResolvedSignature(node);
    const typeArgs =
      signature === undefined ? undefined : checker.getTypeArgumentsForResolvedSignature(signature);
    const keyType =
      node.typeArguments?.[0] !== undefined
        ? checker.getTypeFromTypeNode(node.typeArguments[0])
        : typeArgs?.[0];
    if (keyType === undefined) return;
    const tuple = checker.isTupleType(keyType)
      ? checker.getTypeArguments(keyType as ts.TypeReference)
      : undefined;
    if (tuple === undefined && (keyType.flags & ts.TypeFlags.NumberLike) === 0) return;
    const options = node.arguments[1];
    const hasKey =
      options !== undefined &&
      (!ts.isObjectLiteralExpression(options) ||
        options.properties.some(
          (p) => p.name !== undefined && ts.isIdentifier(p.name) && p.name.text === "key",
        ));
    if (hasKey) return;
    const name = node.arguments[0];
    const shown = name !== undefined && ts.isStringLiteral(name) ? JSON.stringify(name.text) : "name";
    const more = options !== undefined ? ", ..." : "";
    if (tuple !== undefined) {
      const kinds = tuple.map((t) => ((t.flags & ts.TypeFlags.NumberLike) !== 0 ? '"number"' : '"string"'));
      const types = kinds.map((k) => (k === '"number"' ? "number" : "string"));
      problems.push({
        start: at(node),
        code: "NumberKeyOption",
        message: `a map with tuple keys needs the kinds of its components in its options (keys are encoded by kind): map<[${types.join(", ")}], V>(${shown}, { key: [${kinds.join(", ")}]${more} })`,
        suppress: { start: at(node), end: node.end },
      });
      return;
    }
    problems.push({
      start: at(node),
      code: "NumberKeyOption",
      message: `a map with number keys needs { key: "number" } in its options (keys are encoded by kind): map<number, V>(${shown}, { key: "number"${more} })`,
      suppress: { start: at(node), end: node.end },
    });
  };

  visit(file);
  return problems.sort((a, b) => a.start - b.start);
}

/** A valid code close to `code`, for the message. */
function suggestCode(code: string): string {
  const words = code.split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0);
  const joined = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
  const candidate = /^[A-Z]/.test(joined) ? joined.slice(0, 64) : `E${joined}`.slice(0, 64);
  return CONTRACT_CODE.test(candidate) ? candidate : "MyError";
}

/** True when TypeScript diagnostic `d` repeats a problem (same place) less clearly. */
export function isReplaced(d: ts.Diagnostic, problems: readonly SandboxProblem[]): boolean {
  if (d.start === undefined) return false;
  return problems.some(
    (p) =>
      p.suppress !== undefined &&
      d.start! >= p.suppress.start &&
      d.start! < p.suppress.end &&
      (p.code === "ForbiddenImport" || CANNOT_FIND_NAME.has(d.code) || DECLARATION_CODES.has(d.code)),
  );
}
