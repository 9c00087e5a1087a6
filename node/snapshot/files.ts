/**
 * Snapshot files in `<dataDir>/snapshots/`: `snapshot-<seqno>.pending` while the evidence is not
 * committed, `snapshot-<seqno>.committed` once it is (the evidence receipt appended). Each is
 * written atomically (temp file, fsync, rename, folder fsync). Seqnos are zero-padded so names
 * sort by seqno. At most `keep` committed files stay, and no pending file older than the newest
 * committed one.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeDurable } from "../state-file.js";

const NAME = /^snapshot-(\d{16})\.(pending|committed)$/;

export function snapshotDir(dataDir: string): string {
  return join(dataDir, "snapshots");
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
    const out: number[] = [];
    for (const name of readdirSync(this.#dir)) {
      const m = NAME.exec(name);
      if (m !== null && m[2] === kind) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  read(seqno: number, kind: "pending" | "committed"): Uint8Array | undefined {
    const path = this.#path(seqno, kind);
    return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
  }

  writePending(seqno: number, bytes: Uint8Array): void {
    writeDurable(this.#path(seqno, "pending"), bytes);
    // A pending snapshot is only worth keeping until a newer one is written.
    for (const older of this.list("pending")) if (older < seqno) this.remove(older, "pending");
  }

  /** Writes the committed file, then drops its pending file and what falls out of the bound. */
  writeCommitted(seqno: number, bytes: Uint8Array): void {
    writeDurable(this.#path(seqno, "committed"), bytes);
    for (const older of this.list("pending")) if (older <= seqno) this.remove(older, "pending");
    const committed = this.list("committed");
    for (const old of committed.slice(0, Math.max(0, committed.length - this.#keep)))
      this.remove(old, "committed");
  }

  remove(seqno: number, kind: "pending" | "committed"): void {
    rmSync(this.#path(seqno, kind), { force: true });
  }
}
