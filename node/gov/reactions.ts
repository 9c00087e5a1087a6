/**
 * How a node follows committed governance decisions (the node calls `onCommit` after folding
 * newly committed entries into its `GovView`; contracts and transport peers are synced by the
 * node itself):
 *
 * - `public:gov.constitution` → the execution worker preloads the new constitution (the proposal
 *   engine would load it lazily anyway; this keeps the first proposal after a change fast and
 *   reports a constitution that does not load);
 * - `public:gov.limits` → the sandbox limits in force (`ExecutionService.setLimits`);
 * - a node `retiring` (retire_node accepted) → the leader proposes the consensus change
 *   `{retire}`; once a committed configuration no longer holds the node, the leader records it
 *   `retired` in an internal entry (transport peers then drop it). Both steps are retried at the
 *   next commit while they cannot be made (a change already pending, no commit in this view
 *   yet), and a new leader picks them up where the old one stopped.
 *
 * Reactions never throw: a failure is logged and the next commit tries again. The node's
 * commit point (`TreatyNode.committedSeqno`) waits for `onCommit` when a batch changed the
 * constitution or the limits (and for the contract loads before it), so a node answers
 * Committed for such a change once its worker runs by it; a failure releases it all the same.
 * A constitution or limits that failed to load is retried with backoff (node/gov/load-retry.ts:
 * `retry`, which the node queues behind its reactions; a retry holds no commit point) until it
 * loads or governance commits another one.
 */
import { TreatyError } from "../../sdk/errors.js";
import type { MembershipChange } from "../consensus/node.js";
import type { TxId } from "../consensus/types.js";
import type { TransactionInput } from "../../runtime/ledger/ledger.js";
import type { SandboxLimits } from "../../runtime/sandbox/limits.js";
import { publicWriteSet } from "../genesis.js";
import type { Logger } from "../log.js";
import { CONFIG_KEY, CONFIG_MAP } from "../replica.js";
import type { LoadRetries } from "./load-retry.js";
import { GOV, type ConstitutionRecord, type NodeRecord } from "./tables.js";
import type { GovView } from "./view.js";

/** What the reactions act on; the node passes its own parts. */
export interface ReactionTarget {
  readonly gov: GovView;
  readonly logger: Logger;
  readonly now: () => number;
  /** True while this node leads (only the leader appends). */
  isLeader(): boolean;
  /** The latest (possibly uncommitted) consensus configuration. */
  latestConfig(): readonly string[] | null;
  loadConstitution(record: ConstitutionRecord): Promise<void>;
  setLimits(limits: SandboxLimits): Promise<void>;
  appendInternal(input: TransactionInput): Promise<TxId>;
  changeMembership(change: MembershipChange, input: TransactionInput): Promise<TxId>;
  /** Schedules the retries of a constitution or limits that failed to load. */
  readonly retries: LoadRetries;
}

/** A node record on its way to `retired` (`#followRetirements`). */
function isRetiring(record: NodeRecord): boolean {
  return record.status === "retiring";
}

/** Errors that only mean "not now": retried at a later commit. */
const PASSING = ["Conflict", "Unavailable", "NotLeader"];

/** See the module comment. One per node. */
export class GovReactions {
  readonly #t: ReactionTarget;
  /** Nodes whose retirement step is in flight on this leader. */
  readonly #retiring = new Set<string>();

  constructor(target: ReactionTarget) {
    this.#t = target;
  }

  /** Reacts to the governance tables a batch of committed entries touched. Never rejects. */
  async onCommit(touched: ReadonlySet<string>): Promise<void> {
    if (touched.has(GOV.constitution)) await this.#loadConstitution();
    if (touched.has(GOV.limits)) await this.#applyLimits();
    this.#followRetirements();
  }

  /**
   * The retry of a failed load (`"constitution"` or `"limits"`, node/gov/load-retry.ts): loads
   * what governance committed now. Never rejects.
   */
  async retry(key: string): Promise<void> {
    if (key === "constitution") await this.#loadConstitution();
    else if (key === "limits") await this.#applyLimits();
  }

  async #loadConstitution(): Promise<void> {
    const { gov, logger, retries } = this.#t;
    const record = gov.constitution();
    if (record === undefined) return;
    const digest = record.digest.slice(0, 16);
    try {
      await this.#t.loadConstitution(record);
      logger.info("constitution loaded", { digest });
      retries.succeeded("constitution", { digest });
    } catch (err) {
      retries.failed("constitution", record.digest, err, { digest });
    }
  }

  async #applyLimits(): Promise<void> {
    const { gov, logger, retries } = this.#t;
    const limits = gov.limits();
    try {
      await this.#t.setLimits(limits);
      logger.info("sandbox limits changed", { limits });
      retries.succeeded("limits", { limits });
    } catch (err) {
      retries.failed("limits", JSON.stringify(limits), err, { limits });
    }
  }

  /** Leader: moves every `retiring` node one step towards `retired` (see the module comment). */
  #followRetirements(): void {
    if (!this.#t.isLeader()) return;
    // Runs at every commit, and almost always finds no node retiring: then no sorted copy of the
    // node table is made (an array and its pairs per commit, for the GC).
    if (!this.#t.gov.someRow(GOV.nodes, isRetiring)) return;
    const committed = this.#t.gov.config();
    for (const [id, record] of this.#t.gov.rows<NodeRecord>(GOV.nodes)) {
      if (record.status !== "retiring" || this.#retiring.has(id)) continue;
      if (committed !== null && !committed.includes(id)) {
        this.#step(id, "mark retired", () =>
          this.#t.appendInternal(this.#entry("retired_node", id, { ...record, status: "retired" })),
        );
      } else if (this.#t.latestConfig()?.includes(id)) {
        const remaining = (this.#t.latestConfig() ?? []).filter((n) => n !== id);
        this.#step(id, "leave the configuration", () =>
          this.#t.changeMembership({ retire: id }, this.#entry("retire_node", id, null, remaining)),
        );
      }
      // Otherwise the change is in the log but not committed yet: wait for a later commit.
    }
  }

  #step(id: string, what: string, work: () => Promise<TxId>): void {
    this.#retiring.add(id);
    void work()
      .then(
        (txid) =>
          this.#t.logger.info(`retiring node: ${what}`, {
            node: id.slice(0, 12),
            txid: `${txid.view}.${txid.seqno}`,
          }),
        (err: unknown) => {
          if (err instanceof TreatyError && PASSING.includes(err.code)) return;
          this.#t.logger.error(`retiring node: could not ${what}`, { node: id.slice(0, 12), err });
        },
      )
      .finally(() => this.#retiring.delete(id));
  }

  #entry(
    method: string,
    id: string,
    record: NodeRecord | null,
    config?: readonly string[],
  ): TransactionInput {
    const rows: Array<{ map: string; key: string; value: unknown }> = [];
    if (record !== null) rows.push({ map: GOV.nodes, key: id, value: record });
    if (config !== undefined) rows.push({ map: CONFIG_MAP, key: CONFIG_KEY, value: [...config].sort() });
    return {
      kind: "internal",
      writeSet: publicWriteSet(rows),
      meta: { timeMs: this.#t.now(), contract: null, method, callerId: null },
    };
  }
}
