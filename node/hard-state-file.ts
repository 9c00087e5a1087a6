/**
 * The consensus hard-state file (`consensus.json`: view, vote, commit point) as the replica writes
 * it. Two kinds of write:
 *
 * - `writeNow`: a view or vote change, durable before the call returns (before any message that
 *   depends on it goes out), as `writeDurable` does;
 * - `checkpoint`: a commit point moved on, with view and vote as the last `writeNow` left them.
 *   Nothing waits for it (a restart re-learns a lagging commit point), so its two syncs run on
 *   libuv's threadpool instead of stalling the main thread: a sync took milliseconds on a quiet
 *   disk and tens of milliseconds on a busy one, once every few thousand commits, and every
 *   write waiting behind the stall lost that much latency.
 *
 * A checkpoint writes and syncs its own temp file off the main thread, then, back on it, is renamed
 * over the file only if no `writeNow` came in between (which would hold a newer view or vote, and
 * the latest commit point too): that check and the rename run in one synchronous step, so a
 * checkpoint can never put back an older view or vote. The folder is synced after the rename, as
 * `writeDurable` does; until then a crash leaves the previous file, which is equally valid.
 */
import { renameSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { writeDurable } from "./state-file.js";

export class HardStateFile {
  readonly path: string;
  /** Counts `writeNow` calls: a checkpoint started under another count is superseded. */
  #generation = 0;
  #checkpointing = false;

  constructor(path: string) {
    this.path = path;
  }

  /** True while a checkpoint is being written (a new one is not started meanwhile). */
  get checkpointing(): boolean {
    return this.#checkpointing;
  }

  /** Writes `content` durably now, superseding any checkpoint in flight. Throws on I/O errors. */
  writeNow(content: string): void {
    this.#generation++;
    writeDurable(this.path, content);
  }

  /**
   * Writes `content` (the latest durable view and vote with a newer commit point) off the main
   * thread. Resolves true once it replaced the file and the folder was synced, false when a
   * `writeNow` superseded it (its temp file removed). Rejects on I/O errors. One at a time
   * (a bug otherwise: assert by the caller through `checkpointing`).
   */
  async checkpoint(content: string): Promise<boolean> {
    if (this.#checkpointing) throw new Error("a hard-state checkpoint is already in flight");
    this.#checkpointing = true;
    const generation = this.#generation;
    const tmp = `${this.path}.checkpoint.tmp`;
    try {
      const file = await open(tmp, "w", 0o600);
      try {
        await file.writeFile(content);
        await file.sync();
      } finally {
        await file.close();
      }
      if (generation !== this.#generation) {
        await unlink(tmp);
        return false;
      }
      renameSync(tmp, this.path); // same synchronous step as the check above
      const dir = await open(dirname(this.path), "r");
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      return true;
    } finally {
      this.#checkpointing = false;
    }
  }
}
