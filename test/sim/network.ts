/**
 * The simulator's in-memory network: every message gets a delivery tick drawn from the current
 * delay range, may be lost or duplicated, and is dropped when its link is cut at send or delivery
 * time. Random delays reorder messages. Links are directed, so partitions can be one-way.
 */
import { assert } from "../../sdk/assert.js";
import type { Message, NodeId } from "../../node/consensus/index.js";
import type { Prng } from "./prng.js";

interface InFlight {
  readonly deliverAt: number;
  readonly order: number;
  readonly message: Message;
}

/** Network fault settings; changed by the fault schedule between ticks. */
export interface NetworkFaults {
  lossRate: number;
  duplicateRate: number;
  minDelayTicks: number;
  maxDelayTicks: number;
}

/** Most messages in flight at once; beyond it sends are dropped (the protocol tolerates loss). */
const MAX_IN_FLIGHT = 50_000;

/** See the module comment. Owned by one simulated cluster. */
export class SimNetwork {
  readonly faults: NetworkFaults = { lossRate: 0, duplicateRate: 0, minDelayTicks: 1, maxDelayTicks: 1 };
  private readonly heap: InFlight[] = [];
  private readonly cut = new Set<string>();
  private order = 0;
  sent = 0;
  dropped = 0;

  constructor(private readonly rng: Prng) {}

  /** Queues `message` for delivery after the current delay, unless lost or its link is cut. */
  send(message: Message, now: number): void {
    this.sent++;
    if (this.isCut(message.from, message.to) || this.rng.chance(this.faults.lossRate)) {
      this.dropped++;
      return;
    }
    this.enqueue(message, now);
    if (this.rng.chance(this.faults.duplicateRate)) this.enqueue(message, now);
  }

  /** Removes and returns every message due at or before `now`, in delivery order. */
  deliverDue(now: number): Message[] {
    const out: Message[] = [];
    while (this.heap.length > 0 && this.heap[0]!.deliverAt <= now) {
      const item = this.pop();
      if (this.isCut(item.message.from, item.message.to)) this.dropped++;
      else out.push(item.message);
    }
    return out;
  }

  /** Cuts the directed link from `from` to `to`. */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}\u0000${to}`);
  }

  /** Restores every link. */
  healAll(): void {
    this.cut.clear();
  }

  /** Whether the directed link is cut. */
  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.size > 0 && this.cut.has(`${from}\u0000${to}`);
  }

  /** Number of cut directed links. */
  cutCount(): number {
    return this.cut.size;
  }

  /** Messages currently in flight. */
  inFlight(): number {
    return this.heap.length;
  }

  private enqueue(message: Message, now: number): void {
    if (this.heap.length >= MAX_IN_FLIGHT) {
      this.dropped++;
      return;
    }
    const delay = this.rng.between(this.faults.minDelayTicks, this.faults.maxDelayTicks);
    this.push({ deliverAt: now + delay, order: this.order++, message });
  }

  private less(a: InFlight, b: InFlight): boolean {
    return a.deliverAt < b.deliverAt || (a.deliverAt === b.deliverAt && a.order < b.order);
  }

  private push(item: InFlight): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): InFlight {
    const h = this.heap;
    assert(h.length > 0, "pop from a non-empty heap");
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
