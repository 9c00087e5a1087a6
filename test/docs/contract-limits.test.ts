/**
 * docs/contracts.md's "The limits of a call" table is the code's: every default it gives equals
 * runtime/sandbox/limits.ts `DEFAULT_LIMITS` (or, for a fixed limit, the constant that enforces
 * it), and every governable limit of `DEFAULT_LIMITS` has its row. The error codes of the table
 * are asserted by the behaviour tests (test/sandbox, test/executor, test/contracts).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { DEFAULT_LIMITS, MAX_TX_WRITE_BYTES, type SandboxLimits } from "../../runtime/sandbox/limits.js";
import { MAX_OBJECT_KEYS, MAX_VALUE_DEPTH, MAX_VALUE_NODES } from "../../runtime/sandbox/output.js";

const ROOT = findPackageRoot();

/** The fixed limits, by the first words of their row. */
const FIXED: Readonly<Record<string, number>> = {
  "nesting of a value": MAX_VALUE_DEPTH,
  "values in one value": MAX_VALUE_NODES,
  "keys of one object": MAX_OBJECT_KEYS,
  "all the writes of one transaction": MAX_TX_WRITE_BYTES,
};

/** The rows of the table: [limit, default, past it]. */
function limitRows(): string[][] {
  const text = readFileSync(join(ROOT, "docs", "contracts.md"), "utf8");
  const section = text.split(/^### /m).find((s) => s.startsWith("The limits of a call\n"));
  assert.ok(section, 'docs/contracts.md has a "### The limits of a call" section');
  return section
    .split(/\n(?=#)/)[0]!
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| limit "))
    .map((line) =>
      line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}

/** "1 KiB" → 1024, "2,000,000" → 2000000, "1 s" → 1000 (ms), "64 levels" → 64. */
function amount(cell: string): number {
  const m = /^([0-9][0-9,]*)(?: (KiB|MiB|s|levels))?$/.exec(cell);
  assert.ok(m, `a default written as a number and unit, got ${JSON.stringify(cell)}`);
  const n = Number(m[1]!.replaceAll(",", ""));
  const unit = { KiB: 1024, MiB: 1024 * 1024, s: 1000, levels: 1 }[m[2] ?? "levels"] ?? 1;
  return n * unit;
}

describe("docs/contracts.md: the limits of a call", () => {
  it("every default is the code's, and every governable limit has its row", () => {
    const rows = limitRows();
    const named = new Set<string>();
    for (const [limit, given, code] of rows) {
      assert.ok(limit && given && code, `a row of three cells: ${JSON.stringify([limit, given, code])}`);
      assert.match(code, /^`[A-Z][A-Za-z]+`$/, `${limit}: the error past it`);
      const name = /\(`([a-zA-Z]+)`\)/.exec(limit)?.[1];
      if (name !== undefined) {
        assert.ok(Object.hasOwn(DEFAULT_LIMITS, name), `${limit}: ${name} is a limit governance sets`);
        assert.equal(amount(given), DEFAULT_LIMITS[name as keyof SandboxLimits], limit);
        named.add(name);
        continue;
      }
      const fixed = Object.keys(FIXED).find((start) => limit.startsWith(start));
      assert.ok(fixed !== undefined, `${limit}: a fixed limit this test knows`);
      assert.equal(amount(given), FIXED[fixed], limit);
    }
    assert.deepEqual([...named].sort(), Object.keys(DEFAULT_LIMITS).sort());
    assert.equal(rows.length, named.size + Object.keys(FIXED).length);
  });
});
