/**
 * Runs a built script (by default the `treaty` CLI of this build) in a child process and
 * collects its output. The child always exits (the commands under test never wait for input),
 * so no timer is needed; a hung child fails the test by the runner's own timeout.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface Run {
  readonly code: number | null;
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
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `treaty ...args`. */
export function treaty(...args: string[]): Promise<Run> {
  return runScript(CLI, args);
}

/** Runs `treaty ...args` in `cwd`. */
export function treatyIn(cwd: string, ...args: string[]): Promise<Run> {
  return runScript(CLI, args, cwd);
}
