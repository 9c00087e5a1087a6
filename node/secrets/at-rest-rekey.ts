/**
 * At-rest rekey: each node rotates the key that seals the private maps of its KV on disk
 * (runtime/kv/sealed-backend.ts) whenever a ledger rekey (`trigger_ledger_rekey`) commits, so
 * one governance action renews every key that protects private state. The key is node-local:
 * no ledger entry carries it, and each node rotates on its own once it sees the rekey committed.
 *
 * Order, so that a crash at any point loses nothing and a restart finishes the job:
 * 1. seal the node secrets with the new key current and the old one listed in `olderAtRestKeys`;
 * 2. the KV seals new writes with the new key and opens values with either;
 * 3. the KV re-seals every committed private value under the new key, `RESEAL_STEP_ROWS` rows per
 *    execution request, so calls and commits run between steps (no downtime);
 * 4. the KV drops the old key (its bytes zeroed), and the node seals its secrets without it.
 * A node that starts with `olderAtRestKeys` resumes at step 3 (`resume`).
 *
 * The old key is gone from memory and from the sealed secrets afterwards. Bytes of old values
 * may linger in free pages of the LMDB file until reused; they no longer open with any key held.
 */
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { AT_REST_KEY_BYTES, type ResealCursor } from "../../runtime/kv/sealed-backend.js";
import type { NodeSecrets } from "../join.js";
import type { Logger } from "../log.js";

/** Private values re-sealed per execution request. */
export const RESEAL_STEP_ROWS = 256;

export interface AtRestTarget {
  readonly execution: {
    useAtRestKey(key: Uint8Array): Promise<void>;
    resealAtRest(after: ResealCursor | null, limit: number): Promise<ResealCursor | null>;
    retireOlderAtRestKeys(): Promise<void>;
  };
  /** The node's current secrets. */
  secrets(): NodeSecrets;
  /** Makes `secrets` the node's current secrets and seals them. */
  seal(secrets: NodeSecrets): void;
  readonly randomBytes: (length: number) => Uint8Array;
  readonly logger: Logger;
  stopped(): boolean;
}

/** See the module comment. One per node. */
export class AtRestRekey {
  readonly #t: AtRestTarget;
  #work: Promise<void> = Promise.resolve();
  /** Ledger secret version queued for a rotation (coalesces several rekeys into one). */
  #queued: number | null = null;
  #rotations = 0;

  constructor(target: AtRestTarget) {
    this.#t = target;
  }

  /** Completed rotations in this process (for tests and logs). */
  get rotations(): number {
    return this.#rotations;
  }

  /** Resolves once no rotation or re-seal is queued or running. */
  async idle(): Promise<void> {
    for (let work = this.#work; ; work = this.#work) {
      await work;
      if (work === this.#work) return;
    }
  }

  /**
   * Ledger secret `version` committed: rotates the at-rest key unless it was already rotated for
   * that version (a restart folds the same committed rekey again).
   */
  onLedgerVersion(version: number): void {
    if ((this.#t.secrets().atRestKeyFor ?? 0) >= version || (this.#queued ?? 0) >= version) return;
    const first = this.#queued === null;
    this.#queued = version;
    if (first) this.#then(() => this.#rotate());
  }

  /** At start: finishes a re-seal a stop interrupted. */
  resume(): void {
    if ((this.#t.secrets().olderAtRestKeys?.length ?? 0) > 0) this.#then(() => this.#finish());
  }

  #then(step: () => Promise<void>): void {
    this.#work = this.#work.then(step).catch((err: unknown) => {
      if (this.#t.stopped()) return;
      const log = err instanceof TreatyError ? this.#t.logger.warn : this.#t.logger.error;
      log.call(this.#t.logger, "at-rest rekey did not finish; it resumes at the next start", { err });
    });
  }

  async #rotate(): Promise<void> {
    const version = this.#queued!;
    this.#queued = null;
    if (this.#t.stopped()) return;
    const before = this.#t.secrets();
    const key = this.#t.randomBytes(AT_REST_KEY_BYTES);
    this.#t.seal({
      ...before,
      atRestKey: toHex(key),
      olderAtRestKeys: [
        ...(before.atRestKey === undefined ? [] : [before.atRestKey]),
        ...(before.olderAtRestKeys ?? []),
      ],
      atRestKeyFor: version,
    });
    await this.#t.execution.useAtRestKey(key);
    this.#t.logger.info("at-rest key rotated: re-sealing private state", { ledgerSecretVersion: version });
    await this.#finish();
  }

  async #finish(): Promise<void> {
    let cursor: ResealCursor | null = null;
    let steps = 0;
    do {
      if (this.#t.stopped()) return;
      cursor = await this.#t.execution.resealAtRest(cursor, RESEAL_STEP_ROWS);
      steps++;
    } while (cursor !== null);
    await this.#t.execution.retireOlderAtRestKeys();
    const { olderAtRestKeys: _destroyed, ...rest } = this.#t.secrets();
    this.#t.seal(rest);
    this.#rotations++;
    this.#t.logger.info("private state re-sealed under the new at-rest key; old key destroyed", { steps });
  }
}
