/**
 * A leader's view of one follower's log (etcd's Progress). Two states:
 * - probe: the leader does not know where the follower's log matches; it sends one append at a
 *   time (per response or heartbeat) and walks back on NACKs;
 * - replicate: the follower matched; the leader pipelines appends, at most `maxInflight` at once.
 * Owned by the leader's `ConsensusNode`; dropped when it stops leading.
 */
import { assert } from "../../sdk/assert.js";

/** Replication state of one follower, as tracked by the leader. */
export class Progress {
  /** Highest seqno known to match the leader's log (acknowledged durable by the follower). */
  match = 0;
  /** Next seqno to send. */
  next: number;
  state: "probe" | "replicate" = "probe";
  /** In probe state: an append is outstanding since the last heartbeat or response. */
  probeSent = false;
  /** Heard from this follower since the last check-quorum round. */
  recentActive = false;
  /** Highest read-index round this follower answered in the leader's view. */
  readAck = 0;
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
    return this.inflight.length < this.maxInflight;
  }

  /** Records that an append ending at `lastSeqno` went out. */
  sent(lastSeqno: number): void {
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
    if (this.state === "probe") {
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
