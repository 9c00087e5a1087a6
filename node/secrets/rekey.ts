/**
 * Ledger rekey. `trigger_ledger_rekey` counts a request in `public:gov.rekey`; the leader answers
 * each committed request with one internal entry `rekey_ledger` that writes
 * `public:gov.ledgerSecret`: the new version, sealed to every trusted node's identity key
 * (x25519 + HKDF + AES-256-GCM, as join sealing). Then:
 *
 * - when the entry is appended (the leader making it, a follower receiving it) the node adds the
 *   version to its ledger secrets *inactive*: it can decrypt entries after it, but encrypts
 *   nothing with it yet;
 * - when the entry is committed every node activates it: the leader's next private writes use
 *   it, older versions stay readable, the node reseals its secrets, and the recovery share issuer
 *   sees a new version set and issues a new round.
 *
 * A rekey entry rolled back by a leader change leaves an inactive version nobody encrypts with;
 * the new leader answers the still-pending request with a version above every one it knows.
 *
 * Joiners: the leader answers a trusted joiner with the *active* versions only. While a rekey is
 * requested but its delivery not committed (`deliveryPending`), it answers "pending" instead: the
 * delivery may have been sealed before the joiner was trusted, so the joiner could read neither
 * the delivery nor the entries after it. Once it commits, the joiner receives the new version
 * among the active ones.
 */
import { fromHex, toHex, utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import type { KeyPair } from "../../sdk/keys.js";
import { type DecodedEntry, decodePublicWrites } from "../../runtime/ledger/entry.js";
import type { TransactionInput } from "../../runtime/ledger/ledger.js";
import { generateLedgerSecret, LedgerSecret, type LedgerSecrets } from "../../runtime/ledger/secrets.js";
import type { TxId } from "../consensus/types.js";
import { publicWriteSet } from "../genesis.js";
import { GOV, type NodeRecord, readTableValue, SINGLETON_KEY } from "../gov/tables.js";
import type { GovView } from "../gov/view.js";
import type { Logger } from "../log.js";
import {
  aeadOpen,
  aeadSeal,
  deriveAeadKey,
  GCM_NONCE_BYTES,
  x25519PrivateKey,
  x25519SharedSecret,
} from "../transport/crypto.js";

export const REKEY_METHOD = "rekey_ledger";

/** `public:gov.ledgerSecret` (key "current"). */
export interface LedgerSecretRecord {
  readonly version: number;
  /** The rekey request count this version answers. */
  readonly requests: number;
  /** The sealing node (the leader), whose identity key the recipients agree a key with. */
  readonly sealer: { readonly id: string; readonly publicKey: string };
  /** nodeId → the secret sealed to that node. */
  readonly sealed: Readonly<Record<string, { readonly nonce: string; readonly ciphertext: string }>>;
}

function label(version: number, sealerId: string, nodeId: string): Uint8Array {
  return utf8.encode(`treaty/ledger-secret/v1|${version}|${sealerId}|${nodeId}`);
}

export interface RekeyTarget {
  readonly identity: KeyPair;
  readonly gov: GovView;
  readonly secrets: LedgerSecrets;
  readonly logger: Logger;
  readonly now: () => number;
  readonly randomBytes: (length: number) => Uint8Array;
  isLeader(): boolean;
  appendInternal(input: TransactionInput): Promise<TxId>;
  /** The active versions changed: reseal and refresh what depends on them. */
  onActivated(): void;
}

export class LedgerRekey {
  readonly #t: RekeyTarget;
  #inFlight = false;

  constructor(target: RekeyTarget) {
    this.#t = target;
  }

  /** True while a committed rekey request has no committed delivery yet (see the module comment). */
  deliveryPending(): boolean {
    const { gov } = this.#t;
    const requested = gov.row<{ requests: number }>(GOV.rekey, SINGLETON_KEY)?.requests ?? 0;
    return requested > (gov.row<LedgerSecretRecord>(GOV.ledgerSecret, SINGLETON_KEY)?.requests ?? 0);
  }

  /** Follower: replicated entries (as the ledger decoded them), before their write sets are decrypted. */
  onAppended(entries: readonly DecodedEntry[]): void {
    for (const entry of entries) {
      if (entry.header.meta.method !== REKEY_METHOD) continue;
      for (const { map, writes } of decodePublicWrites(entry)) {
        if (map !== GOV.ledgerSecret) continue;
        for (const [, value] of writes)
          if (value !== null) this.#learn(readTableValue<LedgerSecretRecord>(value));
      }
    }
  }

  /** Every node, after a commit: activates a committed version; the leader answers requests. */
  onCommit(touched: ReadonlySet<string>): void {
    const { gov, secrets, logger } = this.#t;
    const record = gov.row<LedgerSecretRecord>(GOV.ledgerSecret, SINGLETON_KEY);
    if (touched.has(GOV.ledgerSecret) && record !== undefined) {
      // Versions below it committed in the same batch (or were rolled back and never encrypted
      // anything): active too, so they are resealed and survive a restart.
      for (const v of secrets.versions) if (v < record.version) secrets.activate(v);
      if (secrets.activate(record.version)) {
        logger.info("ledger secret version active", { version: record.version });
        this.#t.onActivated();
      } else {
        logger.error("a committed ledger secret version was not sealed to this node", {
          version: record.version,
        });
      }
    }
    if (!this.#t.isLeader() || this.#inFlight) return;
    const requested = gov.row<{ requests: number }>(GOV.rekey, SINGLETON_KEY)?.requests ?? 0;
    if (requested <= (record?.requests ?? 0)) return;
    this.#inFlight = true;
    void this.#issue(requested).finally(() => {
      this.#inFlight = false;
    });
  }

  async #issue(requests: number): Promise<void> {
    const { identity, gov, secrets, randomBytes } = this.#t;
    const version = Math.max(0, ...secrets.versions) + 1;
    const secret = generateLedgerSecret(version, randomBytes);
    const sealed: Record<string, { nonce: string; ciphertext: string }> = {};
    for (const [id, node] of gov.rows<NodeRecord>(GOV.nodes)) {
      if (node.status !== "trusted" && node.status !== "retiring") continue;
      const shared = x25519SharedSecret(
        x25519PrivateKey(identity),
        fromHex(node.publicKey, "node publicKey"),
      );
      if (shared === undefined) continue;
      const nonce = randomBytes(GCM_NONCE_BYTES);
      const aad = label(version, identity.id, id);
      sealed[id] = {
        nonce: toHex(nonce),
        ciphertext: toHex(aeadSeal(deriveAeadKey(shared, nonce, aad), nonce, aad, secret.exportKey())),
      };
    }
    const record: LedgerSecretRecord = {
      version,
      requests,
      sealer: { id: identity.id, publicKey: toHex(identity.publicKey) },
      sealed,
    };
    secrets.add(secret, { active: false });
    try {
      const txid = await this.#t.appendInternal({
        kind: "internal",
        writeSet: publicWriteSet([{ map: GOV.ledgerSecret, key: SINGLETON_KEY, value: record }]),
        meta: { timeMs: this.#t.now(), contract: null, method: REKEY_METHOD, callerId: null },
      });
      this.#t.logger.info("ledger rekey appended", { version, txid: `${txid.view}.${txid.seqno}` });
    } catch (err) {
      if (!(err instanceof TreatyError && ["Conflict", "Unavailable", "NotLeader"].includes(err.code)))
        this.#t.logger.error("ledger rekey failed", { err });
    }
  }

  /** Opens this node's sealed copy, if any, and adds it inactive. */
  #learn(record: LedgerSecretRecord): void {
    const { identity, secrets, logger } = this.#t;
    const mine = record.sealed[identity.id];
    if (mine === undefined) return;
    const shared = x25519SharedSecret(x25519PrivateKey(identity), fromHex(record.sealer.publicKey, "sealer"));
    const nonce = fromHex(mine.nonce, "sealed.nonce");
    const aad = label(record.version, record.sealer.id, identity.id);
    const key =
      shared && aeadOpen(deriveAeadKey(shared, nonce, aad), nonce, aad, fromHex(mine.ciphertext, "sealed"));
    if (!key) {
      logger.error("a ledger secret sealed to this node does not open", { version: record.version });
      return;
    }
    const known = secrets.get(record.version);
    if (known !== undefined && toHex(known.exportKey()) === toHex(key)) return;
    try {
      secrets.add(new LedgerSecret(record.version, key), { active: false });
    } catch (err) {
      logger.error("ledger secret version conflicts with an active one", { version: record.version, err });
    }
  }
}
