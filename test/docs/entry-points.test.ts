/**
 * Every name README.md and docs/*.md say comes from a package entry point ("`verifyReceipt(...)`
 * from `treaty/sdk`", "`jwtCallerId(issuer, subject)` in `treaty/sdk`") is exported there: a
 * value by the built module, a type by its declarations. Names given as the SDK's ("the SDK's
 * `submitRecoveryShare`", "SDK `verifySignedAnswer`", "`verifyConsistency` in the SDK") are
 * exports of `treaty/sdk`, methods of its `Client` or `Governance`, or `actions`.
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
const SDK_MENTION =
  /(?:the SDK's |SDK )`([A-Za-z][A-Za-z0-9]*)[(`]|`([A-Za-z][A-Za-z0-9]*)(?:\([^`]*\))?` in the SDK/g;

interface Entry {
  readonly types: string;
  readonly default: string;
}

const exportsMap = (
  JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, Entry> }
).exports;

/** What "the SDK's `name`" may be: an export of treaty/sdk, a Client or Governance method, an action. */
async function sdkNames(): Promise<Set<string>> {
  const sdk = (await import(pathToFileURL(join(ROOT, exportsMap["./sdk"]!.default)).href)) as {
    Client: { prototype: object };
    Governance: { prototype: object };
    actions: object;
  } & Record<string, unknown>;
  const types = readFileSync(join(ROOT, exportsMap["./sdk"]!.types), "utf8");
  return new Set([
    ...Object.keys(sdk),
    ...Object.getOwnPropertyNames(sdk.Client.prototype),
    ...Object.getOwnPropertyNames(sdk.Governance.prototype),
    ...Object.keys(sdk.actions),
    ...[...types.matchAll(/\btype ([A-Z][A-Za-z0-9]*)\b/g)].map((m) => m[1]!),
  ]);
}

describe("names the docs say an entry point exports", () => {
  it("every name given as the SDK's is in treaty/sdk", async () => {
    const names = await sdkNames();
    let seen = 0;
    for (const file of markdownFiles(ROOT)) {
      for (const match of readFileSync(join(ROOT, file), "utf8").matchAll(SDK_MENTION)) {
        const name = match[1] ?? match[2]!;
        seen++;
        assert.ok(names.has(name), `${file}: ${match[0]}: treaty/sdk has no ${name}`);
      }
    }
    assert.ok(seen >= 5, `only ${seen} mentions found`);
  });

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
