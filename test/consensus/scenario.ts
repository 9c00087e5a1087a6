/**
 * The interpreter for consensus scenario files (test/scenarios/consensus/*.txt). A scenario drives
 * a few `ConsensusNode`s by hand: nothing happens unless a command says so, so each file pins one
 * tricky case step by step. Drivers persist every Ready at once (and acknowledge it); messages
 * wait in one FIFO queue until a `deliver` or `stabilize` command. Election timeouts are always
 * the minimum (the injected Rng returns 0), so `tick` counts are exact.
 *
 * Commands (node ids are bare words; `a->b` is a directed link):
 *   cluster a b c [prevote=false] [checkquorum=false] [batch=N] [inflight=N] [uncommitted=N] [tail=N]
 *   join d                      a new node with an empty log (to be added by `add`)
 *   tick a [N]                  N ticks (default 1) on one node
 *   campaign a                  ticks `a` until it stops being a follower
 *   propose a x y sig           data entries "x", "y", then a signature entry
 *   add a d | retire a b        membership change proposed to leader `a`
 *   read a ID                   a read-index request with id ID on `a`
 *   deliver [a | a->b]          delivers the queued messages (those to `a`, or on a->b)
 *   drop [a | a->b]             discards queued messages
 *   stabilize                   deliver and process until no message is left
 *   partition a b | c           cuts every link between the groups;  cut a->b;  heal
 *   crash a | restart a         crash (the disk survives) and restart from disk
 *   inject {json message}       steps a raw message into its `to` node (payloads as text)
 *   snapshot a                  `a` offers a snapshot at its commit point (a signature)
 *   install d | abort d         `d`'s driver completes (or gives up) the snapshot install it was
 *                               asked for: its disk becomes the sender's prefix through the snapshot
 *   status [a ...] | log a | txstatus a V.S | stats a
 */
import { assert } from "../../sdk/assert.js";
import { baseOf, type LogStorage } from "../../node/consensus/log.js";
import {
  bootstrapState,
  type ConsensusLimits,
  ConsensusNode,
  describeEntry,
  describeMessage,
  describeReady,
  emptyState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  REJECT_REASONS,
  type RejectReason,
  type Rng,
  type SnapshotInstall,
} from "../../node/consensus/index.js";

/** The Rng of scenarios: always the minimum election timeout. */
const ZERO_RNG: Rng = { nextInt: () => 0 };

interface ScenarioNode {
  core: ConsensusNode | null;
  hardState: HardState;
  disk: Entry[];
  /** Last seqno of an installed snapshot: storage serves only what follows. */
  floor: number;
  /** The install the core asked for, until `install` or `abort`. */
  install: SnapshotInstall | null;
}

const STABILIZE_ROUNDS = 200;

/** Runs scenario commands one at a time, each returning its output lines. */
export class ScenarioRunner {
  private readonly nodes = new Map<NodeId, ScenarioNode>();
  private queue: Message[] = [];
  private readonly cut = new Set<string>();
  private limits: Partial<ConsensusLimits> = {};

  /** Executes one command line and returns its output ("ok" when it prints nothing). */
  run(commandLine: string): string[] {
    const out: string[] = [];
    const [command, ...args] = commandLine.trim().split(/\s+/);
    switch (command) {
      case "cluster":
        this.cluster(args);
        break;
      case "join":
        for (const id of args) this.addNode(id, emptyState());
        break;
      case "tick": {
        const node = this.live(args[0]);
        const count = args[1] === undefined ? 1 : Number(args[1]);
        assert(Number.isSafeInteger(count) && count >= 1, "tick count is a positive integer");
        for (let i = 0; i < count; i++) node.core!.tick();
        break;
      }
      case "campaign": {
        const node = this.live(args[0]);
        const max = this.limits.electionTimeoutTicks?.max ?? 100;
        for (let i = 0; i <= max && node.core!.status().role === "Follower"; i++) node.core!.tick();
        break;
      }
      case "propose":
        out.push(...this.propose(args));
        break;
      case "add":
      case "retire":
        out.push(this.membership(command, args));
        break;
      case "read": {
        const core = this.live(args[0]).core!;
        try {
          core.readIndex(Number(args[1]));
        } catch (err) {
          out.push(`${args[0]}: error ${(err as { code?: string }).code}: ${(err as Error).message}`);
        }
        break;
      }
      case "deliver":
        this.deliver(args[0], out);
        break;
      case "drop": {
        const before = this.queue.length;
        this.queue = this.queue.filter((m) => !this.matches(m, args[0]));
        out.push(`dropped ${before - this.queue.length}`);
        break;
      }
      case "stabilize":
        this.stabilize(out);
        break;
      case "partition": {
        const bar = args.indexOf("|");
        assert(bar > 0, "partition needs two groups separated by |");
        const left = args.slice(0, bar);
        const right = args.slice(bar + 1);
        for (const a of left) {
          for (const b of right) {
            this.cut.add(`${a}->${b}`);
            this.cut.add(`${b}->${a}`);
          }
        }
        break;
      }
      case "cut":
        for (const link of args) this.cut.add(link);
        break;
      case "heal":
        this.cut.clear();
        break;
      case "crash": {
        const node = this.live(args[0]);
        node.core = null;
        node.install = null;
        break;
      }
      case "restart": {
        const id = args[0]!;
        const node = this.nodes.get(id);
        assert(node !== undefined && node.core === null, `restart a crashed node (${id})`);
        node.core = new ConsensusNode(
          { id, rng: ZERO_RNG, limits: this.limits, storage: this.storageOf(node) },
          {
            hardState: node.hardState,
            ...(node.floor > 0 && { base: baseOf(node.disk, node.floor) }),
            entries: node.disk.slice(node.floor),
          },
        );
        break;
      }
      case "snapshot": {
        const core = this.live(args[0]).core!;
        const { commitSeqno } = core.status();
        const view = core.entry(commitSeqno)?.view ?? 0;
        out.push(
          `${args[0]}: snapshot at ${view}.${commitSeqno} ${core.offerSnapshot(commitSeqno, view) ? "offered" : "refused"}`,
        );
        break;
      }
      case "install":
      case "abort":
        out.push(this.finishInstall(command, args[0]));
        break;
      case "inject": {
        const message = parseMessage(commandLine.slice(commandLine.indexOf("{")));
        const node = this.live(message.to);
        this.stepWithRejections(message.to, node.core!, message, out);
        break;
      }
      case "status":
        for (const id of args.length > 0 ? args : [...this.nodes.keys()]) out.push(this.describeStatus(id));
        break;
      case "log": {
        const node = this.nodes.get(args[0]!);
        assert(node !== undefined, `known node ${args[0]}`);
        const core = node.core;
        if (node.floor > 0) out.push(`(snapshot through ${node.floor})`);
        if (core === null) out.push(...node.disk.slice(node.floor).map(describeEntry));
        else
          for (let s = node.floor + 1; s <= core.status().lastSeqno; s++)
            out.push(describeEntry(core.entry(s)!));
        break;
      }
      case "txstatus": {
        const core = this.live(args[0]).core!;
        for (const id of args.slice(1)) {
          const [view, seqno] = id.split(".").map(Number);
          out.push(`${id} ${core.txStatus(view!, seqno!)}`);
        }
        break;
      }
      case "stats": {
        const stats = this.live(args[0]).core!.stats();
        const rejected = REJECT_REASONS.filter((r) => stats.rejected[r] > 0).map(
          (r) => `${r}=${stats.rejected[r]}`,
        );
        out.push(`rejected: ${rejected.length === 0 ? "none" : rejected.join(" ")}`);
        break;
      }
      default:
        throw new Error(`unknown command "${command}"`);
    }
    this.processAll(out);
    for (const node of this.nodes.values()) {
      const core = node.core;
      if (core === undefined || core === null) continue;
      core.checkInvariants(true);
      // leaderView is status()'s role and view, without the rest.
      const status = core.status();
      assert(
        core.leaderView() === (status.role === "Leader" ? status.view : null),
        "leaderView() agrees with status()",
      );
    }
    return out.length === 0 ? ["ok"] : out;
  }

  private cluster(args: string[]): void {
    const ids = args.filter((a) => !a.includes("="));
    const options = new Map(args.filter((a) => a.includes("=")).map((a) => a.split("=") as [string, string]));
    const int = (key: string, fallback: number) => Number(options.get(key) ?? fallback);
    this.limits = {
      heartbeatTicks: 1,
      electionTimeoutTicks: { min: 5, max: 10 },
      preVote: options.get("prevote") !== "false",
      checkQuorum: options.get("checkquorum") !== "false",
      maxBatchEntries: int("batch", 16),
      maxInflightAppends: int("inflight", 4),
      maxUncommittedEntries: int("uncommitted", 100),
      logTailEntries: int("tail", 4096),
    };
    const state = bootstrapState(ids);
    for (const id of ids) this.addNode(id, state);
  }

  private addNode(id: NodeId, state: { hardState: HardState; entries: readonly Entry[] }): void {
    assert(!this.nodes.has(id), `node ${id} is new`);
    const node: ScenarioNode = {
      core: null,
      hardState: state.hardState,
      disk: [...state.entries],
      floor: 0,
      install: null,
    };
    node.core = new ConsensusNode(
      { id, rng: ZERO_RNG, limits: this.limits, storage: this.storageOf(node) },
      state,
    );
    this.nodes.set(id, node);
  }

  /** A node's disk as the core's storage (entries after its last installed snapshot). */
  private storageOf(node: ScenarioNode): LogStorage {
    return {
      entryAt: (seqno) => (seqno > node.floor ? node.disk[seqno - 1] : undefined),
      firstSeqno: () => node.floor + 1,
    };
  }

  /** The driver of `id` completes or abandons the install its core asked for. */
  private finishInstall(command: "install" | "abort", id: string | undefined): string {
    const node = this.live(id);
    const request = node.install;
    assert(request !== null, `${id} was asked to install a snapshot`);
    node.install = null;
    const { seqno, view } = request.snapshot;
    if (command === "abort") {
      node.core!.snapshotAborted(seqno);
      return `${id}: aborted snapshot ${view}.${seqno}`;
    }
    const source = this.nodes.get(request.leader);
    assert(source !== undefined && source.disk.length >= seqno, "the sender's disk holds the snapshot");
    node.disk = source.disk.slice(0, seqno);
    node.floor = seqno;
    node.hardState = { ...node.hardState, commitSeqno: seqno };
    node.core!.snapshotInstalled(seqno, view);
    return `${id}: installed snapshot ${view}.${seqno}`;
  }

  private live(id: string | undefined): ScenarioNode {
    const node = id === undefined ? undefined : this.nodes.get(id);
    assert(node !== undefined && node.core !== null, `node ${id} exists and is up`);
    return node;
  }

  private propose(args: string[]): string[] {
    const [id, ...tokens] = args;
    const core = this.live(id).core!;
    const entries = tokens.map((t) =>
      t === "sig"
        ? { signature: true, payload: new Uint8Array() }
        : { signature: false, payload: new TextEncoder().encode(t) },
    );
    try {
      return [
        `${id}: proposed ${core
          .propose(entries)
          .map((t) => `${t.view}.${t.seqno}`)
          .join(" ")}`,
      ];
    } catch (err) {
      return [`${id}: error ${(err as { code?: string }).code}: ${(err as Error).message}`];
    }
  }

  private membership(kind: "add" | "retire", args: string[]): string {
    const [id, target] = args;
    const core = this.live(id).core!;
    try {
      const tx = core.changeMembership(kind === "add" ? { add: target! } : { retire: target! });
      return `${id}: proposed ${kind} ${target} at ${tx.view}.${tx.seqno}`;
    } catch (err) {
      return `${id}: error ${(err as { code?: string }).code}: ${(err as Error).message}`;
    }
  }

  private matches(m: Message, filter: string | undefined): boolean {
    if (filter === undefined) return true;
    if (filter.includes("->")) return `${m.from}->${m.to}` === filter;
    return m.to === filter;
  }

  private deliver(filter: string | undefined, out: string[]): void {
    const batch = this.queue.filter((m) => this.matches(m, filter));
    this.queue = this.queue.filter((m) => !this.matches(m, filter));
    for (const m of batch) {
      const target = this.nodes.get(m.to);
      if (this.cut.has(`${m.from}->${m.to}`) || target === undefined || target.core === null) {
        out.push(`lost ${describeMessage(m)}`);
        continue;
      }
      this.stepWithRejections(m.to, target.core, m, out);
    }
  }

  private stepWithRejections(id: NodeId, core: ConsensusNode, m: Message, out: string[]): void {
    const before = core.stats().rejected;
    core.step(m);
    const after = core.stats().rejected;
    for (const reason of REJECT_REASONS) {
      if (after[reason] !== before[reason])
        out.push(`${id}: rejected ${reason as RejectReason}: ${describeMessage(m)}`);
    }
  }

  private stabilize(out: string[]): void {
    for (let round = 0; round < STABILIZE_ROUNDS; round++) {
      this.processAll(out);
      if (this.queue.length === 0) return;
      this.deliver(undefined, out);
    }
    throw new Error(`stabilize: still busy after ${STABILIZE_ROUNDS} rounds`);
  }

  /** Every node's driver: persist each Ready, queue its messages, acknowledge it. */
  private processAll(out: string[]): void {
    for (const [id, node] of this.nodes) {
      const core = node.core;
      if (core === null) continue;
      while (core.hasReady()) {
        const rd = core.ready();
        out.push(...describeReady(id, rd));
        if (rd.truncateFromSeqno !== null)
          node.disk.length = Math.min(node.disk.length, rd.truncateFromSeqno - 1);
        node.disk.push(...rd.entries);
        if (rd.hardState !== null) node.hardState = rd.hardState;
        if (rd.installSnapshot !== null) node.install = rd.installSnapshot;
        this.queue.push(...rd.messages);
        const last = rd.entries[rd.entries.length - 1];
        if (last !== undefined) core.ackPersisted(last.seqno, last.view);
      }
    }
  }

  private describeStatus(id: NodeId): string {
    const node = this.nodes.get(id);
    assert(node !== undefined, `known node ${id}`);
    if (node.core === null) return `${id}: down (disk: v=${node.hardState.view} log=${node.disk.length})`;
    const s = node.core.status();
    return (
      `${id}: ${s.role} v=${s.view} leader=${s.leader ?? "-"} vote=${s.votedFor ?? "-"} ` +
      `commit=${s.commitSeqno} last=${s.lastView}.${s.lastSeqno} config=${s.config?.join(",") ?? "-"}`
    );
  }
}

/** Parses an injected message; entry payloads are given as text. */
function parseMessage(json: string): Message {
  const raw = JSON.parse(json) as Record<string, unknown>;
  if (Array.isArray(raw.entries)) {
    raw.entries = raw.entries.map((e: Record<string, unknown>) => ({
      ...e,
      payload: new TextEncoder().encode(String(e.payload ?? "")),
    }));
  }
  return raw as unknown as Message;
}
