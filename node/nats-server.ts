/**
 * Starts a real `nats-server` (Debian package) as a child process, for `treaty dev` and the
 * integration tests: a free loopback port, a private temp dir for its config (and JetStream store
 * when asked), readiness awaited from the server's own "Server is ready" log line. For tests a
 * missing nats-server is an error, never a skip (`npm test` installs it through
 * scripts/ensure-nats.sh); `treaty dev` falls back to an in-process network.
 *
 * Ownership: the caller must `dispose()` the handle (in `after`/`finally`); it stops the process
 * and removes the temp dir. As a last resort, servers still running when the test process exits
 * are killed.
 *
 * @example
 *   const server = await startNatsServer();
 *   try { ...connect to server.url... } finally { await server.dispose(); }
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

export interface NatsServerOptions {
  /** Enable JetStream with a file store inside the temp dir. */
  readonly jetstream?: boolean;
  /** The server's max_payload in bytes (NATS default: 1 MiB). */
  readonly maxPayloadBytes?: number;
  /** How long to wait for "Server is ready". Default 10 s. */
  readonly readyTimeoutMs?: number;
  /** The client port (default: a free one). A fixed port is tried once. */
  readonly port?: number;
  /**
   * Config text appended verbatim after `listen` (tls, cluster routes, accounts...), for tests
   * of secured and clustered deployments.
   */
  readonly extraConfig?: string;
}

/** A running (or stopped, restartable) nats-server. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The private temp dir (config, JetStream store). */
  readonly dir: string;
  /** True while the process runs. */
  running(): boolean;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s); the port and dir stay reserved for `start`. */
  stop(): Promise<void>;
  /**
   * Starts the server again on the same port (after `stop`), waiting until it is ready; with
   * `extraConfig`, its config is rewritten first (e.g. a cluster route removed).
   */
  start(options?: { readonly extraConfig?: string }): Promise<void>;
  /** Stops the server and deletes its temp dir. Idempotent. */
  dispose(): Promise<void>;
}

const READY_LINE = "Server is ready";
const DEFAULT_READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;
const MAX_LOG_CHARS = 16_384;
const PORT_ATTEMPTS = 5;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** The nats-server binary (see `natsServerPath`), or undefined when none is installed. */
export function findNatsServer(): string | undefined {
  try {
    return natsServerPath();
  } catch {
    return undefined;
  }
}

/**
 * The nats-server binary: on PATH, or in /usr/sbin (Debian's package) or /usr/local/sbin.
 * Throws when there is none (tests fail rather than skip; `treaty dev` uses `findNatsServer`).
 */
export function natsServerPath(): string {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const candidate = join(dir, "nats-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  throw new Error(
    "nats-server not found on PATH or in /usr/sbin: the integration tests need it " +
      "(run `bash scripts/ensure-nats.sh` or `apt-get install nats-server`)",
  );
}

/** Starts a nats-server on a free loopback port and resolves once it accepts clients. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = natsServerPath();
  const dir = mkdtempSync(join(tmpdir(), "treaty-nats-"));
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  let lastError: unknown;
  const attempts = options.port === undefined ? PORT_ATTEMPTS : 1;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort());
    const config = writeConfig(dir, port, options);
    try {
      const child = await launch(binary, config, readyTimeoutMs);
      return handle(binary, config, dir, port, child, readyTimeoutMs, options);
    } catch (err) {
      // Another process may have taken the port between our probe and the server's bind.
      lastError = err;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`nats-server did not start after ${attempts} attempt(s): ${String(lastError)}`);
}

function handle(
  binary: string,
  config: string,
  dir: string,
  port: number,
  first: ChildProcess,
  readyTimeoutMs: number,
  options: NatsServerOptions,
): NatsServer {
  let child: ChildProcess | undefined = first;
  let disposed = false;
  const stop = async (): Promise<void> => {
    const current = child;
    child = undefined;
    if (current !== undefined) await terminate(current);
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    stop,
    async start(restart = {}) {
      if (disposed) throw new Error("nats-server handle already disposed");
      if (child !== undefined) throw new Error("nats-server is already running");
      if (restart.extraConfig !== undefined)
        writeConfig(dir, port, { ...options, extraConfig: restart.extraConfig });
      child = await launch(binary, config, readyTimeoutMs);
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function writeConfig(dir: string, port: number, options: NatsServerOptions): string {
  const lines = [`listen: "127.0.0.1:${port}"`];
  if (options.maxPayloadBytes !== undefined) lines.push(`max_payload: ${options.maxPayloadBytes}`);
  if (options.jetstream === true)
    lines.push(`jetstream { store_dir: ${JSON.stringify(join(dir, "jetstream"))} }`);
  if (options.extraConfig !== undefined) lines.push(options.extraConfig);
  const path = join(dir, "nats.conf");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

/** Spawns the server and waits for its ready line; kills it and throws (with its log) otherwise. */
function launch(binary: string, config: string, readyTimeoutMs: number): Promise<ChildProcess> {
  installExitHook();
  const child = spawn(binary, ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let log = "";
  return new Promise<ChildProcess>((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      void terminate(child).then(() => reject(new Error(`nats-server ${why}; log:\n${log}`)));
    };
    const onData = (chunk: Buffer) => {
      log = (log + chunk.toString("utf8")).slice(-MAX_LOG_CHARS);
      if (log.includes(READY_LINE)) {
        cleanup();
        // Keep draining the pipes so the server never blocks on a full one.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      fail(`exited before ready (code ${code}, signal ${signal})`);
    const onError = (err: Error) => fail(`could not be spawned (${err.message})`);
    const timer = setTimeout(() => fail(`not ready within ${readyTimeoutMs} ms`), readyTimeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      child.off("error", onError);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
    child.once("error", onError);
  });
}

/** SIGTERM, SIGKILL after a grace period; resolves once the process has exited. */
function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}
