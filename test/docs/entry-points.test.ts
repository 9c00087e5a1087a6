/**
 * Every name README.md and docs/*.md say comes from a package entry point ("`verifyReceipt(...)`
 * from `treaty/sdk`", "`jwtCallerId(issuer, subject)` in `treaty/sdk`") is exported there: a
 * value by the built module, a type by its declarations.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { markdownFiles } from "../support/snippets.js";

const ROOT = findPackageRoot();
const MENTION = /`([A-Za-z][A-Za-z0-9]*)(?:\([^`]*\))?` (?:in|from) `treaty(\/[a-z/]+)?`/g;

interface Entry {
  readonly types: string;
  readonly default: string;
}

const exportsMap = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, Entry> }
).exports;

describe("names the docs say an entry point exports", () => {
  for (const file of markdownFiles(ROOT)) {
    const mentions = [...readFileSync(join(ROOT, file), "utf8").matchAll(MENTION)];
    if (mentions.length === 0) continue;
    it(`${file}: each is exported by its entry point`, async () => {
      for (const [text, name, sub] of mentions) {
        const entry = exportsMap[`.${sub ?? ""}`];
        assert.ok(entry !== undefined, `${file}: ${text}: no entry point treaty${sub ?? ""}`);
        const module = (await import(pathToFileURL(join(ROOT, entry.default)).href)) as Record<
          string,
          unknown
        >;
        if (Object.hasOwn(module, name!)) continue;
        // Not a value: a type, named in the entry's declarations (export { type X } or export type X).
        const declarations = readFileSync(join(ROOT, entry.types), "utf8");
        assert.match(
          declarations,
          new RegExp(`export (?:type |interface |declare )*${name}\\b|[{,]\\s*type ${name}\\b`),
          `${file}: ${text}: treaty${sub ?? ""} does not export ${name}`,
        );
      }
    });
  }
});
