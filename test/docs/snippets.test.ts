/**
 * Every code snippet in README.md and docs/*.md is a copy of a file that the build compiles:
 * each TypeScript block names its source (`<!-- snippet: path#region -->`), the block equals the
 * source's text, and the source has a compiled twin in dist/. test/docs/examples.test.ts and
 * test/cli/dev.test.ts run them.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { fencedBlocks, fillSnippets, markdownFiles, snippetSource } from "../support/snippets.js";

const ROOT = findPackageRoot();
const CODE = new Set(["ts", "typescript", "js", "javascript", "mjs"]);

describe("documentation snippets", () => {
  for (const file of markdownFiles(ROOT)) {
    const markdown = readFileSync(join(ROOT, file), "utf8");
    it(`${file}: every code block is a compiled file, copied verbatim`, () => {
      for (const block of fencedBlocks(markdown)) {
        if (!CODE.has(block.lang)) {
          assert.equal(
            block.source,
            undefined,
            `${file}:${block.line}: a snippet marker on a ${block.lang} block`,
          );
          continue;
        }
        assert.ok(
          block.source,
          `${file}:${block.line}: a ${block.lang} block without <!-- snippet: file -->`,
        );
        const path = block.source.split("#")[0]!;
        assert.ok(path.endsWith(".ts"), `${file}:${block.line}: ${path} is not TypeScript`);
        assert.ok(
          existsSync(join(ROOT, "dist", path.replace(/\.ts$/, ".js"))),
          `${file}:${block.line}: ${path} is not compiled by the build (tsconfig include)`,
        );
        assert.equal(
          block.text,
          snippetSource(ROOT, block.source),
          `${file}:${block.line}: differs from ${block.source} (npm run docs:snippets copies it)`,
        );
      }
      assert.equal(fillSnippets(markdown, ROOT), markdown);
    });
  }

  // A reader copies a snippet into a project that installed Treaty: it may import the package's
  // entry points, Node's modules, the packages Treaty depends on, and a contract (the samples
  // stand for the reader's own), never a module inside Treaty (docs/contracts.md's compile
  // example imported ContractRuntime from runtime/executor, which no entry point exports).
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    exports: Record<string, unknown>;
    dependencies: Record<string, string>;
  };
  const importable = (specifier: string): boolean =>
    specifier.startsWith("node:") ||
    Object.keys(pkg.dependencies).some((d) => specifier === d || specifier.startsWith(`${d}/`)) ||
    /^(\.\.\/)+contracts\/[^/]+\/[^/]+\/index\.js$|^(\.\.\/)+contracts\/constitution\/index\.js$/.test(
      specifier,
    );
  for (const file of markdownFiles(ROOT)) {
    it(`${file}: snippets import only what an installed Treaty offers`, () => {
      for (const block of fencedBlocks(readFileSync(join(ROOT, file), "utf8"))) {
        for (const m of block.text.matchAll(/\bfrom "([^"]+)"/g)) {
          const specifier = m[1]!;
          const entry = specifier === "treaty" || specifier.startsWith("treaty/");
          assert.ok(
            entry
              ? Object.hasOwn(pkg.exports, `.${specifier.slice("treaty".length)}`)
              : importable(specifier),
            `${file}:${block.line}: imports ${specifier}, which a project with Treaty installed cannot`,
          );
        }
      }
    });
  }

  it("the snippet reader: regions in parts, dedented; blocks and markers", () => {
    const markdown = [
      "text",
      "<!-- snippet: examples/sdk-call.ts#readme -->",
      "```ts",
      "stale",
      "```",
      "```sh",
      "echo hi",
      "```",
      "",
    ].join("\n");
    const blocks = fencedBlocks(markdown);
    assert.deepEqual(
      blocks.map((b) => [b.lang, b.source, b.line, b.text]),
      [
        ["ts", "examples/sdk-call.ts#readme", 3, "stale\n"],
        ["sh", undefined, 6, "echo hi\n"],
      ],
    );
    const filled = fillSnippets(markdown, ROOT);
    assert.ok(filled.includes('import { Client, fromKeyFile, parseServiceFile } from "treaty/sdk";\n'));
    assert.ok(filled.endsWith("```\n```sh\necho hi\n```\n"));
    // docs/examples/governance.ts has its region in two parts, the second indented in a function.
    const governance = snippetSource(ROOT, "docs/examples/governance.ts#sdk");
    assert.match(governance, /^import \{ actions, Client/);
    assert.match(governance, /\n\nconst \{ serviceKey, nodes \} = parseServiceFile/);
    assert.throws(() => snippetSource(ROOT, "examples/sdk-call.ts#nope"), /no closed region "nope"/);
  });
});
