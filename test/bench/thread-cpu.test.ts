/**
 * bench/thread-cpu.ts: /proc stat lines parsed, a node process's threads put in their groups
 * (fixture lines shaped like a real node process's), CPU between two samples split by group with
 * ended threads counted, context switches and run-queue waits read and split by group, and node/thread-name.ts naming a real worker thread that the grouping
 * then finds in this process.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import {
  classifyThreads,
  cpuTicksByGroup,
  microsPerWrite,
  nanosPerWrite,
  parseContextSwitches,
  parseSchedstat,
  parseTaskStat,
  type ProcessSample,
  runqueueWaitByGroup,
  sampleProcess,
  switchesByGroup,
  v8PoolSizeOf,
} from "../../bench/thread-cpu.js";
import { THREAD_NAMES } from "../../node/thread-name.js";

/** A stat line as the kernel writes it: utime, stime and starttime in clock ticks. */
function statLine(id: number, name: string, utime: number, stime: number, start: number): string {
  // Fields 3..52; only 4 (ppid), 14, 15 and 22 matter here.
  const fields = Array.from({ length: 50 }, () => "0");
  fields[0] = "S";
  fields[1] = "77";
  fields[11] = String(utime);
  fields[12] = String(stime);
  fields[19] = String(start);
  return `${id} (${name}) ${fields.join(" ")}\n`;
}

const PID = 1000;
/** main, 4 V8 workers + delayed-task thread, inspector signal thread, 4 libuv, exec, 2 verify. */
function nodeProcess(cpu: (id: number) => number): ProcessSample {
  const lines = [
    statLine(PID, "node", cpu(PID), 0, 500),
    ...[1001, 1002, 1003, 1004, 1005, 1006].map((id) => statLine(id, "node", cpu(id), 0, 501)),
    ...[1007, 1008, 1009, 1010].map((id) => statLine(id, "node", 0, cpu(id), 509)),
    statLine(1011, THREAD_NAMES.execution, cpu(1011), 0, 530),
    statLine(1012, THREAD_NAMES.verify, cpu(1012), 0, 531),
    statLine(1013, THREAD_NAMES.verify, cpu(1013), 0, 531),
  ];
  const threads = lines.map(parseTaskStat);
  return { totalTicks: threads.reduce((sum, t) => sum + t.cpuTicks, 0), threads };
}

describe("thread CPU grouping (bench/thread-cpu.ts)", () => {
  it("parses a stat line whose name holds spaces and parentheses", () => {
    const stat = parseTaskStat(statLine(42, "a (b) c", 7, 5, 123));
    assert.deepEqual(stat, { id: 42, name: "a (b) c", parentId: 77, startTicks: 123, cpuTicks: 12 });
  });

  it("refuses a line that is not a stat line", () => {
    assert.throws(() => parseTaskStat("hello"), /not a \/proc stat line/);
    assert.throws(() => parseTaskStat("1 (x) S 0 x"), /field/);
    assert.throws(() => parseTaskStat(statLine(1, "x", 0, 0, 0).replace(/^1/, "x")), /thread id/);
  });

  it("groups by name and by creation order", () => {
    const groups = classifyThreads(PID, nodeProcess(() => 1).threads);
    assert.equal(groups.get(PID), "main");
    for (const id of [1001, 1002, 1003, 1004, 1005]) assert.equal(groups.get(id), "v8", `thread ${id}`);
    for (const id of [1006, 1007, 1008, 1009, 1010]) assert.equal(groups.get(id), "libuv", `thread ${id}`);
    assert.equal(groups.get(1011), "execution");
    assert.equal(groups.get(1012), "verify");
    assert.equal(groups.get(1013), "verify");
  });

  it("orders by start time before thread id (ids can wrap) and honours the pool size", () => {
    const threads = [
      parseTaskStat(statLine(PID, "node", 0, 0, 500)),
      parseTaskStat(statLine(5, "node", 0, 0, 900)), // wrapped id, started last
      parseTaskStat(statLine(1001, "node", 0, 0, 501)),
      parseTaskStat(statLine(1002, "node", 0, 0, 501)),
      parseTaskStat(statLine(1003, "node", 0, 0, 501)),
      parseTaskStat(statLine(1004, "compile", 0, 0, 600)),
    ];
    const groups = classifyThreads(PID, threads, 2);
    assert.deepEqual(
      [1001, 1002, 1003, 5, 1004].map((id) => groups.get(id)),
      ["v8", "v8", "v8", "libuv", "other"],
    );
  });

  it("splits CPU between two samples by group and counts ended threads", () => {
    const before = nodeProcess(() => 10);
    const after = nodeProcess((id) => 10 + (id === PID ? 30 : id === 1002 ? 20 : id === 1008 ? 5 : 0));
    // A verify thread ended in between: the process total kept its 10 + 7 ticks.
    const ended: ProcessSample = {
      totalTicks: after.totalTicks + 7,
      threads: after.threads.filter((t) => t.id !== 1013),
    };
    const ticks = cpuTicksByGroup(PID, before, ended);
    assert.deepEqual(ticks, { main: 30, execution: 0, verify: 0, v8: 20, libuv: 5, other: 0, exited: 7 });
    assert.deepEqual(microsPerWrite(ticks, 100, 1000), {
      main: 300,
      execution: 0,
      verify: 0,
      v8: 200,
      libuv: 50,
      other: 0,
      exited: 70,
    });
  });

  it("reads context switches from a status text and splits them by group", () => {
    const status =
      "Name:\tnode\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t1200\nnonvoluntary_ctxt_switches:\t34\n";
    assert.equal(parseContextSwitches(status), 1234);
    assert.throws(() => parseContextSwitches("Name:\tnode\nvoluntary_ctxt_switches:\t1\n"), /nonvoluntary/);
    const withSwitches = (sample: ProcessSample, n: (id: number) => number): ProcessSample => ({
      totalTicks: sample.totalTicks,
      threads: sample.threads.map((t) => ({ ...t, switches: n(t.id) })),
    });
    const before = withSwitches(
      nodeProcess(() => 0),
      () => 100,
    );
    const after = withSwitches(
      nodeProcess(() => 0),
      (id) => 100 + (id === PID ? 40 : id === 1011 ? 9 : id === 1008 ? 3 : 0),
    );
    assert.deepEqual(switchesByGroup(PID, before, after), {
      main: 40,
      execution: 9,
      verify: 0,
      v8: 0,
      libuv: 3,
      other: 0,
      exited: 0,
    });
    // This process's own threads report theirs.
    const sample = sampleProcess(process.pid);
    assert.ok(sample?.threads.every((t) => (t.switches ?? -1) >= 0));
  });

  it("reads run-queue waits from a schedstat text and splits them by group", () => {
    assert.deepEqual(parseSchedstat("5121236 892331 47\n"), {
      runNs: 5121236,
      waitNs: 892331,
      timeslices: 47,
    });
    for (const bad of ["", "1 2", "1 2 3 4", "1 -2 3", "1 x 3", "1 2.5 3"])
      assert.throws(() => parseSchedstat(bad), /not a \/proc schedstat text/, JSON.stringify(bad));
    const withWait = (sample: ProcessSample, ns: (id: number) => number | undefined): ProcessSample => ({
      totalTicks: sample.totalTicks,
      threads: sample.threads.map((t) => ({ ...t, runqueueWaitNs: ns(t.id) })),
    });
    // 1009 started between the samples (counted from zero); 1013 has no later reading (a read
    // that failed as it ended): it counts for nothing, not as a negative wait.
    const before = withWait(
      { ...nodeProcess(() => 0), threads: nodeProcess(() => 0).threads.filter((t) => t.id !== 1009) },
      () => 1_000_000,
    );
    const after = withWait(
      nodeProcess(() => 0),
      (id) =>
        id === 1013
          ? undefined
          : id === 1009
            ? 7_000_000
            : 1_000_000 + (id === PID ? 900_000 : id === 1011 ? 300_000 : 0),
    );
    const ns = runqueueWaitByGroup(PID, before, after);
    assert.deepEqual(ns, {
      main: 900_000,
      execution: 300_000,
      verify: 0,
      v8: 0,
      libuv: 7_000_000,
      other: 0,
      exited: 0,
    });
    assert.deepEqual(nanosPerWrite(ns!, 100), {
      main: 9,
      execution: 3,
      verify: 0,
      v8: 0,
      libuv: 70,
      other: 0,
      exited: 0,
    });
    // No readings at all (a kernel without schedstat): no figure rather than zeros.
    const none = withWait(
      nodeProcess(() => 0),
      () => undefined,
    );
    assert.equal(runqueueWaitByGroup(PID, none, none), null);
    // This process's own threads report theirs.
    const sample = sampleProcess(process.pid);
    assert.ok(sample?.threads.some((t) => (t.runqueueWaitNs ?? -1) >= 0));
  });

  it("reads --v8-pool-size from node flags", () => {
    assert.equal(v8PoolSizeOf([]), 4);
    assert.equal(v8PoolSizeOf(["--trace-gc", "--v8-pool-size=2"]), 2);
    assert.equal(v8PoolSizeOf(["--v8-pool-size=0"]), 4);
  });

  it("finds a worker thread that named itself in this process", async () => {
    const worker = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       import(workerData).then(({ nameThisThread, THREAD_NAMES }) => {
         nameThisThread(THREAD_NAMES.execution);
         parentPort.postMessage("named");
         setTimeout(() => {}, 60_000);
       });`,
      { eval: true, workerData: new URL("../../node/thread-name.js", import.meta.url).href },
    );
    try {
      await new Promise((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      });
      const sample = sampleProcess(process.pid);
      assert.ok(sample !== undefined, "/proc is readable");
      const groups = classifyThreads(process.pid, sample.threads);
      const named = sample.threads.filter((t) => t.name === THREAD_NAMES.execution);
      assert.equal(named.length, 1);
      assert.equal(groups.get(named[0]!.id), "execution");
      assert.equal(groups.get(process.pid), "main");
    } finally {
      await worker.terminate();
    }
  });
});
