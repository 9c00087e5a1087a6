/**
 * HardStateFile (node/hard-state-file.ts) on a real folder: a checkpoint replaces the file off
 * the main thread; a durable view/vote write made while a checkpoint is in flight wins (the
 * checkpoint is dropped, never renamed over it); one checkpoint at a time.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { HardStateFile } from "../../node/hard-state-file.js";
import { TempDirs } from "../execution/support.js";

const dirs = new TempDirs();
after(() => dirs.cleanup());

const state = (view: number, commitSeqno: number) => JSON.stringify({ view, votedFor: "n1", commitSeqno });

describe("HardStateFile", () => {
  test("a checkpoint replaces the file and leaves no temp file", async () => {
    const dir = dirs.make();
    const file = new HardStateFile(join(dir, "consensus.json"));
    file.writeNow(state(3, 10));
    const written = file.checkpoint(state(3, 5000));
    assert.equal(file.checkpointing, true);
    assert.equal(await written, true);
    assert.equal(file.checkpointing, false);
    assert.equal(readFileSync(file.path, "utf8"), state(3, 5000));
    assert.deepEqual(readdirSync(dir), ["consensus.json"]);
  });

  test("a view or vote written while a checkpoint is in flight is never overwritten by it", async () => {
    const dir = dirs.make();
    const file = new HardStateFile(join(dir, "consensus.json"));
    file.writeNow(state(3, 10));
    const written = file.checkpoint(state(3, 5000));
    file.writeNow(state(4, 5001)); // a new view, durable at once
    assert.equal(readFileSync(file.path, "utf8"), state(4, 5001));
    assert.equal(await written, false, "the checkpoint was superseded");
    assert.equal(readFileSync(file.path, "utf8"), state(4, 5001));
    assert.deepEqual(readdirSync(dir), ["consensus.json"]);
    // The next checkpoint (from the new view) goes through.
    assert.equal(await file.checkpoint(state(4, 9000)), true);
    assert.equal(readFileSync(file.path, "utf8"), state(4, 9000));
  });

  test("one checkpoint at a time; a failed one rejects and the next may run", async () => {
    const dir = dirs.make();
    const file = new HardStateFile(join(dir, "consensus.json"));
    const first = file.checkpoint(state(1, 1));
    await assert.rejects(file.checkpoint(state(1, 2)), /already in flight/);
    assert.equal(await first, true);
    assert.equal(readFileSync(file.path, "utf8"), state(1, 1));

    const missing = new HardStateFile(join(dir, "no-such-folder", "consensus.json"));
    await assert.rejects(missing.checkpoint(state(1, 1)), { code: "ENOENT" });
    assert.equal(missing.checkpointing, false);
    assert.equal(existsSync(join(dir, "no-such-folder")), false);
  });
});
