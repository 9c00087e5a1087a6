/**
 * The trust boundary for code: contract, constitution and proposal code runs only in the QuickJS
 * sandbox on a node and in the CLI. node:vm is no boundary (the describe-escape fixture shows
 * it), so only the plain-Node stand-in `treaty/testing` (an author running their own contract
 * on their own machine) may use it.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadBundle } from "../../contracts/testing/index.js";
import { readContractFolder } from "../../node/gov/contract-folder.js";
import { compileContract, findPackageRoot } from "../../runtime/compiler/index.js";
import { ContractRuntime } from "../../runtime/executor/runtime.js";
import { isTreatyError } from "../../sdk/errors.js";

const root = findPackageRoot();
const VM_IMPORT =
  /from\s+["'](node:)?vm["']|import\(\s*["'](node:)?vm["']\s*\)|require\(\s*["'](node:)?vm["']\s*\)/;

/** The .ts files under `dir` (relative to the package root, with `/`). */
function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) out.push(relative(root, path).split(sep).join("/"));
    }
  };
  walk(join(root, dir));
  return out;
}

describe("code runs only in the sandbox", () => {
  it("nothing but treaty/testing imports node:vm", () => {
    const importers = ["runtime", "node", "sdk", "contracts", "bench"]
      .flatMap(sources)
      .filter((file) => VM_IMPORT.test(readFileSync(join(root, file), "utf8")));
    assert.deepEqual(importers, ["contracts/testing/vm.ts"]);
  });

  describe("the describe-escape fixture", () => {
    let dir: string;
    let marker: string;
    let bundle: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "treaty-boundary-"));
      marker = join(dir, "escaped.txt");
      const files = readContractFolder(join(root, "test", "fixtures", "contracts", "describe-escape"));
      for (const [path, text] of Object.entries(files)) files[path] = text.replaceAll("MARKER_PATH", marker);
      const compiled = compileContract({ files });
      assert.ok(compiled.ok);
      bundle = compiled.bundle;
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("cannot escape the sandbox: loading it is refused and nothing is written", async () => {
      const runtime = await ContractRuntime.create({ spareInstances: 1 });
      try {
        assert.throws(
          () => runtime.inspect(bundle, "contract"),
          (err: unknown) =>
            isTreatyError(err, "InvalidContract") && /escape blocked/.test((err as Error).message),
        );
        // inspect keeps its QuickJS instance for the next inspection; load takes a spare: wait
        // for the pool to refill.
        await runtime.ready();
        assert.throws(
          () => runtime.load("escape", bundle),
          (err: unknown) => isTreatyError(err, "InvalidContract"),
        );
      } finally {
        runtime.dispose();
      }
      assert.equal(existsSync(marker), false);
    });

    // Why node:vm may never read a manifest on a node: the same bundle reaches `process` there.
    it("does escape node:vm (the stand-in, which is no boundary)", () => {
      try {
        loadBundle(bundle).describe();
      } catch {
        // the stand-in reports the host call describe() made; the escape already happened
      }
      assert.equal(existsSync(marker), true);
    });
  });
});
