/**
 * Runs every governance scenario file (test/scenarios/governance/*.txt) and compares each
 * command's output with the expected output in the file. To accept new output after an intended
 * change:  TREATY_REWRITE_SCENARIOS=1 node --test <compiled>/test/gov/scenarios.test.js
 * then review the diff of the .txt files.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseDataFile, renderDataFile } from "../consensus/datadriven.js";
import { GovScenario } from "./scenario.js";

/** The source scenario directory, found from the compiled test's location (dist/ or .build/). */
function scenarioDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, "test", "scenarios", "governance");
    if (existsSync(join(dir, "package.json")) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error("test/scenarios/governance not found above the compiled test");
}

const dir = scenarioDir();
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".txt"))
  .sort();
const rewrite = process.env.TREATY_REWRITE_SCENARIOS === "1";

test("governance scenario files exist", () => {
  assert.ok(files.length >= 6, `expected scenario files in ${dir}`);
});

for (const name of files) {
  test(`governance scenario ${name}`, async () => {
    const path = join(dir, name);
    const file = parseDataFile(readFileSync(path, "utf8"));
    const runner = await GovScenario.create();
    const outputs: string[][] = [];
    try {
      for (const c of file.cases) {
        let output: string[];
        try {
          output = await runner.run(c.command);
        } catch (err) {
          throw new Error(`${name}:${c.line}: "${c.command}" threw: ${(err as Error).stack ?? String(err)}`);
        }
        outputs.push(output);
        if (!rewrite) {
          assert.deepEqual(output, c.expected, `${name}:${c.line}: output of "${c.command}" differs`);
        }
      }
    } finally {
      await runner.close();
    }
    if (rewrite) writeFileSync(path, renderDataFile(file, outputs));
  });
}
