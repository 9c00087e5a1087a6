/**
 * docs/deploy.md's "Config reference" says it lists every field of a node config: every field
 * path the config parsers name (the dotted paths of their error messages, e.g.
 * "history.windowEntries") is in its table, itself or through its section's row (`events`).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";

const ROOT = findPackageRoot();
const PARSERS = ["node/config.ts", "node/nats-config.ts", "node/events/config.ts"];
/** Sections the table documents in one row that points elsewhere for their fields. */
const SECTION_ROWS = ["events"];

describe("docs/deploy.md config reference", () => {
  it("lists every field the node config parsers read", () => {
    const deploy = readFileSync(join(ROOT, "docs", "deploy.md"), "utf8");
    const section = deploy.slice(
      deploy.indexOf("## Config reference"),
      deploy.indexOf("\n## ", deploy.indexOf("## Config reference") + 1),
    );
    // The first cell of each row: one or more fields, "a / .b" and "a + b" shorthand included.
    const documented = section
      .split("\n")
      .filter((line) => line.startsWith("| `"))
      .map((line) => line.split("|")[1]!)
      .join(" ");
    const fields = new Set(
      PARSERS.flatMap((file) => {
        const source = readFileSync(join(ROOT, file), "utf8");
        return [
          ...[...source.matchAll(/"((?:[a-z][a-zA-Z]*)(?:\.[a-z][a-zA-Z]*)+)"/g)].map((m) => m[1]!),
          // Fields parsed for several sections (`${section}.tls.caFile`: `nats`, `events.jetstream`),
          // checked here as the `nats` section's; `events` has its own row.
          ...[...source.matchAll(/`\$\{section\}((?:\.[a-z][a-zA-Z]*)+)/g)].map((m) => `nats${m[1]!}`),
        ];
      }),
    );
    assert.ok(fields.size >= 30, `only ${fields.size} fields found`);
    const missing = [...fields].filter((field) => {
      if (SECTION_ROWS.some((s) => field === s || field.startsWith(`${s}.`)))
        return !documented.includes(`\`${field.split(".")[0]}\``);
      const last = field.split(".").at(-1)!;
      return !documented.includes(field) && !new RegExp(`\`\\.?${last}\``).test(documented);
    });
    assert.deepEqual(missing, []);
  });
});
