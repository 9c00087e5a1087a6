/**
 * Snapshot files in `<dataDir>/snapshots/`: `snapshot-<seqno>.pending` while the evidence is not
 * committed, `snapshot-<seqno>.committed` once it is (the evidence receipt appended). Each is
 * written atomically (temp file, fsync, rename, folder fsync), asynchronously: the writes and
 * fsyncs run on libuv's thread pool, so a snapshot of the whole state does not hold the main
 * thread (and the node's consensus and commits) while the disk syncs. The bytes are given as parts
 * written one after the other (the file is their concatenation), so the body is never copied into
 * a file buffer. Seqnos are zero-padded so names sort by seqno. At most `keep` committed files
 * stay, and no pending file older than the newest committed one.
 *
 * Removing a file (an older pending one, or a committed one beyond `keep`) after a write is
 * asynchronous too.
 *
 * Completing a snapshot with its evidence (`completePending`) does not write the body again: the
 * pending file's last bytes (the evidence field, `nil`) are overwritten with the evidence, the file
 * synced and renamed to the committed name. The body's bytes are never written over: a crash
 * leaves the pending file with its body and, after it, the `nil`, a cut evidence field (the
 * file does not decode: the node removes it at its start, as a pending file cut short) or
 * evidence bytes that decode (read as pending, the evidence field ignored as in any pending file;
 * completing it then writes the committed file whole).
 *
 * Writes to the same file must not overlap (they share its temp file): the caller serializes them
 * (Snapshots keeps one queue of file writes).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeDurableParts } from "../state-file.js";
import { TIMELINE, timeline } from "../timeline.js";

const NAME = /^snapshot-(\d{16})\.(pending|committed)$/;

export function snapshotDir(dataDir: string): string {
  return join(dataDir, "snapshots");
}

/** The files of `kind` in the snapshot folder `dir` (none when it does not exist), by seqno ascending. Reads only. */
export function listSnapshotFiles(
  dir: string,
  kind: "pending" | "committed",
): { readonly seqno: number; readonly path: string }[] {
  const out: { seqno: number; path: string }[] = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const m = NAME.exec(name);
    if (m !== null && m[2] === kind) out.push({ seqno: Number(m[1]), path: join(dir, name) });
  }
  return out.sort((a, b) => a.seqno - b.seqno);
}

export class SnapshotFiles {
  readonly #dir: string;
  readonly #keep: number;

  constructor(dir: string, keep: number) {
    this.#dir = dir;
    this.#keep = Math.max(1, keep);
    mkdirSync(dir, { recursive: true });
    // Temp files of a write interrupted by a crash.
    for (const name of readdirSync(dir)) if (name.endsWith(".tmp")) rmSync(join(dir, name), { force: true });
  }

  #path(seqno: number, kind: "pending" | "committed"): string {
    return join(this.#dir, `snapshot-${String(seqno).padStart(16, "0")}.${kind}`);
  }

  /** Seqnos of the files of `kind`, ascending. */
  list(kind: "pending" | "committed"): number[] {
    return listSnapshotFiles(this.#dir, kind).map((f) => f.seqno);
  }

  read(seqno: number, kind: "pending" | "committed"): Uint8Array | undefined {
    const path = this.#path(seqno, kind);
    return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
  }

  /** `read`, off the main thread (libuv's thread pool). */
  async readAsync(seqno: number, kind: "pending" | "committed"): Promise<Uint8Array | undefined> {
    try {
      const bytes = await readFile(this.#path(seqno, kind));
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /** Writes the pending file (the concatenation of `parts`) durably, then drops older pending files. */
  async writePending(seqno: number, parts: readonly Uint8Array[]): Promise<void> {
    const started = performance.now();
    await writeDurableParts(this.#path(seqno, "pending"), parts);
    if (TIMELINE) timeline("snapshot-write-pending", started, performance.now() - started, seqno);
    // A pending snapshot is only worth keeping until a newer one is written.
    for (const older of this.list("pending")) if (older < seqno) await this.#removeAsync(older, "pending");
  }

  /** Writes the committed file durably, then drops its pending file and what falls out of the bound. */
  async writeCommitted(seqno: number, parts: readonly Uint8Array[]): Promise<void> {
    const started = performance.now();
    await writeDurableParts(this.#path(seqno, "committed"), parts);
    if (TIMELINE) timeline("snapshot-write-committed", started, performance.now() - started, seqno);
    await this.#afterCommitted(seqno);
  }

  /** After the committed file of `seqno` is durable: drops its pending file and what falls out of the bound. */
  async #afterCommitted(seqno: number): Promise<void> {
    for (const older of this.list("pending")) if (older <= seqno) await this.#removeAsync(older, "pending");
    const committed = this.list("committed");
    for (const old of committed.slice(0, Math.max(0, committed.length - this.#keep)))
      await this.#removeAsync(old, "committed");
  }

  /**
   * Turns the pending file of `seqno`, written as `pendingParts`, into the committed file
   * `committedParts` (the same parts up to a different last one: encodeFileParts with and without
   * the evidence) without writing the parts they share: the bytes from where the last parts
   * differ are written over the file's end, the file synced, renamed and the folder synced; then
   * as `writeCommitted`. Returns false, changing nothing, when the pending file is missing, is not
   * as long as `pendingParts` or does not end with their last part: the caller writes the whole
   * committed file then.
   */
  async completePending(
    seqno: number,
    pendingParts: readonly Uint8Array[],
    committedParts: readonly Uint8Array[],
  ): Promise<boolean> {
    const started = performance.now();
    const last = pendingParts.length - 1;
    const oldTail = pendingParts[last]!;
    const newTail = committedParts[last]!;
    if (committedParts.length !== pendingParts.length) return false;
    for (let i = 0; i < last; i++) if (committedParts[i]!.length !== pendingParts[i]!.length) return false;
    let same = 0;
    while (same < oldTail.length && same < newTail.length && oldTail[same] === newTail[same]) same++;
    const size = pendingParts.reduce((n, part) => n + part.length, 0);
    const path = this.#path(seqno, "pending");
    let file: Awaited<ReturnType<typeof open>>;
    try {
      file = await open(path, "r+");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
    try {
      if ((await file.stat()).size !== size) return false;
      const end = new Uint8Array(oldTail.length);
      await file.read(end, 0, end.length, size - oldTail.length);
      if (Buffer.compare(end, oldTail) !== 0) return false;
      const rest = newTail.subarray(same);
      let position = size - oldTail.length + same;
      for (let done = 0; done < rest.length; ) {
        const { bytesWritten } = await file.write(rest, done, rest.length - done, position);
        done += bytesWritten;
        position += bytesWritten;
      }
      await file.truncate(position);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(path, this.#path(seqno, "committed"));
    const dir = await open(this.#dir, "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    if (TIMELINE) timeline("snapshot-complete-pending", started, performance.now() - started, seqno);
    await this.#afterCommitted(seqno);
    return true;
  }

  remove(seqno: number, kind: "pending" | "committed"): void {
    rmSync(this.#path(seqno, kind), { force: true });
  }

  /** `remove` off the main thread: unlinking a file of the whole state can take milliseconds. */
  #removeAsync(seqno: number, kind: "pending" | "committed"): Promise<void> {
    return rm(this.#path(seqno, kind), { force: true });
  }
}
