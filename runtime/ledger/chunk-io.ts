/**
 * The file operations of the chunked ledger store (chunk-store.ts), as data, and the two ways
 * they run: at once on the calling thread (`runNow`: the synchronous `append`, `truncate`, ...),
 * or queued (`enqueue`) and run in order by one drain loop whose syncs go to libuv's threadpool,
 * so the main thread never waits for the disk (`appendAsync`: group commit). Writes only copy
 * into the page cache and are made on the calling thread, in queue order (see `runAsync`).
 *
 * Group commit: while one drain round is on disk, later operations wait in the queue; the next
 * round takes all of them and merges consecutive writes to one file at contiguous positions into
 * one write and one `fdatasync` (many append batches, one sync). A `done` operation resolves once
 * everything queued before it ran (and was synced, where a sync came before it); they resolve in
 * queue order. Renames, unlinks, opens and truncations are barriers: nothing moves across them,
 * so a chunk is renamed `.uncommitted` only after its bytes are durable, as on the synchronous path.
 *
 * A failed operation fails the queue for good: every queued and later `done` rejects with the
 * error (a ledger whose disk failed must stop the node, never continue with a hole).
 */
import {
  chmodSync,
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { assert } from "../../sdk/assert.js";
import { concatBytes } from "../../sdk/bytes.js";

/**
 * A file as the disk holds it: its current name in the store directory (undefined before it is
 * created and after it is removed) and its open descriptor. Only operations change them, so
 * reads of durable records use `name`/`fd` while renames of the same file wait in the queue.
 */
export interface DiskFile {
  name: string | undefined;
  fd: number | undefined;
}

export type FileOp =
  /** Opens `name` ("w+": created or emptied; "r+": existing), setting `file.name` and `file.fd`. */
  | { readonly kind: "open"; readonly file: DiskFile; readonly name: string; readonly flags: "w+" | "r+" }
  | { readonly kind: "write"; readonly file: DiskFile; readonly position: number; readonly bytes: Uint8Array }
  | { readonly kind: "datasync"; readonly file: DiskFile }
  | { readonly kind: "truncate"; readonly file: DiskFile; readonly length: number }
  | { readonly kind: "close"; readonly file: DiskFile }
  | { readonly kind: "chmod"; readonly file: DiskFile; readonly mode: number }
  | { readonly kind: "rename"; readonly file: DiskFile; readonly name: string }
  | { readonly kind: "unlink"; readonly file: DiskFile }
  /** fsync of the store directory: makes creations, renames and removals durable. */
  | { readonly kind: "syncDir" }
  /** Bookkeeping that must follow what precedes it (a barrier, run on the calling thread). */
  | { readonly kind: "then"; readonly run: () => void }
  /** Settles a caller's promise once everything before it ran; may be delayed, never advanced. */
  | { readonly kind: "done"; readonly resolve: () => void; readonly reject: (err: unknown) => void };

export class ChunkFileIo {
  readonly #dir: string;
  #queue: FileOp[] = [];
  #running = false;
  /** Operations of the round being run that have not finished yet. */
  #left = 0;
  #failure: unknown;
  #idle: Array<() => void> = [];

  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * True while operations are queued or running: new ones must queue behind them. False as soon
   * as the last one finished, so code that awaited the last `done` may run operations at once.
   */
  get busy(): boolean {
    return this.#left > 0 || this.#queue.length > 0;
  }

  /** The error that failed the queue, if one did. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Runs `op` now on the calling thread. Only when nothing is queued (caller bug otherwise). */
  runNow(op: FileOp): void {
    assert(!this.busy, "a synchronous file operation while queued ones are pending");
    this.#throwIfFailed();
    runSync(this.#dir, op);
  }

  /** Queues `op` behind every earlier one; the drain loop starts if it is not running. */
  enqueue(op: FileOp): void {
    if (this.#failure !== undefined) {
      if (op.kind === "done") op.reject(this.#failure);
      return;
    }
    this.#queue.push(op);
    if (!this.#running) {
      this.#running = true;
      void this.#drain();
    }
  }

  /** Resolves once nothing is queued or running (failed or not). */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const round = compact(this.#queue);
        this.#queue = [];
        this.#left = round.length;
        for (let i = 0; i < round.length; i++) {
          const op = round[i]!;
          if (op.kind === "done") {
            this.#left--; // before its continuation runs
            op.resolve();
            continue;
          }
          try {
            await runAsync(this.#dir, op);
            this.#left--;
          } catch (err) {
            this.#left = 0;
            this.#fail(err, round.slice(i + 1));
            return;
          }
        }
      }
    } finally {
      this.#running = false;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  #fail(err: unknown, unrun: readonly FileOp[]): void {
    this.#failure = err;
    for (const op of [...unrun, ...this.#queue]) if (op.kind === "done") op.reject(err);
    this.#queue = [];
  }
}

/**
 * Merges a round of operations: consecutive writes to one file at contiguous positions become
 * one write, the syncs of that file between them one sync after it, and the `done`s among them
 * follow that sync (settled later than asked, never earlier). Everything else keeps its place.
 */
export function compact(ops: readonly FileOp[]): FileOp[] {
  const out: FileOp[] = [];
  let group:
    | { file: DiskFile; position: number; end: number; parts: Uint8Array[]; synced: boolean; after: FileOp[] }
    | undefined;
  const flush = () => {
    if (group === undefined) return;
    const bytes = group.parts.length === 1 ? group.parts[0]! : concatBytes(...group.parts);
    out.push({ kind: "write", file: group.file, position: group.position, bytes });
    if (group.synced) out.push({ kind: "datasync", file: group.file });
    out.push(...group.after);
    group = undefined;
  };
  for (const op of ops) {
    if (op.kind === "write") {
      if (group !== undefined && group.file === op.file && group.end === op.position) {
        group.parts.push(op.bytes);
        group.end += op.bytes.length;
        continue;
      }
      flush();
      group = {
        file: op.file,
        position: op.position,
        end: op.position + op.bytes.length,
        parts: [op.bytes],
        synced: false,
        after: [],
      };
      continue;
    }
    if (op.kind === "datasync" && group !== undefined && group.file === op.file) {
      group.synced = true;
      continue;
    }
    if (op.kind === "done" && group !== undefined) {
      group.after.push(op);
      continue;
    }
    flush();
    out.push(op);
  }
  flush();
  return out;
}

function path(dir: string, file: DiskFile): string {
  assert(file.name !== undefined, "the file exists on disk");
  return join(dir, file.name);
}

function fdOf(file: DiskFile): number {
  assert(file.fd !== undefined, "the file is open");
  return file.fd;
}

function runSync(dir: string, op: FileOp): void {
  switch (op.kind) {
    case "write": {
      const fd = fdOf(op.file);
      let done = 0;
      while (done < op.bytes.length)
        done += writeSync(fd, op.bytes, done, op.bytes.length - done, op.position + done);
      return;
    }
    case "datasync":
      fdatasyncSync(fdOf(op.file));
      return;
    case "syncDir":
      withDirectory(dir, fsyncSync);
      return;
    case "done":
      op.resolve();
      return;
    default:
      runMetadata(dir, op);
  }
}

/**
 * The operations that wait for the disk (syncs) run on the threadpool; the rest are quick system
 * calls made here. Writes too: a write lands in the page cache (microseconds for a round's
 * bytes), while a threadpool round trip costs two thread wake-ups, which on a busy machine cost
 * more CPU than the write itself (bench/store.ts: paced one-entry batches cost ~35% less CPU).
 */
async function runAsync(dir: string, op: FileOp): Promise<void> {
  switch (op.kind) {
    case "datasync":
      await callback((cb) => fdatasync(fdOf(op.file), cb));
      return;
    case "syncDir":
      await withDirectory(dir, (fd) => callback((cb) => fsync(fd, cb)));
      return;
    default:
      // Writes, metadata and `done`: on this thread, as runSync makes them.
      runSync(dir, op);
  }
}

/**
 * Runs `sync` (an fsync, on this thread or the threadpool) on a read descriptor of the store
 * directory, closing the descriptor once `sync` returns or, for a promise, once it settles.
 */
function withDirectory(dir: string, sync: (fd: number) => void): void;
function withDirectory(dir: string, sync: (fd: number) => Promise<void>): Promise<void>;
function withDirectory(dir: string, sync: (fd: number) => void | Promise<void>): void | Promise<void> {
  const fd = openSync(dir, "r");
  let result: void | Promise<void>;
  try {
    result = sync(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (result === undefined) {
    closeSync(fd);
    return;
  }
  return result.finally(() => closeSync(fd));
}

function runMetadata(dir: string, op: FileOp): void {
  switch (op.kind) {
    case "open":
      assert(op.file.fd === undefined, "a file is opened once");
      op.file.fd = openSync(join(dir, op.name), op.flags);
      op.file.name = op.name;
      return;
    case "truncate":
      ftruncateSync(fdOf(op.file), op.length);
      return;
    case "close":
      closeSync(fdOf(op.file));
      op.file.fd = undefined;
      return;
    case "chmod":
      chmodSync(path(dir, op.file), op.mode);
      return;
    case "rename":
      renameSync(path(dir, op.file), join(dir, op.name));
      op.file.name = op.name;
      return;
    case "unlink":
      if (op.file.fd !== undefined) closeSync(op.file.fd);
      op.file.fd = undefined;
      unlinkSync(path(dir, op.file));
      op.file.name = undefined;
      return;
    case "then":
      op.run();
      return;
    default:
      assert(false, `${op.kind} is not a metadata operation`);
  }
}

function callback(start: (cb: (err: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => start((err) => (err ? reject(err) : resolve())));
}
