/**
 * A node start that fails leaves nothing running: no worker thread (verify pool, execution
 * worker) and no handle (HTTP server, timers), so the process that tried can exit. Each case
 * starts a node in a child process (failed-start-child.ts) on a copy of a real data folder spoiled
 * in one way, and requires the start to fail with the expected code and the child to exit by
 * itself (a spoiled KV data file included: LedgerCorrupt, not a crash inside LMDB). A child
 * still alive after `EXIT_BOUND_MS` (a bound for a loaded machine, not a
 * measurement) is killed and fails the test: that is what a leaked thread looks like (commit
 * 37859db: memory-rejoin's restart threw inside TreatyNode's constructor after the verify pool
 * had started, and the test process never exited).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { copyOfTestNode, startTestNode, type TestNode } from "../support/node.js";

const CHILD = fileURLToPath(new URL("./failed-start-child.js", import.meta.url));
/** How long a child may take to start, fail and exit before it counts as hung. */
const EXIT_BOUND_MS = 60_000;

interface ChildResult {
  /** The child's JSON line: the start's error `{code, message}`, or `{started: true}`. */
  readonly outcome: { code?: string; message?: string; started?: boolean } | undefined;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/**
 * Runs the child on `configPath`; resolves when it exits. Fails the test when it is still running
 * after EXIT_BOUND_MS (it is killed first: nothing started here is left behind).
 */
function runChild(configPath: string, mode?: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, configPath, ...(mode !== undefined ? [mode] : [])], {
      stdio: ["ignore", "pipe", "pipe"],
    });
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
        new Error(
          `the child did not exit within ${EXIT_BOUND_MS} ms of starting (a worker thread or handle left running by the failed start); its output: ${stdout.trim()} ${stderr.trim()}`,
        ),
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

describe("a node start that fails leaves no thread or handle running", () => {
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

  /** A copy of the stopped node's data folder, and a config file that starts a node on it. */
  const copyOf = (name: string) => copyOfTestNode(net, name);

  function assertFailedAndExited(result: ChildResult, code: string, message: RegExp): void {
    assert.equal(result.outcome?.started, undefined, "the start was expected to fail");
    assert.equal(result.outcome?.code, code, `error: ${JSON.stringify(result.outcome)} ${result.stderr}`);
    assert.match(result.outcome?.message ?? "", message);
    assert.equal(result.signal, null);
    assert.equal(result.exitCode, 0, result.stderr);
  }

  it("starts on an unspoiled copy (the cases below fail for their own reason)", async () => {
    // The child stops a node that did start: it exits too, and says so.
    const { configPath } = copyOf("intact");
    const result = await runChild(configPath);
    assert.deepEqual(result.outcome, { started: true }, result.stderr);
    assert.equal(result.exitCode, 0, result.stderr);
  });

  it("a hard state behind its ledger: LedgerCorrupt inside TreatyNode's constructor", async () => {
    // View 0 with the commit point at the end: the base (the last signature, in view >= 1) is in
    // a view the hard state never reached, which ConsensusNode refuses while the node is built.
    const { dataDir, configPath } = copyOf("hard-state");
    writeFileSync(
      join(dataDir, "consensus.json"),
      JSON.stringify({ view: 0, votedFor: null, commitSeqno: Number.MAX_SAFE_INTEGER }),
    );
    const result = await runChild(configPath);
    // The message names both views, so a log says which side is off.
    assertFailedAndExited(result, "LedgerCorrupt", /\(base [1-9]\d*\.\d+, hard state view 0\)/);
  });

  it("no node-to-node transport: #open fails after the execution worker started", async () => {
    const { configPath } = copyOf("transport");
    const result = await runChild(configPath, "no-transport");
    assertFailedAndExited(result, "Unavailable", /test: no transport/);
  });

  it("a failure inside #serve, after its tick and signature timers started: they are cleared", async () => {
    const { configPath } = copyOf("serve");
    const result = await runChild(configPath, "serve-fails");
    assertFailedAndExited(result, "Internal", /test: the event feed does not start/);
  });

  it("a corrupt ledger base: LedgerCorrupt from the ledger's open, after the HTTP server started", async () => {
    const { dataDir, configPath } = copyOf("ledger-base");
    writeFileSync(join(dataDir, "ledger", "ledger.base"), "not a seqno");
    const result = await runChild(configPath);
    assertFailedAndExited(result, "LedgerCorrupt", /ledger\.base/);
  });

  describe("a spoiled KV data file (kv/data.mdb, opened by the execution worker)", () => {
    // runtime/lmdb-check.ts refuses it before LMDB maps it: without that check these children
    // die of SIGSEGV or SIGBUS inside LMDB.
    function spoiled(name: string, spoil: (file: string) => void): { file: string; configPath: string } {
      const { dataDir, configPath } = copyOf(name);
      const file = join(dataDir, "kv", "data.mdb");
      spoil(file);
      return { file, configPath };
    }
    function assertRefused(result: ChildResult, file: string, fault: RegExp): void {
      assertFailedAndExited(result, "LedgerCorrupt", fault);
      assert.ok(result.outcome?.message?.includes(`LMDB file ${file}: `), result.outcome?.message);
    }

    it("garbage: LedgerCorrupt naming the file", async () => {
      const { file, configPath } = spoiled("kv-garbage", (file) => {
        const junk = Buffer.alloc(statSync(file).size);
        for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + 7) % 251;
        writeFileSync(file, junk);
      });
      assertRefused(await runChild(configPath), file, /meta page 0: (not a meta page|bad magic)/);
    });

    it("cut to half its length: LedgerCorrupt naming the file", async () => {
      const { file, configPath } = spoiled("kv-half", (file) =>
        truncateSync(file, Math.floor(statSync(file).size / 8192) * 4096),
      );
      assertRefused(await runChild(configPath), file, /past the end of the file/);
    });

    it("meta page 1 overwritten (LMDB itself never checks it): LedgerCorrupt naming the file", async () => {
      const { file, configPath } = spoiled("kv-meta1", (file) => {
        const data = readFileSync(file);
        const pageSize = data.readUInt32LE(48);
        data.fill(0xa5, pageSize, pageSize + 200);
        writeFileSync(file, data);
      });
      assertRefused(await runChild(configPath), file, /meta page 1: not a meta page/);
    });
  });
});
