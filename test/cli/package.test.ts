/**
 * The package as a contract developer gets it, from an empty folder: pack this build
 * (`npm pack`), install the tarball into an empty temp folder, `treaty init`, run the generated
 * tests (`npm test` = `treaty test`), `treaty contract build`, then deploy the contract to a
 * `treaty dev` network (propose, vote, call it) — with no other step. Prints the tarball's size
 * and file count. Needs npm and its cache (or the registry) for the dependencies.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/index.js";
import { type Run, run } from "../support/cli.js";

function ok(result: Run, what: string): string {
  assert.equal(result.code, 0, `${what} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

describe("the packed package, from an empty folder", () => {
  let root: string;
  let dev: ChildProcess | undefined;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "treaty-package-"));
  });
  after(async () => {
    if (dev !== undefined && dev.exitCode === null) {
      const exited = new Promise((resolve) => dev!.once("exit", resolve));
      dev.kill("SIGINT");
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
  });

  it("installs, scaffolds, tests, builds and deploys to a dev network with no other step", async (t) => {
    const packed = ok(
      await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", root], findPackageRoot()),
      "npm pack",
    );
    const [info] = JSON.parse(packed) as Array<{ filename: string; size: number; entryCount: number }>;
    const tarball = join(root, info!.filename);
    t.diagnostic(`tarball ${info!.filename}: ${statSync(tarball).size} bytes, ${info!.entryCount} files`);
    assert.ok(info!.entryCount < 600, "only what users need is shipped");

    const app = join(root, "app");
    mkdirSync(app);
    // `--prefix`: npm would otherwise install into the nearest parent folder that has a
    // package.json or node_modules (a stray one in the temp dir's parent), not into `app`.
    ok(
      await run(
        "npm",
        ["install", "--prefix", app, "--prefer-offline", "--no-audit", "--no-fund", tarball],
        app,
      ),
      "npm install",
    );
    const treaty = join(app, "node_modules", ".bin", "treaty");
    const init = JSON.parse(ok(await run(treaty, ["init", "."], app), "treaty init")) as {
      created: string[];
    };
    assert.ok(init.created.includes("contracts/registry/index.ts"));
    assert.deepEqual(readdirSync(join(app, "test")), ["registry.test.ts"]);

    const tested = ok(await run("npm", ["test"], app), "npm test");
    assert.match(tested, /# pass 2\n# fail 0/);

    const built = JSON.parse(
      ok(await run(treaty, ["contract", "build", "contracts/registry"], app), "build"),
    ) as {
      digest: string;
      methods: Record<string, unknown>;
    };
    assert.match(built.digest, /^[0-9a-f]{64}$/);
    assert.deepEqual(Object.keys(built.methods).sort(), ["history", "product", "register", "transfer"]);
    // What docs/contracts.md shows works from the installed package: treaty/compiler.
    const script = `import { compileContract } from "treaty/compiler";
      const r = compileContract("contracts/registry"); console.log(r.ok ? r.digest : "failed");`;
    const digest = ok(
      await run(process.execPath, ["--input-type=module", "-e", script], app),
      "treaty/compiler",
    );
    assert.equal(digest.trim(), built.digest);

    const port = await freePort();
    dev = spawn(treaty, ["dev", "--nodes", "1", "--port", String(port), "--workspace", "ws"], {
      cwd: app,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let devOut = "";
    await new Promise<void>((resolve, reject) => {
      dev!.stdout!.setEncoding("utf8").on("data", (c: string) => {
        devOut += c;
        if (devOut.includes("Press Ctrl-C to stop.")) resolve();
      });
      dev!.stderr!.setEncoding("utf8").on("data", (c: string) => {
        devOut += c;
      });
      dev!.once("exit", (code) => reject(new Error(`treaty dev exited (${code}):\n${devOut}`)));
    });
    // The SDK hint names a script of the installed package: it runs from the consumer project.
    const hint = /^ {2}node (\S+) (\S+) (\S+)$/m.exec(devOut);
    assert.ok(hint, devOut);
    assert.ok(hint[1]!.startsWith(join(app, "node_modules", "treaty")), hint[1]);
    ok(await run(process.execPath, [hint[1]!, hint[2]!, hint[3]!], app), "the dev hint's SDK example");
    const member = ["--key", "ws/member0.json", "--service", "ws/service.json"];
    const proposed = JSON.parse(
      ok(await run(treaty, ["deploy", "contracts/registry", ...member], app), "deploy"),
    ) as {
      proposalId: string;
    };
    const voted = JSON.parse(
      ok(await run(treaty, ["vote", proposed.proposalId, "--for", "--wait", ...member], app), "vote"),
    ) as { state: string };
    assert.equal(voted.state, "Accepted");
    const user = ["--key", "ws/user0.json", "--service", "ws/service.json"];
    const args = JSON.stringify({ id: "p1", name: "Pallet" });
    ok(
      await run(treaty, ["call", "registry", "register", "--args", args, "--wait", ...user], app),
      "register",
    );
    const read = JSON.parse(
      ok(
        await run(treaty, ["call", "registry", "product", "--args", '{"id": "p1"}', ...user], app),
        "product",
      ),
    ) as { result: { name: string; transfers: number } };
    assert.deepEqual([read.result.name, read.result.transfers], ["Pallet", 0]);
  });
});
