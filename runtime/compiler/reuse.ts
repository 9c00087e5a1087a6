/**
 * Which contract modules may be instantiated once per sandbox instead of once per call.
 *
 * A module is *declarative* when running its top level creates nothing a later call could
 * change or observe besides values the loader deep-freezes (runtime/compiler/bundle.ts), and
 * calls no contract code and no host function. Then one instance, frozen, serves every call
 * exactly as a fresh one would, except that mutating a top-level object throws (frozen) instead
 * of mutating a throwaway copy. The rule is syntactic and conservative; a module outside it is
 * still correct, only instantiated per call as before:
 *
 * - top-level statements: imports, `export {...}` / `export * from`, types and interfaces,
 *   named function declarations, class declarations without static members, decorators or
 *   computed names, `const` declarations of plain identifiers, and `export default <expr>`;
 * - initializers (and `export default`, `extends`) are *static*: literals, functions, object
 *   and array literals of static values (no spread, accessors, computed keys or `__proto__`),
 *   names of other top-level declarations and imports, property reads on imports, and calls of
 *   the declaration builders of `treaty/contract` (`map`, `method`, `contract`, `event`, `t.*`)
 *   with static arguments. No `new`, no other call, no regex literal (its `lastIndex` is state,
 *   and QuickJS's Annex B `RegExp.prototype.compile` replaces a frozen regex's pattern before
 *   it fails on `lastIndex`);
 * - nowhere in the module: `arguments`, `require`, `module`, `exports` or a name starting with
 *   `__` (the loader's and TypeScript's own bindings), and no assignment to a top-level
 *   function or class name or to a name declared nowhere (`const` is enforced by the engine).
 */
import ts from "typescript";

/** The builders of treaty/contract a static initializer may call. */
const BUILDERS: ReadonlySet<string> = new Set(["map", "method", "contract", "event"]);
/** Names a declarative module may not mention anywhere (beside `__`-prefixed ones). */
const HIDDEN_NAMES: ReadonlySet<string> = new Set(["arguments", "require", "module", "exports"]);

/**
 * The names of the top-level bindings the emitted CommonJS keeps as locals (functions, classes
 * and unexported consts; exported consts live on `exports`), when `file` is declarative; else
 * undefined. `isApiFile` tells the treaty/contract sources apart.
 */
export function declarativeBindings(
  file: ts.SourceFile,
  checker: ts.TypeChecker,
  isApiFile: (fileName: string) => boolean,
): string[] | undefined {
  const topLevel = new Set<ts.Declaration>();
  const bindings: string[] = [];
  const mutableNames = new Set<ts.Declaration>();
  for (const statement of file.statements) {
    if (
      ts.isImportDeclaration(statement) ||
      ts.isInterfaceDeclaration(statement) ||
      ts.isTypeAliasDeclaration(statement) ||
      ts.isEmptyStatement(statement)
    ) {
      if (ts.isImportDeclaration(statement)) {
        const clause = statement.importClause;
        if (clause?.name !== undefined) topLevel.add(clause);
        const named = clause?.namedBindings;
        if (named !== undefined && ts.isNamespaceImport(named)) topLevel.add(named);
        if (named !== undefined && ts.isNamedImports(named)) for (const s of named.elements) topLevel.add(s);
      }
      continue;
    }
    if (ts.isExportDeclaration(statement)) continue;
    if (ts.isFunctionDeclaration(statement)) {
      if (statement.name === undefined) return undefined;
      topLevel.add(statement);
      mutableNames.add(statement);
      // Overload signatures share the one binding of the implementation.
      if (statement.body !== undefined) bindings.push(statement.name.text);
      continue;
    }
    if (ts.isClassDeclaration(statement)) {
      if (statement.name === undefined || !isStaticClass(statement)) return undefined;
      topLevel.add(statement);
      mutableNames.add(statement);
      bindings.push(statement.name.text);
      continue;
    }
    if (ts.isVariableStatement(statement)) {
      if ((statement.declarationList.flags & ts.NodeFlags.Const) === 0) return undefined;
      const exported = statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) === true;
      for (const declaration of statement.declarationList.declarations) {
        if (!ts.isIdentifier(declaration.name) || declaration.initializer === undefined) return undefined;
        topLevel.add(declaration);
        if (!exported) bindings.push(declaration.name.text);
      }
      continue;
    }
    if (ts.isExportAssignment(statement) && statement.isExportEquals !== true) continue;
    return undefined;
  }
  const context: StaticContext = { checker, isApiFile, topLevel };
  for (const statement of file.statements) {
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (!isStatic(declaration.initializer!, context)) return undefined;
      }
    } else if (ts.isExportAssignment(statement)) {
      if (!isStatic(statement.expression, context)) return undefined;
    } else if (ts.isClassDeclaration(statement)) {
      const base = statement.heritageClauses?.find((h) => h.token === ts.SyntaxKind.ExtendsKeyword);
      const extended = base?.types[0]?.expression;
      if (extended !== undefined && !isStatic(extended, context)) return undefined;
    }
  }
  if (!cleanBody(file, checker, mutableNames)) return undefined;
  return bindings;
}

interface StaticContext {
  readonly checker: ts.TypeChecker;
  readonly isApiFile: (fileName: string) => boolean;
  readonly topLevel: ReadonlySet<ts.Declaration>;
}

/** A class whose definition runs no code of its own: no static members, decorators or computed names. */
function isStaticClass(node: ts.ClassDeclaration): boolean {
  if (ts.getDecorators(node) !== undefined) return false;
  for (const member of node.members) {
    if (ts.isClassStaticBlockDeclaration(member)) return false;
    if (ts.canHaveModifiers(member) && member.modifiers?.some((m) => m.kind === ts.SyntaxKind.StaticKeyword))
      return false;
    if (ts.canHaveDecorators(member) && ts.getDecorators(member) !== undefined) return false;
    if (member.name !== undefined && ts.isComputedPropertyName(member.name)) return false;
  }
  return true;
}

function isStatic(node: ts.Expression, context: StaticContext): boolean {
  if (
    ts.isParenthesizedExpression(node) ||
    ts.isAsExpression(node) ||
    ts.isSatisfiesExpression(node) ||
    ts.isNonNullExpression(node) ||
    ts.isTypeAssertionExpression(node)
  )
    return isStatic(node.expression, context);
  switch (node.kind) {
    case ts.SyntaxKind.StringLiteral:
    case ts.SyntaxKind.NumericLiteral:
    case ts.SyntaxKind.NoSubstitutionTemplateLiteral:
    case ts.SyntaxKind.TrueKeyword:
    case ts.SyntaxKind.FalseKeyword:
    case ts.SyntaxKind.NullKeyword:
    case ts.SyntaxKind.ArrowFunction:
    case ts.SyntaxKind.FunctionExpression:
      return true;
  }
  if (ts.isPrefixUnaryExpression(node)) {
    return (
      (node.operator === ts.SyntaxKind.MinusToken || node.operator === ts.SyntaxKind.PlusToken) &&
      ts.isNumericLiteral(node.operand)
    );
  }
  if (ts.isIdentifier(node)) {
    if (node.text === "undefined") return true;
    const declaration = resolved(node, context.checker);
    return declaration !== undefined && context.topLevel.has(declaration);
  }
  if (ts.isPropertyAccessExpression(node)) return isImportRead(node, context);
  if (ts.isArrayLiteralExpression(node)) {
    return node.elements.every((element) => !ts.isSpreadElement(element) && isStatic(element, context));
  }
  if (ts.isObjectLiteralExpression(node)) {
    return node.properties.every((property) => {
      if (property.name === undefined || ts.isComputedPropertyName(property.name)) return false;
      if (ts.isIdentifier(property.name) && property.name.text === "__proto__") return false;
      if (ts.isStringLiteral(property.name) && property.name.text === "__proto__") return false;
      if (ts.isPropertyAssignment(property)) return isStatic(property.initializer, context);
      if (ts.isShorthandPropertyAssignment(property)) {
        const value = context.checker.getShorthandAssignmentValueSymbol(property)?.declarations?.[0];
        return (
          property.objectAssignmentInitializer === undefined &&
          value !== undefined &&
          context.topLevel.has(value)
        );
      }
      return ts.isMethodDeclaration(property);
    });
  }
  if (ts.isCallExpression(node)) {
    return (
      node.questionDotToken === undefined &&
      isBuilder(node.expression, context) &&
      node.arguments.every((arg) => !ts.isSpreadElement(arg) && isStatic(arg, context))
    );
  }
  return false;
}

/** `ns.x`, `ns.x.y` or `x.y` where the root name is an import: reads of (frozen) module exports. */
function isImportRead(node: ts.PropertyAccessExpression, context: StaticContext): boolean {
  if (node.questionDotToken !== undefined) return false;
  let root: ts.Expression = node.expression;
  while (ts.isPropertyAccessExpression(root)) {
    if (root.questionDotToken !== undefined) return false;
    root = root.expression;
  }
  if (!ts.isIdentifier(root)) return false;
  const declaration = resolved(root, context.checker);
  return (
    declaration !== undefined &&
    context.topLevel.has(declaration) &&
    (ts.isImportSpecifier(declaration) || ts.isNamespaceImport(declaration) || ts.isImportClause(declaration))
  );
}

/** A call target that is one of treaty/contract's declaration builders (`map`, `t.string`...). */
function isBuilder(callee: ts.Expression, context: StaticContext): boolean {
  if (!ts.isIdentifier(callee) && !(ts.isPropertyAccessExpression(callee) && isImportRead(callee, context)))
    return false;
  if (ts.isIdentifier(callee)) {
    const local = resolved(callee, context.checker);
    if (local === undefined || !ts.isImportSpecifier(local)) return false;
  }
  const name = ts.isIdentifier(callee) ? callee : callee.name;
  if (!ts.isIdentifier(name)) return false;
  const declaration = apiDeclaration(name, context.checker);
  if (declaration === undefined || !context.isApiFile(declaration.getSourceFile().fileName)) return false;
  if (ts.isFunctionDeclaration(declaration))
    return declaration.name !== undefined && BUILDERS.has(declaration.name.text);
  // A method of the `t` object literal in shapes.ts.
  if (ts.isMethodDeclaration(declaration) && ts.isObjectLiteralExpression(declaration.parent)) {
    const holder = declaration.parent.parent;
    return ts.isVariableDeclaration(holder) && ts.isIdentifier(holder.name) && holder.name.text === "t";
  }
  return false;
}

/** The declaration a name refers to, through import aliases. */
function apiDeclaration(name: ts.Identifier, checker: ts.TypeChecker): ts.Declaration | undefined {
  let symbol = checker.getSymbolAtLocation(name);
  if (symbol !== undefined && (symbol.flags & ts.SymbolFlags.Alias) !== 0)
    symbol = checker.getAliasedSymbol(symbol);
  return symbol?.declarations?.[0];
}

/** The declaration a local name refers to (not through aliases: an import stays its import). */
function resolved(name: ts.Identifier, checker: ts.TypeChecker): ts.Declaration | undefined {
  const symbol = checker.getSymbolAtLocation(name);
  return symbol?.declarations?.[0];
}

/**
 * No hidden names anywhere, no regex literal, and no assignment to a top-level function or
 * class name (TypeScript refuses those, but a `@ts-ignore` would let one through).
 */
function cleanBody(
  file: ts.SourceFile,
  checker: ts.TypeChecker,
  mutableNames: ReadonlySet<ts.Declaration>,
): boolean {
  let clean = true;
  const visit = (node: ts.Node): void => {
    if (!clean) return;
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      // Only at top level is a regex shared; inside functions each evaluation makes a new one.
      if (isTopLevelExpression(node)) clean = false;
    } else if (ts.isIdentifier(node) && !isPropertyName(node)) {
      if (HIDDEN_NAMES.has(node.text) || node.text.startsWith("__")) clean = false;
      else if (isAssignmentTarget(node)) {
        // A shorthand target (`({f} = o)`) names a property symbol here: refuse it outright.
        const declaration = ts.isShorthandPropertyAssignment(node.parent)
          ? undefined
          : resolved(node, checker);
        if (declaration === undefined || mutableNames.has(declaration)) clean = false;
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return clean;
}

/** A property's name (`o.__x`, `{ __x: 1 }`, a member's name), which names no binding. */
function isPropertyName(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent)) return parent.name === node;
  if (ts.isQualifiedName(parent)) return parent.right === node;
  if (
    ts.isPropertyAssignment(parent) ||
    ts.isMethodDeclaration(parent) ||
    ts.isPropertyDeclaration(parent) ||
    ts.isPropertySignature(parent) ||
    ts.isMethodSignature(parent) ||
    ts.isGetAccessorDeclaration(parent) ||
    ts.isSetAccessorDeclaration(parent)
  )
    return parent.name === node;
  return ts.isBindingElement(parent) && parent.propertyName === node;
}

/** True when no function boundary lies between `node` and the source file. */
function isTopLevelExpression(node: ts.Node): boolean {
  for (let at = node.parent; at !== undefined; at = at.parent) {
    if (ts.isFunctionLike(at)) return false;
  }
  return true;
}

/** `x = ...`, `x += ...`, `x++`, `[x] = ...`, `({x} = ...)`, `for (x of ...)`. */
function isAssignmentTarget(node: ts.Identifier): boolean {
  let current: ts.Node = node;
  for (;;) {
    const parent: ts.Node = current.parent;
    if (
      ts.isParenthesizedExpression(parent) ||
      ts.isNonNullExpression(parent) ||
      ts.isAsExpression(parent) ||
      ts.isSatisfiesExpression(parent) ||
      ts.isTypeAssertionExpression(parent) ||
      ts.isArrayLiteralExpression(parent) ||
      ts.isSpreadElement(parent) ||
      ts.isSpreadAssignment(parent) ||
      ts.isShorthandPropertyAssignment(parent) ||
      ts.isObjectLiteralExpression(parent) ||
      (ts.isPropertyAssignment(parent) && parent.initializer === current)
    ) {
      current = parent;
      continue;
    }
    if (ts.isBinaryExpression(parent)) {
      return (
        parent.left === current &&
        parent.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        parent.operatorToken.kind <= ts.SyntaxKind.LastAssignment
      );
    }
    if (ts.isPrefixUnaryExpression(parent) || ts.isPostfixUnaryExpression(parent)) {
      return (
        parent.operator === ts.SyntaxKind.PlusPlusToken || parent.operator === ts.SyntaxKind.MinusMinusToken
      );
    }
    if (ts.isForInStatement(parent) || ts.isForOfStatement(parent)) return parent.initializer === current;
    return false;
  }
}
