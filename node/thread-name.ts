/**
 * Names the calling thread in the kernel (`/proc/thread-self/comm`, what `top -H`, `ps -L` and
 * `/proc/<pid>/task/<tid>/comm` show), so an operator and `bench:network` can tell a node's
 * threads apart: Node 20 names every thread of the process "node". Linux only; elsewhere, or
 * when /proc is not mounted, the thread keeps its name (the name is a diagnostic, never needed).
 * Synchronous file calls run on the calling thread, so a worker thread names itself.
 */
import { writeFileSync } from "node:fs";

/** The kernel keeps at most 15 bytes of a thread name. */
export const MAX_THREAD_NAME_BYTES = 15;

/** Kernel names of Treaty's own worker threads (bench/thread-cpu.ts groups by them). */
export const THREAD_NAMES = {
  execution: "treaty-exec",
  verify: "treaty-verify",
  compiler: "treaty-compile",
} as const;

export function nameThisThread(name: string): void {
  if (process.platform !== "linux") return;
  try {
    writeFileSync("/proc/thread-self/comm", name.slice(0, MAX_THREAD_NAME_BYTES));
  } catch {
    // No /proc (a container without it) or an older kernel: the thread stays "node".
  }
}
