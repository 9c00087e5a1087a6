/**
 * A genesis node never loads TypeScript on its main thread: genesis compiles the initial
 * contracts and the default constitution in a compiler thread (node/gov/compiler-thread.ts), as
 * deploys do, so the compiler (~15 MB of live heap, its source text alone 9 MB) does not stay in
 * the heap that every major GC of the node marks. Each case runs genesis-compile-child.ts in a
 * child process, which reports the `typescript` files in its main thread's module cache.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, mock } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { GENESIS_COMPILE_IDLE_MS, type GenesisInput, genesisTransaction } from "../../node/genesis.js";
import { CompilerThread } from "../../node/gov/compiler-thread.js";
import { GOV, tableKey, tableValue } from "../../node/gov/tables.js";
import { isTreatyError } from "../../sdk/errors.js";
import { fixtureFiles } from "../gov/fixtures.js";

const CHILD = fileURLToPath(new URL("./genesis-compile-child.js", import.meta.url));

interface ChildReport {
  readonly typescript: readonly string[];
  readonly answered: boolean;
}

async function runChild(mode: string): Promise<ChildReport> {
  const { stdout } = await promisify(execFile)(process.execPath, [CHILD, mode], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as ChildReport;
}

describe("genesis compiles off the main thread", () => {
  it("the check sees TypeScript when the main thread loads the compiler", async () => {
    const report = await runChild("load-compiler");
    assert.ok(report.typescript.length > 0, "the module cache check did not see TypeScript");
  });

  it("a genesis node serves its genesis contracts with TypeScript never loaded on its main thread", async () => {
    const report = await runChild("genesis");
    assert.equal(report.answered, true);
    assert.deepEqual(report.typescript, []);
  });
});

describe("genesisTransaction's compile", () => {
  /** A genesis input deploying the one contract `name`, whose folder holds `files`. */
  function withContract(dir: string, name: string, files: Record<string, string>): GenesisInput {
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
    return {
      genesis: {
        members: [],
        users: [],
        contracts: [{ name, path: dir }],
        open: true,
        autoTrustNodes: false,
      },
      nodeId: "n0",
      nodePublicKey: new Uint8Array(32),
      serviceKey: new Uint8Array(32),
      measurement: "m",
      nodeUrl: "https://127.0.0.1:1",
      timeMs: 0,
    };
  }

  it("writes the code that `compile` returns for each contract and the constitution", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-genesis-"));
    try {
      const input = withContract(dir, "counter", fixtureFiles("counter-v1"));
      const compiled: string[] = [];
      const tx = await genesisTransaction(input, async (files) => {
        compiled.push(Object.keys(files).join(","));
        return { digest: `digest-${compiled.length}`, bundle: `bundle-${compiled.length}` };
      });
      assert.equal(compiled.length, 2, "one contract, then the constitution");
      const contracts = tx.writeSet.public.find((m) => m.map === GOV.contracts)!;
      assert.deepEqual(contracts.writes, [
        [
          tableKey("counter"),
          tableValue({
            version: 1,
            digest: "digest-1",
            bundle: "bundle-1",
            source: fixtureFiles("counter-v1"),
          }),
        ],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps compiled code for a genesis that follows, and releases it a minute after its last use", async () => {
    // A process that runs several geneses (tests) compiles each source once; a genesis node,
    // which runs one, keeps none of it for its life. Compiles counted at the compiler thread;
    // setTimeout on node:test's fake clock (the compiler thread's own deadline timers too).
    const dir = mkdtempSync(join(tmpdir(), "treaty-genesis-"));
    const compile = CompilerThread.prototype.compile;
    let compiles = 0;
    CompilerThread.prototype.compile = function (this: CompilerThread, ...args) {
      compiles++;
      return compile.apply(this, args);
    };
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      const input = withContract(dir, "cached", fixtureFiles("counter-v2"));
      const first = await genesisTransaction(input);
      assert.equal(compiles, 2, "the contract and the constitution");
      assert.deepEqual(await genesisTransaction(input), first);
      assert.equal(compiles, 2, "the next genesis is answered from the cache");
      mock.timers.tick(GENESIS_COMPILE_IDLE_MS - 1);
      await genesisTransaction(input);
      assert.equal(compiles, 2, "still cached; that use keeps it another minute");
      mock.timers.tick(GENESIS_COMPILE_IDLE_MS - 1);
      await genesisTransaction(input);
      assert.equal(compiles, 2);
      mock.timers.tick(GENESIS_COMPILE_IDLE_MS);
      assert.deepEqual(await genesisTransaction(input), first, "compiled again, the same code");
      assert.equal(compiles, 4, "released a minute after its last use: compiled again");
    } finally {
      mock.timers.reset();
      CompilerThread.prototype.compile = compile;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a contract that does not compile fails genesis with CompileError and its diagnostics", async () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-genesis-"));
    try {
      const input = withContract(dir, "broken", fixtureFiles("broken"));
      await assert.rejects(genesisTransaction(input), (err: unknown) => {
        assert.ok(isTreatyError(err) && err.code === "CompileError", String(err));
        assert.match(err.message, /not assignable to type 'number'/);
        assert.ok(Array.isArray(err.details?.diagnostics));
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
