/**
 * Every `treaty ...` command that README.md and docs/*.md show (in shell blocks and inline code)
 * is a real command or command group, and every `--flag` it uses appears in that command's
 * `--help`: the docs cannot drift from the CLI.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import type { Command } from "../../node/cli/command.js";
import { COMMANDS } from "../../node/cli/commands.js";
import { commandGroups } from "../../node/cli/help.js";
import { PROJECT_FILES } from "../../node/init/templates.js";
import { fencedBlocks, markdownFiles } from "../support/snippets.js";

const ROOT = findPackageRoot();
const SHELL = new Set(["sh", "bash", "shell"]);

/** The command texts of a Markdown file: shell lines (comments and pipes cut) and inline code. */
function mentions(markdown: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  const blocks = fencedBlocks(markdown);
  for (const block of blocks.filter((b) => SHELL.has(b.lang))) {
    block.text
      .replace(/\\\n\s*/g, " ")
      .split("\n")
      .forEach((text, i) => {
        out.push({ line: block.line + 1 + i, text: text.replace(/(^|\s)#.*$/, "").split("|")[0]! });
      });
  }
  const lines = markdown.split("\n");
  const inBlock = (n: number) => blocks.some((b) => n > b.line && n <= b.line + b.text.split("\n").length);
  lines.forEach((text, i) => {
    if (inBlock(i + 1)) return;
    for (const span of text.matchAll(/`([^`]+)`/g)) out.push({ line: i + 1, text: span[1]! });
  });
  return out;
}

/** The longest command or group whose words start `words`. */
function resolve(words: readonly string[]): { command?: Command; group?: string[] } {
  let command: Command | undefined;
  for (const c of COMMANDS)
    if (c.path.every((w, i) => words[i] === w) && (!command || c.path.length > command.path.length))
      command = c;
  if (command) return { command };
  const group = commandGroups(COMMANDS).find((g) => g.every((w, i) => words[i] === w));
  return group ? { group } : {};
}

/** Checks every treaty command of `markdown` (named `file` in failures); returns how many it saw. */
function checkMentions(file: string, markdown: string): number {
  let seen = 0;
  for (const { line, text } of mentions(markdown)) {
    for (const match of text.matchAll(
      /(?<![\w/.-])treaty ((?:[a-z][\w-]*\s*)+)(.*?)(?=(?<![\w/.-])treaty |$)/g,
    )) {
      const words = match[1]!.trim().split(/\s+/);
      const { command, group } = resolve(words);
      assert.ok(command || group, `${file}:${line}: "treaty ${words.join(" ")}" is not a command`);
      seen++;
      if (!command) continue;
      for (const flag of match[0].matchAll(/(?<![\w-])--[a-z][a-z-]*/g)) {
        assert.ok(
          new RegExp(`${flag[0]}(?![a-z-])`).test(command.usage),
          `${file}:${line}: treaty ${command.path.join(" ")} has no ${flag[0]}`,
        );
      }
    }
  }
  return seen;
}

describe("treaty commands in the docs", () => {
  for (const file of markdownFiles(ROOT)) {
    it(`${file}: every treaty command exists and takes the flags shown`, () => {
      const seen = checkMentions(file, readFileSync(join(ROOT, file), "utf8"));
      if (file === "README.md") assert.ok(seen >= 8, `only ${seen} commands found`);
    });
  }

  it("the README treaty init writes: every treaty command exists and takes the flags shown", () => {
    const readme = PROJECT_FILES["README.md"]!;
    assert.ok(checkMentions("treaty init's README.md", readme) >= 6);
    // A deploy is a proposal: it stays Open until member0 votes for it, so the README must say so.
    const deploy = readme.indexOf("npx treaty deploy ");
    assert.ok(deploy >= 0 && readme.indexOf("npx treaty vote ", deploy) > deploy, "deploy, then vote");
    assert.ok(readme.indexOf("npx treaty call registry ", deploy) > deploy, "then a call");
  });
});
