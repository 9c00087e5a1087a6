#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with Node's test runner.
// Usage: node scripts/run-tests.mjs [filter...]   (filters match substrings of the path)
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return find(path);
    return name.endsWith(".test.js") ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = find("dist/test")
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error("no test files found (did the build run?)");
  process.exit(1);
}
// On a terminal, Node's spec reporter (it lists the failures again at the end). Elsewhere TAP as
// the run goes, then every failure again (scripts/failure-summary.mjs): a CI log that keeps only
// its tail still names what failed.
const summary = fileURLToPath(new URL("failure-summary.mjs", import.meta.url));
const reporters = process.stdout.isTTY
  ? ["--test-reporter=spec"]
  : [
      "--test-reporter=tap",
      "--test-reporter-destination=stdout",
      `--test-reporter=${summary}`,
      "--test-reporter-destination=stdout",
    ];
const result = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...reporters, ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
