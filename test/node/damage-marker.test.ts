/**
 * The damage marker (node/damage-marker.ts) on its own: what `recordDamage` writes and that it
 * never throws, and that `refuseIfMarkedDamaged` refuses every marker, record or not. The node's
 * use of both, through the real CLI on a damaged LMDB file, is test/node/kv-damage.test.ts.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  DAMAGE_MARKER_FILE,
  damageMarkerPath,
  findDamageMarker,
  type MarkedFolderUse,
  recordDamage,
  refuseIfMarkedDamaged,
} from "../../node/damage-marker.js";
import type { Logger } from "../../node/log.js";
import { TreatyError } from "../../sdk/errors.js";

const root = mkdtempSync(join(tmpdir(), "treaty-damage-marker-"));
let folders = 0;
function folder(): string {
  const dir = join(root, String(folders++));
  mkdirSync(dir);
  return dir;
}

/** A logger keeping its `error` lines. */
function errorLog(): { logger: Logger; errors: Array<{ msg: string; fields: Record<string, unknown> }> } {
  const errors: Array<{ msg: string; fields: Record<string, unknown> }> = [];
  const ignore = () => undefined;
  const logger = {
    error: (msg: string, fields: Record<string, unknown> = {}) => errors.push({ msg, fields }),
    warn: ignore,
    info: ignore,
    debug: ignore,
    child: () => logger,
  } as unknown as Logger;
  return { logger, errors };
}

const DAMAGE = new TreatyError(
  "LedgerCorrupt",
  "kv store /srv/treaty/data/kv: LMDB file /srv/treaty/data/kv/data.mdb: MDB_CORRUPTED: Located page was wrong type (while reading)",
);
const AT_MS = Date.UTC(2026, 11, 6, 19, 0, 0);

/** The refusal `refuseIfMarkedDamaged(dir, use)` throws (it must throw). */
function refusal(dir: string, use: MarkedFolderUse = "start"): TreatyError {
  try {
    refuseIfMarkedDamaged(dir, use);
  } catch (err) {
    assert.ok(err instanceof TreatyError, String(err));
    return err;
  }
  assert.fail(`${dir}: the start was not refused`);
}

describe("damage marker", () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  it("a folder without a marker, or no folder at all, is not refused", () => {
    for (const use of ["start", "recover"] as const) {
      refuseIfMarkedDamaged(folder(), use);
      refuseIfMarkedDamaged(join(root, "never-created"), use);
    }
    assert.equal(findDamageMarker(folder()), undefined);
    assert.equal(findDamageMarker(join(root, "never-created")), undefined);
  });

  it("a recovery refuses a copy marked damaged the same way, with a recovery's way out", () => {
    const dir = folder();
    assert.equal(recordDamage(dir, DAMAGE, AT_MS, errorLog().logger), true);
    const path = damageMarkerPath(dir);
    const err = refusal(dir, "recover");
    assert.equal(err.code, "LedgerCorrupt");
    assert.deepEqual(err.details, { marker: path });
    assert.equal(
      err.message,
      `data folder ${dir} is marked damaged by ${path}, recorded at 2026-12-06T19:00:00.000Z: LedgerCorrupt: ${DAMAGE.message}. ` +
        `A recovery does not read a data folder marked damaged: recover from another surviving copy, or check this one ` +
        `(treaty ledger verify ${dir} reads it read-only and reports the marker) and then delete ${path} explicitly ` +
        `(docs/recovery.md, "A copy marked damaged").`,
    );
    // A marker that holds no record refuses a recovery too.
    const garbage = folder();
    writeFileSync(damageMarkerPath(garbage), "garbage");
    assert.match(
      refusal(garbage, "recover").message,
      /which does not hold a readable damage record \(not JSON: /,
    );
  });

  it("findDamageMarker gives the record, or why the marker holds none", () => {
    const dir = folder();
    recordDamage(dir, DAMAGE, AT_MS, errorLog().logger);
    assert.deepEqual(findDamageMarker(dir), {
      path: damageMarkerPath(dir),
      record: {
        recordedAt: "2026-12-06T19:00:00.000Z",
        code: "LedgerCorrupt",
        file: "/srv/treaty/data/kv/data.mdb",
        message: DAMAGE.message,
      },
      unreadable: null,
    });
    const empty = folder();
    writeFileSync(damageMarkerPath(empty), "");
    const found = findDamageMarker(empty);
    assert.equal(found?.record, null);
    assert.match(found?.unreadable ?? "", /^not JSON: /);
  });

  it("records the time, the file and LMDB's message durably; a start then refuses naming all three", () => {
    const dir = folder();
    const { logger, errors } = errorLog();
    assert.equal(recordDamage(dir, DAMAGE, AT_MS, logger), true);
    const path = join(dir, DAMAGE_MARKER_FILE);
    assert.equal(damageMarkerPath(dir), path);
    assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), {
      recordedAt: "2026-12-06T19:00:00.000Z",
      code: "LedgerCorrupt",
      file: "/srv/treaty/data/kv/data.mdb",
      message: DAMAGE.message,
    });
    assert.deepEqual(errors, [
      { msg: "data folder marked damaged: a start will refuse it", fields: { path } },
    ]);

    const err = refusal(dir);
    assert.equal(err.code, "LedgerCorrupt");
    assert.deepEqual(err.details, { marker: path });
    assert.equal(
      err.message,
      `data folder ${dir} is marked damaged by ${path}, recorded at 2026-12-06T19:00:00.000Z: LedgerCorrupt: ${DAMAGE.message}. ` +
        `The node refuses to start on this data folder: restore the data folder from a copy taken while the node was stopped ` +
        `(the marker stays with the damaged folder), or, after checking the data files, delete ${path} explicitly ` +
        `(docs/deploy.md, "Damaged LMDB files").`,
    );
  });

  it("an error naming no LMDB file records file null", () => {
    const dir = folder();
    const ledger = new TreatyError("LedgerCorrupt", "ledger entry 12: bad hash");
    assert.equal(recordDamage(dir, ledger, AT_MS, errorLog().logger), true);
    assert.equal((JSON.parse(readFileSync(damageMarkerPath(dir), "utf8")) as { file: unknown }).file, null);
    assert.ok(refusal(dir).message.includes("LedgerCorrupt: ledger entry 12: bad hash."));
  });

  it("a marker it cannot write is logged at error, never thrown", () => {
    const dir = folder();
    mkdirSync(`${damageMarkerPath(dir)}.tmp`); // the temp file cannot be opened for writing
    const { logger, errors } = errorLog();
    assert.equal(recordDamage(dir, DAMAGE, AT_MS, logger), false);
    assert.equal(errors.length, 1);
    assert.equal(
      errors[0]!.msg,
      "could not write the damage marker: a restart may serve from the damaged data folder",
    );
    assert.equal(errors[0]!.fields.path, damageMarkerPath(dir));
    assert.ok(errors[0]!.fields.err instanceof Error);
    // Nor when the data folder is gone.
    assert.equal(recordDamage(join(root, "gone"), DAMAGE, AT_MS, logger), false);
  });

  // Hostile markers: each still refuses the start, saying why it is not a record.
  const hostile: ReadonlyArray<readonly [string, (path: string) => void, string]> = [
    ["an empty file", (p) => writeFileSync(p, ""), "not JSON: "],
    ["garbage bytes", (p) => writeFileSync(p, Buffer.from([0xff, 0x00, 0x7b, 0xfe])), "not JSON: "],
    ["a JSON array", (p) => writeFileSync(p, "[1,2]"), "not a JSON object"],
    ["JSON null", (p) => writeFileSync(p, "null"), "not a JSON object"],
    [
      "a record without its message",
      (p) => writeFileSync(p, '{"recordedAt":"x","code":"LedgerCorrupt"}'),
      "message: expected a string",
    ],
    [
      "a record whose file is a number",
      (p) => writeFileSync(p, '{"recordedAt":"x","code":"c","message":"m","file":7}'),
      "file: expected a string or null",
    ],
    [
      "a file over 16 KiB",
      (p) => writeFileSync(p, `{"message":"${"m".repeat(20_000)}"}`),
      "larger than 16384 bytes",
    ],
    ["a directory", (p) => mkdirSync(p), "cannot read it: EISDIR"],
    ["a dangling link", (p) => symlinkSync(join(root, "no-such-target"), p), "cannot read it: ENOENT"],
  ];
  for (const [what, plant, why] of hostile) {
    it(`a marker that is ${what} refuses the start all the same`, () => {
      const dir = folder();
      const path = damageMarkerPath(dir);
      plant(path);
      const err = refusal(dir);
      assert.equal(err.code, "LedgerCorrupt");
      assert.deepEqual(err.details, { marker: path });
      assert.ok(
        err.message.startsWith(
          `data folder ${dir} is marked damaged by ${path}, which does not hold a readable damage record (${why}`,
        ),
        err.message,
      );
      assert.ok(err.message.includes("any marker present is treated as damage"), err.message);
      assert.ok(
        err.message.includes(`after checking the data files, delete ${path} explicitly`),
        err.message,
      );
      assert.ok(err.message.length < 1000, `${err.message.length} characters`);
    });
  }

  it("a record's long fields are quoted clipped", () => {
    const dir = folder();
    writeFileSync(
      damageMarkerPath(dir),
      JSON.stringify({ recordedAt: "t", code: "LedgerCorrupt", file: null, message: "x".repeat(10_000) }),
    );
    const message = refusal(dir).message;
    assert.ok(message.includes(`${"x".repeat(2000)}...`), message.slice(0, 200));
    assert.ok(!message.includes("x".repeat(2001)));
  });
});
