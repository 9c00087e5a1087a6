/**
 * A node whose KV data file (`<dataDir>/kv/data.mdb`, opened by the execution worker) is spoiled
 * on disk fails its start with `LedgerCorrupt` naming the file, and the process exits by itself:
 * no SIGSEGV inside LMDB, no thread left running. Each case starts a node in a child process
 * (failed-start-child.ts) on a copy of a stopped node's data folder. Without the start-up check
 * (runtime/lmdb-check.ts) these children die of SIGSEGV or SIGBUS.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startTestNode, type TestNode } from "../support/node.js";

const CHILD = fileURLToPath(new URL("./failed-start-child.js", import.meta.url));
/** How long a child may take to start, fail and exit before it counts as hung (a bound, not a measurement). */
const EXIT_BOUND_MS = 60_000;

interface ChildResult {
  readonly outcome: { code?: string; message?: string; started?: boolean } | undefined;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

function runChild(configPath: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, configPath], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const bound = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`the child did not exit within ${EXIT_BOUND_MS} ms: ${stdout.trim()} ${stderr.trim()}`),
      );
    }, EXIT_BOUND_MS);
    child.on("error", (err) => {
      clearTimeout(bound);
      reject(err);
    });
    child.on("exit", (exitCode, signal) => {
      clearTimeout(bound);
      const line = stdout.trim().split("\n").at(-1);
      resolve({
        outcome: line ? (JSON.parse(line) as ChildResult["outcome"]) : undefined,
        exitCode,
        signal,
        stderr,
      });
    });
  });
}

describe("a node whose KV data file is spoiled fails its start with LedgerCorrupt and exits", () => {
  let net: TestNode;

  before(async () => {
    net = await startTestNode();
    await net.client().call("log", "writePrivate", { id: 1, msg: "some state" });
    await net.settled();
    await net.stop();
  });

  after(async () => {
    await net?.dispose();
  });

  /** A copy of the stopped node's data folder, its KV data file, and a config that starts a node on it. */
  function copyOf(name: string): { file: string; configPath: string } {
    const dataDir = join(net.dir, name);
    cpSync(net.dataDir, dataDir, { recursive: true });
    const configPath = join(net.dir, `${name}.json`);
    writeFileSync(
      configPath,
      JSON.stringify({
        dataDir,
        sealing: { provider: "virtual", keyFile: join(net.dir, "sealing.key") },
        http: { host: "127.0.0.1", port: 0, tls: false },
        logLevel: "error",
      }),
    );
    return { file: join(dataDir, "kv", "data.mdb"), configPath };
  }

  function assertRefused(result: ChildResult, file: string, fault: RegExp): void {
    assert.equal(result.signal, null, `the child died of ${result.signal}: ${result.stderr}`);
    assert.equal(result.outcome?.started, undefined, "the start was expected to fail");
    assert.equal(result.outcome?.code, "LedgerCorrupt", `${JSON.stringify(result.outcome)} ${result.stderr}`);
    assert.ok(result.outcome?.message?.includes(`LMDB file ${file}: `), result.outcome?.message);
    assert.match(result.outcome?.message ?? "", fault);
    assert.equal(result.exitCode, 0, result.stderr);
  }

  it("starts on an unspoiled copy", async () => {
    const { configPath } = copyOf("intact");
    const result = await runChild(configPath);
    assert.deepEqual(result.outcome, { started: true }, result.stderr);
    assert.equal(result.exitCode, 0, result.stderr);
  });

  it("a data file of garbage", async () => {
    const { file, configPath } = copyOf("garbage");
    const junk = Buffer.alloc(statSync(file).size);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + 7) % 251;
    writeFileSync(file, junk);
    assertRefused(await runChild(configPath), file, /meta page 0: (not a meta page|bad magic)/);
  });

  it("a data file cut to half its length", async () => {
    const { file, configPath } = copyOf("half");
    truncateSync(file, Math.floor(statSync(file).size / 8192) * 4096);
    assertRefused(await runChild(configPath), file, /past the end of the file/);
  });

  it("meta page 1 overwritten", async () => {
    const { file, configPath } = copyOf("meta1");
    const data = readFileSync(file);
    const pageSize = data.readUInt32LE(48);
    data.fill(0xa5, pageSize, pageSize + 200);
    writeFileSync(file, data);
    assertRefused(await runChild(configPath), file, /meta page 1: not a meta page/);
  });
});
