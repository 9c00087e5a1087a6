/**
 * Which contract modules may be instantiated once per sandbox instead of once per call.
 *
 * A module is *declarative* when running its top level creates nothing a later call could
 * change or observe besides values the loader deep-freezes (runtime/compiler/bundle.ts), calls
 * no contract code and no host function, and no correct program could tell the freezing apart
 * from a fresh instance. Then one instance, frozen, serves every call exactly as a fresh one
 * would. The rule is syntactic and conservative; a module outside it is still correct, only
 * instantiated per call as before:
 *
 * - top-level statements: imports, `export {...}` / `export * from`, types and interfaces,
 *   named function declarations, `const` declarations of plain identifiers, and
 *   `export default <expr>`. No class (a constructor doing `this.m = this.m.bind(this)` would
 *   hit the override mistake on a frozen prototype);
 * - initializers (and `export default`) are *static*: literals, functions, object and array
 *   literals of static values (no spread, accessors, computed keys or `__proto__`), names of
 *   other top-level declarations and imports, property reads on imports, and calls of the
 *   declaration builders of `treaty/contract` (`map`, `method`, `contract`, `event`, `t.*`)
 *   with static arguments. No `new`, no other call, no regex literal (its `lastIndex` is state,
 *   and QuickJS's Annex B `RegExp.prototype.compile` replaces a frozen regex's pattern before
 *   it fails on `lastIndex`);
 * - no object or array literal of the top level can be mutated (`literalsUnmutated`): a `const`
 *   holding one is not exported, `export default` is none, and every reference (by symbol) is
 *   a safe use: a builder argument, a member of another such const's literal, a spread of a
 *   literal without nested literals, or a read of a member chain (`X.a[i].b`) that is not
 *   called, assigned, deleted or incremented and whose value is not itself one of the literals;
 * - nowhere in the module: `arguments`, `require`, `module`, `exports` or a name starting with
 *   `__` (the loader's and TypeScript's own bindings), and no assignment to a top-level
 *   function name or to a name declared nowhere (`const` is enforced by the engine).
 *
 * What stays frozen and could be observed: properties attached at call time to a top-level
 * function or to a builder's result (`map`, `t.*`, `method`, `contract`), which throw instead of
 * landing on a per-call copy. Correct contracts do not do that.
 */
import ts from "typescript";

/** The builders of treaty/contract a static initializer may call. */
const BUILDERS: ReadonlySet<string> = new Set(["map", "method", "contract", "event"]);
/** Names a declarative module may not mention anywhere (beside `__`-prefixed ones). */
const HIDDEN_NAMES: ReadonlySet<string> = new Set(["arguments", "require", "module", "exports"]);

/**
 * The names of the top-level bindings the emitted CommonJS keeps as locals (functions and
 * unexported consts; exported consts live on `exports`), when `file` is declarative; else
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
    // No classes: a constructor that assigns over an inherited method (`this.m = this.m.bind(this)`)
    // fails on a frozen prototype (the "override mistake"), and a correct one must not.
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
    }
  }
  if (!cleanBody(file, checker, mutableNames)) return undefined;
  if (!literalsUnmutated(file, context)) return undefined;
  return bindings;
}

interface StaticContext {
  readonly checker: ts.TypeChecker;
  readonly isApiFile: (fileName: string) => boolean;
  readonly topLevel: ReadonlySet<ts.Declaration>;
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
 * No hidden names anywhere, no regex literal, and no assignment to a top-level function name (TypeScript refuses those, but a `@ts-ignore` would let one through).
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
function isAssignmentTarget(node: ts.Node): boolean {
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

/** Expression wrappers that pass their operand's value through unchanged. */
function isWrapper(
  node: ts.Node,
): node is
  | ts.ParenthesizedExpression
  | ts.AsExpression
  | ts.SatisfiesExpression
  | ts.NonNullExpression
  | ts.TypeAssertion {
  return (
    ts.isParenthesizedExpression(node) ||
    ts.isAsExpression(node) ||
    ts.isSatisfiesExpression(node) ||
    ts.isNonNullExpression(node) ||
    ts.isTypeAssertionExpression(node)
  );
}

function isLiteral(node: ts.Node): boolean {
  return ts.isObjectLiteralExpression(node) || ts.isArrayLiteralExpression(node);
}

/**
 * No object or array the top level creates is ever mutated, so freezing it is unobservable:
 * every top-level `const` whose value is (or holds, by name) an object or array literal is
 * unexported and only *safely used* (see `safeReference`), and `export default` is no such
 * value. Top-level initializers are static here (checked before), which keeps the values
 * followable by name.
 */
function literalsUnmutated(file: ts.SourceFile, context: StaticContext): boolean {
  const literalConsts = new Set<ts.VariableDeclaration>();
  for (const statement of file.statements) {
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        if (valuesOf(declaration.initializer!, context).some(isLiteral)) literalConsts.add(declaration);
      }
    } else if (ts.isExportAssignment(statement) && valuesOf(statement.expression, context).some(isLiteral)) {
      return false;
    }
  }
  if (literalConsts.size === 0) return true;
  // Another module could mutate an exported one; its importers are not checked.
  const moduleSymbol = context.checker.getSymbolAtLocation(file);
  for (const exported of moduleSymbol === undefined ? [] : context.checker.getExportsOfModule(moduleSymbol)) {
    const target =
      (exported.flags & ts.SymbolFlags.Alias) !== 0 ? context.checker.getAliasedSymbol(exported) : exported;
    for (const declaration of target.declarations ?? []) {
      if (ts.isVariableDeclaration(declaration) && literalConsts.has(declaration)) return false;
    }
  }
  const references = new Map<ts.VariableDeclaration, ts.Identifier[]>();
  const visit = (node: ts.Node): void => {
    if (ts.isTypeQueryNode(node)) return; // `typeof X` in a type reads no value
    if (ts.isIdentifier(node) && !isPropertyName(node) && !ts.isVariableDeclaration(node.parent)) {
      const symbol = ts.isShorthandPropertyAssignment(node.parent)
        ? context.checker.getShorthandAssignmentValueSymbol(node.parent)
        : context.checker.getSymbolAtLocation(node);
      const declaration = symbol?.declarations?.[0];
      if (
        declaration !== undefined &&
        ts.isVariableDeclaration(declaration) &&
        literalConsts.has(declaration)
      ) {
        const list = references.get(declaration) ?? [];
        list.push(node);
        references.set(declaration, list);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  const verdicts = new Map<ts.VariableDeclaration, boolean>();
  const safeConst = (declaration: ts.VariableDeclaration): boolean => {
    const known = verdicts.get(declaration);
    if (known !== undefined) return known;
    verdicts.set(declaration, true); // a cycle adds no use of its own
    const safe = (references.get(declaration) ?? []).every((reference) =>
      safeReference(reference, valuesOf(declaration.initializer!, context), context, safeConst),
    );
    verdicts.set(declaration, safe);
    return safe;
  };
  for (const declaration of literalConsts) if (!safeConst(declaration)) return false;
  return true;
}

/**
 * A use of a top-level name whose value is `values` that cannot mutate any object or array
 * literal among them. Take the longest member chain `X.a[k].b` starting at the name:
 * - never safe as a call or `new` target or template tag (`X.push()`, `X.a.sort()`: a method may
 *   mutate its receiver), an assignment target, or the operand of `delete`, `++` or `--`;
 * - safe as any other read when its value is none of the literals (a string, a number, a
 *   function, a builder's result, or something inherited such as `X.length`);
 * - else the literal itself is handed on, which is safe only as the source of a spread when
 *   its own members hold no further literal, as an argument of a treaty/contract builder
 *   (directly or inside object and array literals), or inside the static literal of another
 *   top-level `const`, itself only used safely.
 */
function safeReference(
  reference: ts.Identifier,
  values: readonly ts.Expression[],
  context: StaticContext,
  safeConst: (declaration: ts.VariableDeclaration) => boolean,
): boolean {
  let chain: ts.Expression = reference;
  let reached = values;
  for (;;) {
    const parent = chain.parent;
    if (isWrapper(parent)) {
      chain = parent;
    } else if (ts.isPropertyAccessExpression(parent) && parent.expression === chain) {
      reached = memberOf(reached, parent.name.text, context);
      chain = parent;
    } else if (ts.isElementAccessExpression(parent) && parent.expression === chain) {
      const key = parent.argumentExpression;
      const known = ts.isStringLiteralLike(key) || ts.isNumericLiteral(key) ? key.text : undefined;
      reached = memberOf(reached, known, context);
      chain = parent;
    } else {
      break;
    }
  }
  const parent = chain.parent;
  if (
    ((ts.isCallExpression(parent) || ts.isNewExpression(parent)) && parent.expression === chain) ||
    (ts.isTaggedTemplateExpression(parent) && parent.tag === chain) ||
    ts.isDeleteExpression(parent) ||
    isAssignmentTarget(chain)
  )
    return false;
  if (!reached.some(isLiteral)) return true;
  if (ts.isSpreadElement(parent) || ts.isSpreadAssignment(parent)) {
    return reached.every(
      (value) => !isLiteral(value) || !memberOf([value], undefined, context).some(isLiteral),
    );
  }
  let at: ts.Node = chain;
  while (
    isWrapper(at.parent) ||
    isLiteral(at.parent) ||
    ts.isShorthandPropertyAssignment(at.parent) ||
    (ts.isPropertyAssignment(at.parent) && at.parent.initializer === at)
  )
    at = at.parent;
  const holder = at.parent;
  if (ts.isCallExpression(holder) && holder.arguments.some((arg) => arg === at))
    return isBuilder(holder.expression, context);
  if (ts.isVariableDeclaration(holder) && holder.initializer === at && context.topLevel.has(holder))
    return safeConst(holder);
  return false;
}

/** What a static top-level expression can evaluate to, following names of top-level consts. */
function valuesOf(node: ts.Expression, context: StaticContext): ts.Expression[] {
  while (isWrapper(node)) node = node.expression;
  if (ts.isIdentifier(node)) {
    const declaration = resolved(node, context.checker);
    if (
      declaration !== undefined &&
      ts.isVariableDeclaration(declaration) &&
      context.topLevel.has(declaration) &&
      declaration.initializer !== undefined
    )
      return valuesOf(declaration.initializer, context);
  }
  return [node];
}

/**
 * The values member `key` (undefined: any member) of `values` can hold. Members of anything but
 * an object or array literal, and inherited ones, are left out: none is a literal of this module.
 */
function memberOf(
  values: readonly ts.Expression[],
  key: string | undefined,
  context: StaticContext,
): ts.Expression[] {
  const found: ts.Expression[] = [];
  for (const value of values) {
    if (ts.isArrayLiteralExpression(value)) {
      value.elements.forEach((element, index) => {
        if (key === undefined || key === String(index)) found.push(...valuesOf(element, context));
      });
    } else if (ts.isObjectLiteralExpression(value)) {
      for (const property of value.properties) {
        const name = property.name;
        const literalName =
          name !== undefined &&
          (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name))
            ? name.text
            : undefined;
        if (key !== undefined && literalName !== key) continue;
        if (ts.isPropertyAssignment(property)) found.push(...valuesOf(property.initializer, context));
        else if (ts.isShorthandPropertyAssignment(property)) {
          const declaration = context.checker.getShorthandAssignmentValueSymbol(property)?.declarations?.[0];
          if (
            declaration !== undefined &&
            ts.isVariableDeclaration(declaration) &&
            declaration.initializer !== undefined
          )
            found.push(...valuesOf(declaration.initializer, context));
        }
      }
    }
  }
  return found;
}
