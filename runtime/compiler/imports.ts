/**
 * The import policy of contracts: a contract may import `treaty/contract` and its own files
 * (relative specifiers that stay inside the folder), nothing else: no node:*, no npm packages,
 * no dynamic import(), no `import = require`, no triple-slash references (they could pull in
 * DOM or Node typings that do not exist in the sandbox).
 */
import ts from "typescript";

/** The one package specifier contracts may import. */
export const API_SPECIFIER = "treaty/contract";

/** A policy violation at `start` in a contract file. */
export interface ImportProblem {
  readonly start: number;
  readonly message: string;
}

/**
 * Resolves relative `specifier` written in contract file `fromPath` to a contract path
 * (`./util.js` and `./util` → `util.ts`, `./lib` → `lib/index.ts`), using `exists`; undefined
 * when it leaves the folder or names no file.
 */
export function resolveRelative(
  fromPath: string,
  specifier: string,
  exists: (path: string) => boolean,
): string | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const parts = fromPath.split("/").slice(0, -1);
  for (const segment of specifier.split("/")) {
    if (segment === "." || segment === "") continue;
    if (segment === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else {
      parts.push(segment);
    }
  }
  const base = parts.join("/");
  if (base === "") return undefined;
  const candidates = base.endsWith(".js")
    ? [`${base.slice(0, -3)}.ts`]
    : base.endsWith(".ts")
      ? []
      : [`${base}.ts`, `${base}/index.ts`];
  return candidates.find(exists);
}

/** Every violation of the import policy in `file`, in source order. */
export function importProblems(
  file: ts.SourceFile,
  fromPath: string,
  exists: (path: string) => boolean,
): ImportProblem[] {
  const problems: ImportProblem[] = [];
  const checkSpecifier = (node: ts.Node | undefined) => {
    if (node === undefined || !ts.isStringLiteralLike(node)) return;
    const specifier = node.text;
    if (specifier === API_SPECIFIER) return;
    if (specifier.startsWith("./") || specifier.startsWith("../")) {
      if (resolveRelative(fromPath, specifier, exists) === undefined) {
        problems.push({
          start: node.getStart(file),
          message: specifier.endsWith(".ts")
            ? `import ${JSON.stringify(specifier)}: write the .js extension (or none) for contract files, as in "./util.js"`
            : `import ${JSON.stringify(specifier)}: no such file in the contract folder`,
        });
      }
      return;
    }
    problems.push({
      start: node.getStart(file),
      message: `import ${JSON.stringify(specifier)} is not allowed: contracts may import only "${API_SPECIFIER}" and their own files`,
    });
  };
  for (const reference of [
    ...file.referencedFiles,
    ...file.typeReferenceDirectives,
    ...file.libReferenceDirectives,
  ]) {
    problems.push({
      start: reference.pos,
      message: "triple-slash reference directives are not allowed in contracts",
    });
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      checkSpecifier(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node)) {
      if (ts.isExternalModuleReference(node.moduleReference)) {
        problems.push({
          start: node.getStart(file),
          message: 'import = require(...) is not supported: use import ... from "..."',
        });
      }
    } else if (ts.isExportAssignment(node) && node.isExportEquals === true) {
      problems.push({ start: node.getStart(file), message: "export = is not supported: use export default" });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      problems.push({
        start: node.getStart(file),
        message: "dynamic import() is not supported in contracts",
      });
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument)) checkSpecifier(argument.literal);
    } else if (ts.isModuleDeclaration(node) && ts.isStringLiteral(node.name)) {
      problems.push({
        start: node.getStart(file),
        message: 'declare module "..." is not allowed in contracts',
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return problems;
}
