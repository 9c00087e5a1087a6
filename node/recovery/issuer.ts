/**
 * The leader's duty to keep recovery shares current: after every commit that touches the
 * members, the service record or the recovery tables (and once per view, so a new leader picks
 * up a round its predecessor could not finish), it compares the inputs of the recorded round
 * (members' encryption keys, threshold, ledger secret versions, service identity) with the
 * current ones and, when they differ and the service is open, issues a new round in one internal
 * transaction. Never throws: a failure is logged and the next commit tries again.
 */
import { fromHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { encryptionKeyProblem } from "../../sdk/recovery.js";
import type { KeyFile } from "../../sdk/keys.js";
import type { TransactionInput } from "../../runtime/ledger/ledger.js";
import type { TxId } from "../consensus/types.js";
import { publicWriteSet } from "../genesis.js";
import { GOV, type MemberRecord, SINGLETON_KEY, type ServiceRecord } from "../gov/tables.js";
import type { GovView } from "../gov/view.js";
import type { Logger } from "../log.js";
import { issueShares, type RecoveryRecord, type ShareHolder, shareFingerprint } from "./shares.js";

export interface IssuerTarget {
  readonly gov: GovView;
  readonly logger: Logger;
  readonly now: () => number;
  readonly randomBytes: (length: number) => Uint8Array;
  /** This node's view while it leads, else null. */
  leaderView(): number | null;
  /** The secrets W wraps (the node's current ledger secrets and the service key). */
  secrets(): {
    ledgerSecrets: ReadonlyArray<{ version: number; key: string }>;
    serviceKey: KeyFile;
  };
  appendInternal(input: TransactionInput): Promise<TxId>;
}

/** Tables whose change may call for a new share round. */
const WATCHED: readonly string[] = [GOV.members, GOV.service, GOV.recovery, GOV.ledgerSecret];

export class RecoveryShareIssuer {
  readonly #t: IssuerTarget;
  #checkedView: number | null = null;
  #inFlight = false;
  /** The fingerprint we last warned about (too few holders), so the log says it once. */
  #warned: string | null = null;
  /** The inputs' fingerprint whose round last failed (logged once). */
  #failed: string | null = null;

  constructor(target: IssuerTarget) {
    this.#t = target;
  }

  /** Current holders: active members with an encryption key. */
  static holders(gov: GovView): ShareHolder[] {
    return gov.rows<MemberRecord>(GOV.members).flatMap(([memberId, m]) =>
      // Wallet members (recorded by address) have no encryption key: they hold no share. Nor
      // does a key no share can be sealed to (small order: refused by governance and genesis
      // since they check it, but a ledger may hold one from before), so that one member's key
      // cannot stop the round of every other member.
      m.status === "active" &&
      "encryptionKey" in m &&
      m.encryptionKey !== undefined &&
      encryptionKeyProblem(fromHex(m.encryptionKey)) === undefined
        ? [{ memberId, encryptionKey: m.encryptionKey }]
        : [],
    );
  }

  async onCommit(touched: ReadonlySet<string>): Promise<void> {
    const view = this.#t.leaderView();
    if (view === null || this.#inFlight) return;
    if (this.#checkedView === view && !WATCHED.some((t) => touched.has(t))) return;
    this.#checkedView = view;
    const { gov } = this.#t;
    const service = gov.row<ServiceRecord>(GOV.service, SINGLETON_KEY);
    if (service?.status !== "open") return;
    const holders = RecoveryShareIssuer.holders(gov);
    const secrets = this.#t.secrets();
    const inputs = {
      threshold: service.recoveryThreshold,
      holders,
      ledgerSecretVersions: secrets.ledgerSecrets.map((s) => s.version),
      serviceIdentity: service.identity,
    };
    const fingerprint = shareFingerprint(inputs);
    const current = gov.row<RecoveryRecord>(GOV.recovery, SINGLETON_KEY);
    if (current?.fingerprint === fingerprint) return;
    if (holders.length < inputs.threshold) {
      if (this.#warned !== fingerprint)
        this.#t.logger.warn("recovery shares not issued: too few members with an encryption key", {
          threshold: inputs.threshold,
          holders: holders.length,
        });
      this.#warned = fingerprint;
      return;
    }
    this.#inFlight = true;
    try {
      const round = (current?.round ?? 0) + 1;
      const { record, shares } = await issueShares({
        round,
        threshold: inputs.threshold,
        holders,
        secrets,
        serviceIdentity: service.identity,
        randomBytes: this.#t.randomBytes,
      });
      const stale = gov
        .rows(GOV.recoveryShares)
        .filter(([id]) => !holders.some((h) => h.memberId === id))
        .map(([id]) => ({ map: GOV.recoveryShares, key: id, value: null }));
      const txid = await this.#t.appendInternal({
        kind: "internal",
        writeSet: publicWriteSet([
          { map: GOV.recovery, key: SINGLETON_KEY, value: record },
          ...shares.map((s) => ({ map: GOV.recoveryShares, key: s.memberId, value: s })),
          ...stale,
        ]),
        meta: { timeMs: this.#t.now(), contract: null, method: "issue_recovery_shares", callerId: null },
      });
      this.#t.logger.info("recovery shares issued", {
        round,
        threshold: record.threshold,
        holders: holders.length,
        txid: `${txid.view}.${txid.seqno}`,
      });
    } catch (err) {
      // Logged once per set of inputs, not at every commit while the same failure repeats.
      const transient =
        err instanceof TreatyError && ["Conflict", "Unavailable", "NotLeader"].includes(err.code);
      if (!transient && this.#failed !== fingerprint)
        this.#t.logger.error("recovery shares could not be issued", { err });
      if (!transient) this.#failed = fingerprint;
      this.#checkedView = null; // try again at the next commit
    } finally {
      this.#inFlight = false;
    }
  }
}
