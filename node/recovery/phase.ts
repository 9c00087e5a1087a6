/**
 * The `RecoveryShares` phase of `treaty node start --recover <ledger>` (see recover.ts): the node
 * has imported and verified the lost service's ledger and serves, until members have submitted
 * enough shares,
 *
 *   GET  /node/status                   → {state: "RecoveryShares", recovery: {round, received, needed, ...}, ...}
 *   GET  /gov/recovery, /gov/recovery/shares/:memberId   (from the imported ledger)
 *   POST /gov/recovery/shares           a member's signed request {args: {share}}: its share,
 *                                       re-sealed to this node's key → {received, needed, state}
 *
 * Then it rebuilds the ledger secrets, checks that every private write of the ledger (and the
 * private part of the snapshot it starts from, if any) decrypts, writes that snapshot to this
 * node's `snapshots/` as committed (the node then starts from it as from one it installed:
 * node/snapshot/restart.ts), appends the entry recording the new service identity, and hands the
 * node its secrets; the router is cleared for the node's normal endpoints.
 */
import { rmSync } from "node:fs";
import { ed25519 } from "@noble/curves/ed25519.js";
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { fromKeyFile, type KeyPair, keyId, toKeyFile } from "../../sdk/keys.js";
import type { SealedShare } from "../../sdk/recovery.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { LedgerSecret, LedgerSecrets } from "../../runtime/ledger/secrets.js";
import { endorseNode } from "../../runtime/ledger/signature.js";
import type { LedgerStore } from "../../runtime/ledger/store.js";
import { admit } from "../admission.js";
import type { Router } from "../http/server.js";
import type { NodeSecrets } from "../join.js";
import type { Logger } from "../log.js";
import { writeDurable } from "../state-file.js";
import { inlineVerifier } from "../verify/index.js";
import {
  identityLabel,
  importLedger,
  RECOVERY_SUBMIT_PATH,
  recoveryEntry,
  ShareCollector,
} from "./recover.js";
import { listSnapshotFiles, SnapshotFiles } from "../snapshot/files.js";
import { openBody } from "../snapshot/format.js";
import { addRecoveryShareRoutes } from "./routes.js";
import { recoverSecrets } from "./shares.js";

const ENDORSEMENT_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;
const ENDORSEMENT_BACKDATE_MS = 24 * 3600 * 1000;
/** A handful of share submissions: checked on the main thread, no worker for them. */
const RECOVERY_VERIFIER = inlineVerifier();

export interface RecoveryPhaseOptions {
  readonly ledgerDir: string;
  /** recover.snapshotFile (see `importLedger`). */
  readonly snapshotFile?: string;
  /** This node's snapshot folder: the snapshot recovered from is written there as committed. */
  readonly snapshotDir: string;
  readonly store: LedgerStore;
  readonly hardStatePath: string;
  readonly identity: KeyPair;
  readonly measurement: string;
  readonly url: string;
  readonly router: Router;
  readonly freshnessWindowMs: number;
  readonly now: () => number;
  readonly randomBytes: (length: number) => Uint8Array;
  readonly logger: Logger;
}

/** Runs the phase (see the module comment); resolves with the node's secrets for the new service. */
export async function runRecoveryPhase(o: RecoveryPhaseOptions): Promise<NodeSecrets> {
  // An interrupted attempt may have left the snapshot it started from: start over.
  for (const kind of ["pending", "committed"] as const)
    for (const f of listSnapshotFiles(o.snapshotDir, kind)) rmSync(f.path, { force: true });
  const imported = await importLedger(o.ledgerDir, o.store, {
    ...(o.snapshotFile !== undefined && { snapshotFile: o.snapshotFile }),
  });
  const snapshot = imported.snapshot;
  const nodeKey = {
    privateKey: ed25519.utils.toMontgomerySecret(o.identity.privateKey),
    publicKey: ed25519.utils.toMontgomery(o.identity.publicKey),
  };
  const collector = new ShareCollector(imported.record, nodeKey);
  const previousId = keyId(imported.serviceKey);
  o.logger.info("recovering a service: waiting for members' recovery shares", {
    service: identityLabel(imported.serviceKey),
    lastSeqno: imported.lastSeqno,
    ...(snapshot !== undefined && { snapshot: snapshot.path, snapshotSeqno: snapshot.body.seqno }),
    round: imported.record.round,
    needed: collector.needed,
  });
  let complete: () => void;
  const enough = new Promise<void>((resolve) => {
    complete = resolve;
  });
  o.router
    .add("GET", "/node/status", async () => ({
      body: {
        state: "RecoveryShares",
        nodeId: o.identity.id,
        publicKey: toHex(o.identity.publicKey),
        encryptionKey: toHex(nodeKey.publicKey),
        measurement: o.measurement,
        previousServiceKey: { curve: "ed25519", publicKey: toHex(imported.serviceKey.publicKey) },
        lastSeqno: imported.lastSeqno,
        // The seqno of the snapshot the ledger starts from (0: from seqno 1).
        snapshotSeqno: snapshot?.body.seqno ?? 0,
        recovery: {
          round: imported.record.round,
          received: collector.received,
          needed: collector.needed,
          holders: Object.keys(imported.record.digests).sort(),
        },
      },
    }))
    .add("POST", RECOVERY_SUBMIT_PATH, async (req) => {
      if (collector.complete)
        throw new TreatyError("Conflict", "recovery: enough shares were submitted; the node is recovering");
      const admitted = await admit(
        {
          serviceId: previousId,
          gov: imported.gov,
          nowMs: o.now(),
          freshnessWindowMs: o.freshnessWindowMs,
          verifier: RECOVERY_VERIFIER,
        },
        req.path,
        req.headers,
        req.body,
      );
      if (admitted.caller?.role !== "member")
        throw new TreatyError("Forbidden", "recovery shares: only a member's signed request may submit one");
      const share = (admitted.body.args as { share?: unknown } | null)?.share;
      if (share === null || typeof share !== "object")
        throw new TreatyError("InvalidArgs", "args.share: expected a sealed share");
      await collector.submit(admitted.caller.id, share as SealedShare);
      o.logger.info("recovery share accepted", {
        member: admitted.caller.id.slice(0, 12),
        received: collector.received,
        needed: collector.needed,
      });
      if (collector.complete) complete();
      return {
        body: {
          received: collector.received,
          needed: collector.needed,
          state: collector.complete ? "Recovering" : "RecoveryShares",
        },
      };
    });
  addRecoveryShareRoutes(o.router, imported.gov);
  await enough;

  const recovered = await recoverSecrets(imported.record, collector.shares());
  const secrets = new LedgerSecrets(
    recovered.ledgerSecrets.map((s) => new LedgerSecret(s.version, Buffer.from(s.key, "hex"))),
  );
  const ledger = Ledger.open({
    store: o.store,
    secrets,
    random: o.randomBytes,
    ...(snapshot !== undefined && { base: snapshot.base }),
  });
  // DecryptionFailed if not; the snapshot's private part: SnapshotInvalid.
  for (let seqno = (snapshot?.body.seqno ?? 0) + 1; seqno <= ledger.lastSeqno; seqno++)
    ledger.writeSetAt(seqno);
  if (snapshot !== undefined) {
    openBody(snapshot.body, secrets.get(snapshot.body.secretVersion));
    // The node starts from it as from a snapshot it installed (node/snapshot/restart.ts).
    await new SnapshotFiles(o.snapshotDir, 1).writeCommitted(snapshot.body.seqno, [snapshot.bytes]);
  }
  const { serviceKey, entry } = recoveryEntry({
    imported,
    previousServiceKey: fromKeyFile(recovered.serviceKey),
    node: { id: o.identity.id, publicKey: o.identity.publicKey, measurement: o.measurement, url: o.url },
    timeMs: o.now(),
  });
  const view = imported.lastView + 1;
  ledger.appendTransaction(view, entry);
  ledger.persist();
  writeDurable(o.hardStatePath, JSON.stringify({ view, votedFor: null, commitSeqno: imported.lastSeqno }));
  const now = o.now();
  const endorsement = endorseNode(
    serviceKey,
    o.identity,
    now - ENDORSEMENT_BACKDATE_MS,
    now + ENDORSEMENT_VALIDITY_MS,
  );
  o.router.clear();
  o.logger.info("private state recovered: the service awaits members' vote to open", {
    service: identityLabel(serviceKey),
    previous: identityLabel(imported.serviceKey),
    ledgerSecretVersions: secrets.versions,
  });
  return {
    serviceKey: toKeyFile(serviceKey),
    ledgerSecrets: recovered.ledgerSecrets,
    previousServiceKeys: imported.identities,
    endorsement: {
      validFromMs: endorsement.validFromMs,
      validToMs: endorsement.validToMs,
      signature: toHex(endorsement.signature),
    },
  };
}
