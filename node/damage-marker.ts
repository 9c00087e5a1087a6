/**
 * The damage marker: `<dataDir>/DAMAGED.json`, written when a node fail-stops on stored state
 * found damaged (`LedgerCorrupt`), so that no later start serves from that data folder. LMDB's
 * start-up check (runtime/lmdb-check.ts) reads only the meta and root pages; without the marker a
 * restart would serve again until a request reached the damaged page. docs/deploy.md, "Damaged
 * LMDB files".
 *
 * The marker goes with the damaged data folder: restoring the folder from a copy removes it, and
 * an operator who has checked the data files deletes it explicitly. Any file (or directory, or
 * link) at that path refuses the start, whatever it holds: a marker that cannot be read is still
 * a record that the folder was found damaged. A recovery refuses a copy of a lost service's data
 * folder that holds one the same way (node/recovery/recover.ts); the offline ledger tools read
 * such a folder and say it is marked (node/cli/ledger.ts): a verify is how the operator checks it.
 */
import { closeSync, lstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { TreatyError } from "../sdk/errors.js";
import type { Logger } from "./log.js";
import { writeDurable } from "./state-file.js";

/** The marker's file name inside the data folder. */
export const DAMAGE_MARKER_FILE = "DAMAGED.json";

/** How much of a marker a start reads: a record is a few hundred bytes; the rest is not shown. */
const MARKER_READ_BYTES = 16 * 1024;
/** How many characters of a recorded field the refusal quotes. */
const FIELD_CHARS = 2000;

/** What the marker records: when, which file (when the error names an LMDB file), LMDB's words. */
export interface DamageRecord {
  /** ISO 8601 time of the fail-stop. */
  readonly recordedAt: string;
  /** The error's code (`LedgerCorrupt`). */
  readonly code: string;
  /** The damaged file, as the error named it ("LMDB file <path>: ..."), or null. */
  readonly file: string | null;
  /** The error's message: the file and the fault as LMDB reported it. */
  readonly message: string;
}

/** The marker's path in `dataDir`. */
export function damageMarkerPath(dataDir: string): string {
  return join(dataDir, DAMAGE_MARKER_FILE);
}

/**
 * Records durably (temp file, fsync, rename, fsync of the folder) that the node in `dataDir`
 * stopped on `err`, stored state found damaged. Never throws: the node is fail-stopping, and a
 * marker it cannot write (a full or read-only disk) is logged at `error` with the path and the
 * reason, and the stop goes on. Returns whether the marker was written.
 */
export function recordDamage(dataDir: string, err: TreatyError, nowMs: number, logger: Logger): boolean {
  const path = damageMarkerPath(dataDir);
  const record: DamageRecord = {
    recordedAt: new Date(nowMs).toISOString(),
    code: err.code,
    file: /LMDB file (.+?): /.exec(err.message)?.[1] ?? null,
    message: err.message,
  };
  try {
    writeDurable(path, `${JSON.stringify(record, null, 2)}\n`);
    logger.error("data folder marked damaged: a start will refuse it", { path });
    return true;
  } catch (cause) {
    logger.error("could not write the damage marker: a restart may serve from the damaged data folder", {
      path,
      err: cause,
    });
    return false;
  }
}

/** A damage marker found in a data folder. */
export interface DamageMarker {
  /** The marker's path. */
  readonly path: string;
  /** What it records (long fields clipped), or null when it holds no readable record. */
  readonly record: DamageRecord | null;
  /** Why it holds no readable record (garbage, empty, too large, a directory...); null when it does. */
  readonly unreadable: string | null;
}

/**
 * The damage marker in `dataDir`, or undefined when there is none. Reads nothing else in the
 * folder (in particular no LMDB file). Any file, directory or link at the marker's path is a
 * marker, whatever it holds.
 */
export function findDamageMarker(dataDir: string): DamageMarker | undefined {
  const path = damageMarkerPath(dataDir);
  try {
    lstatSync(path); // not existsSync: a dangling link is a marker too
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    // Present but not even stat-able (EACCES on the folder, ELOOP...): a marker all the same.
  }
  const found = readRecord(path);
  return "record" in found
    ? { path, record: found.record, unreadable: null }
    : { path, record: null, unreadable: found.unreadable };
}

/**
 * "data folder <dataDir> is marked damaged by <path>, recorded at <time>: <code>: <message>", or
 * for a marker holding no record, "..., which does not hold a readable damage record (<why>); any
 * marker present is treated as damage". Refusals and the ledger tools' warnings start with it.
 */
export function describeDamageMarker(dataDir: string, marker: DamageMarker): string {
  const what =
    marker.record !== null
      ? `recorded at ${marker.record.recordedAt}: ${marker.record.code}: ${marker.record.message}`
      : `which does not hold a readable damage record (${marker.unreadable}); any marker present is treated as damage`;
  return `data folder ${dataDir} is marked damaged by ${marker.path}, ${what}`;
}

/**
 * What refuses a data folder marked damaged: a node starting on it (`start`), or a recovery
 * reading it as the lost service's copy (`recover`). The ledger tools read one and warn instead
 * (node/cli/ledger.ts).
 */
export type MarkedFolderUse = "start" | "recover";

/**
 * Throws TreatyError `LedgerCorrupt` (with `details.marker`, the marker's path) when `dataDir`
 * holds a damage marker, naming it, what it recorded, and the way out for `use`; returns
 * otherwise. Reads nothing else in the folder (in particular no LMDB file). A marker whose
 * content is not a record (garbage, empty, too large, a directory, unreadable) refuses all the
 * same.
 */
export function refuseIfMarkedDamaged(dataDir: string, use: MarkedFolderUse): void {
  const marker = findDamageMarker(dataDir);
  if (marker === undefined) return;
  const path = marker.path;
  const way =
    use === "start"
      ? `The node refuses to start on this data folder: restore the data folder from a copy taken while the node was stopped ` +
        `(the marker stays with the damaged folder), or, after checking the data files, delete ${path} explicitly ` +
        `(docs/deploy.md, "Damaged LMDB files").`
      : `A recovery does not read a data folder marked damaged: recover from another surviving copy, or check this one ` +
        `(treaty ledger verify ${dataDir} reads it read-only and reports the marker) and then delete ${path} explicitly ` +
        `(docs/recovery.md, "A copy marked damaged").`;
  throw new TreatyError("LedgerCorrupt", `${describeDamageMarker(dataDir, marker)}. ${way}`, {
    marker: path,
  });
}

/** The marker's record, or why it is not one. */
function readRecord(path: string): { record: DamageRecord } | { unreadable: string } {
  let text: string;
  try {
    const fd = openSync(path, "r");
    try {
      const buffer = Buffer.alloc(MARKER_READ_BYTES + 1);
      let length = 0;
      for (;;) {
        const read = readSync(fd, buffer, length, buffer.length - length, null);
        if (read === 0) break;
        length += read;
        if (length === buffer.length) break;
      }
      if (length > MARKER_READ_BYTES) return { unreadable: `larger than ${MARKER_READ_BYTES} bytes` };
      text = buffer.subarray(0, length).toString("utf8");
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return { unreadable: `cannot read it: ${(err as Error).message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { unreadable: `not JSON: ${(err as Error).message}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { unreadable: "not a JSON object" };
  const fields = value as Record<string, unknown>;
  for (const name of ["recordedAt", "code", "message"] as const) {
    if (typeof fields[name] !== "string") return { unreadable: `${name}: expected a string` };
  }
  if (fields.file !== undefined && fields.file !== null && typeof fields.file !== "string")
    return { unreadable: "file: expected a string or null" };
  const clip = (s: string) => (s.length > FIELD_CHARS ? `${s.slice(0, FIELD_CHARS)}...` : s);
  return {
    record: {
      recordedAt: clip(fields.recordedAt as string),
      code: clip(fields.code as string),
      file: typeof fields.file === "string" ? clip(fields.file) : null,
      message: clip(fields.message as string),
    },
  };
}
