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
 *
 * The stop marks the data folder damaged (`DAMAGED.json`, node/damage-marker.ts): a second start
 * of the same folder exits 74 with LedgerCorrupt naming the marker, before it opens or writes
 * anything and without serving; once the marker is deleted the node starts, serves, and meets the
 * same damage again. A marker that holds no damage record refuses the start all the same, and a
 * marker that cannot be written does not keep the node from stopping with 74. Damage the start-up
 * check finds (runtime/lmdb-check.ts) ends the start with 74 as well.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { EXIT_STATE_DAMAGED } from "../../node/main.js";
import { Client } from "../../sdk/client.js";
import { lmdbPages } from "../support/lmdb-pages.js";
import { copyOfTestNode, startTestNode, type TestNode } from "../support/node.js";
import { until, untilServing } from "../support/poll.js";

const CLI = fileURLToPath(new URL("../../node/cli.js", import.meta.url));
/** Rows of the log contract's public map: several leaf pages of messages of 300 bytes. */
const ROWS = 150;
const MESSAGES_MAP = "public:log.messages";

describe("KV damage met while serving: LedgerCorrupt, and the node fail-stops", () => {
  let net: TestNode;
  const children: ChildProcess[] = [];

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
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await net?.dispose();
  });

  /** A copy of `net`'s data folder whose second leaf page of log messages is zeroed. */
  function damagedCopy(name: string): { dataDir: string; configPath: string; file: string } {
    const { dataDir, configPath } = copyOfTestNode(net, name, "info");
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
    return { dataDir, configPath, file };
  }

  /** `treaty node start --config configPath` in a child process, its stderr lines collected. */
  function startCli(configPath: string) {
    const started = spawn(process.execPath, [CLI, "node", "start", "--config", configPath], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    children.push(started);
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
    const exited = new Promise<number | null>((resolve) =>
      started.on("exit", (code) => {
        if (stderr !== "") lines.push({ text: stderr });
        resolve(code);
      }),
    );
    const context = () => lines.map((l) => JSON.stringify(l)).join("\n");
    /** The exit status; a node still running after 60 s (a bound for a loaded machine) fails. */
    const exitCode = async () => {
      let bound: NodeJS.Timeout | undefined;
      return await Promise.race([
        exited,
        new Promise<string>((resolve) => {
          bound = setTimeout(() => {
            started.kill("SIGKILL"); // nothing started here outlives the test
            resolve("still running after 60 s");
          }, 60_000);
        }),
      ]).finally(() => clearTimeout(bound));
    };
    /** Waits until the node answers calls; a client for it. */
    const serving = async () => {
      const line = await until("the node to serve", () => {
        assert.equal(started.exitCode, null, `the node exited: ${context()}`);
        return lines.find((l) => l.msg === "node serving");
      });
      // It serves calls once it has elected itself (a lone voter) and caught up.
      await untilServing(String(line.url), () =>
        started.exitCode === null ? undefined : `the node exited: ${context()}`,
      );
      return new Client({ nodes: [String(line.url)], serviceKey: net.serviceKey, key: net.user, retries: 1 });
    };
    return { lines, context, exitCode, serving };
  }

  /** A digest of every file under `dir` (names, sizes, contents): what a refused start must not change. */
  function folderDigest(dir: string): string {
    const hash = createHash("sha256");
    const walk = (at: string) => {
      for (const name of readdirSync(at).sort()) {
        const path = join(at, name);
        if (statSync(path).isDirectory()) {
          hash.update(`dir ${path}\n`);
          walk(path);
        } else {
          hash.update(`file ${path}\n`).update(readFileSync(path));
        }
      }
    };
    walk(dir);
    return hash.digest("hex");
  }

  /** Starts `configPath`, which must be refused: exit 74, LedgerCorrupt naming `marker`, never serving. */
  async function assertRefused(configPath: string, marker: string): Promise<string> {
    const run = startCli(configPath);
    assert.equal(await run.exitCode(), EXIT_STATE_DAMAGED, run.context());
    assert.equal(
      run.lines.find((l) => l.msg === "node serving"),
      undefined,
      `a refused start served: ${run.context()}`,
    );
    const refusal = run.lines.find((l) => String(l.text).startsWith("treaty node start: LedgerCorrupt: "));
    assert.ok(refusal !== undefined, run.context());
    const text = String(refusal.text);
    assert.ok(text.includes(`is marked damaged by ${marker}`), text);
    assert.ok(text.includes(`after checking the data files, delete ${marker} explicitly`), text);
    assert.ok(text.includes("restore the data folder from a copy"), text);
    return text;
  }

  /** The first start: the damaged folder's first run, whose stop the later starts meet. */
  let first: { dataDir: string; configPath: string; file: string; damagedId: number } | undefined;

  it("the read that meets the damaged page fails LedgerCorrupt naming the file; the node logs it, marks the folder and exits 74", async () => {
    const { dataDir, configPath, file } = damagedCopy("damaged");
    const marker = join(dataDir, "DAMAGED.json");
    const run = startCli(configPath);
    const { context } = run;
    const client = await run.serving();

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
    assert.equal(await run.exitCode(), EXIT_STATE_DAMAGED, context());
    const stopping = run.lines.find((l) => l.msg === "stored state is damaged: stopping");
    assert.ok(stopping !== undefined, context());
    assert.equal(stopping.level, "error");
    assert.equal(stopping.code, "LedgerCorrupt");
    // The error as TreatyError's JSON: `{error: {code, message}}`.
    const logged = (stopping.err as { error?: { code?: unknown; message?: unknown } }).error;
    assert.equal(logged?.code, "LedgerCorrupt");
    assert.ok(String(logged?.message).includes(`LMDB file ${file}: MDB_CORRUPTED`), JSON.stringify(stopping));

    // It recorded the damage in its data folder: when, the file, LMDB's message.
    const marked = run.lines.find((l) => l.msg === "data folder marked damaged: a start will refuse it");
    assert.equal(marked?.path, marker, context());
    const record = JSON.parse(readFileSync(marker, "utf8")) as Record<string, unknown>;
    assert.equal(record.code, "LedgerCorrupt");
    assert.equal(record.file, file);
    assert.equal(record.message, logged?.message);
    assert.ok(Number.isFinite(Date.parse(String(record.recordedAt))), JSON.stringify(record));
    assert.equal(existsSync(`${marker}.tmp`), false);
    first = { dataDir, configPath, file, damagedId: read };
  });

  it("a second start of the damaged folder exits 74 with LedgerCorrupt naming the marker, changes nothing and never serves", async () => {
    assert.ok(first !== undefined, "the first start did not run");
    const marker = join(first.dataDir, "DAMAGED.json");
    const record = JSON.parse(readFileSync(marker, "utf8")) as { recordedAt: string; message: string };
    const before = folderDigest(first.dataDir);
    const text = await assertRefused(first.configPath, marker);
    assert.ok(text.includes(`recorded at ${record.recordedAt}: LedgerCorrupt: ${record.message}`), text);
    assert.ok(text.includes(`LMDB file ${first.file}: MDB_CORRUPTED`), text);
    assert.equal(folderDigest(first.dataDir), before, "the refused start changed the data folder");
  });

  it("after the marker is deleted the node starts and serves, and the damaged page stops it again (and marks it again)", async () => {
    assert.ok(first !== undefined, "the first start did not run");
    const marker = join(first.dataDir, "DAMAGED.json");
    rmSync(marker);
    const run = startCli(first.configPath);
    const client = await run.serving();
    // The rows before the damaged page still read; the first one on it fails as before.
    const { result } = await client.call("log", "readPublic", { id: 0 });
    assert.deepEqual(result, { msg: "m".repeat(300) });
    await assert.rejects(client.call("log", "readPublic", { id: first.damagedId }), (err: unknown) => {
      const { code, message } = err as { code?: string; message?: string };
      assert.equal(code, "LedgerCorrupt", String(err));
      assert.ok(message?.includes(`LMDB file ${first!.file}: MDB_CORRUPTED`), message);
      return true;
    });
    assert.equal(await run.exitCode(), EXIT_STATE_DAMAGED, run.context());
    const record = JSON.parse(readFileSync(marker, "utf8")) as Record<string, unknown>;
    assert.equal(record.file, first.file);
  });

  it("a marker that holds no damage record (garbage, a directory) refuses the start all the same", async () => {
    for (const [name, plant] of [
      ["garbage-marker", (path: string) => writeFileSync(path, Buffer.from([0xff, 0x00, 0x7b, 0x22, 0xfe]))],
      ["directory-marker", (path: string) => mkdirSync(path)],
    ] as const) {
      // An undamaged copy: only the marker keeps it from starting.
      const { dataDir, configPath } = copyOfTestNode(net, name, "info");
      const marker = join(dataDir, "DAMAGED.json");
      plant(marker);
      const text = await assertRefused(configPath, marker);
      assert.ok(text.includes("which does not hold a readable damage record"), text);
      assert.ok(text.includes("any marker present is treated as damage"), text);
    }
  });

  it("a marker that cannot be written is logged, and the node still stops with 74", async () => {
    const { dataDir, configPath } = damagedCopy("unmarkable");
    const marker = join(dataDir, "DAMAGED.json");
    mkdirSync(`${marker}.tmp`); // the durable write's temp file cannot be opened
    const run = startCli(configPath);
    const client = await run.serving();
    let refused: unknown;
    for (let id = 0; id < ROWS && refused === undefined; id++) {
      await client.call("log", "readPublic", { id }).catch((err: unknown) => {
        refused = err;
      });
    }
    assert.equal((refused as { code?: string } | undefined)?.code, "LedgerCorrupt", String(refused));
    assert.equal(await run.exitCode(), EXIT_STATE_DAMAGED, run.context());
    const failed = run.lines.find(
      (l) => l.msg === "could not write the damage marker: a restart may serve from the damaged data folder",
    );
    assert.equal(failed?.level, "error", run.context());
    assert.equal(failed?.path, marker);
    assert.equal(existsSync(marker), false);
    assert.ok(
      run.lines.some((l) => l.msg === "stored state is damaged: stopping"),
      run.context(),
    );
  });

  it("damage the start-up check finds (a KV file too short for its meta pages) exits 74 too, without serving", async () => {
    const { dataDir, configPath } = copyOfTestNode(net, "short-kv", "info");
    const file = join(dataDir, "kv", "data.mdb");
    writeFileSync(file, readFileSync(file).subarray(0, 100));
    const run = startCli(configPath);
    assert.equal(await run.exitCode(), EXIT_STATE_DAMAGED, run.context());
    assert.equal(
      run.lines.find((l) => l.msg === "node serving"),
      undefined,
      run.context(),
    );
    const refusal = run.lines.find((l) => String(l.text).startsWith("treaty node start: LedgerCorrupt: "));
    assert.ok(refusal !== undefined && String(refusal.text).includes(file), run.context());
    // Found at start, the damage is found again at every start: no marker is needed.
    assert.equal(existsSync(join(dataDir, "DAMAGED.json")), false);
  });
});
