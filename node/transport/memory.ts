/**
 * The in-process twin of the NATS transport: a `MemoryNetwork` routes frames by the same subjects
 * NATS would (`treaty.<serviceId>.node.<nodeId>`), delivering asynchronously in publish order
 * (so per-pair order holds, as on one NATS connection). Tests can cut links, partition nodes,
 * drop frames by a filter, take a node offline, watch every frame (`tap`) and inject raw bytes
 * as an attacker would (`publish`). `MemoryTransport` runs the exact same secure channel and
 * request logic as `NatsTransport` (both extend `TransportEndpoint`).
 */
import { nodeSubject } from "./frame.js";
import { TransportEndpoint } from "./endpoint.js";
import type { NodeId, TransportOptions } from "./types.js";

/** Frames the network holds at most before it drops new ones (a bound on every queue). */
export const MAX_QUEUED_FRAMES = 100_000;

/** Sees every frame published on the network: who published it (a node id or an attacker label), where to. */
export type FrameTap = (frame: Uint8Array, subject: string, publisher: string) => void;

/** Returns true to drop a frame in flight from `publisher` to the node `to`. */
export type DropFilter = (publisher: string, to: NodeId, frame: Uint8Array) => boolean;

/** Counters of the network itself (frames the transports never learn about). */
export interface MemoryNetworkStats {
  readonly delivered: number;
  /** Dropped by a partition, a cut link, an offline node, the drop filter or a full queue. */
  readonly dropped: number;
  /** Published to a subject nobody is subscribed to (as NATS silently does). */
  readonly unrouted: number;
}

interface Attachment {
  readonly nodeId: NodeId;
  readonly subject: string;
  readonly receive: (frame: Uint8Array) => void;
  readonly linkChanged: (online: boolean) => void;
}

interface QueuedFrame {
  readonly publisher: string;
  readonly subject: string;
  readonly frame: Uint8Array;
}

/**
 * An in-memory pub/sub network for transports of one or more services. Frames are treated as
 * immutable: the same bytes reach every subscriber and every tap.
 */
export class MemoryNetwork {
  private readonly subscribers = new Map<string, Set<Attachment>>();
  private readonly taps = new Set<FrameTap>();
  private queue: QueuedFrame[] = [];
  private scheduled: ReturnType<typeof setImmediate> | undefined;
  private groups: Map<string, number> | undefined;
  private readonly cutLinks = new Set<string>();
  private readonly offline = new Set<string>();
  private dropFilter: DropFilter | undefined;
  private counters = { delivered: 0, dropped: 0, unrouted: 0 };

  /** Creates a transport on this network; throws `MalformedRequest` for invalid options. */
  createTransport(options: TransportOptions): MemoryTransport {
    return new MemoryTransport(this, options);
  }

  /**
   * Queues `frame` for everyone subscribed to `subject`; delivery happens on a later task, in
   * publish order. Transports publish through here, and so can a test playing the attacker.
   */
  publish(publisher: string, subject: string, frame: Uint8Array): void {
    for (const tap of [...this.taps]) tap(frame, subject, publisher);
    if (this.queue.length >= MAX_QUEUED_FRAMES) {
      this.counters.dropped += 1;
      return;
    }
    this.queue.push({ publisher, subject, frame });
    this.scheduled ??= setImmediate(() => {
      this.scheduled = undefined;
      this.deliver(this.queue.length);
    });
  }

  /** Watches every published frame until the returned function is called. */
  tap(listener: FrameTap): () => void {
    this.taps.add(listener);
    return () => this.taps.delete(listener);
  }

  /**
   * Splits the listed nodes into groups that cannot reach each other (both ways). Nodes not
   * listed, and attackers, still reach everyone. Replaces any earlier partition.
   */
  partition(...groups: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    groups.forEach((group, index) => {
      for (const id of group) this.groups?.set(id, index);
    });
  }

  /** Removes the partition and every cut link. */
  heal(): void {
    this.groups = undefined;
    this.cutLinks.clear();
  }

  /** Cuts (`up` false) or restores the one-way link from `from` to `to`. */
  setLink(from: string, to: NodeId, up: boolean): void {
    const key = `${from}\u0000${to}`;
    if (up) this.cutLinks.delete(key);
    else this.cutLinks.add(key);
  }

  /** Installs (or with undefined removes) a filter that drops frames in flight. */
  setDropFilter(filter: DropFilter | undefined): void {
    this.dropFilter = filter;
  }

  /**
   * Takes `nodeId` off the network (its transports report "reconnecting", frames to or from it are
   * dropped) or, with `online` true, puts it back.
   */
  setOnline(nodeId: NodeId, online: boolean): void {
    if (online === !this.offline.has(nodeId)) return;
    if (online) this.offline.delete(nodeId);
    else this.offline.add(nodeId);
    for (const set of this.subscribers.values()) {
      for (const attachment of set) if (attachment.nodeId === nodeId) attachment.linkChanged(online);
    }
  }

  isOnline(nodeId: NodeId): boolean {
    return !this.offline.has(nodeId);
  }

  /** Delivers everything queued now, synchronously (frames queued meanwhile too, up to the bound). */
  flush(): void {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    for (let rounds = 0; this.queue.length > 0 && rounds < MAX_QUEUED_FRAMES; rounds++)
      this.deliver(this.queue.length);
  }

  /** Frames published but not yet delivered. */
  pending(): number {
    return this.queue.length;
  }

  stats(): MemoryNetworkStats {
    return { ...this.counters };
  }

  /** Subscribes a transport; internal to this module's `MemoryTransport`. */
  attach(attachment: Attachment): () => void {
    let set = this.subscribers.get(attachment.subject);
    if (set === undefined) {
      set = new Set();
      this.subscribers.set(attachment.subject, set);
    }
    set.add(attachment);
    return () => {
      set.delete(attachment);
      if (set.size === 0 && this.subscribers.get(attachment.subject) === set)
        this.subscribers.delete(attachment.subject);
    };
  }

  private deliver(count: number): void {
    const batch = this.queue.slice(0, count);
    this.queue = this.queue.slice(count);
    for (const { publisher, subject, frame } of batch) {
      const targets = this.subscribers.get(subject);
      if (targets === undefined || targets.size === 0) {
        this.counters.unrouted += 1;
        continue;
      }
      for (const target of [...targets]) {
        if (this.blocked(publisher, target.nodeId, frame)) {
          this.counters.dropped += 1;
          continue;
        }
        this.counters.delivered += 1;
        target.receive(frame);
      }
    }
  }

  private blocked(publisher: string, to: NodeId, frame: Uint8Array): boolean {
    if (this.offline.has(publisher) || this.offline.has(to)) return true;
    if (this.cutLinks.has(`${publisher}\u0000${to}`)) return true;
    const from = this.groups?.get(publisher);
    const into = this.groups?.get(to);
    if (from !== undefined && into !== undefined && from !== into) return true;
    return this.dropFilter?.(publisher, to, frame) ?? false;
  }
}

/**
 * A `Transport` on a `MemoryNetwork`. Connected from construction unless its node is offline;
 * `close()` detaches it.
 */
export class MemoryTransport extends TransportEndpoint {
  private readonly network: MemoryNetwork;
  private readonly detach: () => void;

  /** Throws `MalformedRequest` for invalid options. */
  constructor(network: MemoryNetwork, options: TransportOptions) {
    super(options);
    this.network = network;
    this.detach = network.attach({
      nodeId: this.nodeId,
      subject: nodeSubject(this.serviceId, this.nodeId),
      receive: (frame) => this.receiveFrame(frame),
      linkChanged: (online) => this.setState(online ? "connected" : "reconnecting"),
    });
    this.setState(network.isOnline(this.nodeId) ? "connected" : "reconnecting");
  }

  protected publishFrame(to: NodeId, frame: Uint8Array): boolean {
    this.network.publish(this.nodeId, nodeSubject(this.serviceId, to), frame);
    return true;
  }

  protected async releaseLink(): Promise<void> {
    this.detach();
  }
}
