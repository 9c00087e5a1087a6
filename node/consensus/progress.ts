/**
 * A leader's view of one follower's log (etcd's Progress). Two states:
 * - probe: the leader does not know where the follower's log matches; it sends one append at a
 *   time (per response or heartbeat) and walks back on NACKs;
 * - replicate: the follower matched; the leader pipelines appends, at most `maxInflight` at once;
 * - snapshot: the follower needs entries the leader will not send; it was offered the snapshot
 *   at `pendingSnapshot` and gets no appends until it acknowledges that seqno or beyond.
 * Owned by the leader's `ConsensusNode`; dropped when it stops leading.
 */
import { assert } from "../../sdk/assert.js";

/** Replication state of one follower, as tracked by the leader. */
export class Progress {
  /** Highest seqno known to match the leader's log (acknowledged durable by the follower). */
  match = 0;
  /** Next seqno to send. */
  next: number;
  state: "probe" | "replicate" | "snapshot" = "probe";
  /** In snapshot state: the seqno of the snapshot offered. */
  pendingSnapshot = 0;
  /** In probe state: an append is outstanding since the last heartbeat or response. */
  probeSent = false;
  /** Heard from this follower since the last check-quorum round. */
  recentActive = false;
  /** Highest read-index round this follower answered in the leader's view. */
  readAck = 0;
  /** An append carrying entries went to this follower since the last heartbeat round. */
  appendedSinceHeartbeat = false;
  /** Last seqno of each in-flight append, ascending; bounded by `maxInflight`. */
  private readonly inflight: number[] = [];

  constructor(
    nextSeqno: number,
    private readonly maxInflight: number,
  ) {
    assert(nextSeqno >= 1, "next seqno is at least 1");
    this.next = nextSeqno;
  }

  /** Whether another append carrying entries may be sent now. */
  canSend(): boolean {
    if (this.state === "probe") return !this.probeSent;
    if (this.state === "snapshot") return false;
    return this.inflight.length < this.maxInflight;
  }

  /** Records that an append ending at `lastSeqno` went out. */
  sent(lastSeqno: number): void {
    assert(this.state !== "snapshot", "no appends to a follower offered a snapshot");
    if (this.state === "probe") {
      this.probeSent = true;
      return;
    }
    assert(this.inflight.length < this.maxInflight, "in-flight window respected");
    assert(lastSeqno >= this.next, "pipelined appends move forward");
    this.inflight.push(lastSeqno);
    this.next = lastSeqno + 1;
  }

  /** The follower matched up to `seqno`. Returns whether `match` moved. */
  acknowledge(seqno: number): boolean {
    while (this.inflight.length > 0 && this.inflight[0]! <= seqno) this.inflight.shift();
    // A snapshot offer ends once the follower holds the snapshot (or got further some other way).
    const snapshotDone = this.state === "snapshot" && seqno >= this.pendingSnapshot;
    if (this.state === "probe" || snapshotDone) {
      this.state = "replicate";
      this.probeSent = false;
      this.inflight.length = 0;
      this.next = Math.max(this.next, seqno + 1);
    }
    if (seqno <= this.match) return false;
    this.match = seqno;
    if (this.next <= seqno) this.next = seqno + 1;
    return true;
  }

  /** The follower is offered the snapshot at `seqno`: no appends until it acknowledges it. */
  offerSnapshot(seqno: number): void {
    assert(seqno >= this.match, "a snapshot offer never goes below the known match");
    this.state = "snapshot";
    this.pendingSnapshot = seqno;
    this.probeSent = false;
    this.inflight.length = 0;
  }

  /** Back to probing from `nextSeqno` (after a NACK or a stall). */
  probeFrom(nextSeqno: number): void {
    assert(nextSeqno > this.match, "probing never goes below the known match");
    this.state = "probe";
    this.probeSent = false;
    this.inflight.length = 0;
    this.next = nextSeqno;
  }

  /** Number of in-flight appends (for invariants and stats). */
  inflightCount(): number {
    return this.inflight.length;
  }
}
