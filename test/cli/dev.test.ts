/**
 * `treaty dev` as a user runs it, over a real nats-server: the README's tour (its commands taken
 * from README.md) and the "Try:" block it prints run against it; Ctrl-C (SIGINT) and SIGHUP stop
 * every process and remove the nats-server's temp dir; a second `treaty dev` on the same
 * workspace restarts all three nodes and serves the earlier data; Ctrl-C during start-up cleans
 * up too.
 *
 * Without nats-server (`--in-process`, PATH without it: nats-server also counts as installed in
 * /usr/sbin, so PATH alone cannot hide it), every node runs in the `treaty dev` process on the
 * in-memory transport and it says so; the tour runs against it, Ctrl-C stops it, and a second
 * start restarts the same network in-process with its data.
 *
 * Each spawned `treaty dev` gets a private TMPDIR, so "the nats-server's temp dir is gone" is a
 * check that the folder is empty once it exits.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { CLI, type Run, run } from "../support/cli.js";
import { freePortRange } from "../support/cluster.js";
import { fencedBlocks } from "../support/snippets.js";

const ROOT = findPackageRoot();
const NODES = 3;

/** A `treaty dev` child with its output so far. */
interface Dev {
  readonly child: ChildProcess;
  readonly tmp: string;
  output(): string;
  /** Resolves once stdout contains `text`; rejects if the process exits first. */
  waitFor(text: string): Promise<void>;
  exited: Promise<number | null>;
}

function startDev(
  workspace: string,
  basePort: number,
  options: { readonly args?: readonly string[]; readonly path?: string } = {},
): Dev {
  const tmp = mkdtempSync(join(tmpdir(), "treaty-dev-tmp-"));
  const child = spawn(
    process.execPath,
    [
      CLI,
      "dev",
      "--nodes",
      String(NODES),
      "--port",
      String(basePort),
      "--workspace",
      workspace,
      ...(options.args ?? []),
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TMPDIR: tmp, ...(options.path !== undefined && { PATH: options.path }) },
    },
  );
  let out = "";
  let err = "";
  const waiters: Array<() => void> = [];
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    tmp,
    output: () => `${out}\n--- stderr ---\n${err}`,
    exited,
    waitFor(text) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (out.includes(text)) return resolve();
          if (child.exitCode !== null || child.signalCode !== null)
            return reject(new Error(`treaty dev exited before "${text}":\n${out}\n${err}`));
          waiters.push(check);
        };
        void exited.then(() => setImmediate(check));
        check();
      });
    },
  };
}

/** Sends `signal`, waits for the exit, and checks that nothing it started is left. */
async function stopDev(dev: Dev, signal: NodeJS.Signals, ports: readonly number[]): Promise<void> {
  dev.child.kill(signal);
  const code = await dev.exited;
  assert.equal(code, 0, dev.output());
  for (const port of ports)
    assert.equal(await listening(port), false, `port ${port} still open\n${dev.output()}`);
  assert.deepEqual(readdirSync(dev.tmp), [], "the nats-server's temp dir is left behind");
  rmSync(dev.tmp, { recursive: true, force: true });
}

/** A test's `after`: stops `dev` if it still runs and removes its folders. */
async function cleanUp(dev: Dev | undefined, root: string | undefined): Promise<void> {
  if (dev && dev.child.exitCode === null && dev.child.signalCode === null) {
    dev.child.kill("SIGTERM");
    await dev.exited;
  }
  if (dev) rmSync(dev.tmp, { recursive: true, force: true });
  if (root !== undefined) rmSync(root, { recursive: true, force: true });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Runs one shell command (bash) as a user would type it, with `npx treaty` meaning this build. */
function sh(command: string, cwd: string): Promise<Run> {
  const script = command.replaceAll(
    "npx treaty ",
    `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} `,
  );
  return run("bash", ["-euo", "pipefail", "-c", script], cwd);
}

/** The commands of a shell block: continuation lines joined, comments and blank lines dropped. */
function commands(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/** The shell blocks of the README's "A tour" section. */
function tourBlocks(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("\n## A tour\n");
  const end = readme.indexOf("\n## ", start + 1);
  assert.ok(start >= 0 && end > start, "README.md has a tour section");
  return fencedBlocks(readme.slice(start, end))
    .filter((b) => b.lang === "sh")
    .map((b) => b.text);
}

function json(run: Run, what: string): Record<string, unknown> {
  assert.equal(run.code, 0, `${what}: exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe("treaty dev", { timeout: 600_000 }, () => {
  let root: string;
  let workspace: string;
  let basePort: number;
  let ports: number[];
  let natsPort: number;
  let dev: Dev | undefined;
  let tourTxid: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "treaty-dev-test-"));
    workspace = join(root, "workspace");
    // The tour runs where a user would: a folder with workspace/ and the repository's contracts/.
    symlinkSync(join(ROOT, "contracts"), join(root, "contracts"));
    mkdirSync(workspace);
    basePort = await freePortRange(NODES);
    ports = Array.from({ length: NODES }, (_, i) => basePort + i);
  });
  after(() => cleanUp(dev, root));

  const natsPortOf = (d: Dev): number => {
    const match = /nats-server running at nats:\/\/127\.0\.0\.1:(\d+)/.exec(d.output());
    assert.ok(match, d.output());
    return Number(match[1]);
  };

  it("the README's tour runs against a new network", async () => {
    dev = startDev(workspace, basePort);
    await dev.waitFor("Press Ctrl-C to stop.");
    natsPort = natsPortOf(dev);

    const [start, calls, ...rest] = tourBlocks();
    assert.equal(start, "npx treaty dev\n", "the tour starts the network with `npx treaty dev`");
    const tour = commands(calls!).map((c) =>
      c.replace(
        /http:\/\/127\.0\.0\.1:800(\d)/g,
        (_, i: string) => `http://127.0.0.1:${basePort + Number(i)}`,
      ),
    );
    assert.equal(tour.length, 4, tour.join("\n"));
    const [write, read, receipt, status] = await (async () => {
      const runs: Run[] = [];
      for (const command of tour) runs.push(await sh(command, root));
      return runs as [Run, Run, Run, Run];
    })();
    const written = json(write, tour[0]!);
    assert.equal(written.status, "Committed");
    tourTxid = written.txid as string;
    assert.match(tourTxid, /^\d+\.\d+$/);
    assert.deepEqual(JSON.parse(readFileSync(join(root, "write.json"), "utf8")), written);
    assert.match(
      write.stderr,
      new RegExp(`its receipt: treaty receipt ${tourTxid.replace(".", "\\.")} --verify`),
    );
    assert.deepEqual(json(read, tour[1]!).result, { msg: "hello" });
    // The receipt proves the user's own write, not some other transaction.
    const verified = json(receipt, tour[2]!).verified as {
      txid: string;
      kind: string;
      serviceKeyPinned: boolean;
    };
    assert.deepEqual(
      { txid: verified.txid, kind: verified.kind, pinned: verified.serviceKeyPinned },
      { txid: tourTxid, kind: "user", pinned: true },
    );
    const node = json(status, tour[3]!);
    assert.equal(node.serviceStatus, "open");

    // The contract commands of the tour: build prints a digest; call runs against ./.treaty-state.
    const contractCommands = rest.flatMap(commands);
    assert.ok(contractCommands.length >= 2, rest.join("\n"));
    for (const command of contractCommands) {
      const run = await sh(command.replace(/\s+#.*$/, ""), root);
      assert.equal(run.code, 0, `${command}\n${run.stdout}\n${run.stderr}`);
      const out = JSON.parse(run.stdout) as Record<string, unknown>;
      if (command.includes("contract build")) assert.match(out.digest as string, /^[0-9a-f]{64}$/);
      else assert.equal((out as { ok?: unknown; error?: unknown }).error, undefined, run.stdout);
    }
  });

  it("the Try block it prints runs as printed, SDK example included", async () => {
    const printed = dev!.output();
    const lines = printed
      .slice(printed.indexOf("\nTry:\n") + 6, printed.indexOf("\n\nPress Ctrl-C"))
      .split("\n");
    assert.ok(lines.length >= 5, printed);
    assert.ok(
      lines.some((l) => l.includes("npx treaty receipt")),
      "a receipt line",
    );
    const runs: Run[] = [];
    for (const line of lines) runs.push(await sh(line.trim(), ROOT));
    for (const [i, run] of runs.entries())
      assert.equal(run.code, 0, `${lines[i]}\n${run.stdout}\n${run.stderr}`);
    const [write, read, receipt, , sdk] = runs as [Run, Run, Run, Run, Run];
    const txid = (JSON.parse(write.stdout) as { txid: string }).txid;
    assert.deepEqual(JSON.parse(read.stdout).result, { msg: "hello" });
    assert.equal((JSON.parse(receipt.stdout) as { verified: { txid: string } }).verified.txid, txid);
    assert.match(
      sdk.stdout,
      /^message \d+ "hello from the SDK" is in transaction \d+\.\d+: receipt verified \(user\)\n$/,
    );
  });

  it("Ctrl-C stops the nodes and the nats-server and removes its temp dir", async () => {
    await stopDev(dev!, "SIGINT", [...ports, natsPort]);
  });

  it("a second treaty dev on the same workspace restarts all three nodes; SIGHUP stops it", async () => {
    dev = startDev(workspace, basePort);
    await dev.waitFor("Press Ctrl-C to stop.");
    assert.match(dev.output(), /restarting node\(s\) 0, 1, 2/);
    natsPort = natsPortOf(dev);
    const service = join(workspace, "service.json");
    const key = join(workspace, "user0.json");
    for (const [i, port] of ports.entries()) {
      const read = await sh(
        `npx treaty call log readPrivate --args '{"id": 1}' --key ${key} --node http://127.0.0.1:${port} --service ${service}`,
        root,
      );
      assert.deepEqual(json(read, `read on node ${i}`).result, { msg: "hello" });
    }
    const receipt = await sh(`npx treaty receipt ${tourTxid} --verify --service ${service}`, root);
    assert.equal((json(receipt, "receipt").verified as { txid: string }).txid, tourTxid);
    await stopDev(dev, "SIGHUP", [...ports, natsPort]);
  });

  it("Ctrl-C during start-up stops what was started", async () => {
    const fresh = join(root, "fresh");
    dev = startDev(fresh, basePort);
    await dev.waitFor("nats-server running at");
    natsPort = natsPortOf(dev);
    await stopDev(dev, "SIGINT", [...ports, natsPort]);
    assert.match(dev.output(), /stopped during start-up/);
  });
});

/** The processes `pid` started (its main thread's children; Linux). */
function childrenOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
}

describe("treaty dev without nats-server (--in-process)", { timeout: 600_000 }, () => {
  let root: string;
  let workspace: string;
  let emptyPath: string;
  let basePort: number;
  let ports: number[];
  let dev: Dev | undefined;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "treaty-dev-inprocess-"));
    workspace = join(root, "workspace");
    emptyPath = join(root, "bin"); // a PATH with no nats-server (nor anything else) on it
    mkdirSync(emptyPath);
    symlinkSync(join(ROOT, "contracts"), join(root, "contracts"));
    basePort = await freePortRange(NODES);
    ports = Array.from({ length: NODES }, (_, i) => basePort + i);
  });
  after(() => cleanUp(dev, root));

  const tour = (): string[] =>
    commands(tourBlocks()[1]!).map((c) =>
      c.replace(
        /http:\/\/127\.0\.0\.1:800(\d)/g,
        (_, i: string) => `http://127.0.0.1:${basePort + Number(i)}`,
      ),
    );

  it("runs every node in the treaty dev process, says so, and serves the README's tour", async () => {
    dev = startDev(workspace, basePort, { args: ["--in-process"], path: emptyPath });
    await dev.waitFor("Press Ctrl-C to stop.");
    assert.match(
      dev.output(),
      new RegExp(`--in-process: running ${NODES} node\\(s\\) in this process on the in-memory transport`),
    );
    assert.doesNotMatch(dev.output(), /nats-server running at/);
    assert.deepEqual(childrenOf(dev.child.pid!), [], "no nats-server and no node process");
    for (const port of ports) assert.equal(await listening(port), true, `node on ${port}\n${dev.output()}`);

    const [write, read, receipt, status] = tour();
    const written = json(await sh(write!, root), write!);
    assert.equal(written.status, "Committed");
    assert.deepEqual(json(await sh(read!, root), read!).result, { msg: "hello" }, "read on a follower");
    const verified = json(await sh(receipt!, root), receipt!).verified as { txid: string; kind: string };
    assert.deepEqual({ txid: verified.txid, kind: verified.kind }, { txid: written.txid, kind: "user" });
    assert.equal(json(await sh(status!, root), status!).serviceStatus, "open");
    for (let i = 0; i < NODES; i++)
      assert.ok(readdirSync(workspace).includes(`node${i}.log`), `node${i}.log in the workspace`);
  });

  it("Ctrl-C stops it; a second start restarts the same network in-process with its data", async () => {
    dev!.child.kill("SIGINT");
    assert.equal(await dev!.exited, 0, dev!.output());
    for (const port of ports) assert.equal(await listening(port), false, `port ${port} still open`);
    rmSync(dev!.tmp, { recursive: true, force: true });

    dev = startDev(workspace, basePort, { args: ["--in-process"], path: emptyPath });
    await dev.waitFor("Press Ctrl-C to stop.");
    assert.match(dev.output(), /restarting node\(s\) 0, 1, 2/);
    assert.match(dev.output(), /--in-process: running/);
    const read = tour()[1]!;
    assert.deepEqual(json(await sh(read, root), read).result, { msg: "hello" });
    dev.child.kill("SIGINT");
    assert.equal(await dev.exited, 0, dev.output());
    for (const port of ports) assert.equal(await listening(port), false, `port ${port} still open`);
  });
});
