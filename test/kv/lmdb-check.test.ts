/**
 * LMDB data files spoiled on disk (runtime/lmdb-check.ts): the KV store (`<dir>/data.mdb`, opened
 * by LmdbBackend as the execution worker does) and the LMDB ledger store (`ledger.mdb`). Without
 * the start-up check most of these files crash the opening process inside LMDB (SIGSEGV, SIGBUS:
 * garbage, 10 bytes, half the file, either meta page overwritten, a huge last page) or open an
 * empty store over the data (an empty file). Each case opens a spoiled copy of a real store in a
 * child process (lmdb-open-child.ts), so a crash fails the case instead of the test runner, and
 * requires a clean exit with `LedgerCorrupt` naming the file and the fault. Intact stores, fresh
 * and after many commits, still open and keep every row, and a garbage lock file is not a fault
 * (LMDB rebuilds it when no other process has it open).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { mapRef } from "../../runtime/kv/backend.js";
import { DATA_FILE, LmdbBackend } from "../../runtime/kv/lmdb-backend.js";
import { LEDGER_FILE, LmdbLedgerStore } from "../../runtime/ledger/lmdb-store.js";
import { checkLmdbFile } from "../../runtime/lmdb-check.js";
import { lastJsonLine, runScript } from "../support/cli.js";

const CHILD = fileURLToPath(new URL("./lmdb-open-child.js", import.meta.url));
/** Rows of the fixtures: enough for branch pages and (KV) overflow values. */
const ROWS = 1_500;

/** Offsets inside a meta page: the page header is 24 bytes, MDB_meta follows (mdb.c, 64-bit). */
const META = 24;
const PAGE_SIZE_AT = META + 24;
const FREE_ROOT_AT = META + 64;
const MAIN_ROOT_AT = META + 112;
const LAST_PAGE_AT = META + 120;
const TXNID_AT = META + 128;

interface Outcome {
  readonly result: { rows?: number; code?: string; message?: string } | undefined;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

async function openInChild(kind: "kv" | "ledger", dir: string): Promise<Outcome> {
  const run = await runScript(CHILD, [kind, dir]);
  return {
    result: lastJsonLine<Outcome["result"]>(run.stdout),
    exitCode: run.code,
    signal: run.signal,
    stderr: run.stderr,
  };
}

/** `length` bytes that look random, the same every run. */
function garbage(length: number, seed: string): Buffer {
  const out = Buffer.alloc(length);
  for (let block = 0; block * 32 < length; block++) {
    createHash("sha256")
      .update(`${seed}:${block}`)
      .digest()
      .copy(out, block * 32);
  }
  return out;
}

function patch(file: string, offset: number, bytes: Uint8Array): void {
  const data = readFileSync(file);
  data.set(bytes, offset);
  writeFileSync(file, data);
}

function u64(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(value);
  return out;
}

interface MetaFields {
  readonly pageSize: number;
  /** Byte offset of the newer meta page. */
  readonly newer: number;
  readonly lastPage: bigint;
}

function metaFields(file: string): MetaFields {
  const data = readFileSync(file);
  const pageSize = data.readUInt32LE(PAGE_SIZE_AT);
  const newer = data.readBigUInt64LE(TXNID_AT) > data.readBigUInt64LE(pageSize + TXNID_AT) ? 0 : pageSize;
  return { pageSize, newer, lastPage: data.readBigUInt64LE(newer + LAST_PAGE_AT) };
}

interface Spoil {
  readonly name: string;
  readonly spoil: (file: string) => void;
  /** What the message must say (after the file name). */
  readonly fault: RegExp;
}

/** The spoiled files, each with the fault the check must name. */
const SPOILS: readonly Spoil[] = [
  {
    name: "garbage of the same length",
    spoil: (file) => writeFileSync(file, garbage(statSync(file).size, "garbage")),
    fault: /meta page 0: (not a meta page|bad magic)/,
  },
  {
    name: "truncated to 10 bytes",
    spoil: (file) => truncateSync(file, 10),
    fault: /10 bytes, too short to hold meta page 0/,
  },
  {
    name: "zero-length (LMDB would start an empty store over it)",
    spoil: (file) => truncateSync(file, 0),
    fault: /the file is empty/,
  },
  {
    name: "cut to half its length",
    spoil: (file) => truncateSync(file, Math.floor(statSync(file).size / 2 / 4096) * 4096),
    fault: /past the end of the file/,
  },
  {
    name: "cut to its two meta pages",
    spoil: (file) => truncateSync(file, 2 * metaFields(file).pageSize),
    fault: /past the end of the file/,
  },
  {
    name: "both meta pages overwritten",
    spoil: (file) => {
      const { pageSize } = metaFields(file);
      patch(file, 0, garbage(200, "meta0"));
      patch(file, pageSize, garbage(200, "meta1"));
    },
    fault: /meta page 0: (not a meta page|bad magic)/,
  },
  {
    name: "meta page 0 overwritten (LMDB refuses or crashes)",
    spoil: (file) => patch(file, 0, garbage(200, "meta0")),
    fault: /meta page 0: (not a meta page|bad magic)/,
  },
  {
    name: "meta page 1 overwritten (LMDB does not check it)",
    spoil: (file) => patch(file, metaFields(file).pageSize, garbage(200, "meta1")),
    fault: /meta page 1: (not a meta page|bad magic)/,
  },
  {
    name: "meta page 1 with a bad magic only",
    spoil: (file) => patch(file, metaFields(file).pageSize + META, Uint8Array.of(1, 2, 3, 4)),
    fault: /meta page 1: bad magic 0x4030201/,
  },
  {
    name: "a last page of 2^40 in both meta pages",
    spoil: (file) => {
      const { pageSize } = metaFields(file);
      patch(file, LAST_PAGE_AT, u64(1n << 40n));
      patch(file, pageSize + LAST_PAGE_AT, u64(1n << 40n));
    },
    fault: /meta page 0: last page 1099511627776 lies beyond its map size/,
  },
  {
    name: "the newer meta's main root past its last page",
    spoil: (file) => {
      const { newer, lastPage } = metaFields(file);
      patch(file, newer + MAIN_ROOT_AT, u64(lastPage + 10n));
    },
    fault: /meta page [01]: main database root is page \d+, outside pages 2\.\.\d+/,
  },
  {
    name: "the newer meta's free-list root below the meta pages",
    spoil: (file) => patch(file, metaFields(file).newer + FREE_ROOT_AT, u64(1n)),
    fault: /meta page [01]: free-list root is page 1, outside pages/,
  },
  {
    name: "the main root page overwritten",
    spoil: (file) => {
      const { pageSize, newer } = metaFields(file);
      const root = Number(readFileSync(file).readBigUInt64LE(newer + MAIN_ROOT_AT));
      patch(file, root * pageSize, garbage(pageSize, "root"));
    },
    fault: /meta page [01]: main database root \(page \d+\) records page number \d+/,
  },
  {
    name: "a page size of 512 in both meta pages",
    spoil: (file) => {
      const { pageSize } = metaFields(file);
      patch(file, PAGE_SIZE_AT, Uint8Array.of(0, 2, 0, 0));
      patch(file, pageSize + PAGE_SIZE_AT, Uint8Array.of(0, 2, 0, 0));
    },
    fault: /meta page 1: not a meta page/,
  },
  {
    name: "an odd txnid in meta page 0",
    spoil: (file) => patch(file, TXNID_AT, u64(7n)),
    fault: /meta page 0: txnid 7 \(commit N writes meta page N % 2\)/,
  },
];

let root: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), "treaty-lmdb-check-"));
});

after(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A KV store with ROWS rows in 3 maps (every 100th value 3 KB: overflow pages), over several commits. */
async function kvFixture(dir: string): Promise<void> {
  const backend = LmdbBackend.open(dir);
  try {
    for (let batch = 0; batch < 5; batch++) {
      const writes = [];
      for (let i = batch; i < ROWS; i += 5) {
        const value = Buffer.alloc(i % 100 === 0 ? 3_000 : 40, i % 251);
        writes.push({ map: mapRef(`map${i % 3}`), key: Buffer.from(`key-${i}`), value });
      }
      await backend.persist(batch + 1, writes);
    }
  } finally {
    await backend.close();
  }
}

async function ledgerFixture(dir: string): Promise<void> {
  const store = LmdbLedgerStore.open(dir);
  try {
    for (let start = 1; start <= ROWS; start += 300) {
      const records = [];
      for (let seqno = start; seqno < start + 300 && seqno <= ROWS; seqno++)
        records.push({ seqno, view: 1, bytes: Buffer.alloc(150, seqno % 251) });
      store.append(records);
    }
  } finally {
    await store.close();
  }
}

const KINDS = [
  { kind: "kv", file: DATA_FILE, fixture: kvFixture, label: /^kv store / },
  { kind: "ledger", file: LEDGER_FILE, fixture: ledgerFixture, label: /^ledger store: / },
] as const;

for (const { kind, file, fixture, label } of KINDS) {
  describe(`a spoiled LMDB ${kind} store fails its open with LedgerCorrupt, in a process that exits by itself`, () => {
    let intact: string;

    before(async () => {
      intact = join(root, `${kind}-intact`);
      await fixture(intact);
    });

    function copy(name: string): string {
      const dir = join(root, `${kind}-${name.replace(/\W+/g, "-")}`);
      cpSync(intact, dir, { recursive: true });
      return dir;
    }

    it("an intact copy opens with every row (the cases below fail for their own reason)", async () => {
      const outcome = await openInChild(kind, copy("intact copy"));
      assert.equal(outcome.signal, null, outcome.stderr);
      assert.deepEqual(outcome.result, { rows: ROWS }, outcome.stderr);
    });

    it("a garbage lock file is no fault: the store opens with every row", async () => {
      const dir = copy("lock");
      const lock = kind === "kv" ? join(dir, "lock.mdb") : join(dir, `${LEDGER_FILE}-lock`);
      writeFileSync(lock, garbage(statSync(lock).size, "lock"));
      const outcome = await openInChild(kind, dir);
      assert.equal(outcome.signal, null, outcome.stderr);
      assert.deepEqual(outcome.result, { rows: ROWS }, outcome.stderr);
    });

    for (const { name, spoil, fault } of SPOILS) {
      it(name, async () => {
        const dir = copy(name);
        const path = join(dir, file);
        spoil(path);
        const outcome = await openInChild(kind, dir);
        assert.equal(outcome.signal, null, `the child died of ${outcome.signal}: ${outcome.stderr}`);
        assert.equal(outcome.exitCode, 0, outcome.stderr);
        assert.equal(
          outcome.result?.code,
          "LedgerCorrupt",
          `${JSON.stringify(outcome.result)} ${outcome.stderr}`,
        );
        const text = outcome.result?.message ?? "";
        assert.match(text, label);
        assert.ok(text.includes(`LMDB file ${path}: `), text);
        assert.match(text, fault);
      });
    }
  });
}

describe("damage below the pages the start-up check reads", () => {
  it("an LMDB ledger store whose last leaf page is zeroed: LMDB's MDB_CORRUPTED, as LedgerCorrupt", async () => {
    const dir = join(root, "ledger-leaf");
    await ledgerFixture(dir);
    const file = join(dir, LEDGER_FILE);
    const { pageSize, newer } = metaFields(file);
    const data = readFileSync(file);
    const rootPage = Number(data.readBigUInt64LE(newer + MAIN_ROOT_AT));
    const at = rootPage * pageSize;
    assert.equal(data.readUInt16LE(at + 18) & 1, 1, "the fixture's main root is a branch page");
    const keys = data.readUInt16LE(at + 20) / 2;
    const node = at + META + data.readUInt16LE(at + META + 2 * (keys - 1));
    const leaf = data.readUInt16LE(node) | (data.readUInt16LE(node + 2) << 16);
    data.fill(0, leaf * pageSize, (leaf + 1) * pageSize);
    writeFileSync(file, data);
    // The check reads the root and bounds its children, not the children themselves.
    assert.ok(checkLmdbFile(file, "ledger", { overlappingSync: false }) !== undefined);
    const outcome = await openInChild("ledger", dir);
    assert.equal(outcome.signal, null, outcome.stderr);
    assert.equal(outcome.result?.code, "LedgerCorrupt", JSON.stringify(outcome.result));
    assert.match(outcome.result?.message ?? "", /^ledger store: LMDB file .*ledger\.mdb: MDB_CORRUPTED/);
  });
});

describe("the LMDB start-up check passes every state LMDB writes", () => {
  it("a new KV store, and its data file after each of 60 commits of puts, overwrites, deletes and large values", async () => {
    const dir = join(root, "kv-commits");
    const file = join(dir, DATA_FILE);
    const backend = LmdbBackend.open(dir);
    try {
      assert.ok(checkLmdbFile(file, "kv", { overlappingSync: true }) !== undefined);
      let pagesChecked = 0;
      for (let version = 1; version <= 60; version++) {
        const writes = [];
        for (let i = 0; i < 200; i++) {
          const n = (version * 7919 + i * 104_729) % 3_000;
          const value =
            version % 3 === 0 && i % 4 === 0 ? null : Buffer.alloc(n % 97 === 0 ? 5_000 : 60, version);
          writes.push({ map: mapRef(`m${n % 4}`), key: Buffer.from(`k${n}`), value });
        }
        await backend.persist(version, writes);
        const info = checkLmdbFile(file, "kv", { overlappingSync: true });
        assert.ok(info !== undefined);
        pagesChecked = Math.max(pagesChecked, info.pagesChecked);
      }
      // Both metas' free-list, main and two named roots at least: the check read real pages.
      assert.ok(pagesChecked >= 6, `pages checked: ${pagesChecked}`);
    } finally {
      await backend.close();
    }
    const reopened = LmdbBackend.open(dir);
    assert.equal(reopened.committedVersion, 60);
    await reopened.close();
  });

  it("a new ledger store, and its file after appends, truncations and a rebase", async () => {
    const dir = join(root, "ledger-commits");
    const file = join(dir, LEDGER_FILE);
    const store = LmdbLedgerStore.open(dir);
    try {
      assert.ok(checkLmdbFile(file, "ledger", { overlappingSync: false }) !== undefined);
      for (let round = 0; round < 30; round++) {
        const first = store.lastSeqno + 1;
        const records = [];
        for (let seqno = first; seqno < first + 100; seqno++)
          records.push({ seqno, view: 1, bytes: Buffer.alloc(seqno % 13 === 0 ? 6_000 : 120, round) });
        store.append(records);
        if (round % 4 === 3) store.truncate(store.lastSeqno - 30);
        if (round === 20) store.rebase(store.lastSeqno);
        assert.ok(checkLmdbFile(file, "ledger", { overlappingSync: false }) !== undefined);
      }
    } finally {
      await store.close();
    }
    const reopened = LmdbLedgerStore.open(dir);
    assert.ok(reopened.lastSeqno > 0);
    await reopened.close();
  });

  it("a missing file is a new store: nothing to check", () => {
    assert.equal(checkLmdbFile(join(root, "none", DATA_FILE), "kv", { overlappingSync: true }), undefined);
  });

  it("a KV's synced meta (half a page into page 0) newer than both meta pages is refused", async () => {
    const dir = join(root, "kv-synced");
    await kvFixture(dir);
    const file = join(dir, DATA_FILE);
    const { pageSize } = metaFields(file);
    const data = readFileSync(file);
    const synced = pageSize / 2;
    assert.notEqual(data.readBigUInt64LE(synced + TXNID_AT), 0n, "lmdb-js wrote the synced meta");
    patch(file, synced + TXNID_AT, u64(1_000_000n));
    assert.throws(
      () => checkLmdbFile(file, "kv", { overlappingSync: true }),
      (err: Error & { code?: string }) =>
        err.code === "LedgerCorrupt" &&
        /synced meta \(half a page into page 0\): txnid 1000000 is newer than both meta pages/.test(
          err.message,
        ),
    );
    // The ledger store is opened without overlappingSync: LMDB never reads that meta there.
    assert.ok(checkLmdbFile(file, "ledger", { overlappingSync: false }) !== undefined);
  });
});
