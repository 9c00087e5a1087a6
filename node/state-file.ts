/**
 * Small durable files (consensus hard state, session epoch, ledger secrets): written to a temp
 * file, fsynced, renamed over the old one and the folder fsynced, so a crash leaves either the
 * old or the new content, never a torn file.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
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

/** Reads a JSON state file; undefined when it does not exist; LedgerCorrupt when unreadable. */
export function readJsonFile<T>(path: string): T | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch (err) {
    throw new TreatyError("LedgerCorrupt", `${path}: not valid JSON (${(err as Error).message})`);
  }
}
