/**
 * A tiny synchronous driver for unit tests: nodes persist every Ready at once (unless a node's
 * disk is held), messages wait in a queue until delivered. Deterministic (the Rng returns 0, so
 * election timeouts are the minimum).
 */
import assert from "node:assert/strict";
import {
  bootstrapState,
  type ConsensusLimits,
  ConsensusNode,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type PersistedState,
  type Ready,
  type Rng,
} from "../../node/consensus/index.js";

/** Always the minimum election timeout. */
export const ZERO_RNG: Rng = { nextInt: () => 0 };

/** Limits used by unit tests: elections after 5 ticks, heartbeats every tick. */
export const TEST_LIMITS: Partial<ConsensusLimits> = {
  heartbeatTicks: 1,
  electionTimeoutTicks: { min: 5, max: 10 },
  maxBatchEntries: 16,
  maxBatchBytes: 1024,
  maxInflightAppends: 4,
  maxUncommittedEntries: 100,
};

/** One node and its simulated disk. */
export interface TestNode {
  core: ConsensusNode;
  hardState: HardState;
  disk: Entry[];
  /** While true, Readys are queued here instead of persisted (a stalled disk). */
  holdDisk: boolean;
  held: Ready[];
  applied: Entry[];
}

/** See the module comment. */
export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];

  /** With `storage`, every core reads compacted entries back from its node's disk. */
  constructor(
    ids: readonly NodeId[],
    readonly limits: Partial<ConsensusLimits> = TEST_LIMITS,
    readonly options: { readonly storage?: boolean } = {},
  ) {
    const state = bootstrapState(ids);
    for (const id of ids) this.add(id, state);
  }

  /** Adds a node from `state`. */
  add(id: NodeId, state: PersistedState, disk: readonly Entry[] = state.entries): TestNode {
    const node = {
      hardState: state.hardState,
      disk: [...disk],
      holdDisk: false,
      held: [],
      applied: [],
    } as Omit<TestNode, "core"> as TestNode;
    node.core = new ConsensusNode(
      {
        id,
        rng: ZERO_RNG,
        limits: this.limits,
        ...(this.options.storage === true && {
          storage: { entryAt: (seqno: number) => node.disk[seqno - 1] },
        }),
      },
      state,
    );
    this.nodes.set(id, node);
    return node;
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    assert.ok(node, `node ${id}`);
    return node;
  }

  core(id: NodeId): ConsensusNode {
    return this.node(id).core;
  }

  /** Runs every node's driver: take Readys and complete them unless the disk is held. */
  process(): void {
    for (const node of this.nodes.values()) {
      while (node.core.hasReady()) node.held.push(node.core.ready());
      if (!node.holdDisk) this.flush(node);
    }
  }

  /** Completes a node's held Readys in order: persist, send, apply, ack. */
  flush(node: TestNode): void {
    while (node.held.length > 0) {
      const rd = node.held.shift()!;
      if (rd.truncateFromSeqno !== null)
        node.disk.length = Math.min(node.disk.length, rd.truncateFromSeqno - 1);
      for (const e of rd.entries) {
        assert.equal(e.seqno, node.disk.length + 1, "Ready entries continue the durable log");
        node.disk.push(e);
      }
      if (rd.hardState !== null) node.hardState = rd.hardState;
      this.queue.push(...rd.messages);
      if (rd.committed !== null) node.applied.push(...rd.committed.entries);
      const last = rd.entries.at(-1);
      if (last !== undefined) node.core.ackPersisted(last.seqno, last.view);
      while (node.core.hasReady()) node.held.push(node.core.ready());
    }
  }

  /** Delivers queued messages (optionally only those matching) and processes, until quiet. */
  stabilize(filter: (m: Message) => boolean = () => true, rounds = 100): void {
    for (let i = 0; i < rounds; i++) {
      this.process();
      const batch = this.queue.filter(filter);
      this.queue = this.queue.filter((m) => !filter(m));
      if (batch.length === 0) return;
      for (const m of batch) this.nodes.get(m.to)?.core.step(m);
    }
    assert.fail("cluster did not stabilize");
  }

  /** Ticks `id` until it leaves the follower role, then stabilizes: `id` should lead. */
  elect(id: NodeId): void {
    const core = this.core(id);
    for (let i = 0; i < 20 && core.status().role === "Follower"; i++) core.tick();
    this.stabilize();
    assert.equal(core.status().role, "Leader", `${id} leads`);
  }

  /** Elects `id` and commits a first signature in its view. */
  electAndSign(id: NodeId): void {
    this.elect(id);
    this.core(id).propose([{ signature: true, payload: new Uint8Array() }]);
    this.stabilize();
    this.heartbeat(id);
  }

  /**
   * Leader ticks and their consequences until followers learn the commit point: two heartbeat
   * rounds, since a round skips a follower that was sent entries since the previous one.
   */
  heartbeat(id: NodeId): void {
    for (let round = 0; round < 2; round++) {
      this.core(id).tick();
      this.stabilize();
    }
  }
}

/** Bytes of a short text. */
export function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}
