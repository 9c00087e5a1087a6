/**
 * The ledger checkpoint file (`<dataDir>/ledger-checkpoint.bin`): a `LedgerCheckpoint` of the
 * committed ledger, so a restart reads only the entries after it (`Ledger.open` checks it
 * against the store and ignores one that disagrees). Rewritten durably every
 * `CHECKPOINT_EVERY_ENTRIES` committed entries and when the node stops; ~2 bytes per entry at
 * the default Merkle resident level.
 */
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { decode, encode } from "../sdk/codec.js";
import type { Ledger, LedgerCheckpoint } from "../runtime/ledger/ledger.js";
import { writeDurable } from "./state-file.js";

/** Committed entries between two checkpoint writes. */
export const CHECKPOINT_EVERY_ENTRIES = 16_384;

export function checkpointPath(dataDir: string): string {
  return join(dataDir, "ledger-checkpoint.bin");
}

/** The checkpoint in `path`, or undefined when there is none or it is not one (then a full open). */
export function readLedgerCheckpoint(path: string): LedgerCheckpoint | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const value = decode<Record<string, unknown>>(readFileSync(path), "ledger checkpoint");
    const counts = (v: unknown) => Array.isArray(v) && v.every((n) => Number.isSafeInteger(n));
    const views = (v: unknown) =>
      Array.isArray(v) &&
      v.every(
        (x) =>
          typeof x === "object" &&
          x !== null &&
          Number.isSafeInteger((x as { view?: unknown }).view) &&
          Number.isSafeInteger((x as { startSeqno?: unknown }).startSeqno),
      );
    if (
      !Number.isSafeInteger(value.size) ||
      !Number.isSafeInteger(value.signedAt) ||
      !Number.isSafeInteger(value.view) ||
      !(value.nodes instanceof Uint8Array) ||
      !views(value.views) ||
      !counts(value.signatures) ||
      !counts(value.internal)
    ) {
      return undefined;
    }
    return value as unknown as LedgerCheckpoint;
  } catch {
    return undefined;
  }
}

/** Writes checkpoints of `ledger` as its commit point moves (see the module comment). */
export class CheckpointWriter {
  readonly #path: string;
  #lastSize: number;

  constructor(path: string, openedFromSeqno: number) {
    this.#path = path;
    this.#lastSize = openedFromSeqno;
  }

  /** Writes a checkpoint at the commit point once it moved `CHECKPOINT_EVERY_ENTRIES` past the last. */
  maybeWrite(ledger: Ledger, committedSeqno: number): void {
    if (committedSeqno - this.#lastSize < CHECKPOINT_EVERY_ENTRIES) return;
    this.write(ledger, committedSeqno);
  }

  /** Writes a checkpoint at the commit point now (if it covers more than the last one). */
  write(ledger: Ledger, committedSeqno: number): void {
    const checkpoint = ledger.checkpoint(committedSeqno);
    if (checkpoint === undefined || checkpoint.size <= this.#lastSize) return;
    writeDurable(this.#path, encode(checkpoint));
    this.#lastSize = checkpoint.size;
  }
}
