/**
 * docs/governance.md's `set_runtime_limits` table is what governance accepts: for every row, the
 * default constitution's `validate` takes the range's two ends and refuses one past each, and so
 * does the runtime (`resolveLimits`, which the node applies to accepted limits); every limit the
 * runtime has is a row, and a proposal naming none or an unknown one is refused.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import constitution from "../../contracts/constitution/index.js";
import { member, seedGovernance, testConstitution } from "../../contracts/testing/index.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { DEFAULT_LIMITS, resolveLimits } from "../../runtime/sandbox/limits.js";

const ROOT = findPackageRoot();

/** The table's rows: [name, min, max]. */
function rangeRows(): Array<[string, number, number]> {
  const text = readFileSync(join(ROOT, "docs", "governance.md"), "utf8");
  const start = text.indexOf("- `limits` takes one or more of these");
  assert.ok(start >= 0, "docs/governance.md describes set_runtime_limits' limits");
  const rows: Array<[string, number, number]> = [];
  for (const line of text.slice(start).split("\n").slice(1)) {
    const trimmed = line.trim();
    if (trimmed === "" && rows.length > 0) break;
    const m = /^\| `([a-zA-Z]+)` \| (.+?) to (.+?)(?: \(.*\))? \|$/.exec(trimmed);
    if (m) rows.push([m[1]!, amount(m[2]!), amount(m[3]!)]);
  }
  return rows;
}

/** "20 MiB" → 20971520, "10,000" → 10000, "10^12" → 1e12. */
function amount(cell: string): number {
  const power = /^10\^(\d+)$/.exec(cell);
  if (power) return 10 ** Number(power[1]);
  const m = /^([0-9][0-9,]*)(?: (KiB|MiB|GiB))?$/.exec(cell);
  assert.ok(m, `an amount, got ${JSON.stringify(cell)}`);
  const unit = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2] ?? ""] ?? 1;
  return Number(m[1]!.replaceAll(",", "")) * unit;
}

describe("docs/governance.md: set_runtime_limits' ranges", () => {
  const c = testConstitution(constitution);
  seedGovernance(c.store, { members: { acme: {} } });
  const verdict = (limits: unknown): unknown => {
    const proposal = {
      proposalId: "p1",
      proposer: "acme",
      actions: [{ name: "set_runtime_limits", args: { limits } }],
    };
    const r = c.call("validate", { proposal }, { caller: member("acme") });
    assert.ok(r.ok, JSON.stringify(r));
    return (r.result as { valid: boolean }).valid;
  };

  it("has a row for every limit of the runtime", () => {
    assert.deepEqual(
      rangeRows()
        .map(([name]) => name)
        .sort(),
      Object.keys(DEFAULT_LIMITS).sort(),
    );
  });

  for (const [name, min, max] of rangeRows()) {
    it(`${name}: ${min} to ${max}, in the constitution and in the runtime`, () => {
      for (const value of [min, max]) {
        assert.equal(verdict({ [name]: value }), true, `${name} = ${value} is accepted`);
        assert.doesNotThrow(() => resolveLimits({ [name]: value }), `${name} = ${value} runs`);
      }
      for (const value of [min - 1, max + 1]) {
        assert.equal(verdict({ [name]: value }), false, `${name} = ${value} is refused`);
        assert.throws(() => resolveLimits({ [name]: value }), `${name} = ${value} does not run`);
      }
    });
  }

  it("refuses no limit at all, an unknown one, and a non-integer", () => {
    assert.equal(verdict({}), false);
    assert.equal(verdict({ heapSize: 1 }), false);
    assert.equal(verdict({ wallClockMs: 1.5 }), false);
  });
});
