/**
 * A node whose KV file is damaged below its root pages (which the start-up check does not read)
 * starts and serves; the first call whose read meets the damaged page must not get lmdb-js's raw
 * error nor crash the process: the read fails `LedgerCorrupt` naming the file, and the node
 * fail-stops, logging why (`stored state is damaged: stopping`) and exiting with status 74
 * (docs/deploy.md, "Damaged LMDB files").
 *
 * The node runs as `treaty node start` in a child process, on a copy of a real node's data folder
 * whose `kv.state` leaf pages holding the `log` contract's public messages were read from the
 * file; one of them (past the first, so no scan at start reaches it) is zeroed: a point read of a
 * row on it is LMDB's MDB_CORRUPTED.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { EXIT_STATE_DAMAGED } from "../../node/main.js";
import { Client } from "../../sdk/client.js";
import { lmdbPages } from "../support/lmdb-pages.js";
import { copyOfTestNode, startTestNode, type TestNode } from "../support/node.js";
import { until } from "../support/poll.js";

const CLI = fileURLToPath(new URL("../../node/cli.js", import.meta.url));
/** Rows of the log contract's public map: several leaf pages of messages of 300 bytes. */
const ROWS = 150;
const MESSAGES_MAP = "public:log.messages";

describe("KV damage met while serving: LedgerCorrupt, and the node fail-stops", () => {
  let net: TestNode;
  let child: ChildProcess | undefined;

  before(async () => {
    net = await startTestNode();
    const client = net.client();
    let txid = "";
    for (let id = 0; id < ROWS; id += 15) {
      const answers = await Promise.all(
        Array.from({ length: 15 }, (_, j) =>
          client.call("log", "writePublic", { id: id + j, msg: "m".repeat(300) }),
        ),
      );
      txid = answers.at(-1)!.txid;
    }
    await client.waitForCommit(txid);
    await net.settled();
    await net.stop();
  });

  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await net?.dispose();
  });

  it("the read that meets the damaged page fails LedgerCorrupt naming the file; the node logs it and exits 74", async () => {
    const { dataDir, configPath } = copyOfTestNode(net, "damaged", "info");
    const file = join(dataDir, "kv", "data.mdb");
    const pages = lmdbPages(file);
    const messageLeaves = pages.leaves(pages.namedRoot("kv.state")).filter((leaf) => {
      for (let i = 0; i < pages.count(leaf); i++) {
        const key = pages.node(leaf, i).key;
        if (key.subarray(0, key.indexOf(0)).toString("utf8") !== MESSAGES_MAP) return false;
      }
      return true;
    });
    assert.ok(messageLeaves.length >= 2, `leaves holding messages only: ${messageLeaves.length}`);
    const leaf = messageLeaves[1]!;
    pages.data.fill(0, leaf * pages.pageSize, (leaf + 1) * pages.pageSize);
    writeFileSync(file, pages.data);

    const started = spawn(process.execPath, [CLI, "node", "start", "--config", configPath], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child = started;
    const lines: Array<Record<string, unknown>> = [];
    let stderr = "";
    started.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      const complete = stderr.split("\n");
      stderr = complete.pop()!;
      for (const line of complete) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          lines.push({ text: line });
        }
      }
    });
    const exited = new Promise<number | null>((resolve) => started.on("exit", (code) => resolve(code)));
    const context = () => lines.map((l) => JSON.stringify(l)).join("\n");
    const serving = await until("the node to serve", () => {
      assert.equal(started.exitCode, null, `the node exited: ${context()}`);
      return lines.find((l) => l.msg === "node serving");
    });
    // It serves calls once it has elected itself (a lone voter) and caught up.
    await until("the node to answer calls", async () => {
      const status = (await (await fetch(`${String(serving.url)}/node/status`)).json()) as { phase?: string };
      return status.phase === "serving";
    });
    const client = new Client({
      nodes: [String(serving.url)],
      serviceKey: net.serviceKey,
      key: net.user,
      retries: 1,
    });

    // Every row before the damaged page reads; the first on it fails, and no later call runs.
    let refused: unknown;
    let read = 0;
    for (let id = 0; id < ROWS && refused === undefined; id++) {
      try {
        const { result } = await client.call("log", "readPublic", { id });
        assert.deepEqual(result, { msg: "m".repeat(300) });
        read++;
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused !== undefined, "no read met the damaged page");
    assert.ok(read > 0, `rows before the damaged page read: ${String(refused)}\n${context()}`);
    const { code, message } = refused as { code?: string; message?: string };
    assert.equal(code, "LedgerCorrupt", `${String(refused)}\n${context()}`);
    assert.ok(message?.includes(`LMDB file ${file}: MDB_CORRUPTED`), message);

    // The node stops by itself, with the documented status, and says why.
    // Bounded (a loaded machine, not a measurement): a node that keeps running fails the test.
    let bound: NodeJS.Timeout | undefined;
    const exitCode = await Promise.race([
      exited,
      new Promise<string>((resolve) => {
        bound = setTimeout(() => resolve("still running after 60 s"), 60_000);
      }),
    ]).finally(() => clearTimeout(bound));
    assert.equal(exitCode, EXIT_STATE_DAMAGED, context());
    const stopping = lines.find((l) => l.msg === "stored state is damaged: stopping");
    assert.ok(stopping !== undefined, context());
    assert.equal(stopping.level, "error");
    assert.equal(stopping.code, "LedgerCorrupt");
    // The error as TreatyError's JSON: `{error: {code, message}}`.
    const logged = (stopping.err as { error?: { code?: unknown; message?: unknown } }).error;
    assert.equal(logged?.code, "LedgerCorrupt");
    assert.ok(String(logged?.message).includes(`LMDB file ${file}: MDB_CORRUPTED`), JSON.stringify(stopping));
  });
});
