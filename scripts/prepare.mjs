#!/usr/bin/env node
// `npm run prepare`: builds dist/ unless it is newer than every source file.
//
// npm runs `prepare` after `npm ci`, and again the first time `npx treaty` runs in a checkout:
// npm exec installs a local package that owns the requested bin into its npx cache (a link to
// this folder) to set up the bin link, and that install runs `prepare`. A full tsc build there
// kept the first `npx treaty ...` silent for 10-25 s; a build that is already current is skipped.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const SOURCES = [
  "runtime",
  "contracts",
  "node",
  "sdk",
  "console",
  "test",
  "bench",
  "examples",
  "docs/examples",
];
const CONFIG = ["tsconfig.json", "package.json", "package-lock.json"];
const STAMP = "dist/node/cli.js";

function newestMtimeMs(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return path.endsWith(".ts") || CONFIG.includes(path) ? stat.mtimeMs : 0;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtimeMs(join(path, name))));
}

const builtMs = existsSync(STAMP) ? statSync(STAMP).mtimeMs : 0;
const sourcesMs = Math.max(...[...SOURCES, ...CONFIG].map(newestMtimeMs));
if (builtMs > sourcesMs) {
  console.log("treaty: dist/ is newer than the sources; skipping the build (npm run build forces it)");
} else {
  const npm = process.env.npm_execpath;
  const result = npm
    ? spawnSync(process.execPath, [npm, "run", "build"], { stdio: "inherit" })
    : spawnSync("npm", ["run", "build"], { stdio: "inherit" });
  process.exit(result.status ?? 1);
}
