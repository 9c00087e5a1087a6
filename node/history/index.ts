/**
 * Historical queries (issue 14): a readonly method run against the state as of a committed txid.
 *
 * The node keeps a second, in-memory execution engine that follows the committed ledger: it
 * applies every committed entry's write set (private parts opened with the ledger secrets) and
 * keeps the last `windowEntries` versions uncommitted in its KV overlay, so any state in that
 * window can be read exactly (`KvStore.beginAt`). Older states are refused with
 * `HistoryUnavailable`; the window is the honest bound of this design (memory: the state once
 * more, plus the write sets of the window). The engine starts from the newest kept snapshot at
 * or below the first seqno of the window (or, on a node whose ledger starts at a snapshot, at or
 * below that base) instead of replaying from seqno 1; without one it replays from seqno 1.
 *
 * The method that runs is the contract as deployed now (its current bundle), over the old state.
 * The engine runs on the node's main thread; catching up is done in slices that yield.
 * `windowEntries: 0` (the default) turns historical queries off.
 */
import { TreatyError } from "../../sdk/errors.js";
import type { Ledger } from "../../runtime/ledger/ledger.js";
import type { SnapshotState } from "../snapshot/format.js";
import { ExecutionEngine } from "../execution/engine.js";
import type { ExecCall, ExecResult } from "../execution/protocol.js";
import type { Logger } from "../log.js";

/** Entries applied per slice while catching up (the event loop runs between slices). */
const SLICE_ENTRIES = 256;
/** How long a query waits for the engine to reach its txid. */
const CATCH_UP_WAIT_MS = 10_000;

export interface HistoryOptions {
  readonly ledger: Ledger;
  /** Committed versions kept readable; 0 turns historical queries off. */
  readonly windowEntries: number;
  /** The deployed contracts: name → {digest, bundle} (the governance table). */
  readonly contracts: () => ReadonlyMap<string, { readonly digest: string; readonly bundle: string }>;
  readonly logger: Logger;
  /** The newest usable snapshot state at or below a seqno (node/snapshot/ `stateAtOrBelow`). */
  readonly snapshotState?: (atOrBelow: number) => SnapshotState | undefined;
}

export class HistoryReads {
  readonly #o: HistoryOptions;
  #engine: Promise<ExecutionEngine> | undefined;
  #target = 0;
  #running: Promise<void> | undefined;
  /** Queries waiting for the next slice; one whose poll times out leaves. */
  #waiters = new Set<() => void>();
  #closed = false;
  readonly #loaded = new Map<string, string>();

  constructor(options: HistoryOptions) {
    this.#o = options;
  }

  /** Queries waiting for the engine to catch up: for tests. */
  get waiting(): number {
    return this.#waiters.size;
  }

  get enabled(): boolean {
    return this.#o.windowEntries > 0;
  }

  /** The node committed through `toSeqno`: the engine follows (in the background). */
  onCommit(toSeqno: number): void {
    if (!this.enabled || this.#closed) return;
    this.#target = Math.max(this.#target, toSeqno);
    this.#running ??= this.#catchUp().finally(() => {
      this.#running = undefined;
      if (this.#applied < this.#target && !this.#closed) this.onCommit(this.#target);
    });
  }

  #applied = 0;
  #startedAt = 0;

  /** The seqno the engine started from (a snapshot's, or 0: replayed from seqno 1). */
  get startedAt(): number {
    return this.#startedAt;
  }

  /**
   * Runs readonly `call` at committed `seqno`. Throws HistoryUnavailable when queries are off or
   * the state is older than the window, Unavailable while the engine has not reached `seqno`.
   */
  async read(call: ExecCall, seqno: number): Promise<ExecResult> {
    if (!this.enabled)
      throw new TreatyError(
        "HistoryUnavailable",
        "historical queries are off on this node (history.windowEntries: 0)",
      );
    const engine = await this.#open();
    const deadline = Date.now() + CATCH_UP_WAIT_MS;
    while (this.#applied < seqno) {
      if (Date.now() > deadline || this.#closed)
        throw new TreatyError("Unavailable", `historical state ${seqno} is not rebuilt yet: retry shortly`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, 100);
        this.#waiters.add(done);
      });
    }
    if (seqno < engine.committedVersion) {
      throw new TreatyError(
        "HistoryUnavailable",
        `the state at seqno ${seqno} is older than this node's history window (it keeps seqnos ${engine.committedVersion} to ${this.#applied})`,
      );
    }
    await this.#syncContracts(engine);
    return engine.read(call, seqno);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#running?.catch(() => undefined);
    if (this.#engine !== undefined) await (await this.#engine).close();
  }

  #open(): Promise<ExecutionEngine> {
    this.#engine ??= ExecutionEngine.open({ kvPath: null });
    return this.#engine;
  }

  async #catchUp(): Promise<void> {
    const engine = await this.#open();
    const { ledger, windowEntries } = this.#o;
    if (this.#applied === 0) {
      const from = Math.max(this.#target - windowEntries, ledger.base?.seqno ?? 0);
      const state = from > 0 ? this.#o.snapshotState?.(from) : undefined;
      if (state !== undefined) {
        await engine.installState(state.seqno, [...state.public, ...state.private]);
        this.#applied = state.seqno;
        this.#startedAt = state.seqno;
        this.#o.logger.info("history: started from a snapshot", { seqno: state.seqno });
      }
    }
    while (!this.#closed && this.#applied < this.#target) {
      const last = Math.min(this.#target, this.#applied + SLICE_ENTRIES);
      const items = [];
      for (let seqno = this.#applied + 1; seqno <= last; seqno++) {
        items.push({ version: seqno, writeSet: ledger.writeSetAt(seqno) });
      }
      engine.apply(items);
      this.#applied = last;
      const keepFrom = last - windowEntries;
      if (keepFrom > engine.committedVersion) await engine.commit(keepFrom);
      const waiters = this.#waiters;
      this.#waiters = new Set();
      for (const wake of waiters) wake();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async #syncContracts(engine: ExecutionEngine): Promise<void> {
    for (const [name, record] of this.#o.contracts()) {
      if (this.#loaded.get(name) === record.digest) continue;
      await engine.loadContract(name, record.bundle);
      this.#loaded.set(name, record.digest);
    }
  }
}
