/**
 * Durable files (consensus hard state, session epoch, ledger secrets; snapshots through
 * `writeDurableParts`): written to a temp file, fsynced, renamed over the old one and the folder
 * fsynced, so a crash leaves either the old or the new content, never a torn file.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { TreatyError } from "../sdk/errors.js";

export function writeDurable(path: string, content: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, typeof content === "string" ? Buffer.from(content) : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * `writeDurable` for large files, off the main thread (libuv's thread pool): the concatenation of
 * `parts` (never copied into one buffer) to a temp file, fsync, rename over `path`, fsync of the
 * folder. A crash leaves either the old file or the new one (and at worst a `.tmp` file, which
 * the folder's owner removes when it opens it, as SnapshotFiles does).
 */
export async function writeDurableParts(path: string, parts: readonly Uint8Array[]): Promise<void> {
  const tmp = `${path}.tmp`;
  const file = await open(tmp, "w", 0o600);
  try {
    let position = 0;
    for (const part of parts) {
      // A write may be short (the kernel caps one call): loop until the part is on its way.
      for (let done = 0; done < part.length; ) {
        const { bytesWritten } = await file.write(part, done, part.length - done, position);
        done += bytesWritten;
        position += bytesWritten;
      }
    }
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Reads a JSON state file; undefined when it does not exist; LedgerCorrupt when unreadable. */
export function readJsonFile<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (err) {
    throw new TreatyError("LedgerCorrupt", `${path}: not valid JSON (${(err as Error).message})`);
  }
}
