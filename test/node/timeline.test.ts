/**
 * node/timeline.ts: with TREATY_TIMELINE_DIR set, a process appends `epoch_ms,thread,event,ms,count`
 * lines (its own events, V8 GC pauses, main-thread stalls) to `<dir>/timeline-<pid>.csv` when it
 * exits; without it, nothing is written. Each case runs in a child process, since the module reads
 * the variable when it loads.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const MODULE = fileURLToPath(new URL("../../node/timeline.js", import.meta.url));
const FILES = fileURLToPath(new URL("../../node/snapshot/files.js", import.meta.url));
const TAKE = fileURLToPath(new URL("../../node/snapshot/take.js", import.meta.url));
const CODEC = fileURLToPath(new URL("../../sdk/codec.js", import.meta.url));
const FORMAT = fileURLToPath(new URL("../../node/snapshot/format.js", import.meta.url));

/**
 * Loads the module in a child with `env` (TREATY_TIMELINE_DIR empty unless given) and working
 * folder `cwd`, records one event, forces a full GC, blocks 80 ms; checks the child's TIMELINE.
 */
function runChild(env: Record<string, string>, cwd?: string): { before: number; after: number } {
  const script = `
    const { TIMELINE, timeline } = await import(${JSON.stringify(MODULE)});
    timeline("batch", performance.now(), 1.5, 3);
    globalThis.gc();
    const until = performance.now() + 80;
    while (performance.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 50));
    process.stdout.write(String(TIMELINE));
  `;
  const before = Date.now();
  const out = execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
    env: { ...process.env, TREATY_TIMELINE_DIR: "", ...env },
    encoding: "utf8",
    ...(cwd !== undefined && { cwd }),
  });
  assert.equal(out, String((env.TREATY_TIMELINE_DIR ?? "").length > 0));
  return { before, after: Date.now() };
}

describe("node timeline (TREATY_TIMELINE_DIR)", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-timeline-"));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("writes the process's events, GC pauses and main-thread stalls with epoch times", () => {
    const dir = tempDir();
    const { before, after: end } = runChild({ TREATY_TIMELINE_DIR: dir });
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    assert.match(files[0]!, /^timeline-\d+\.csv$/);
    const rows = readFileSync(join(dir, files[0]!), "utf8")
      .trimEnd()
      .split("\n")
      .map((line) => line.split(","));
    for (const row of rows) {
      assert.equal(row.length, 5, row.join(","));
      const epoch = Number(row[0]);
      assert.ok(epoch >= before - 1 && epoch <= end + 1, `${epoch} within the child's run`);
      assert.equal(row[1], "main");
      assert.ok(Number(row[3]) >= 0 && Number.isInteger(Number(row[4])));
    }
    const batch = rows.find((r) => r[2] === "batch");
    assert.deepEqual(batch?.slice(1), ["main", "batch", "1.500", "3"]);
    assert.ok(
      rows.some((r) => r[2] === "gc-major"),
      "the forced full GC",
    );
    // The 20 ms timer could not run during the 80 ms busy loop.
    const stall = rows.find((r) => r[2] === "stall");
    assert.ok(stall !== undefined && Number(stall[3]) > 6, "the blocked main thread");
  });

  it("records nothing when the variable is empty (TIMELINE false, no file in the working folder)", () => {
    const dir = tempDir();
    runChild({}, dir);
    assert.deepEqual(readdirSync(dir), []);
  });

  it("records a snapshot's body build and its file writes (pending, completed, committed), with the seqno", () => {
    const dir = tempDir();
    const data = tempDir();
    // A snapshot of an empty state at seqno 7 (no private part), built and written as a node does.
    const script = `
      const { SnapshotFiles } = await import(${JSON.stringify(FILES)});
      const { takeSnapshotBody } = await import(${JSON.stringify(TAKE)});
      const { encode } = await import(${JSON.stringify(CODEC)});
      const execution = {
        snapshotRows: async (version) => ({ version, publicBytes: encode([]), privateBytes: null, rows: 0 }),
      };
      const state = { seqno: 7, view: 2, frontier: [], views: [{ view: 2, startSeqno: 1 }], config: null };
      const taken = await takeSnapshotBody(execution, state, () => ({ version: 1 }));
      const files = new SnapshotFiles(${JSON.stringify(join(data, "snapshots"))}, 2);
      const { encodeFileParts } = await import(${JSON.stringify(FORMAT)});
      await files.writePending(7, encodeFileParts(taken.body, null));
      const evidence = { entry: new Uint8Array(3), receipt: { proof: [] }, consistency: [] };
      await files.completePending(7, encodeFileParts(taken.body, null), encodeFileParts(taken.body, evidence));
      await files.writeCommitted(7, taken.body);
    `;
    execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, TREATY_TIMELINE_DIR: dir },
    });
    const [file] = readdirSync(dir);
    const rows = readFileSync(join(dir, file!), "utf8")
      .trimEnd()
      .split("\n")
      .map((line) => line.split(","));
    for (const event of [
      "snapshot-body",
      "snapshot-write-pending",
      "snapshot-complete-pending",
      "snapshot-write-committed",
    ]) {
      const row = rows.find((r) => r[2] === event);
      assert.ok(row !== undefined, event);
      assert.equal(row[1], "main");
      assert.equal(row[4], "7", `${event}: the snapshot's seqno`);
      assert.ok(Number(row[3]) >= 0);
    }
  });
});
