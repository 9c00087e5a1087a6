/**
 * `treaty ledger receipt | consistency` offline on the ledger of a node that joined from a
 * snapshot: its store starts after the snapshot's seqno (ledger.base), so the Merkle tree is
 * restored from the snapshot in the `snapshots/` folder beside the ledger, as the node restores
 * it on install. Before the fix both failed with LedgerCorrupt "entry <base + 1>: base: the store
 * starts after seqno ...". A real network on the in-memory transport: three nodes snapshot every
 * few entries, a fourth joins (sent the leader's snapshot), then all stop and the tools read their
 * data folders; the joiner's receipts are the founder's, byte for byte, and verify with the SDK.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { runLedgerConsistency, runLedgerExport, runLedgerReceipt } from "../../node/cli/ledger.js";
import { listSnapshotFiles, snapshotDir } from "../../node/snapshot/files.js";
import { decodeBody, decodeFile } from "../../node/snapshot/format.js";
import type { TreatyNode } from "../../node/service.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { openLedgerStore } from "../../runtime/ledger/open-store.js";
import { toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { verifyConsistencyProof } from "../../sdk/consistency.js";
import { generateKeyPair, type PublicKey } from "../../sdk/keys.js";
import { parseTxId, verifyReceipt } from "../../sdk/receipt.js";
import { captureLedgerIo } from "../support/cli.js";
import { memoryNodes, until } from "../support/memory-nodes.js";

const member = generateKeyPair("ed25519");
const user = generateKeyPair("ed25519");
let dir: string;
const nodes = memoryNodes({
  dir: () => dir,
  config: () => ({
    http: { host: "127.0.0.1", port: 0, tls: false },
    autoTrustNodes: true,
    // Every few entries, and every one kept: the joiner's snapshots/ keeps the one it installed.
    snapshots: { everyEntries: 8, keep: 100 },
  }),
});

/** Runs a ledger command in-process; its exit code and what it printed. */
async function run(command: typeof runLedgerReceipt, args: string[]) {
  const io = captureLedgerIo();
  const code = await command(args, io);
  return { code, io };
}

/** The `{code, message}` of a command that failed with exit 1. */
async function failure(command: typeof runLedgerReceipt, args: string[]) {
  const { code, io } = await run(command, args);
  assert.equal(code, 1, io.stdout + io.stderr);
  return io.json().error as { code: string; message: string; seqno?: number };
}

describe("treaty ledger receipt and consistency on a ledger that starts after a snapshot", () => {
  let serviceKey: PublicKey;
  let founderDir: string;
  let joinerDir: string;
  /** The seqno the joiner's ledger starts after. */
  let base: number;
  const before_: string[] = [];
  const after_: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-snapshot-receipts-"));
    const { founder, joining } = await nodes.startNetwork(
      {
        genesis: {
          members: [{ publicKey: toHex(member.publicKey) }],
          users: [{ publicKey: toHex(user.publicKey) }],
          contracts: [{ name: "log", path: resolve(findPackageRoot(), "contracts/examples/log") }],
          open: true,
        },
      },
      { contracts: ["log"] },
    );
    serviceKey = founder.serviceKey;
    const log = new Client({ nodes: [founder.url], serviceKey, key: user }).contract<typeof logContract>(
      "log",
    );
    const write = async (into: string[], id: number) => {
      const { txid } = await log.writePrivate({ id, msg: `entry ${id}` });
      into.push(txid!);
    };
    for (let id = 1; id <= 12; id++) await write(before_, id);
    // Snapshots are taken at signatures that pass a multiple of 8 entries: write on (entries not
    // kept in `before_`) until one is committed after the last of them.
    let filler = 100;
    await until("a committed snapshot after the first writes", async () => {
      await founder.snapshots.settled();
      if (founder.snapshots.latestSeqno() > parseTxId(before_.at(-1)!).seqno) return true;
      await log.writePublic({ id: filler++, msg: "towards a snapshot point" });
      return undefined;
    });
    const joiner: TreatyNode = await nodes.start(3, joining);
    await until("the joiner to install the snapshot", () =>
      joiner.ledger.base !== undefined ? true : undefined,
    );
    for (let id = 13; id <= 24; id++) await write(after_, id);
    // A committed snapshot of the joiner's own after the first write it replicated (for the case
    // where it removed the one it installed): write on until one is (its evidence committed).
    let last = parseTxId(after_.at(-1)!).seqno;
    await until("a committed snapshot of the joiner after the first write it replicated", async () => {
      const files = listSnapshotFiles(snapshotDir(joiner.config.dataDir), "committed");
      if (files.some((f) => f.seqno > parseTxId(after_[0]!).seqno)) return true;
      const { txid } = await log.writePublic({ id: filler++, msg: "towards a snapshot point" });
      last = Math.max(last, parseTxId(txid!).seqno);
      return undefined;
    });
    // A signature after the last write, committed on every node (so both ledgers hold its receipt).
    await until("every node to commit a signature after the last write", () =>
      [...nodes.running].every((n) => {
        const signature = n.ledger.lastSignature?.seqno ?? 0;
        return signature > last && n.replica.consensus.status().commitSeqno >= signature;
      })
        ? true
        : undefined,
    );
    assert.equal(joiner.config.dataDir, join(dir, "node3"));
    await nodes.stopAll();
    founderDir = join(dir, "node0");
    joinerDir = join(dir, "node3");
    const store = openLedgerStore(join(joinerDir, "ledger"), { readOnly: true });
    try {
      base = store.baseSeqno;
    } finally {
      await store.close();
    }
  });

  after(async () => {
    await nodes.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the joiner installed a snapshot: its ledger starts after it, between the two batches of writes", () => {
    assert.ok(base > parseTxId(before_.at(-1)!).seqno, `base ${base}`);
    assert.ok(base < parseTxId(after_[0]!).seqno, `base ${base}`);
    assert.ok(
      listSnapshotFiles(snapshotDir(joinerDir), "committed").some((f) => f.seqno === base),
      "the snapshot it installed is in its snapshots/",
    );
  });

  it("receipts from the joiner's data folder verify, and are the founder's (full ledger) byte for byte", async () => {
    for (const txid of after_) {
      const joined = await run(runLedgerReceipt, [joinerDir, txid]);
      assert.equal(joined.code, 0, joined.io.stdout + joined.io.stderr);
      assert.equal(verifyReceipt(joined.io.json(), serviceKey).txid, txid);
      const full = await run(runLedgerReceipt, [founderDir, txid]);
      assert.equal(full.code, 0, full.io.stdout + full.io.stderr);
      assert.deepEqual(joined.io.json(), full.io.json(), txid);
      // With the service key pinned the snapshot is also checked against its evidence.
      const pinned = await run(runLedgerReceipt, [
        joinerDir,
        txid,
        "--service-key",
        toHex(serviceKey.publicKey),
      ]);
      assert.equal(pinned.code, 0, pinned.io.stdout + pinned.io.stderr);
      assert.deepEqual(pinned.io.json(), full.io.json());
    }
  });

  it("a consistency proof between two signed sizes after the snapshot verifies, as from the full ledger", async () => {
    const sizeOf = async (txid: string) => {
      const { io } = await run(runLedgerReceipt, [joinerDir, txid]);
      return (io.json().signature as { treeSize: number }).treeSize;
    };
    const from = await sizeOf(after_[0]!);
    const to = await sizeOf(after_.at(-1)!);
    assert.ok(from < to && from >= base, `${from} ${to}`);
    const joined = await run(runLedgerConsistency, [joinerDir, String(from), String(to)]);
    assert.equal(joined.code, 0, joined.io.stdout + joined.io.stderr);
    const proved = verifyConsistencyProof(joined.io.json(), serviceKey);
    assert.equal(proved.to.treeSize, to);
    const full = await run(runLedgerConsistency, [founderDir, String(from), String(to)]);
    assert.deepEqual(joined.io.json(), full.io.json());
  });

  it("an export of the joiner's ledger (with ledger.base) gives the same receipts, with the snapshot beside it", async () => {
    const backup = join(dir, "backup");
    const exported = await run(runLedgerExport, [joinerDir, join(backup, "ledger")]);
    assert.equal(exported.code, 0, exported.io.stdout + exported.io.stderr);
    const txid = after_[3]!;
    // Without the snapshots/ folder beside it: NotFound naming the file needed and where.
    const missing = await failure(runLedgerReceipt, [join(backup, "ledger"), txid]);
    assert.equal(missing.code, "NotFound");
    const name = `snapshot-${String(base).padStart(16, "0")}.committed`;
    assert.ok(missing.message.includes(name), missing.message);
    assert.ok(missing.message.includes(snapshotDir(backup)), missing.message);
    assert.equal(
      (await failure(runLedgerConsistency, [join(backup, "ledger"), String(base + 1), String(base + 2)]))
        .code,
      "NotFound",
    );
    mkdirSync(snapshotDir(backup));
    cpSync(join(snapshotDir(joinerDir), name), join(snapshotDir(backup), name));
    const fromExport = await run(runLedgerReceipt, [join(backup, "ledger"), txid]);
    assert.equal(fromExport.code, 0, fromExport.io.stdout + fromExport.io.stderr);
    assert.equal(verifyReceipt(fromExport.io.json(), serviceKey).txid, txid);
    const full = await run(runLedgerReceipt, [founderDir, txid]);
    assert.deepEqual(fromExport.io.json(), full.io.json());
  });

  it("with only a later snapshot beside it (the one it installed removed): read from that one; what it cannot prove says which file would", async () => {
    const later = listSnapshotFiles(snapshotDir(joinerDir), "committed").find(
      (f) => f.seqno > parseTxId(after_[0]!).seqno,
    );
    assert.ok(later !== undefined, "the joiner took a snapshot after the first write it replicated");
    const copy = join(dir, "later");
    cpSync(join(joinerDir, "ledger"), join(copy, "ledger"), { recursive: true });
    mkdirSync(snapshotDir(copy));
    cpSync(later.path, join(snapshotDir(copy), basename(later.path)));
    // The tree restarts at the later snapshot's frontier: an entry after it proves as from the
    // full ledger; one between the two proves when its proof needs no leaf before the ledger's
    // start, and otherwise is TxNotFound saying which snapshot file would prove it.
    for (const txid of after_) {
      const { seqno } = parseTxId(txid);
      const { code, io } = await run(runLedgerReceipt, [copy, txid]);
      if (code === 0 || seqno > later.seqno) {
        assert.equal(code, 0, io.stdout + io.stderr);
        assert.equal(verifyReceipt(io.json(), serviceKey).txid, txid);
        assert.deepEqual(io.json(), (await run(runLedgerReceipt, [founderDir, txid])).io.json());
        continue;
      }
      const error = io.json().error as { code: string; message: string; seqno: number };
      assert.equal(error.code, "TxNotFound", error.message);
      assert.equal(error.seqno, seqno);
      assert.ok(
        error.message.includes(`snapshot-${String(base).padStart(16, "0")}.committed, not beside it`),
        error.message,
      );
      assert.ok(error.message.includes(`to prove the entries up to seqno ${later.seqno}`), error.message);
    }
  });

  it("a txid or signed size at or before the snapshot: TxNotFound (not in this ledger), not LedgerCorrupt", async () => {
    for (const txid of [before_[0]!, before_.at(-1)!]) {
      const error = await failure(runLedgerReceipt, [joinerDir, txid]);
      assert.equal(error.code, "TxNotFound", error.message);
      assert.match(error.message, new RegExp(`not in this ledger: it starts after seqno ${base} `));
      assert.ok(
        error.message.includes(`snapshot-${String(base).padStart(16, "0")}.committed`),
        error.message,
      );
    }
    const error = await failure(runLedgerConsistency, [joinerDir, String(base - 2), String(base + 8)]);
    assert.equal(error.code, "TxNotFound", error.message);
    assert.match(error.message, /not in this ledger/);
  });

  it("a snapshot altered, pinned to another key, or an older one renamed: SnapshotInvalid naming the file", async () => {
    const name = `snapshot-${String(base).padStart(16, "0")}.committed`;
    const copy = join(dir, "altered");
    cpSync(join(joinerDir, "ledger"), join(copy, "ledger"), { recursive: true });
    mkdirSync(snapshotDir(copy));
    const bytes = new Uint8Array(readFileSync(join(snapshotDir(joinerDir), name)));
    // One byte of the Merkle frontier changed: the body still decodes.
    const frontier = decodeBody(decodeFile(bytes).body).frontier[0]!;
    const at = Buffer.from(bytes).indexOf(Buffer.from(frontier));
    assert.ok(at >= 0);
    const altered = Uint8Array.from(bytes);
    altered[at + 5]! ^= 0x01;
    writeFileSync(join(snapshotDir(copy), name), altered);
    const txid = after_[0]!;
    for (const extra of [[], ["--service-key", toHex(serviceKey.publicKey)]]) {
      const error = await failure(runLedgerReceipt, [copy, txid, ...extra]);
      assert.equal(error.code, "SnapshotInvalid", error.message);
      assert.ok(error.message.includes(join(snapshotDir(copy), name)), error.message);
    }
    // Without the key: the frontier gives another root than the first signature after it signed.
    const unpinned = await failure(runLedgerConsistency, [copy, String(base + 1), String(base + 2)]);
    assert.equal(unpinned.code, "SnapshotInvalid");
    assert.match(unpinned.message, /does not fit the ledger/);
    // The genuine file under another service's key: refused (its evidence is not that service's).
    writeFileSync(join(snapshotDir(copy), name), bytes);
    const other = generateKeyPair("ed25519");
    const error = await failure(runLedgerReceipt, [copy, txid, "--service-key", toHex(other.publicKey)]);
    assert.equal(error.code, "SnapshotInvalid");
    assert.match(error.message, /does not verify against the pinned service identity/);
    // An older snapshot of the same ledger renamed as the base's: its body is for another seqno.
    const older = listSnapshotFiles(snapshotDir(founderDir), "committed").find((f) => f.seqno < base)!;
    writeFileSync(join(snapshotDir(copy), name), readFileSync(older.path));
    const misnamed = await failure(runLedgerReceipt, [copy, txid]);
    assert.equal(misnamed.code, "SnapshotInvalid");
    assert.match(misnamed.message, new RegExp(`its body is for seqno ${older.seqno}`));
  });

  it("a snapshot of another service's ledger in its place: SnapshotInvalid, it does not fit", async () => {
    let otherDir = "";
    const others = memoryNodes({
      dir: () => otherDir,
      config: () => ({
        http: { host: "127.0.0.1", port: 0, tls: false },
        snapshots: { everyEntries: 8, keep: 100 },
      }),
    });
    const joinerLast = parseTxId(after_.at(-1)!).seqno;
    let foreign: string;
    try {
      otherDir = mkdtempSync(join(tmpdir(), "treaty-snapshot-receipts-other-"));
      const { founder } = await others.startNetwork(
        {
          genesis: {
            members: [{ publicKey: toHex(member.publicKey) }],
            users: [{ publicKey: toHex(user.publicKey) }],
            contracts: [{ name: "log", path: resolve(findPackageRoot(), "contracts/examples/log") }],
            open: true,
          },
        },
        { count: 1, contracts: ["log"] },
      );
      const log = new Client({ nodes: [founder.url], serviceKey: founder.serviceKey, key: user }).contract<
        typeof logContract
      >("log");
      // Until that service has a committed snapshot at a seqno within the joiner's ledger.
      let id = 0;
      const within = () =>
        listSnapshotFiles(snapshotDir(founder.config.dataDir), "committed").find(
          (f) => f.seqno >= base && f.seqno < joinerLast,
        );
      const found = await until("a snapshot of the other service within the joiner's ledger", async () => {
        await founder.snapshots.settled();
        const file = within();
        if (file !== undefined) return file;
        await log.writePublic({ id: id++, msg: "another service" });
        return undefined;
      });
      foreign = join(dir, "foreign.committed");
      cpSync(found.path, foreign);
    } finally {
      await others.stopAll();
      rmSync(otherDir, { recursive: true, force: true });
    }
    const copy = join(dir, "foreign");
    cpSync(join(joinerDir, "ledger"), join(copy, "ledger"), { recursive: true });
    mkdirSync(snapshotDir(copy));
    const name = `snapshot-${String(base).padStart(16, "0")}.committed`;
    cpSync(foreign, join(snapshotDir(copy), name));
    for (const command of [runLedgerReceipt, runLedgerConsistency]) {
      const args = command === runLedgerReceipt ? [after_[0]!] : [String(base + 1), String(base + 2)];
      const error = await failure(command, [copy, ...args]);
      assert.equal(error.code, "SnapshotInvalid", error.message);
      assert.match(error.message, /does not fit the ledger/);
      assert.ok(error.message.includes(join(snapshotDir(copy), name)), error.message);
    }
    // Pinned to this service, it is refused before that: its evidence is the other service's.
    const pinned = await failure(runLedgerReceipt, [
      copy,
      after_[0]!,
      "--service-key",
      toHex(serviceKey.publicKey),
    ]);
    assert.equal(pinned.code, "SnapshotInvalid");
    assert.match(pinned.message, /does not verify against the pinned service identity/);
  });
});
