/**
 * Contracts get no BigInt. Its operators run natively on values of up to 2^20 bits (one
 * multiplication of such values takes seconds, and QuickJS polls for interrupts only between
 * bytecode ticks), and an operator cannot be metered the way the lockdown meters builtins
 * (runtime/sandbox/lockdown.ts). The lockdown removes every other way to make a BigInt (`BigInt`,
 * the BigInt typed arrays and DataView accessors); this check refuses the one left, literals.
 */
import ts from "typescript";

/** Start offsets of the BigInt literals in `file`. */
export function bigintLiterals(file: ts.SourceFile): number[] {
  const found: number[] = [];
  const visit = (node: ts.Node): void => {
    if (node.kind === ts.SyntaxKind.BigIntLiteral) found.push(node.getStart(file));
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}
