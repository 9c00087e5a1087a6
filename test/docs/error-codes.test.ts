/**
 * The error tables of the docs are the code's: every code docs/http.md's "Errors" table (which
 * says it is node/http/status.ts) and docs/governance.md's "Errors" table list answers with the
 * status they give it, every stable code of sdk/errors.ts is in http.md's table, and every code
 * of sdk/errors.ts is raised somewhere in the code (no documented code that nothing produces).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { httpStatus } from "../../node/http/status.js";
import { ErrorCode } from "../../sdk/errors.js";

const ROOT = findPackageRoot();
const CODE = /^[A-Z][A-Za-z0-9]*$/;

/** The table rows of the `## Errors` section of a docs/ page, cells split. */
function errorRows(page: string): string[][] {
  const text = readFileSync(join(ROOT, "docs", page), "utf8");
  const section = text.split(/^## /m).find((s) => s.startsWith("Errors\n"));
  assert.ok(section, `${page} has an "## Errors" section`);
  return section
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("|---"))
    .map((line) =>
      line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim()),
    );
}

/** The error codes written as inline code in a cell (`Replay`, not `details.txid`). */
function codesIn(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!).filter((c) => CODE.test(c));
}

/** Every .ts file under `dir` (relative to the package root). */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => join(dir, f));
}

describe("error codes in the docs", () => {
  it("docs/http.md: every code listed answers with its row's status, and every stable code is listed", () => {
    const listed = new Map<string, number>();
    for (const [status, codes] of errorRows("http.md").filter((row) => /^\d{3}$/.test(row[0]!))) {
      for (const code of codesIn(codes!)) {
        assert.equal(httpStatus(code), Number(status), `${code} is listed under ${status}`);
        listed.set(code, Number(status));
      }
    }
    const missing = Object.values(ErrorCode).filter((code) => !listed.has(code));
    assert.deepEqual(missing, [], "codes of sdk/errors.ts missing from docs/http.md's Errors table");
  });

  it("docs/governance.md: every code listed answers with the status it gives", () => {
    const rows = errorRows("governance.md").filter((row) => /^\d{3}$/.test(row[1] ?? ""));
    assert.ok(rows.length >= 5);
    for (const [code, status] of rows) {
      const [name] = codesIn(code!);
      assert.ok(name !== undefined && Object.hasOwn(ErrorCode, name), `${code} is a code of sdk/errors.ts`);
      assert.equal(httpStatus(name), Number(status), name);
    }
  });

  it("every code of sdk/errors.ts is raised somewhere in the code", () => {
    // The tables that only name codes (the code list, the status table, the reserved list) do
    // not count: something must construct or answer with it.
    const lists = new Set(["sdk/errors.ts", "node/http/status.ts", "contracts/api/errors.ts"]);
    const text = ["node", "runtime", "sdk", "contracts"]
      .flatMap(sources)
      .filter((file) => !lists.has(file))
      .map((file) => readFileSync(join(ROOT, file), "utf8"))
      .join("\n");
    const unused = Object.values(ErrorCode).filter(
      (code) => !new RegExp(`["'\`]${code}["'\`]|ErrorCode\\.${code}\\b`).test(text),
    );
    assert.deepEqual(unused, []);
  });
});
