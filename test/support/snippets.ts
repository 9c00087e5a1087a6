/**
 * Code snippets in README.md and docs/*.md are copies of real files that the build compiles and
 * tests run. A snippet is a fenced block right after a marker line naming its source:
 *
 *   <!-- snippet: examples/sdk-call.ts#readme -->
 *
 * `#name` selects the lines between `// #region name` and `// #endregion name` (dedented; a
 * region may come in several parts, joined by a blank line); without it the block is the whole
 * file. `test/docs/snippets.test.ts` checks every block
 * against its file; `node dist/test/support/snippets.js --write` (npm run docs:snippets)
 * copies the files into the Markdown.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";

/** One fenced block of a Markdown file. */
export interface Block {
  /** The language after the opening fence (`ts`, `sh`, ...), or "". */
  readonly lang: string;
  /** The text between the fences, each line ending in "\n". */
  readonly text: string;
  /** The file and region named by the marker line just above the fence, if any. */
  readonly source: string | undefined;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** Character offsets of `text` in the Markdown. */
  readonly start: number;
  readonly end: number;
}

const MARKER = /^<!-- snippet: (\S+) -->$/;
const FENCE = /^```(\S*)\s*$/;

/** The fenced blocks of `markdown` at the top level (fences at the line start). */
export function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  let offset = 0;
  let open: { lang: string; line: number; start: number; source: string | undefined } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const next = offset + line.length + 1;
    const fence = FENCE.exec(line);
    if (open === undefined && fence) {
      const marker = i > 0 ? MARKER.exec(lines[i - 1]!) : null;
      open = { lang: fence[1]!, line: i + 1, start: next, source: marker?.[1] };
    } else if (open !== undefined && line === "```") {
      blocks.push({ ...open, text: markdown.slice(open.start, offset), end: offset });
      open = undefined;
    }
    offset = next;
  }
  return blocks;
}

/**
 * The text a marker names: a whole file, or the parts of it between `// #region name` and
 * `// #endregion name` (each dedented; several parts are joined by a blank line).
 */
export function snippetSource(root: string, source: string): string {
  const [path, region] = source.split("#") as [string, string | undefined];
  const text = readFileSync(join(root, path), "utf8");
  if (region === undefined) return text;
  const parts: string[] = [];
  let body: string[] | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === `// #region ${region}`) body = [];
    else if (line.trim() === `// #endregion ${region}` && body !== undefined) {
      parts.push(dedent(body));
      body = undefined;
    } else body?.push(line);
  }
  if (parts.length === 0 || body !== undefined) throw new Error(`${path}: no closed region "${region}"`);
  return parts.join("\n");
}

function dedent(lines: readonly string[]): string {
  const indent = Math.min(
    ...lines.filter((l) => l.trim() !== "").map((l) => l.length - l.trimStart().length),
  );
  return lines.map((l) => `${l.slice(indent)}\n`).join("");
}

/** The Markdown files whose snippets are checked: README.md and docs/*.md. */
export function markdownFiles(root: string): string[] {
  return [
    "README.md",
    ...readdirSync(join(root, "docs"))
      .filter((f) => f.endsWith(".md"))
      .sort()
      .map((f) => `docs/${f}`),
  ];
}

/** `markdown` with every marked block replaced by its source's current text. */
export function fillSnippets(markdown: string, root: string): string {
  let out = "";
  let at = 0;
  for (const block of fencedBlocks(markdown)) {
    if (block.source === undefined) continue;
    out += markdown.slice(at, block.start) + snippetSource(root, block.source);
    at = block.end;
  }
  return out + markdown.slice(at);
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === "--write") {
  const root = findPackageRoot();
  for (const file of markdownFiles(root)) {
    const before = readFileSync(join(root, file), "utf8");
    const after = fillSnippets(before, root);
    if (after !== before) {
      writeFileSync(join(root, file), after);
      console.log(`updated ${file}`);
    }
  }
}
