/**
 * SnapshotPort.install into a fresh data folder (what a joiner does): a snapshot from a running
 * node is verified and loaded (KV, ledger base, Merkle frontier), and the entries the node wrote
 * after it replicate onto the installed ledger (their signatures check against the frontier).
 * Tampered snapshots are refused with SnapshotInvalid and nothing is loaded.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { decode, encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { ExecutionService } from "../../node/execution/service.js";
import { silentLogger } from "../../node/log.js";
import { createSealingProvider } from "../../node/secrets/sealing.js";
import { SnapshotFiles, snapshotDir } from "../../node/snapshot/files.js";
import { decodeFile, encodeFile } from "../../node/snapshot/format.js";
import { Snapshots } from "../../node/snapshot/snapshots.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { LmdbLedgerStore } from "../../runtime/ledger/lmdb-store.js";
import { LedgerSecret, LedgerSecrets } from "../../runtime/ledger/secrets.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { treaty } from "../support/cli.js";
import { until } from "../support/poll.js";

/** A fresh data folder with a ledger, a KV and a snapshot port, as a joiner has before it installs. */
async function freshNode(source: TestNode, dir: string) {
  const sealed = createSealingProvider(source.node.config.sealing, source.dataDir, {
    randomBytes: (n) => new Uint8Array(randomBytes(n)),
  }).unseal()!.secrets!;
  const secrets = new LedgerSecrets(
    sealed.ledgerSecrets.map((s) => new LedgerSecret(s.version, fromHex(s.key))),
  );
  const store = LmdbLedgerStore.open(join(dir, "ledger"));
  const ledger = Ledger.open({ store, secrets, serviceKey: source.serviceKey });
  const execution = await ExecutionService.start({
    kvPath: join(dir, "kv"),
    logger: silentLogger,
    replaySource: () => [],
  });
  const installed: number[] = [];
  const snapshots = (serviceKey = source.serviceKey) =>
    new Snapshots({
      ledger,
      execution,
      secrets,
      serviceKeys: [serviceKey],
      files: new SnapshotFiles(snapshotDir(dir), 2),
      schedule: { everyEntries: 1_000_000, everyMs: 3_600_000, strideBytes: 0 },
      logger: silentLogger,
      isLeader: () => false,
      recordEvidence: async () => undefined,
      onInstalled: async (seqno) => {
        installed.push(seqno);
      },
    });
  const close = async () => {
    await execution.close();
    await store.close();
  };
  return { ledger, execution, snapshots, installed, close, dir };
}

describe("SnapshotPort.install", () => {
  let net: TestNode;
  let dir: string;
  let snapshot: { seqno: number; view: number; bytes: Uint8Array };
  /** Seqnos of the private and public writes made before the snapshot was taken. */
  const written = { private: [] as number[], public: [] as number[] };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-install-"));
    net = await startTestNode({ snapshots: { everyEntries: 20 } });
    const log = net.client().contract<typeof logContract>("log");
    for (let id = 1; id <= 50; id++) {
      const write = id % 2 === 0 ? log.writePrivate : log.writePublic;
      const { txid } = await write({ id, msg: `message ${id}` });
      written[id % 2 === 0 ? "private" : "public"].push(Number(txid!.split(".")[1]));
    }
    await net.settled();
    await until("a usable snapshot", () => (net.node.snapshots.latest()?.seqno ?? 0) > 40);
    snapshot = net.node.snapshots.latest()!;
    // More writes after the snapshot, to replicate onto the installed ledger.
    for (let id = 51; id <= 60; id++) await log.writePublic({ id, msg: `message ${id}` });
    await net.settled();
  });
  after(async () => {
    await net?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Installs `bytes` into a fresh folder; returns the error it threw (and checks nothing was loaded). */
  async function refused(bytes: Uint8Array, serviceKey = net.serviceKey): Promise<string> {
    const fresh = await freshNode(net, mkdtempSync(join(dir, "refused-")));
    try {
      const error = await fresh
        .snapshots(serviceKey)
        .install(bytes)
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      assert.ok(isTreatyError(error, "SnapshotInvalid"), `expected SnapshotInvalid, got ${String(error)}`);
      assert.equal(fresh.ledger.lastSeqno, 0);
      assert.equal(fresh.ledger.base, undefined);
      assert.equal(fresh.execution.committedVersion, 0);
      assert.deepEqual((await fresh.execution.committedMaps("")).maps, []);
      assert.deepEqual(fresh.installed, []);
      assert.equal(
        existsSync(snapshotDir(fresh.dir)) &&
          new SnapshotFiles(snapshotDir(fresh.dir), 2).list("committed").length,
        0,
      );
      return error.message;
    } finally {
      await fresh.close();
    }
  }

  it("loads the KV, the ledger base and the frontier; later entries replicate onto it", async () => {
    const fresh = await freshNode(net, join(dir, "fresh"));
    try {
      const result = await fresh.snapshots().install(snapshot.bytes);
      assert.deepEqual(result, { seqno: snapshot.seqno, view: snapshot.view });
      assert.deepEqual(fresh.installed, [snapshot.seqno]);
      assert.equal(fresh.ledger.base?.seqno, snapshot.seqno);
      assert.equal(fresh.ledger.lastSeqno, snapshot.seqno);
      assert.equal(fresh.execution.committedVersion, snapshot.seqno);
      // The installed node offers the same snapshot onwards.
      assert.deepEqual(fresh.snapshots().latest(), snapshot);
      // Private and public rows of the log contract, as of the snapshot.
      const rows = (await fresh.execution.committedMaps("")).maps;
      const rowCount = (map: string) => rows.find((m) => m.map === map)?.writes.length ?? 0;
      const before = (seqnos: number[]) => seqnos.filter((s) => s <= snapshot.seqno).length;
      assert.ok(before(written.private) > 0, "the snapshot holds private writes");
      assert.equal(rowCount("log.messages"), before(written.private), "private rows");
      assert.equal(rowCount("public:log.messages"), before(written.public), "public rows");
      // Every entry after the snapshot, signatures included, checks against the installed frontier.
      const after = net.node.ledger.persistedSeqno;
      const records = [];
      for (let s = snapshot.seqno + 1; s <= after; s++) records.push(net.node.ledger.get(s)!);
      fresh.ledger.appendReplicated(records);
      fresh.ledger.persist();
      assert.deepEqual(fresh.ledger.root(), net.node.ledger.tree.root(after));
      // Receipts for entries after the snapshot come out the same; before it, TxNotFound.
      const committed = net.node.replica.consensus.status().commitSeqno;
      const last = net.node.ledger.lastSignatureAtOrBefore(committed) - 1;
      const txid = `${net.node.ledger.get(last)!.view}.${last}`;
      assert.deepEqual(fresh.ledger.receipt(txid, committed), net.node.ledger.receipt(txid, committed));
      assert.throws(
        () => fresh.ledger.receipt(`${snapshot.view}.${snapshot.seqno - 3}`, committed),
        (err) => isTreatyError(err, "TxNotFound"),
      );
    } finally {
      await fresh.close();
    }
  });

  it("treaty ledger verify audits the installed data dir from the snapshot it kept", async () => {
    const fresh = await freshNode(net, join(dir, "audited"));
    const last = net.node.ledger.persistedSeqno;
    try {
      await fresh.snapshots().install(snapshot.bytes);
      const records = [];
      for (let s = snapshot.seqno + 1; s <= last; s++) records.push(net.node.ledger.get(s)!);
      fresh.ledger.appendReplicated(records);
      fresh.ledger.persist();
    } finally {
      await fresh.close();
    }
    const key = `ed25519:${toHex(net.serviceKey.publicKey)}`;
    const ok = await treaty("ledger", "verify", fresh.dir, "--service-key", key, "--quiet");
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const report = JSON.parse(ok.stdout) as {
      baseSeqno: number;
      entries: number;
      lastSeqno: number;
      signatures: number;
      snapshot: { file: string; seqno: number };
    };
    assert.equal(report.baseSeqno, snapshot.seqno);
    assert.equal(report.snapshot.seqno, snapshot.seqno);
    assert.equal(report.entries, last - snapshot.seqno);
    assert.equal(report.lastSeqno, last);
    assert.ok(report.signatures > 0, "a signature after the snapshot checked its root against the frontier");

    // An unpinned audit cannot check the snapshot: refused with a usage error, not a bogus report.
    const unpinned = await treaty("ledger", "verify", fresh.dir, "--quiet");
    assert.equal(unpinned.code, 2, unpinned.stdout + unpinned.stderr);
    assert.match(unpinned.stderr, /starts after a snapshot \(seqno \d+\): --service-key is needed/);

    // Another service's key: SnapshotInvalid, naming the start. No snapshot left to start from:
    // NotFound, naming the file needed and the folder looked in.
    const other = `ed25519:${toHex(generateKeyPair("ed25519").publicKey)}`;
    const foreign = await treaty("ledger", "verify", fresh.dir, "--service-key", other, "--quiet");
    assert.equal(foreign.code, 1);
    assert.equal((JSON.parse(foreign.stdout) as { error: { code: string } }).error.code, "SnapshotInvalid");
    rmSync(snapshotDir(fresh.dir), { recursive: true });
    const gone = await treaty("ledger", "verify", fresh.dir, "--service-key", key, "--quiet");
    assert.equal(gone.code, 1);
    assert.deepEqual((JSON.parse(gone.stdout) as { error: { code: string; seqno: number } }).error, {
      ...(JSON.parse(gone.stdout) as { error: object }).error,
      code: "NotFound",
      seqno: snapshot.seqno + 1,
    });
    assert.ok(
      (JSON.parse(gone.stdout) as { error: { message: string } }).error.message.includes(
        `snapshot-${String(snapshot.seqno).padStart(16, "0")}.committed (or a later committed one), looked for in ${snapshotDir(fresh.dir)}`,
      ),
      gone.stdout,
    );
  });

  it("refuses a flipped byte in the body", async () => {
    const { body, evidence } = decodeFile(snapshot.bytes);
    const flipped = new Uint8Array(body);
    flipped[flipped.length - 3]! ^= 0x01;
    assert.match(await refused(encodeFile(flipped, evidence)), /digest|body/);
  });

  it("refuses a flipped byte in the evidence receipt", async () => {
    const { body, evidence } = decodeFile(snapshot.bytes);
    const sig = evidence!.receipt.signature.signature;
    const receipt = {
      ...evidence!.receipt,
      signature: {
        ...evidence!.receipt.signature,
        signature: `${sig[0] === "0" ? "1" : "0"}${sig.slice(1)}`,
      },
    };
    assert.match(await refused(encodeFile(body, { ...evidence!, receipt })), /receipt/);
  });

  it("refuses a snapshot whose seqno is not the one its evidence names", async () => {
    const { body, evidence } = decodeFile(snapshot.bytes);
    const fields = decode<Record<string, unknown>>(body);
    const wrong = encode({ ...fields, seqno: (fields.seqno as number) - 1 });
    assert.match(await refused(encodeFile(wrong, evidence)), /seqno|digest/);
  });

  it("refuses a flipped byte in the consistency proof (docs/snapshots.md step 5)", async () => {
    const { body, evidence } = decodeFile(snapshot.bytes);
    assert.ok(evidence!.consistency.length > 0, "the evidence signs a tree larger than the snapshot's");
    const consistency = evidence!.consistency.map((hash) => new Uint8Array(hash));
    consistency[0]![0]! ^= 0x01;
    assert.match(
      await refused(encodeFile(body, { ...evidence!, consistency })),
      /frontier is not consistent with the signed root/,
    );
  });

  it("refuses a snapshot whose evidence is not committed yet", async () => {
    const { body } = decodeFile(snapshot.bytes);
    assert.match(await refused(encodeFile(body, null)), /evidence is not committed/);
  });

  it("refuses evidence signed by another service", async () => {
    const other = generateKeyPair("ed25519");
    assert.match(
      await refused(snapshot.bytes, { curve: other.curve, publicKey: other.publicKey }),
      /pinned service identity/,
    );
  });

  it("refuses bytes that are not a snapshot", async () => {
    assert.match(await refused(new Uint8Array([1, 2, 3])), /snapshot/);
  });
});
