/**
 * Disaster recovery from the ledger copy of a node that joined (or caught up) from a snapshot:
 * its ledger store starts after the snapshot's seqno, and the snapshot in its `snapshots/`
 * folder holds the state before that. One process; the copy is made as a joiner's data folder
 * is (a store rebased at a committed snapshot of the lost service, the entries after it, the
 * snapshot file).
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { parseConfig } from "../../node/config.js";
import { damageMarkerPath } from "../../node/damage-marker.js";
import { silentLogger } from "../../node/log.js";
import { realRuntime } from "../../node/main.js";
import { runLedgerVerify } from "../../node/cli/ledger.js";
import { GOV, SINGLETON_KEY } from "../../node/gov/tables.js";
import { GovView } from "../../node/gov/view.js";
import { importLedger, snapshotIdentities } from "../../node/recovery/recover.js";
import { TreatyNode } from "../../node/service.js";
import { listSnapshotFiles, snapshotDir } from "../../node/snapshot/files.js";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { openLedgerStore } from "../../runtime/ledger/open-store.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { isTreatyError, type TreatyError } from "../../sdk/errors.js";
import { actions, type GovAction } from "../../sdk/governance.js";
import { generateKeyPair, type PublicKey, sign } from "../../sdk/keys.js";
import { type Receipt, serviceEndorsementMessage, verifyReceipt } from "../../sdk/receipt.js";
import { submitRecoveryShare } from "../../sdk/recovery.js";
import { freePorts } from "../support/cluster.js";
import { decideByTwo, genesisMembers, nodeConfig, recoveryMembers } from "./service.js";
import { until } from "../support/poll.js";
import { TEST_SNAPSHOT_EVERY_MS } from "../support/snapshot-schedule.js";

const members = recoveryMembers();
const user = generateKeyPair("ed25519");
const WRITES = 12;

describe("disaster recovery from the ledger copy of a node that joined from a snapshot", () => {
  let dir: string;
  let original: TreatyNode | undefined;
  let recovered: TreatyNode | undefined;
  let originalKey: PublicKey;
  /** The snapshot the copy starts at. */
  let base: number;
  /** The copy: a data folder whose ledger starts after `base`, with the snapshot file. */
  let copy: string;
  const written: Array<{ id: number; txid: string; seqno: number; receipt: Receipt }> = [];

  const config = (name: string, extra: Record<string, unknown>) => nodeConfig(dir, name, extra);
  const decide = (client: Client, action: GovAction) => decideByTwo(client, members, action);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-recover-snapshot-"));
    const c = config("a", {
      http: { host: "127.0.0.1", port: 0, tls: false },
      snapshots: { everyEntries: 10, everyMs: TEST_SNAPSHOT_EVERY_MS, keep: 100 },
      genesis: {
        members: genesisMembers(members),
        users: [{ publicKey: toHex(user.publicKey) }],
        contracts: [{ name: "log", path: resolve(findPackageRoot(), "contracts/examples/log") }],
        open: true,
      },
    });
    original = await TreatyNode.start(c, realRuntime(c, silentLogger));
    originalKey = original.serviceKey;
    const client = new Client({ nodes: [original.url], serviceKey: originalKey, key: user });
    await until("log loaded", async () => (original!.manifests.has("log") ? true : undefined));
    await decide(client, actions.setRecoveryThreshold(2));
    await until("a 2-of-3 share round", async () => {
      const r = await client.get<{ threshold: number }>("/gov/recovery").catch(() => undefined);
      return r?.threshold === 2 ? true : undefined;
    });
    const log = client.contract<typeof logContract>("log");
    for (let id = 1; id <= WRITES; id++) {
      const { txid } = await log.writePrivate({ id, msg: `secret ${id}` });
      await client.waitForCommit(txid!);
      const receipt = await until("a receipt", () =>
        client.receipt(txid!).then(
          (r) => r.receipt,
          () => undefined,
        ),
      );
      written.push({ id, txid: txid!, seqno: Number(txid!.split(".")[1]), receipt });
    }
    const last = written.at(-1)!.seqno;
    // A committed snapshot with private writes on both sides of it.
    await until("a usable snapshot before the last writes", async () => {
      await original!.snapshots.settled();
      const s = original!.snapshots.latestSeqno();
      return s > written[2]!.seqno ? s : undefined;
    });
    await original.stop();
    original = undefined;
    const committed = listSnapshotFiles(snapshotDir(join(dir, "a")), "committed").filter(
      (f) => f.seqno > written[2]!.seqno && f.seqno < last - 2,
    );
    assert.ok(committed.length > 0, "a snapshot with writes after it");
    base = committed.at(-1)!.seqno;

    // The copy, as a node that joined from snapshot `base` holds it.
    copy = join(dir, "joined");
    const source = openLedgerStore(join(dir, "a", "ledger"), { readOnly: true });
    const store = openLedgerStore(join(copy, "ledger"));
    try {
      store.rebase(base);
      store.append([...source.range(base + 1)]);
    } finally {
      await store.close();
      await source.close();
    }
    mkdirSync(snapshotDir(copy), { recursive: true });
    cpSync(
      committed.at(-1)!.path,
      join(snapshotDir(copy), `snapshot-${String(base).padStart(16, "0")}.committed`),
    );
    // For the hostile cases: the whole ledger, and a snapshot older than the copy's base.
    cpSync(join(dir, "a", "ledger"), join(dir, "full-ledger"), { recursive: true });
    const older = listSnapshotFiles(snapshotDir(join(dir, "a")), "committed").find((f) => f.seqno < base);
    assert.ok(older !== undefined, "an older snapshot");
    cpSync(older.path, join(dir, "older.committed"));
    rmSync(join(dir, "a"), { recursive: true, force: true });
    rmSync(join(dir, "a.key"));
  });

  after(async () => {
    await original?.stop();
    await recovered?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("without the snapshot: SnapshotInvalid naming the base seqno, not a crash", async () => {
    // The ledger folder alone (no snapshots/ beside it).
    const bare = join(dir, "bare-ledger");
    cpSync(join(copy, "ledger"), bare, { recursive: true });
    const checkError = (err: unknown) => {
      assert.ok(isTreatyError(err, "SnapshotInvalid"), String(err));
      assert.deepEqual((err as TreatyError).details, { baseSeqno: base });
      assert.match((err as Error).message, new RegExp(`starts after seqno ${base} `));
      assert.match((err as Error).message, /snapshot/);
      return true;
    };
    const store = new MemoryLedgerStore();
    await assert.rejects(importLedger(bare, store), checkError);
    assert.equal(store.lastSeqno, 0, "nothing copied");
    // A node started on it fails to start with that error; a snapshot file an interrupted
    // attempt left in its own folder is dropped first.
    const c = config("b", { http: { host: "127.0.0.1", port: 0, tls: false }, recover: { ledgerDir: bare } });
    const leftover = join(snapshotDir(c.dataDir), `snapshot-${String(base).padStart(16, "0")}.committed`);
    mkdirSync(snapshotDir(c.dataDir), { recursive: true });
    writeFileSync(leftover, "left by an interrupted attempt");
    await assert.rejects(TreatyNode.start(c, realRuntime(c, silentLogger)), checkError);
    assert.equal(existsSync(leftover), false);
  });

  it("hostile snapshots: altered, older than the copy, missing; refused before any share", async () => {
    const snapshotFile = join(snapshotDir(copy), `snapshot-${String(base).padStart(16, "0")}.committed`);
    // One byte of the body altered (the public state): its digest no longer matches the evidence.
    const altered = join(dir, "altered.committed");
    const bytes = new Uint8Array(readFileSync(snapshotFile));
    bytes[Math.floor(bytes.length / 3)]! ^= 0x01;
    writeFileSync(altered, bytes);
    const refused = async (snapshotFile: string, code: string, message: RegExp) => {
      const store = new MemoryLedgerStore();
      await assert.rejects(importLedger(copy, store, { snapshotFile }), (err) => {
        assert.ok(isTreatyError(err, code), String(err));
        assert.match((err as Error).message, message);
        return true;
      });
      assert.equal(store.lastSeqno, 0, "nothing copied");
    };
    await refused(
      altered,
      "SnapshotInvalid",
      new RegExp(`starts after seqno ${base} .*altered\\.committed: `),
    );
    // Older than the copy's first entry: the entries between are missing.
    await refused(join(dir, "older.committed"), "SnapshotInvalid", /outside the ledger copy's/);
    await refused(join(dir, "no-such.committed"), "NotFound", /no-such\.committed: no such file/);
    // In the copy's snapshots/ folder, the altered file is skipped for want of another: refused.
    const folder = join(dir, "altered-copy");
    cpSync(join(copy, "ledger"), join(folder, "ledger"), { recursive: true });
    mkdirSync(snapshotDir(folder));
    cpSync(altered, join(snapshotDir(folder), `snapshot-${String(base).padStart(16, "0")}.committed`));
    await assert.rejects(importLedger(folder, new MemoryLedgerStore()), (err) => {
      assert.ok(isTreatyError(err, "SnapshotInvalid"), String(err));
      assert.match(
        (err as Error).message,
        /no committed snapshot in .* verifies; give .* recover\.snapshotFile/,
      );
      return true;
    });
  });

  it("a copy marked damaged (DAMAGED.json): recovery refuses it, verify reads it and says so", async () => {
    const marker = damageMarkerPath(copy);
    writeFileSync(
      marker,
      JSON.stringify({
        recordedAt: "2026-12-06T19:00:00.000Z",
        code: "LedgerCorrupt",
        file: null,
        message: "kv page",
      }),
    );
    try {
      const refused = (err: unknown) => {
        assert.ok(isTreatyError(err, "LedgerCorrupt"), String(err));
        assert.deepEqual(err.details, { marker });
        assert.ok(err.message.startsWith(`data folder ${copy} is marked damaged by ${marker}, recorded at `));
        assert.ok(err.message.includes("A recovery does not read a data folder marked damaged"), err.message);
        return true;
      };
      // Given the data folder, or its ledger folder: the folder checked is the one that holds the
      // ledger (where the snapshots are looked for too).
      for (const source of [copy, join(copy, "ledger")]) {
        const store = new MemoryLedgerStore();
        await assert.rejects(importLedger(source, store), refused);
        assert.equal(store.lastSeqno, 0, "nothing copied");
      }
      // A node started to recover from it fails to start with that error (treaty node start: 74).
      const c = config("marked", {
        http: { host: "127.0.0.1", port: 0, tls: false },
        recover: { ledgerDir: copy },
      });
      await assert.rejects(TreatyNode.start(c, realRuntime(c, silentLogger)), refused);
      // treaty ledger verify is a diagnosis: it reads the marked folder and reports the marker.
      let out = "";
      let err = "";
      const code = await runLedgerVerify(
        [copy, "--service-key", `ed25519:${toHex(originalKey.publicKey)}`, "--quiet"],
        { out: (t) => (out += t), err: (t) => (err += t), nowMs: () => 0 },
      );
      assert.equal(code, 0, out + err);
      const report = JSON.parse(out) as { ok: boolean; damageMarker: unknown };
      assert.equal(report.ok, true);
      assert.deepEqual(report.damageMarker, {
        path: marker,
        record: {
          recordedAt: "2026-12-06T19:00:00.000Z",
          code: "LedgerCorrupt",
          file: null,
          message: "kv page",
        },
        unreadable: null,
      });
      assert.ok(
        err.startsWith(`treaty ledger verify: warning: data folder ${copy} is marked damaged by ${marker}`),
        err,
      );
    } finally {
      rmSync(marker, { force: true });
    }
    // The operator removed the marker: the same copy recovers.
    const imported = await importLedger(copy, new MemoryLedgerStore());
    assert.equal(imported.snapshot?.body.seqno, base);
  });

  it("config recover.snapshotFile: a path, resolved against the config's folder", () => {
    const parsed = (recover: unknown) =>
      parseConfig({ dataDir: "d", sealing: { provider: "virtual", keyFile: "k" }, recover }, "/etc/treaty");
    assert.deepEqual(parsed({ ledgerDir: "copy", snapshotFile: "s/snapshot.committed" }).recover, {
      ledgerDir: "/etc/treaty/copy",
      snapshotFile: "/etc/treaty/s/snapshot.committed",
    });
    assert.deepEqual(parsed({ ledgerDir: "copy" }).recover, { ledgerDir: "/etc/treaty/copy" });
    for (const snapshotFile of [42, true, {}, ["a"]])
      assert.throws(
        () => parsed({ ledgerDir: "copy", snapshotFile }),
        (e) => isTreatyError(e, "MalformedRequest") && /recover\.snapshotFile/.test((e as Error).message),
      );
  });

  it("snapshotIdentities: the chain a snapshot's state records, each endorsement checked", () => {
    const row = (map: string, key: string, value: unknown) => ({
      map,
      writes: [[utf8.encode(key), utf8.encode(JSON.stringify(value))] as const],
    });
    const [o, n] = [generateKeyPair("ed25519"), generateKeyPair("ed25519")];
    const state = (endorsement: unknown) => {
      const gov = new GovView();
      gov.loadState(10, [
        row(GOV.service, SINGLETON_KEY, { status: "open", identity: toHex(n.publicKey) }),
        row(GOV.serviceEndorsements, toHex(n.publicKey), endorsement),
      ]);
      return gov;
    };
    const signature = toHex(sign(o, serviceEndorsementMessage(n.publicKey)));
    const good = snapshotIdentities(state({ endorsedBy: toHex(o.publicKey), signature, timeMs: 0 }));
    assert.deepEqual([...good.keys()], [toHex(o.publicKey), toHex(n.publicKey)], "oldest first");
    const refused = (endorsement: unknown, message: RegExp) =>
      assert.throws(
        () => snapshotIdentities(state(endorsement)),
        (e) => isTreatyError(e, "SnapshotInvalid") && message.test((e as Error).message),
      );
    // Signed by another key than the one it names; a loop; not hex; no service record at all.
    const other = toHex(generateKeyPair("ed25519").publicKey);
    refused({ endorsedBy: other, signature, timeMs: 0 }, /does not verify/);
    refused({ endorsedBy: toHex(n.publicKey), signature, timeMs: 0 }, /loop/);
    refused({ endorsedBy: 42, signature, timeMs: 0 }, /is not 32 bytes of hex/);
    refused({ endorsedBy: toHex(o.publicKey), signature: "zz", timeMs: 0 }, /is not 64 bytes of hex/);
    assert.throws(
      () => snapshotIdentities(new GovView()),
      (e) => isTreatyError(e, "SnapshotInvalid") && /no service record/.test((e as Error).message),
    );
  });

  it("the whole ledger with an explicit snapshot file starts from the snapshot", async () => {
    // A chunked store on disk, as a recovering node's: an interrupted attempt leaves it behind.
    const store = openLedgerStore(join(dir, "interrupted", "ledger"));
    const snapshotFile = join(snapshotDir(copy), `snapshot-${String(base).padStart(16, "0")}.committed`);
    const imported = await importLedger(join(dir, "full-ledger"), store, { snapshotFile });
    assert.equal(imported.snapshot?.body.seqno, base);
    assert.equal(store.baseSeqno, base);
    assert.equal(store.get(base), undefined, "nothing before the snapshot is copied");
    assert.deepEqual(imported.identities, [toHex(originalKey.publicKey)]);
    // Without it, the whole ledger is copied (as before).
    const whole = new MemoryLedgerStore();
    const plain = await importLedger(join(dir, "full-ledger"), whole);
    assert.equal(plain.snapshot, undefined);
    assert.equal(whole.baseSeqno, 0);
    assert.equal(plain.lastSeqno, imported.lastSeqno);
    assert.deepEqual(plain.record, imported.record, "the same share round, from the snapshot and after it");
    // A store an interrupted attempt left (rebased, with entries) starts over, either way.
    const again = await importLedger(join(dir, "full-ledger"), store);
    assert.equal(store.baseSeqno, 0);
    assert.equal(store.lastSeqno, again.lastSeqno);
    await importLedger(copy, whole);
    assert.equal(whole.baseSeqno, base);
    await importLedger(copy, store);
    assert.equal(store.baseSeqno, base);
    assert.equal(store.lastSeqno, whole.lastSeqno);
    await store.close();
  });

  it("recovers from the snapshot and the entries after it: private state, receipts, new writes", async () => {
    // A newer file in the folder that does not verify (altered) is skipped for the one that does.
    const newer = join(snapshotDir(copy), `snapshot-${String(base + 1).padStart(16, "0")}.committed`);
    const bytes = new Uint8Array(
      readFileSync(join(snapshotDir(copy), `snapshot-${String(base).padStart(16, "0")}.committed`)),
    );
    bytes[Math.floor(bytes.length / 3)]! ^= 0x01;
    writeFileSync(newer, bytes);
    const [port] = await freePorts(1);
    const url = `http://127.0.0.1:${port}`;
    const c = config("c", { http: { host: "127.0.0.1", port, tls: false }, recover: { ledgerDir: copy } });
    const starting = TreatyNode.start(c, realRuntime(c, silentLogger));
    let failure: unknown;
    starting.catch((err: unknown) => {
      failure = err;
    });
    const waiting = await until("RecoveryShares", () => {
      if (failure !== undefined) throw failure;
      return fetch(`${url}/node/status`)
        .then(
          (r) =>
            r.json() as Promise<{ state?: string; snapshotSeqno?: number; recovery?: { needed: number } }>,
          () => undefined,
        )
        .then((s) => (s?.state === "RecoveryShares" ? s : undefined));
    });
    assert.equal(waiting.snapshotSeqno, base);
    assert.equal(waiting.recovery?.needed, 2);
    for (const i of [0, 2])
      await submitRecoveryShare({
        node: url,
        member: members[i]!.key,
        encryption: members[i]!.enc,
        serviceKey: originalKey,
      });
    recovered = await starting;
    const serviceKey = recovered.serviceKey;
    assert.notEqual(toHex(serviceKey.publicKey), toHex(originalKey.publicKey));
    assert.equal(recovered.ledger.base?.seqno, base, "the new node's ledger starts at the snapshot");
    await until("the recovering service", async () =>
      recovered!.gov.service()?.status === "recovering" ? true : undefined,
    );
    await decide(new Client({ nodes: [url], serviceKey }), actions.transitionServiceToOpen());

    const log = new Client({ nodes: [url], serviceKey, key: user }).contract<typeof logContract>("log");
    // Every private value: those in the snapshot's private part and those replayed after it.
    assert.ok(written.some((w) => w.seqno < base) && written.some((w) => w.seqno > base));
    for (const { id } of written)
      assert.deepEqual((await log.readPrivate({ id })).result, { msg: `secret ${id}` });
    const { txid } = await log.writePrivate({ id: 100, msg: "after the disaster" });
    await new Client({ nodes: [url], serviceKey }).waitForCommit(txid!);

    // Receipts against the original identity: after the snapshot re-issued by the new node, before
    // it TxNotFound there (the kept ones still verify offline), and a new one.
    const pinned = new Client({ nodes: [url], serviceKey: originalKey });
    for (const w of written) {
      verifyReceipt(w.receipt, originalKey, { txid: w.txid });
      if (w.seqno > base)
        verifyReceipt((await pinned.receipt(w.txid)).receipt, originalKey, { txid: w.txid });
      else await assert.rejects(pinned.receipt(w.txid), (e) => isTreatyError(e, "TxNotFound"));
    }
    const fresh = await until("a new receipt", () =>
      pinned.receipt(txid!).then(
        (r) => r.receipt,
        () => undefined,
      ),
    );
    verifyReceipt(fresh, originalKey, { txid: txid! });

    // A restart of the recovered node starts from the snapshot it recovered from.
    await recovered.stop();
    recovered = undefined;
    const again = config("c", {
      http: { host: "127.0.0.1", port: 0, tls: false },
      recover: { ledgerDir: copy },
    });
    recovered = await TreatyNode.start(again, realRuntime(again, silentLogger));
    const reread = new Client({ nodes: [recovered.url], serviceKey, key: user }).contract<typeof logContract>(
      "log",
    );
    const after = await until("the restarted node to serve", () =>
      reread.readPrivate({ id: 100 }).then(
        (r) => r.result,
        () => undefined,
      ),
    );
    assert.deepEqual(after, { msg: "after the disaster" });
    assert.deepEqual((await reread.readPrivate({ id: 1 })).result, { msg: "secret 1" });

    // Offline audit of the recovered node's data folder, pinned to the original identity: from
    // the snapshot it recovered from, through the signatures of both identities.
    await recovered.stop();
    recovered = undefined;
    let out = "";
    const code = await runLedgerVerify(
      [again.dataDir, "--service-key", `ed25519:${toHex(originalKey.publicKey)}`, "--quiet"],
      { out: (t) => (out += t), err: (t) => (out += t), nowMs: () => 0 },
    );
    assert.equal(code, 0, out);
    const report = JSON.parse(out) as { baseSeqno: number; serviceIdentities: string[] };
    assert.equal(report.baseSeqno, base);
    assert.deepEqual(report.serviceIdentities, [toHex(originalKey.publicKey), toHex(serviceKey.publicKey)]);
  });
});
