/**
 * A minimal reader/writer for etcd-style "datadriven" test files:
 *
 *     # comments and blank lines between cases are kept as they are
 *     command arg arg=value
 *     ----
 *     expected output lines
 *     (a blank line or the end of the file ends the output)
 *
 * Expected output never contains blank lines (the runner prints "ok" for no output).
 */
import { assert } from "../../sdk/assert.js";

/** One case: the command line, where it starts (1-based) and its expected output lines. */
export interface DataCase {
  readonly line: number;
  readonly command: string;
  readonly expected: readonly string[];
}

/** A parsed file: text between cases is kept so rewriting preserves comments. */
export interface DataFile {
  /** Alternating: `preamble[i]` precedes `cases[i]`; `preamble[cases.length]` is the tail. */
  readonly preamble: readonly string[][];
  readonly cases: readonly DataCase[];
}

/** Parses a datadriven file. Throws Error naming the line on a malformed case. */
export function parseDataFile(text: string): DataFile {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const preamble: string[][] = [[]];
  const cases: DataCase[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === "" || line.startsWith("#")) {
      preamble[preamble.length - 1]!.push(line);
      i++;
      continue;
    }
    const start = i + 1;
    if (lines[i + 1] !== "----")
      throw new Error(`line ${start}: expected "----" after the command "${line}"`);
    i += 2;
    const expected: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== "") expected.push(lines[i++]!);
    cases.push({ line: start, command: line, expected });
    preamble.push([]);
  }
  return { preamble, cases };
}

/** Renders a file with the given actual outputs in place of the expected ones. */
export function renderDataFile(file: DataFile, outputs: readonly (readonly string[])[]): string {
  assert(outputs.length === file.cases.length, "one output per case");
  const out: string[] = [];
  file.cases.forEach((c, i) => {
    out.push(...file.preamble[i]!);
    out.push(c.command, "----", ...outputs[i]!);
  });
  out.push(...file.preamble[file.cases.length]!);
  return `${out.join("\n")}\n`;
}
