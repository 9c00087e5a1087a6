/**
 * When each write of a bench run became committed on the leader, from `/node/tx` long polls
 * (`wait`): the node answers a long poll in the same event-loop run that moves its commit point
 * past the polled seqno, so a write's commit time is the answer's arrival, not the next tick of
 * a status poller (bench/network.ts's `commitMonitor` polls `/node/status` every few ms).
 *
 * One poll per write would double the leader's HTTP requests. Fewer suffice, exactly: consensus
 * commits only at signature entries, so the commit point is never a write's own seqno, and for a
 * write at seqno `w` "commit ≥ w" holds exactly when "commit ≥ w + 1" does. So the time of `w`
 * is the answer to a poll of `w + 1`, or, when `w + 1` is a write of the run too, the time of
 * `w + 1` (the same instant). `CommitTimes` is that bookkeeping: the seqnos acknowledged, which
 * seqnos to poll (`w + 1` unless it is a write already known), and the resolution.
 */
import { Agent } from "node:http";
import { send } from "./http.js";

/** The bookkeeping of `commitWatch`, without the network (pure; test/bench/commit-watch.test.ts). */
export class CommitTimes {
  readonly #writes = new Set<number>();
  /** Polled seqno → the time its answer said Committed (undefined while it waits). */
  readonly #polls = new Map<number, number | undefined>();

  /**
   * Records the acknowledged writes `seqnos` (one event-loop turn's worth, any order); returns
   * the seqnos to poll now (none already polled).
   */
  acknowledged(seqnos: Iterable<number>): number[] {
    for (const s of seqnos) {
      if (!Number.isSafeInteger(s) || s < 1)
        throw new RangeError(`seqno: expected an integer >= 1, got ${s}`);
      this.#writes.add(s);
    }
    const poll: number[] = [];
    for (const s of seqnos) {
      const next = s + 1;
      if (this.#writes.has(next) || this.#polls.has(next)) continue;
      this.#polls.set(next, undefined);
      poll.push(next);
    }
    return poll;
  }

  /** A poll of `seqno` answered Committed at `timeMs`. */
  committed(seqno: number, timeMs: number): void {
    if (!this.#polls.has(seqno)) throw new RangeError(`seqno ${seqno} was not polled`);
    if (this.#polls.get(seqno) === undefined) this.#polls.set(seqno, timeMs);
  }

  /** Polls not answered Committed yet. */
  get waiting(): number {
    let n = 0;
    for (const t of this.#polls.values()) if (t === undefined) n++;
    return n;
  }

  /** Polls made so far. */
  get polls(): number {
    return this.#polls.size;
  }

  /** When the write at `seqno` was seen committed; undefined while not (yet) known. */
  committedAt(seqno: number): number | undefined {
    if (!this.#writes.has(seqno)) throw new RangeError(`seqno ${seqno} is not an acknowledged write`);
    let s = seqno;
    // The writes from `seqno` on up to the first polled seqno commit at the same instant.
    while (!this.#polls.has(s + 1)) {
      s++;
      if (!this.#writes.has(s)) return undefined; // unreachable: acknowledged() polls every run's end
    }
    return this.#polls.get(s + 1);
  }
}

/** How long one long poll waits at the node before it is sent again (ms, ≤ node's MAX_TX_WAIT_MS). */
const LONG_POLL_MS = 5_000;

/** A poll that got no answer is sent again this far apart, for at most this long (ms). */
const TRANSPORT_RETRY_PAUSE_MS = 50;
const TRANSPORT_RETRY_WINDOW_MS = 30_000;

/**
 * Watches the commit of a run's writes on `url` (the leader): call `acknowledged` with each
 * write's txid as its answer arrives; `committedAt` as in CommitTimes.
 */
export function commitWatch(url: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const times = new CommitTimes();
  const batch: number[] = [];
  /** A polled seqno's view: the view of the write before it (a signature after it is in it). */
  const views = new Map<number, number>();
  const polls = new Set<Promise<void>>();
  let failure: Error | undefined;
  let stopped = false;
  let flushScheduled = false;

  const poll = async (seqno: number): Promise<void> => {
    const view = views.get(seqno)!;
    let unanswered: number | undefined;
    while (!stopped) {
      let reply: { status: number; text: string };
      try {
        reply = await send(
          agent,
          `${url}/node/tx?txid=${view}.${seqno}&wait=${LONG_POLL_MS}`,
          "GET",
          undefined,
        );
        unanswered = undefined;
      } catch (err) {
        // No answer (a keep-alive connection the node closed as it was reused): poll again, for
        // as long as a write is resent (bench/network.ts).
        unanswered ??= performance.now();
        if (performance.now() - unanswered > TRANSPORT_RETRY_WINDOW_MS) throw err;
        await new Promise((resolve) => setTimeout(resolve, TRANSPORT_RETRY_PAUSE_MS));
        continue;
      }
      const { status, text } = reply;
      if (status !== 200) throw new Error(`GET /node/tx ${view}.${seqno}: HTTP ${status}: ${text}`);
      const answer = (JSON.parse(text) as { status: string }).status;
      if (answer === "Committed") {
        times.committed(seqno, performance.now());
        return;
      }
      // Pending (the wait ran out) or Unknown (not appended yet) wait again; Invalid ends the run.
      if (answer !== "Pending" && answer !== "Unknown")
        throw new Error(`GET /node/tx ${view}.${seqno}: ${answer} (did leadership move?)`);
    }
  };
  const flush = () => {
    flushScheduled = false;
    const acknowledged = batch.splice(0);
    for (const seqno of times.acknowledged(acknowledged)) {
      const p = poll(seqno)
        .catch((err: unknown) => {
          failure ??= err instanceof Error ? err : new Error(String(err));
        })
        .finally(() => polls.delete(p));
      polls.add(p);
    }
    for (const s of acknowledged) views.delete(s + 1); // each poll took its view as it started
  };

  return {
    /** A write's answer arrived with txid `view.seqno` (polled once this event-loop turn's answers are in). */
    acknowledged(view: number, seqno: number): void {
      batch.push(seqno);
      if (!views.has(seqno + 1)) views.set(seqno + 1, view);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    },
    /** Long polls sent so far (the leader serves them: part of its CPU per write). */
    get polls(): number {
      return times.polls;
    },
    committedAt(seqno: number): number | undefined {
      return times.committedAt(seqno);
    },
    /** Resolves once every acknowledged write is seen committed; rejects if a poll failed. */
    async settled(): Promise<void> {
      while (flushScheduled || polls.size > 0) {
        if (flushScheduled) await new Promise<void>((resolve) => setImmediate(resolve));
        else await Promise.race(polls);
        if (failure) throw failure;
      }
      if (failure) throw failure;
    },
    stop(): void {
      stopped = true;
      agent.destroy();
    },
  };
}
