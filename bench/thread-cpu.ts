/**
 * CPU time of a node process by thread group, from Linux /proc (`/proc/<pid>/task/<tid>/stat`):
 * where a write's CPU goes outside the JavaScript threads a CPU profile shows.
 *
 * Node 20 names every thread "node"; Treaty's worker threads rename themselves
 * (node/thread-name.ts). The groups:
 * - `main`: the main JavaScript thread (its thread id is the process id);
 * - `execution`, `verify`: the execution worker and the signature verify workers (by name);
 * - `v8`: V8's platform threads, the first `v8PoolSize + 1` threads the process started after its
 *   main thread, still named like it: `--v8-pool-size` workers (default 4), which run the
 *   parallel and concurrent GC of every isolate in the process (main and workers) and
 *   background compilation, and their delayed-task thread;
 * - `libuv`: the other unnamed threads, started later: libuv's threadpool (fdatasync of the
 *   ledger, lmdb-js's write transactions, async fs and crypto) and Node's idle inspector-signal
 *   thread;
 * - `other`: threads with any other name (e.g. the contract compiler thread);
 * - `exited`: threads that ended between the two readings (the process total minus its live
 *   threads), so the groups add up to the process's CPU.
 * Creation order is (start time, thread id): the kernel hands out thread ids in increasing order.
 *
 * Also read per thread: context switches (`/proc/.../status`) and the time it was runnable but
 * waiting for a CPU (`/proc/.../schedstat`, the kernel's run-queue wait): on a machine whose cores
 * are shared, the second says how long a thread that had work waited before it could run.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { THREAD_NAMES } from "../node/thread-name.js";

export const THREAD_GROUPS = ["main", "execution", "verify", "v8", "libuv", "other", "exited"] as const;
export type ThreadGroup = (typeof THREAD_GROUPS)[number];

/** Node's default `--v8-pool-size`. */
export const DEFAULT_V8_POOL_SIZE = 4;

/** One line of `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat`, the fields used here. */
export interface TaskStat {
  readonly id: number;
  readonly name: string;
  readonly parentId: number;
  /** Since boot, clock ticks. */
  readonly startTicks: number;
  /** user + system, clock ticks. */
  readonly cpuTicks: number;
  /**
   * Context switches so far, voluntary + involuntary (`/proc/.../status`), where read: each is a
   * sleep→wake or a preemption, which costs CPU of its own on a VM.
   */
  readonly switches?: number;
  /**
   * Time spent runnable but waiting for a CPU so far, ns (`/proc/.../schedstat`), where read:
   * each wake-up or preemption waits on a run queue until a core takes the thread.
   */
  readonly runqueueWaitNs?: number;
}

/** A process's CPU so far: its total (live and ended threads) and each live thread. */
export interface ProcessSample {
  readonly totalTicks: number;
  readonly threads: readonly TaskStat[];
}

/**
 * Parses a stat line: `id (name) state ppid ...`; the name may hold spaces and parentheses, so
 * the fields start after the last ")". utime and stime are fields 14 and 15, starttime 22.
 */
export function parseTaskStat(line: string): TaskStat {
  const open = line.indexOf(" (");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open)
    throw new Error(`not a /proc stat line: ${JSON.stringify(line.slice(0, 80))}`);
  const fields = line.slice(close + 2).split(" ");
  const at = (field: number) => {
    const value = Number(fields[field - 3]);
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`/proc stat field ${field} is not a count`);
    return value;
  };
  const id = Number(line.slice(0, open));
  if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`/proc stat line without a thread id`);
  return {
    id,
    name: line.slice(open + 2, close),
    parentId: at(4),
    startTicks: at(22),
    cpuTicks: at(14) + at(15),
  };
}

/** The group of each live thread of process `pid` (see the module comment). */
export function classifyThreads(
  pid: number,
  threads: readonly TaskStat[],
  v8PoolSize: number = DEFAULT_V8_POOL_SIZE,
): Map<number, ThreadGroup> {
  const main = threads.find((t) => t.id === pid);
  const groups = new Map<number, ThreadGroup>();
  const unnamed: TaskStat[] = [];
  for (const t of threads) {
    if (t.id === pid) groups.set(t.id, "main");
    else if (t.name === THREAD_NAMES.execution) groups.set(t.id, "execution");
    else if (t.name === THREAD_NAMES.verify) groups.set(t.id, "verify");
    else if (main !== undefined && t.name === main.name) unnamed.push(t);
    else groups.set(t.id, "other");
  }
  unnamed.sort((a, b) => a.startTicks - b.startTicks || a.id - b.id);
  for (const [i, t] of unnamed.entries()) groups.set(t.id, i <= v8PoolSize ? "v8" : "libuv");
  return groups;
}

/** CPU ticks each group spent between two samples of process `pid`. */
export function cpuTicksByGroup(
  pid: number,
  before: ProcessSample,
  after: ProcessSample,
  v8PoolSize: number = DEFAULT_V8_POOL_SIZE,
): Record<ThreadGroup, number> {
  const { byGroup, live } = liveDeltaByGroup(pid, before, after, v8PoolSize, (t) => t.cpuTicks);
  byGroup.exited = Math.max(0, after.totalTicks - before.totalTicks - live);
  return byGroup;
}

/** How much `count` grew on each group's live threads between two samples, and in all. */
function liveDeltaByGroup(
  pid: number,
  before: ProcessSample,
  after: ProcessSample,
  v8PoolSize: number,
  count: (thread: TaskStat) => number,
): { byGroup: Record<ThreadGroup, number>; live: number } {
  const byGroup = Object.fromEntries(THREAD_GROUPS.map((g) => [g, 0])) as Record<ThreadGroup, number>;
  const earlier = new Map(before.threads.map((t) => [t.id, count(t)]));
  const groups = classifyThreads(pid, after.threads, v8PoolSize);
  let live = 0;
  for (const t of after.threads) {
    // Counters only grow; a reading missing from the later sample (0) must not count as negative.
    const grew = Math.max(0, count(t) - (earlier.get(t.id) ?? 0));
    byGroup[groups.get(t.id)!] += grew;
    live += grew;
  }
  return { byGroup, live };
}

/**
 * `voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` of a `/proc/.../status` text (one
 * thread's, for a task's status). Throws when either line is missing.
 */
export function parseContextSwitches(status: string): number {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+)$`, "m").exec(status);
    if (match === null) throw new Error(`/proc status without ${name}`);
    return Number(match[1]);
  };
  return field("voluntary_ctxt_switches") + field("nonvoluntary_ctxt_switches");
}

/** Context switches each group's live threads made between two samples (ended threads: lost). */
export function switchesByGroup(
  pid: number,
  before: ProcessSample,
  after: ProcessSample,
  v8PoolSize: number = DEFAULT_V8_POOL_SIZE,
): Record<ThreadGroup, number> {
  return liveDeltaByGroup(pid, before, after, v8PoolSize, (t) => t.switches ?? 0).byGroup;
}

/**
 * A `/proc/.../schedstat` text: time on a CPU, time runnable but waiting for one (both ns), and
 * the times the thread was scheduled in. Throws unless it is three counts.
 */
export function parseSchedstat(text: string): { runNs: number; waitNs: number; timeslices: number } {
  const fields = text.trim().split(" ").map(Number);
  if (fields.length !== 3 || !fields.every((n) => Number.isSafeInteger(n) && n >= 0))
    throw new Error(`not a /proc schedstat text: ${JSON.stringify(text.slice(0, 80))}`);
  return { runNs: fields[0]!, waitNs: fields[1]!, timeslices: fields[2]! };
}

/**
 * Run-queue wait (ns) each group's live threads added between two samples (a thread started in
 * between counts from zero; one whose later reading failed counts for nothing). Null when no
 * thread has a reading: a kernel without schedstat.
 */
export function runqueueWaitByGroup(
  pid: number,
  before: ProcessSample,
  after: ProcessSample,
  v8PoolSize: number = DEFAULT_V8_POOL_SIZE,
): Record<ThreadGroup, number> | null {
  if (!after.threads.some((t) => t.runqueueWaitNs !== undefined)) return null;
  return liveDeltaByGroup(pid, before, after, v8PoolSize, (t) => t.runqueueWaitNs ?? 0).byGroup;
}

/**
 * Process `pid`'s CPU so far (and each live thread's context switches and run-queue wait),
 * undefined when it is gone or there is no /proc.
 */
export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const totalTicks = parseTaskStat(readFileSync(`/proc/${pid}/stat`, "utf8")).cpuTicks;
    const threads: TaskStat[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = parseTaskStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"));
        const switches = parseContextSwitches(readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"));
        threads.push({ ...stat, switches, runqueueWaitNs: schedWait(`/proc/${pid}/task/${tid}/schedstat`) });
      } catch {
        // the thread ended between the listing and the read: counted as exited
      }
    }
    return { totalTicks, threads };
  } catch {
    return undefined;
  }
}

/** A thread's run-queue wait so far, ns; undefined when the kernel has no schedstat or the thread ended. */
function schedWait(path: string): number | undefined {
  try {
    return parseSchedstat(readFileSync(path, "utf8")).waitNs;
  } catch {
    return undefined;
  }
}

/** The first child process of `parentPid` named `name` (e.g. the tests' nats-server), if any. */
export function findChildProcess(parentPid: number, name: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseTaskStat(readFileSync(`/proc/${entry}/stat`, "utf8"));
      if (stat.parentId === parentPid && stat.name === name) return stat.id;
    } catch {
      // not ours, or gone
    }
  }
  return undefined;
}

/** `--v8-pool-size=N` among node flags, else Node's default. */
export function v8PoolSizeOf(nodeFlags: readonly string[]): number {
  let size = DEFAULT_V8_POOL_SIZE;
  for (const flag of nodeFlags) {
    const match = /^--v8[-_]pool[-_]size=([1-9]\d*)$/.exec(flag);
    if (match) size = Number(match[1]);
  }
  return size;
}

/** Nanoseconds per group as µs per write. */
export function nanosPerWrite(
  ns: Readonly<Record<ThreadGroup, number>>,
  writes: number,
): Record<ThreadGroup, number> {
  return Object.fromEntries(THREAD_GROUPS.map((g) => [g, Math.round(ns[g] / 1000 / writes)])) as Record<
    ThreadGroup,
    number
  >;
}

/** Ticks per group as µs per write. */
export function microsPerWrite(
  ticks: Readonly<Record<ThreadGroup, number>>,
  ticksPerSecond: number,
  writes: number,
): Record<ThreadGroup, number> {
  return Object.fromEntries(
    THREAD_GROUPS.map((g) => [g, Math.round((ticks[g] * 1e6) / ticksPerSecond / writes)]),
  ) as Record<ThreadGroup, number>;
}

/** `main 120 execution 80 ...`: the non-zero groups of one process, µs per write. */
export function formatGroups(microsPerWrite: Readonly<Record<ThreadGroup, number>>): string {
  return THREAD_GROUPS.filter((g) => microsPerWrite[g] > 0)
    .map((g) => `${g} ${microsPerWrite[g]}`)
    .join(" ");
}

/** The kernel's clock tick rate for /proc CPU times (`getconf CLK_TCK`; 100 on Linux when unknown). */
export function clockTicks(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isSafeInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}
