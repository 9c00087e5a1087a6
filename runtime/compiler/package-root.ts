/**
 * Finds the installed `treaty` package, whose contracts/api TypeScript sources the compiler
 * type-checks contracts against and compiles into every bundle. Works from the source tree,
 * from dist/ and from .build/<dir>/, and from node_modules/treaty when installed.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TreatyError } from "../../sdk/errors.js";

/**
 * The directory of the nearest package.json named "treaty" above `fromUrl` (default: this
 * module). Throws TreatyError(Internal) when there is none (a broken install).
 */
export function findPackageRoot(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate) && packageName(candidate) === "treaty") return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new TreatyError("Internal", `no package.json named "treaty" above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
}

function packageName(path: string): unknown {
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { name?: unknown }).name;
  } catch {
    return undefined;
  }
}
