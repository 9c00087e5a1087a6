/**
 * `treaty init` and `treaty test` against this build (the package linked into the project's
 * node_modules, as npm would install it): the scaffold passes at once, keeps existing files, and
 * `treaty test` fails for a type error, a sandbox rule and a failing test.
 */
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/index.js";
import { treatyIn } from "../support/cli.js";

describe("treaty init and treaty test", () => {
  let root: string;
  let app: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "treaty-init-"));
    app = join(root, "app");
    mkdirSync(join(app, "node_modules"), { recursive: true });
    symlinkSync(findPackageRoot(), join(app, "node_modules", "treaty"), "dir");
    writeFileSync(
      join(app, "package.json"),
      `${JSON.stringify({ name: "mine", scripts: { test: "my-runner" }, dependencies: { treaty: "0.1.0" } })}\n`,
    );
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("scaffolds a project whose tests pass, keeping what exists", async () => {
    const first = await treatyIn(root, "init", "app");
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout) as { created: string[]; kept: string[] };
    assert.deepEqual(report.created, [
      "contracts/registry/index.ts",
      "test/registry.test.ts",
      "tsconfig.json",
      ".gitignore",
      "README.md",
    ]);
    assert.deepEqual(report.kept, ["package.json"]);
    const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8")) as Record<string, unknown>;
    assert.deepEqual(manifest, {
      name: "mine",
      scripts: { test: "my-runner", build: "treaty contract build contracts/registry" },
      dependencies: { treaty: "0.1.0" },
      type: "module",
    });
    const again = JSON.parse((await treatyIn(app, "init")).stdout) as { created: string[]; kept: string[] };
    assert.deepEqual(again.created, []);
    assert.equal(again.kept.length, 6);

    const tested = await treatyIn(app, "test");
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /# pass 2\n# fail 0/);
  });

  it("an existing package.json without treaty gains it as a dev dependency, and its type is kept", async () => {
    const other = join(root, "other");
    mkdirSync(other);
    const given = { name: "other", type: "commonjs", devDependencies: { typescript: "5" } };
    writeFileSync(join(other, "package.json"), `${JSON.stringify(given)}\n`);
    const init = await treatyIn(other, "init");
    assert.equal(init.code, 0, init.stderr);
    const version = (
      JSON.parse(readFileSync(join(findPackageRoot(), "package.json"), "utf8")) as { version: string }
    ).version;
    assert.deepEqual(JSON.parse(readFileSync(join(other, "package.json"), "utf8")), {
      name: "other",
      type: "commonjs",
      devDependencies: { typescript: "5", treaty: `^${version}` },
      scripts: { test: "treaty test", build: "treaty contract build contracts/registry" },
    });
  });

  it("npm init's placeholder test script is replaced, so the npm test init prints next runs treaty test", async () => {
    const fresh = join(root, "npm-init");
    mkdirSync(join(fresh, "node_modules"), { recursive: true });
    symlinkSync(findPackageRoot(), join(fresh, "node_modules", "treaty"), "dir");
    // What `npm init -y` writes (npm 11), with a script of the user's own beside it.
    const given = {
      name: "npm-init",
      version: "1.0.0",
      main: "index.js",
      scripts: { test: 'echo "Error: no test specified" && exit 1', lint: "biome check ." },
      type: "commonjs",
    };
    writeFileSync(join(fresh, "package.json"), `${JSON.stringify(given, null, 2)}\n`);
    const init = await treatyIn(fresh, "init");
    assert.equal(init.code, 0, init.stderr);
    const manifest = JSON.parse(readFileSync(join(fresh, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    assert.deepEqual(manifest.scripts, {
      test: "treaty test",
      build: "treaty contract build contracts/registry",
      lint: "biome check .",
    });
    const tested = await treatyIn(fresh, "test");
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /# pass 2\n# fail 0/);
  });

  it("a package.json whose scripts or devDependencies is not an object is refused, not spread", async () => {
    const odd = join(root, "odd");
    mkdirSync(odd);
    writeFileSync(join(odd, "package.json"), `${JSON.stringify({ name: "odd", scripts: "test" })}\n`);
    const init = await treatyIn(odd, "init");
    assert.equal(init.code, 2, init.stdout + init.stderr);
    assert.match(init.stderr, /"scripts" must be an object/);
    assert.deepEqual(JSON.parse(readFileSync(join(odd, "package.json"), "utf8")), {
      name: "odd",
      scripts: "test",
    });
    assert.deepEqual(readdirSync(odd), ["package.json"]); // nothing written beside it
    writeFileSync(join(odd, "package.json"), `${JSON.stringify({ name: "odd", devDependencies: ["x"] })}\n`);
    const dev = await treatyIn(odd, "init");
    assert.equal(dev.code, 2, dev.stdout + dev.stderr);
    assert.match(dev.stderr, /"devDependencies" must be an object/);
  });

  it("a dangling symlink at a file's name is kept, not written through", async () => {
    const linked = join(root, "linked");
    mkdirSync(linked);
    const outside = join(root, "outside-target.txt");
    symlinkSync(outside, join(linked, "README.md"));
    const init = await treatyIn(linked, "init");
    assert.equal(init.code, 0, init.stderr);
    assert.ok((JSON.parse(init.stdout) as { kept: string[] }).kept.includes("README.md"));
    assert.equal(existsSync(outside), false, "nothing written where the link points");
  });

  it("treaty test --project DIR runs there, and passes the flags after -- to node --test", async () => {
    const filtered = await treatyIn(root, "test", "--project", "app", "--", "--test-name-pattern=refuses");
    assert.equal(filtered.code, 0, filtered.stdout + filtered.stderr);
    assert.match(filtered.stdout, /# pass 1\n# fail 0/);
  });

  it("fails for a type error, a sandbox rule and a failing test, saying where", async () => {
    const contract = join(app, "contracts", "registry", "index.ts");
    const testFile = join(app, "test", "registry.test.ts");
    const source = readFileSync(contract, "utf8");
    const tests = readFileSync(testFile, "utf8");

    writeFileSync(testFile, tests.replace('{ id: "p1", name: "Pallet" }', '{ id: "p1", nam: "Pallet" }'));
    const typeError = await treatyIn(app, "test");
    assert.equal(typeError.code, 1);
    assert.match(
      typeError.stderr,
      /test\/registry\.test\.ts\(\d+,\d+\): error TS2561: .*'nam' does not exist/,
    );
    assert.equal(typeError.stderr.split("\n").filter((l) => l.includes("TS2561")).length, 1);
    writeFileSync(testFile, tests);

    writeFileSync(contract, source.replace("atMs: now()", "atMs: Date.now()"));
    const sandbox = await treatyIn(app, "test");
    assert.equal(sandbox.code, 1);
    assert.match(
      sandbox.stderr,
      /^contracts\/registry\/index\.ts:\d+:\d+ Date is not available in contracts .*use now\(\)/m,
    );
    writeFileSync(contract, source);

    writeFileSync(testFile, tests.replace('"1:acme->shipper"', '"1:acme->nobody"'));
    const failing = await treatyIn(app, "test");
    assert.equal(failing.code, 1);
    assert.match(failing.stdout, /# fail 1/);
    writeFileSync(testFile, tests);
  });
});
