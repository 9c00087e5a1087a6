/**
 * The replica: drives the pure consensus core against the real world. It is the one place that
 * follows the driver contract of docs/consensus.md for every `Ready`:
 *
 *   1. persist: truncate the ledger suffix, stage and persist new entries (one durable commit),
 *      write the hard state (durably when the view or vote changed);
 *   2. send the messages (never before step 1: a vote or an ack must not outrun the disk);
 *   3. acknowledge persistence to the core, then hand the newly committed range on.
 *
 * Replicated entries are checked by the ledger (encoding, digests, signatures) and their write
 * sets applied to the execution KV at once; a truncation rolls the KV back. Any failure here
 * (corrupt entry from the leader, storage error) is fatal: the node stops rather than diverge.
 */
import { assert } from "../sdk/assert.js";
import { decode, encode } from "../sdk/codec.js";
import { TreatyError } from "../sdk/errors.js";
import type { ConsensusNode, MembershipChange } from "./consensus/node.js";
import type {
  Entry,
  HardState,
  Message,
  PersistedState,
  ProposedEntry,
  SoftState,
  TxId,
} from "./consensus/types.js";
import type { ExecutionService } from "./execution/service.js";
import type { Logger } from "./log.js";
import { readJsonFile, writeDurable } from "./state-file.js";
import type { NodeId, Transport } from "./transport/types.js";
import { decodeEntry, decodePublicWrites } from "../runtime/ledger/entry.js";
import type { Ledger } from "../runtime/ledger/ledger.js";
import type { LedgerRecord } from "../runtime/ledger/store.js";
import { utf8 } from "../sdk/bytes.js";

/** The map and key that record a configuration (the voting nodes) in a ledger entry. */
export const CONFIG_MAP = "public:treaty.config";
export const CONFIG_KEY = "current";

/** Transport message kinds multiplexed on one node-to-node channel. */
export const WIRE_CONSENSUS = "c";

export interface ReplicaOptions {
  readonly consensus: ConsensusNode;
  readonly ledger: Ledger;
  readonly execution: ExecutionService;
  readonly transport: Transport | null;
  readonly hardStatePath: string;
  readonly logger: Logger;
  /** A committed range, after the execution KV was asked to commit it. */
  readonly onCommit: (fromSeqno: number, toSeqno: number) => void;
  readonly onRoleChange: (soft: SoftState) => void;
  /** Replicated entries just appended, before their write sets are decrypted (a rekey entry's secret). */
  readonly onAppended?: (records: readonly LedgerRecord[]) => void;
  /** Called once when the replica hits a fatal error; the node must stop. */
  readonly onFatal: (err: unknown) => void;
}

/** The configuration an entry sets, if it is a configuration entry. */
export function configOf(record: LedgerRecord): NodeId[] | undefined {
  const writes = decodePublicWrites(decodeEntry(record.bytes, record.seqno));
  const map = writes.find((w) => w.map === CONFIG_MAP);
  const value = map?.writes.find(([key]) => utf8.decode(key) === CONFIG_KEY)?.[1];
  if (!value) return undefined;
  const nodes: unknown = JSON.parse(utf8.decode(value));
  assert(
    Array.isArray(nodes) && nodes.every((n) => typeof n === "string"),
    "a configuration is a list of node ids",
  );
  return nodes as NodeId[];
}

/** Rebuilds the consensus core's persisted state from the ledger and the hard-state file. */
export function loadPersistedState(ledger: Ledger, hardStatePath: string): PersistedState {
  const hardState = readJsonFile<HardState>(hardStatePath) ?? { view: 0, votedFor: null, commitSeqno: 0 };
  const entries: Entry[] = [];
  for (let seqno = 1; seqno <= ledger.lastSeqno; seqno++) {
    const record = ledger.get(seqno)!;
    const kind = decodeEntry(record.bytes, seqno).header.kind;
    const config = configOf(record);
    entries.push({
      view: record.view,
      seqno,
      signature: kind === "signature",
      payload: record.bytes,
      ...(config !== undefined && { config: [...config].sort() }),
    });
  }
  return {
    hardState: { ...hardState, commitSeqno: Math.min(hardState.commitSeqno, ledger.lastSeqno) },
    entries,
  };
}

export class Replica {
  readonly #o: ReplicaOptions;
  #durable: { view: number; votedFor: NodeId | null } | undefined;
  #failed = false;

  constructor(options: ReplicaOptions) {
    this.#o = options;
    options.transport?.onMessage((from, bytes) => this.receive(from, bytes));
  }

  get consensus(): ConsensusNode {
    return this.#o.consensus;
  }

  /** One clock tick of the core. */
  tick(): void {
    this.#guard(() => this.#o.consensus.tick());
  }

  /** A message from an authenticated peer; malformed ones are dropped (the core counts them). */
  receive(from: NodeId, bytes: Uint8Array): void {
    let message: Message;
    try {
      const wire = decode<{ t?: unknown; m?: unknown }>(bytes, "consensus message");
      if (wire?.t !== WIRE_CONSENSUS || typeof wire.m !== "object" || wire.m === null) return;
      // The authenticated sender and receiver replace whatever the payload claims.
      message = { ...(wire.m as Message), from, to: this.#o.consensus.id };
    } catch {
      return;
    }
    this.#guard(() => this.#o.consensus.step(message));
    // Handle the consequences now (acks, commits, replies), not at the next tick.
    this.process();
  }

  /** Leader: proposes entries the ledger already staged (same order); returns their ids. */
  propose(entries: readonly ProposedEntry[]): TxId[] {
    const ids = this.#o.consensus.propose(entries);
    this.process();
    return ids;
  }

  /** Leader: a membership change whose configuration entry carries `payload` (already staged in the ledger). */
  changeMembership(change: MembershipChange, payload: Uint8Array): TxId {
    const id = this.#o.consensus.changeMembership(change, payload);
    this.process();
    return id;
  }

  /** Drains and handles every pending Ready. */
  process(): void {
    this.#guard(() => {
      while (this.#o.consensus.hasReady()) this.#handle(this.#o.consensus.ready());
    });
  }

  #handle(ready: ReturnType<ConsensusNode["ready"]>): void {
    const { ledger, execution, consensus } = this.#o;
    if (ready.softState) this.#o.onRoleChange(ready.softState);

    // 1. Persist.
    if (ready.truncateFromSeqno !== null && ready.truncateFromSeqno <= ledger.lastSeqno) {
      this.#o.logger.warn("truncating uncommitted ledger suffix", { fromSeqno: ready.truncateFromSeqno });
      ledger.truncate(ready.truncateFromSeqno);
      this.#async(execution.rollback(ready.truncateFromSeqno - 1));
    }
    const fresh: LedgerRecord[] = [];
    for (const entry of ready.entries) {
      if (entry.seqno <= ledger.lastSeqno) {
        // The leader's own entry, staged by the sequencer before it was proposed.
        assert(
          ledger.get(entry.seqno)?.view === entry.view,
          "a leader's proposed entry is already in its ledger",
        );
      } else {
        fresh.push({ seqno: entry.seqno, view: entry.view, bytes: entry.payload });
      }
    }
    if (fresh.length > 0) {
      ledger.appendReplicated(fresh);
      this.#o.onAppended?.(fresh);
      // Every entry is a KV version (signatures apply an empty write set), so the KV's versions
      // and the ledger's seqnos are one sequence. The KV first drops anything beyond the
      // ledger's end: the results of a batch this node executed as leader and never appended
      // (leadership moved while it ran). Worker requests run in order, so this is exact.
      this.#async(execution.rollback(fresh[0]!.seqno - 1));
      this.#async(
        execution.apply(fresh.map((r) => ({ version: r.seqno, writeSet: ledger.writeSetAt(r.seqno) }))),
      );
    }
    // The view and vote first: after a crash between the two writes, the log must never hold
    // entries from a view later than the persisted one.
    if (ready.hardState) this.#writeHardState(ready.hardState);
    if (ready.entries.length > 0) ledger.persist();

    // 2. Send.
    const transport = this.#o.transport;
    if (transport) for (const m of ready.messages) transport.send(m.to, encode({ t: WIRE_CONSENSUS, m }));

    // 3. Acknowledge, then commit.
    const last = ready.entries.at(-1);
    if (last) consensus.ackPersisted(last.seqno, last.view);
    if (ready.committed) {
      this.#async(execution.commit(ready.committed.toSeqno));
      this.#o.onCommit(ready.committed.fromSeqno, ready.committed.toSeqno);
    }
  }

  /**
   * View and vote must be durable before any message goes out. The commit point may lag (a
   * restarted node re-learns it from the next signature), so a change of commit alone is not
   * worth two fsyncs per batch: it is written with the next view or vote change.
   */
  #writeHardState(hard: HardState): void {
    if (this.#durable?.view === hard.view && this.#durable.votedFor === hard.votedFor) return;
    writeDurable(this.#o.hardStatePath, JSON.stringify(hard));
    this.#durable = { view: hard.view, votedFor: hard.votedFor };
  }

  #async(work: Promise<unknown>): void {
    work.catch((err: unknown) => this.#fail(err));
  }

  #guard(work: () => void): void {
    if (this.#failed) throw new TreatyError("Unavailable", "this node stopped after a fatal error");
    try {
      work();
    } catch (err) {
      if (err instanceof TreatyError && !["LedgerCorrupt", "DecryptionFailed"].includes(err.code)) throw err;
      this.#fail(err);
      throw err;
    }
  }

  #fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#o.logger.error("fatal replica error: stopping", { err });
    this.#o.onFatal(err);
  }
}
