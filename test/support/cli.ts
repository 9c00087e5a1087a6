/**
 * Runs a built script (by default the `treaty` CLI of this build) in a child process and
 * collects its output. The child always exits (the commands under test never wait for input),
 * so no timer is needed; a hung child fails the test by the runner's own timeout.
 * Also runs a command's `run*` function in-process with captured output (`runInProcess`).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { CliIo } from "../../node/cli/ledger.js";
import type { RemoteIo } from "../../node/cli/status.js";

export interface Run {
  readonly code: number | null;
  /** The signal that ended the child, if one did (then `code` is null). */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The compiled CLI entry of this build. */
export const CLI = fileURLToPath(new URL("../../node/cli.js", import.meta.url));

/** Runs `node <script> ...args` (in `cwd` when given). */
export function runScript(script: string, args: readonly string[], cwd?: string): Promise<Run> {
  return run(process.execPath, [script, ...args], cwd);
}

/** Runs `command ...args` (in `cwd` when given) and collects its output. */
export function run(command: string, args: readonly string[], cwd?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      ...(cwd && { cwd }),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The last line of `stdout` parsed as JSON (a child script's report); undefined when it printed nothing. */
export function lastJsonLine<T>(stdout: string): T | undefined {
  const line = stdout.trim().split("\n").at(-1);
  return line ? (JSON.parse(line) as T) : undefined;
}

/** Runs `treaty ...args`. */
export function treaty(...args: string[]): Promise<Run> {
  return runScript(CLI, args);
}

/** Runs `treaty ...args` in `cwd`. */
export function treatyIn(cwd: string, ...args: string[]): Promise<Run> {
  return runScript(CLI, args, cwd);
}

/** A command's io whose output is kept: `out()` and `err()` return what it wrote so far. */
export interface CapturedIo {
  readonly io: RemoteIo;
  out(): string;
  err(): string;
}

/** Captures a command's output; its requests go to `fetchImpl` (default: the platform fetch). */
export function captureIo(fetchImpl: typeof fetch = (input, init) => fetch(input, init)): CapturedIo {
  let stdout = "";
  let stderr = "";
  return {
    io: {
      out: (text) => {
        stdout += text;
      },
      err: (text) => {
        stderr += text;
      },
      fetch: fetchImpl,
    },
    out: () => stdout,
    err: () => stderr,
  };
}

/** Runs a command body (a `run*` of node/cli/) in-process; `json` is its stdout parsed ({} when empty). */
export async function runInProcess(
  run: (argv: string[], io: RemoteIo) => Promise<number>,
  ...argv: string[]
): Promise<Run & { json: Record<string, unknown> }> {
  const captured = captureIo();
  const code = await run(argv, captured.io);
  const stdout = captured.out();
  return {
    code,
    signal: null,
    stdout,
    stderr: captured.err(),
    json: stdout === "" ? {} : (JSON.parse(stdout) as Record<string, unknown>),
  };
}

/** The offline ledger commands' io with its output kept; `nowMs` is the clock they read (default 0). */
export function captureLedgerIo(
  nowMs: () => number = () => 0,
): CliIo & { stdout: string; stderr: string; json(): Record<string, unknown> } {
  const io = {
    stdout: "",
    stderr: "",
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
    nowMs,
    json: () => JSON.parse(io.stdout) as Record<string, unknown>,
  };
  return io;
}
