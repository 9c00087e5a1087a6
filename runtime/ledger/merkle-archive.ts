/**
 * The Merkle tree's compacted nodes on disk (`MerkleNodeArchive`, merkle-tree.ts): one file per
 * level, `level-<L>.bin`, node j at byte offset 32·j (a file starts sparse when the ledger starts
 * at a snapshot). The tree puts only complete nodes of committed entries, so a node once written
 * never changes; 32 zero bytes (a hole, or a write lost in a crash) read as "not held" (a SHA-256
 * of zeros is not a hash anyone can produce) and the tree recomputes that node from the ledger.
 *
 * Size: 2 bytes per ledger entry (levels ≥ 5 of the tree), against hundreds in the ledger
 * itself. Writes are not fsynced: the archive is derived data. It lives in its own folder beside
 * the ledger's (`<dataDir>/merkle/`); deleting it costs only recomputation.
 *
 * Files are opened per call (puts come once per compaction, gets only for proofs of compacted
 * entries), so the archive holds no descriptor and needs no closing.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { assert } from "../../sdk/assert.js";
import { HASH_BYTES } from "../../sdk/merkle.js";
import type { MerkleNodeArchive } from "./merkle-tree.js";

/** The archive folder of a node's data dir. */
export function merkleArchiveDir(dataDir: string): string {
  return join(dataDir, "merkle");
}

export class MerkleArchiveFiles implements MerkleNodeArchive {
  readonly #dir: string;
  readonly #read = new Uint8Array(HASH_BYTES);

  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  get(level: number, index: number): Uint8Array | undefined {
    const fd = this.#open(level, "r");
    if (fd === undefined) return undefined;
    try {
      const got = readSync(fd, this.#read, 0, HASH_BYTES, index * HASH_BYTES);
      if (got !== HASH_BYTES || this.#read.every((b) => b === 0)) return undefined;
      return new Uint8Array(this.#read);
    } finally {
      closeSync(fd);
    }
  }

  put(level: number, firstIndex: number, hashes: Uint8Array): void {
    assert(hashes.length % HASH_BYTES === 0, "archived nodes are 32 bytes each");
    const fd = this.#open(level, "r+") ?? this.#open(level, "w+")!;
    try {
      let done = 0;
      while (done < hashes.length)
        done += writeSync(fd, hashes, done, hashes.length - done, firstIndex * HASH_BYTES + done);
    } finally {
      closeSync(fd);
    }
  }

  /** Forgets every node (the ledger restarted at a snapshot from another history of files). */
  clear(): void {
    for (const name of readdirSync(this.#dir))
      if (/^level-\d+\.bin$/.test(name)) rmSync(join(this.#dir, name), { force: true });
  }

  /** The level's file opened with `flags`, or undefined when it does not exist (read flags). */
  #open(level: number, flags: "r" | "r+" | "w+"): number | undefined {
    assert(Number.isInteger(level) && level >= 0 && level <= 52, "archive level out of range");
    try {
      return openSync(join(this.#dir, `level-${level}.bin`), flags);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }
}
