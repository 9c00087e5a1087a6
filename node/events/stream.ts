/**
 * `GET /app/events`: committed public events as Server-Sent Events, in commit order, from this
 * node's own committed ledger (any node serves it; a follower serves what it has committed).
 *
 *   ?contract=<name>          only this contract's events
 *   ?name=<event>             only these event names (repeatable; each an event name, EVENT_NAME)
 *   ?after=<txid>[/<index>]   resume after that transaction (or that event of it); `after=0`
 *                             starts at the beginning of the ledger; absent: at the commit point
 *   Last-Event-ID             as `after` (what EventSource resends when it reconnects)
 *
 * Each event is `id: <txid>/<index>` and `data: {"txid","index","contract","name","data"}`.
 * Bounds: at most `maxStreams` open streams (more get 503 Unavailable); a client's unread bytes
 * stay under `maxBufferedBytes`: the stream waits for the client to drain, and a client that
 * has not drained for `stallTimeoutMs` is disconnected (it resumes from its last id).
 */
import { TreatyError } from "../../sdk/errors.js";
import { invalidEventName } from "../../contracts/api/manifest-rules.js";
import type { Ledger } from "../../runtime/ledger/ledger.js";
import type { Handler, HttpRequest, HttpResponse, ResponseSink } from "../http/server.js";
import { type EventCursor, type EventFeed, type EventFilter, WHOLE_TX } from "./feed.js";
import type { CommittedEvent } from "./record.js";

export const EVENTS_PATH = "/app/events";
export const CONTENT_EVENT_STREAM = "text/event-stream";

export interface EventStreamOptions {
  readonly maxStreams: number;
  readonly maxBufferedBytes: number;
  readonly stallTimeoutMs: number;
  /** A comment line is sent after this long without events (keeps proxies from closing). */
  readonly heartbeatMs: number;
}

export const DEFAULT_EVENT_STREAM_OPTIONS: EventStreamOptions = {
  maxStreams: 64,
  maxBufferedBytes: 1024 * 1024,
  stallTimeoutMs: 30_000,
  heartbeatMs: 15_000,
};

/** Events read from the feed per step. */
const READ_BATCH = 64;
const MAX_NAMES = 32;
const POSITION = /^(\d{1,15})\.(\d{1,15})(?:\/(\d{1,9}))?$/;

/** The `/app/events` handler over `feed`; `ledger` checks that a resume txid is this ledger's. */
export function eventStreamHandler(feed: EventFeed, ledger: Ledger, options: EventStreamOptions): Handler {
  let open = 0;
  return (req: HttpRequest): HttpResponse => {
    const filter = parseFilter(req);
    const header = req.headers["last-event-id"];
    const resume = typeof header === "string" && header !== "" ? header : req.query.get("after");
    let cursor: EventCursor =
      resume === null || resume === undefined
        ? { seqno: feed.committedSeqno, index: WHOLE_TX }
        : parsePosition(resume, ledger, feed.committedSeqno);
    if (open >= options.maxStreams) {
      throw new TreatyError(
        "Unavailable",
        `this node serves at most ${options.maxStreams} event streams: retry later`,
      );
    }
    open++;
    return {
      stream: {
        contentType: CONTENT_EVENT_STREAM,
        open: (sink) => {
          sink.onClose(() => {
            open--;
          });
          void pump(sink, feed, cursor, filter, options).catch(() => sink.end(true));
        },
      },
    };
    async function pump(
      sink: ResponseSink,
      feed: EventFeed,
      start: EventCursor,
      filter: EventFilter,
      o: EventStreamOptions,
    ): Promise<void> {
      cursor = start;
      sink.write("retry: 1000\n\n");
      while (!sink.closed) {
        const read = feed.read(cursor, READ_BATCH, filter);
        for (const event of read.events) {
          if (sink.buffered > o.maxBufferedBytes / 2 && !(await drainedInTime(sink, o.stallTimeoutMs))) {
            sink.end(true);
            return;
          }
          if (sink.closed) return;
          sink.write(frame(event));
        }
        const moved = read.cursor.seqno !== cursor.seqno || read.cursor.index !== cursor.index;
        cursor = read.cursor;
        if (!moved) {
          await feed.wait(o.heartbeatMs);
          if (!sink.closed && feed.committedSeqno <= cursor.seqno) sink.write(": keepalive\n\n");
        }
      }
    }
  };
}

/** One SSE frame. */
export function frame(event: CommittedEvent): string {
  const data = JSON.stringify({
    txid: event.txid,
    index: event.index,
    contract: event.contract,
    name: event.name,
    data: event.data,
  });
  return `id: ${event.txid}/${event.index}\ndata: ${data}\n\n`;
}

async function drainedInTime(sink: ResponseSink, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ok = await Promise.race([sink.drained().then(() => true), timedOut]);
  clearTimeout(timer);
  return ok && !sink.closed;
}

function parseFilter(req: HttpRequest): EventFilter {
  const contract = req.query.get("contract") ?? undefined;
  const names = req.query.getAll("name");
  if (names.length > MAX_NAMES)
    throw new TreatyError("InvalidArgs", `name: at most ${MAX_NAMES} event names`);
  // A name no event can have (`a..b`, `a.*`) is a caller's mistake, refused rather than matching nothing.
  for (const name of names) {
    const invalid = invalidEventName(name);
    if (invalid !== undefined) throw new TreatyError("InvalidArgs", `name: ${invalid}`);
  }
  return { ...(contract !== undefined && { contract }), names };
}

/**
 * `<view>.<seqno>` or `<view>.<seqno>/<index>` (or `0`: the start). A committed position must be
 * this ledger's: a txid whose view differs from the entry's is TxNotFound.
 */
export function parsePosition(text: string, ledger: Ledger, committedSeqno: number): EventCursor {
  if (text === "0") return { seqno: 0, index: WHOLE_TX };
  const m = POSITION.exec(text);
  if (m === null) {
    throw new TreatyError(
      "InvalidArgs",
      `after: expected <view>.<seqno> or <view>.<seqno>/<index>, got ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  const view = Number(m[1]);
  const seqno = Number(m[2]);
  if (seqno <= committedSeqno) {
    const record = ledger.get(seqno);
    if (record !== undefined && record.view !== view) {
      throw new TreatyError(
        "TxNotFound",
        `after: ${view}.${seqno} is not a committed transaction of this service`,
      );
    }
  }
  return { seqno, index: m[3] === undefined ? WHOLE_TX : Number(m[3]) };
}
