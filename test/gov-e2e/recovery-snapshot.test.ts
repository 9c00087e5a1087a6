/**
 * Disaster recovery end to end, driven by the CLI (docs/recovery.md), from the data folder of a
 * node that joined from a snapshot: its ledger starts after the snapshot's seqno, and the state
 * before it is only in the committed snapshots of its `snapshots/` folder. One genesis node (with
 * snapshots every 5 entries), 3 members holding 2-of-3 shares, private writes; a second node
 * joins from a snapshot; more private writes; kill -9 both; keep only the joiner's `ledger/` and
 * `snapshots/`; start a new node with `--recover` on that folder and `--recover-snapshot` on the
 * snapshot the joiner installed; two shares recover it; members
 * open the service; every private value is readable, receipts verify against the original
 * service key (transactions before the snapshot the node starts from are TxNotFound there, as on
 * any node that joined from a snapshot), and new writes are accepted.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { listSnapshotFiles, snapshotDir } from "../../node/snapshot/files.js";
import { openLedgerStore } from "../../runtime/ledger/open-store.js";
import { toHex } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions } from "../../sdk/governance.js";
import { parsePublicKey } from "../../sdk/keys.js";
import { type Receipt, verifyReceipt } from "../../sdk/receipt.js";
import { type Cluster, startCluster } from "../support/cluster.js";
import { treaty } from "../support/cli.js";
import { decide, setThresholdTwo, type ShareHolders, shareHolders } from "./share-holders.js";

/** Private writes before the second node joins, and as many after. */
const WRITES = 4;

describe("disaster recovery with the CLI from the data folder of a node that joined from a snapshot", () => {
  let cluster: Cluster;
  let holders: ShareHolders;
  const written: Array<{ id: number; txid: string; seqno: number; receipt: Receipt }> = [];
  let serviceFile: string;
  let keys: string | undefined;

  before(async () => {
    keys = mkdtempSync(join(tmpdir(), "treaty-dr-snapshot-keys-"));
    holders = await shareHolders(keys);
    const { extraMembers } = holders;
    cluster = await startCluster({
      nodes: 1,
      extraMembers,
      contracts: [{ name: "log", path: "contracts/examples/log" }],
      // Every snapshot kept: the one the joiner installed is still in its folder at the end.
      extraConfig: { snapshots: { everyEntries: 5, keep: 100 } },
    });
    serviceFile = join(keys, "service.json");
    writeFileSync(serviceFile, JSON.stringify(cluster.serviceFile));
  });
  after(async () => {
    await cluster?.dispose();
    if (keys) rmSync(keys, { recursive: true, force: true });
  });

  it("recovers every private value from the snapshot and the ledger after it", async (t) => {
    // Four members (member0 and three share holders): a majority is three.
    const { keyFiles, members } = holders;
    const voters = [cluster.member, members[0]!, members[1]!];
    await setThresholdTwo(cluster, voters);
    const write = async (id: number) => {
      const client = cluster.client();
      const { txid } = await client
        .contract<typeof logContract>("log")
        .writePrivate({ id, msg: `private ${id}` });
      await client.waitForCommit(txid!);
      const receipt = await cluster.waitFor("a receipt", () =>
        client.receipt(txid!).then(
          (r) => r.receipt,
          () => undefined,
        ),
      );
      written.push({ id, txid: txid!, seqno: Number(txid!.split(".")[1]), receipt });
    };
    for (let id = 1; id <= WRITES; id++) await write(id);
    // A committed snapshot after those writes, for the new node to join from: snapshots fall at
    // signatures past a multiple of 5 entries, so public writes go on until one has.
    const genesisNode = cluster.nodes[0]!;
    const snapshotAfter = (seqno: number) =>
      listSnapshotFiles(snapshotDir(genesisNode.dataDir), "committed").some((f) => f.seqno > seqno);
    let filler = 1000;
    await cluster.waitFor("a committed snapshot after the first writes", async () => {
      if (snapshotAfter(written.at(-1)!.seqno)) return true;
      const client = cluster.client();
      const { txid } = await client
        .contract<typeof logContract>("log")
        .writePublic({ id: filler++, msg: "filler" });
      await client.waitForCommit(txid!);
      return undefined;
    });
    const joiner = await cluster.addNode();
    await cluster.waitFor(
      "the new node to serve",
      async () => {
        const s = await joiner.status().catch(() => undefined);
        return s?.phase === "serving" && s.role === "follower" ? true : undefined;
      },
      60_000,
    );
    for (let id = WRITES + 1; id <= 2 * WRITES; id++) await write(id);
    await cluster.waitForConvergence();

    // The disaster: every node killed; only the joiner's ledger and snapshots survive.
    for (const node of cluster.nodes) await node.kill();
    const surviving = join(cluster.dir, "surviving");
    cpSync(join(joiner.dataDir, "ledger"), join(surviving, "ledger"), { recursive: true });
    cpSync(snapshotDir(joiner.dataDir), snapshotDir(surviving), { recursive: true });
    const copy = openLedgerStore(join(surviving, "ledger"), { readOnly: true });
    const copyBase = copy.baseSeqno;
    await copy.close();
    assert.ok(copyBase > written[0]!.seqno, `the joiner's ledger starts after a snapshot (${copyBase})`);
    for (const [i, node] of cluster.nodes.entries()) {
      rmSync(node.dataDir, { recursive: true, force: true });
      rmSync(join(cluster.dir, `node${i}-sealing.key`), { force: true });
    }

    const config = JSON.parse(readFileSync(genesisNode.configFile, "utf8")) as Record<string, unknown>;
    delete config.genesis;
    delete config.identityFile; // a fresh node identity, sealed
    // The snapshot the joiner installed, given explicitly (--recover-snapshot, i.e.
    // recover.snapshotFile): the private writes after the join are then replayed from the ledger
    // after it. (Without it the node takes the newest committed snapshot of the folder the ledger
    // reaches: test/recovery/snapshot.)
    const installed = listSnapshotFiles(snapshotDir(surviving), "committed").find(
      (f) => f.seqno === copyBase,
    );
    assert.ok(installed !== undefined, "the snapshot the joiner installed");
    writeFileSync(genesisNode.configFile, JSON.stringify(config));
    mkdirSync(genesisNode.dataDir); // the node process runs in its data folder
    await genesisNode.start(["--recover", surviving, "--recover-snapshot", installed.path]);
    const waiting = await cluster.waitFor("RecoveryShares", async () => {
      const s = (await fetch(`${genesisNode.url}/node/status`).then(
        (r) => r.json(),
        () => undefined,
      )) as { state?: string; snapshotSeqno?: number; recovery?: { needed: number } } | undefined;
      return s?.state === "RecoveryShares" ? s : undefined;
    });
    const snapshotSeqno = waiting.snapshotSeqno!;
    assert.equal(snapshotSeqno, copyBase);
    assert.ok(written.at(-1)!.seqno > snapshotSeqno, "private writes after the snapshot, in the ledger");
    assert.equal(waiting.recovery?.needed, 2);
    t.diagnostic(
      `the copy starts after seqno ${copyBase}; recovering from snapshot ${snapshotSeqno}; ${written.filter((w) => w.seqno > snapshotSeqno).length} of ${written.length} private writes after it`,
    );
    for (const i of [0, 2]) {
      const run = await treaty(
        "recovery",
        "share",
        "--key",
        keyFiles[i]!,
        "--node",
        genesisNode.url,
        "--service",
        serviceFile,
      );
      assert.equal(run.code, 0, run.stdout + run.stderr);
    }
    const recovered = await cluster.waitFor("the recovered service", async () => {
      const s = (await fetch(`${genesisNode.url}/node/status`).then(
        (r) => r.json(),
        () => undefined,
      )) as
        | { serviceStatus?: string; role?: string; serviceKey?: { curve: string; publicKey: string } }
        | undefined;
      return s?.serviceStatus === "recovering" && s.role === "leader" ? s : undefined;
    });
    const newKey = parsePublicKey(recovered.serviceKey!.curve, recovered.serviceKey!.publicKey);
    assert.notEqual(toHex(newKey.publicKey), toHex(cluster.serviceKey.publicKey));
    await decide(
      new Client({ nodes: [genesisNode.url], serviceKey: newKey }),
      voters,
      actions.transitionServiceToOpen(),
    );

    const client = new Client({ nodes: [genesisNode.url], serviceKey: newKey, key: cluster.user });
    const log = client.contract<typeof logContract>("log");
    for (const { id } of written)
      assert.deepEqual((await log.readPrivate({ id })).result, { msg: `private ${id}` });
    const { txid } = await log.writePrivate({ id: 100, msg: "after the disaster" });
    await client.waitForCommit(txid!);

    // Against the original pinned key: every kept receipt offline; re-fetched, those after the
    // snapshot the node starts from verify, those before it are TxNotFound; a new one verifies.
    const pinned = new Client({ nodes: [genesisNode.url], serviceKey: cluster.serviceKey });
    assert.ok(written[0]!.seqno < snapshotSeqno);
    for (const w of written) {
      verifyReceipt(w.receipt, cluster.serviceKey, { txid: w.txid });
      if (w.seqno > snapshotSeqno)
        verifyReceipt((await pinned.receipt(w.txid)).receipt, cluster.serviceKey, { txid: w.txid });
      else await assert.rejects(pinned.receipt(w.txid), (e) => isTreatyError(e, "TxNotFound"));
    }
    const fresh = await cluster.waitFor("a receipt after the disaster", () =>
      pinned.receipt(txid!).then(
        (r) => r.receipt,
        () => undefined,
      ),
    );
    verifyReceipt(fresh, cluster.serviceKey, { txid: txid! });
  });
});
