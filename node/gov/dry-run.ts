/**
 * What a proposal would change, read off the write set of a constitution `apply` that ran in
 * an abandoned sub-transaction (ProposalEngine.dryRun): one row per governance table key, with
 * the value before and after. Code records (contracts, the constitution) are summarized: digest,
 * version, bundle size and file names, not the bundle itself.
 */
import { utf8 } from "../../sdk/bytes.js";
import type { TableChange } from "../../sdk/governance.js";
import type { WriteSet } from "../../runtime/kv/types.js";
import { readTableValue } from "./tables.js";

const PREFIX = "public:gov.";
const CODE_TABLES = new Set(["contracts", "constitution"]);

/** The changes of `writeSet` (apply's own writes), with old values read through `before`. */
export function tableChanges(
  writeSet: WriteSet,
  before: (map: string, key: Uint8Array) => Uint8Array | undefined,
): TableChange[] {
  const changes: TableChange[] = [];
  for (const { map, writes } of writeSet.public) {
    const table = map.startsWith(PREFIX) ? map.slice(PREFIX.length) : map;
    for (const [key, value] of writes) {
      const old = before(map, key);
      changes.push({
        table,
        key: utf8.decode(key),
        old: old === undefined ? null : shown(table, readTableValue<unknown>(old)),
        new: value === null ? null : shown(table, readTableValue<unknown>(value)),
      });
    }
  }
  return changes;
}

/** A code record without its bundle (which can be megabytes): what a member compares. */
function shown(table: string, value: unknown): unknown {
  if (!CODE_TABLES.has(table) || value === null || typeof value !== "object") return value;
  const { bundle, source, ...rest } = value as { bundle?: unknown; source?: unknown };
  return {
    ...rest,
    ...(typeof bundle === "string" && { bundleBytes: utf8.encode(bundle).length }),
    ...(source !== null && typeof source === "object" && { files: Object.keys(source).sort() }),
  };
}
