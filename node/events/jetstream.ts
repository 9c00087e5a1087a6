/**
 * Publishes committed public events to a NATS JetStream stream, for systems that consume them
 * with any NATS client. Only the leader publishes (a follower's exporter idles); each message
 * carries `Nats-Msg-Id: <txid>/<index>`, so the stream drops a republished event as a duplicate
 * inside its duplicate window. A new leader reads the last message of the stream back, resumes
 * right after its id, and so the stream holds every committed public event once, in commit
 * order, across leader changes (at-least-once publishing, exactly-once after deduplication;
 * docs/integration.md).
 *
 * Each message also states the stream sequence it must follow (`Nats-Expected-Last-Sequence`).
 * A batch is pipelined (its acks awaited together): when the stream refuses one event (over its
 * `max_msg_size`, say) it refuses every later one of the batch too, so the stream never holds an
 * event after a missing one (resuming after the stream's last message would skip the refused
 * event for good); such an event stops the export there, retried (and logged) every second until
 * the stream accepts it. And an old leader that publishes after the new one, past the duplicate
 * window, states a sequence that is no longer the last: refused, not appended twice.
 *
 * Subject: `<subjectPrefix>.<contract>.<event name>` (`eventSubject`); payload: the JSON of `/app/events`.
 *
 * The connection is secured by the section's own `tls` and `credentials` (as the `nats` section's,
 * read and connected by the same code: node/nats-config.ts, node/transport/nats-connect.ts); the
 * credential files are read when the export is made, during the node's start, so a missing or
 * wrong file fails the start naming `events.jetstream.credentials...`. A connection the servers
 * refuse is logged with the reason (`...; check events.jetstream.tls` or `.credentials`) and
 * retried every second, as any other failure of the export.
 */
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager, type PubAck } from "@nats-io/jetstream";
import { utf8 } from "../../sdk/bytes.js";
import { EVENT_NAME } from "../../contracts/api/manifest-rules.js";
import type { Logger } from "../log.js";
import { natsTlsOptions, readNatsCredentials } from "../nats-config.js";
import { connectNats, type NatsCredentials, type NatsTlsOptions } from "../transport/nats-connect.js";
import type { JetStreamExportConfig } from "./config.js";
import { type EventCursor, type EventFeed, WHOLE_TX } from "./feed.js";
import type { CommittedEvent } from "./record.js";

/** Events published (and acknowledged) per step. */
const PUBLISH_BATCH = 256;
const RETRY_MS = 1000;
/** The client's connect timeout per dial (the transport's default). */
const CONNECT_TIMEOUT_MS = 5000;
/** The config section named in connection failures. */
const SECTION = "events.jetstream";
/** The dedup window of a stream the exporter creates (the JetStream default). */
const DUPLICATE_WINDOW_NS = 120 * 1e9;
export const MSG_ID_HEADER = "Nats-Msg-Id";

/** What the export reads: the node's committed event feed. */
export type ExportFeed = Pick<EventFeed, "read" | "wait" | "close">;

export interface JetStreamExportOptions {
  readonly config: JetStreamExportConfig;
  readonly feed: ExportFeed;
  readonly isLeader: () => boolean;
  readonly logger: Logger;
}

/** The message id of an event: its position, `<txid>/<index>`. */
export function messageId(event: CommittedEvent): string {
  return `${event.txid}/${event.index}`;
}

/** The JSON payload of an event (the same fields as `/app/events`). */
export function eventPayload(event: CommittedEvent): string {
  return JSON.stringify({
    txid: event.txid,
    index: event.index,
    contract: event.contract,
    name: event.name,
    data: event.data,
  });
}

export class JetStreamExport {
  readonly #o: JetStreamExportOptions;
  #stopped = false;
  #running: Promise<void> | undefined;
  #nc: NatsConnection | undefined;
  readonly #tls: NatsTlsOptions | undefined;
  readonly #credentials: NatsCredentials | undefined;
  /** Events published by this node (acknowledged, duplicates included); for tests and metrics. */
  published = 0;

  /** Reads the credential files the config names: throws `MalformedRequest` naming the field. */
  constructor(options: JetStreamExportOptions) {
    this.#o = options;
    this.#tls = natsTlsOptions(options.config);
    this.#credentials = readNatsCredentials(options.config, SECTION);
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.feed.close();
    await this.#nc?.close().catch(() => undefined);
    await this.#running;
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      if (!this.#o.isLeader()) {
        await this.#o.feed.wait(RETRY_MS);
        continue;
      }
      try {
        await this.#publishWhileLeader();
      } catch (err) {
        if (this.#stopped) return;
        this.#o.logger.warn("jetstream export failed; retrying", { err: String(err) });
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      } finally {
        const nc = this.#nc;
        this.#nc = undefined;
        await nc?.close().catch(() => undefined);
      }
    }
  }

  async #publishWhileLeader(): Promise<void> {
    const { config, feed } = this.#o;
    const nc = await connectNats(
      { servers: [...config.servers], name: "treaty-events", maxReconnectAttempts: 0 },
      {
        tls: this.#tls,
        credentials: this.#credentials,
        timeoutMs: CONNECT_TIMEOUT_MS,
        serversField: `${SECTION}.servers`,
        section: SECTION,
      },
    );
    this.#nc = nc;
    const jsm = await jetstreamManager(nc);
    await this.#ensureStream(jsm);
    const js = jetstream(nc);
    let { cursor, lastSeq } = await lastPublished(jsm, config.stream);
    this.#o.logger.info("jetstream export: publishing as leader", {
      stream: config.stream,
      after: cursor.index === WHOLE_TX ? `${cursor.seqno}` : `${cursor.seqno}/${cursor.index}`,
    });
    while (!this.#stopped && this.#o.isLeader()) {
      const read = feed.read(cursor, PUBLISH_BATCH);
      // Published in order on one connection; acks awaited together. Message i of the batch must
      // follow stream sequence lastSeq + i: one refused message refuses the rest of the batch, so
      // the stream never skips an event (the server checks no expectation of 0: an empty stream).
      const acks: PubAck[] = await Promise.all(
        read.events.map((event, i) => {
          const h = headers();
          h.set("Treaty-Txid", event.txid);
          return js.publish(eventSubject(config.subjectPrefix, event), utf8.encode(eventPayload(event)), {
            msgID: messageId(event),
            headers: h,
            expect: { lastSequence: lastSeq + i },
          });
        }),
      );
      this.published += read.events.length;
      // A duplicate (stored by another publisher, an old leader, or by this one before a
      // reconnect) stored nothing now: these events are in the stream all the same, and the
      // stream's last sequence is read afresh (a wrong one only costs a refused batch and a retry).
      if (acks.some((ack) => ack.duplicate)) lastSeq = (await jsm.streams.info(config.stream)).state.last_seq;
      else if (acks.length > 0) lastSeq = acks.at(-1)!.seq;
      const moved = read.cursor.seqno !== cursor.seqno || read.cursor.index !== cursor.index;
      cursor = read.cursor;
      if (!moved) await feed.wait(RETRY_MS);
    }
  }

  async #ensureStream(jsm: JetStreamManager): Promise<void> {
    const { config } = this.#o;
    try {
      await jsm.streams.info(config.stream);
    } catch (err) {
      if (!config.createStream || !isStreamNotFound(err)) throw err;
      await jsm.streams.add({
        name: config.stream,
        subjects: [`${config.subjectPrefix}.>`],
        duplicate_window: DUPLICATE_WINDOW_NS,
      });
    }
  }
}

/**
 * `<prefix>.<contract>.<event name>`, each dot-separated segment of the name one subject token:
 * `EVENT_NAME` (contracts/api/manifest-rules.ts) has no empty segment and no whitespace, `*` or
 * `>`. A name recorded by an older version, whose `emit` let empty segments through (`a..b`,
 * `a.`), is published with each empty token written `_`: NATS refuses a subject with an empty
 * token, and an event no subject can carry would stop the export at it for good. The payload
 * keeps the exact name.
 */
export function eventSubject(prefix: string, event: Pick<CommittedEvent, "contract" | "name">): string {
  const name = EVENT_NAME.test(event.name)
    ? event.name
    : event.name
        .split(".")
        .map((token) => (token === "" ? "_" : token))
        .join(".");
  return `${prefix}.${event.contract}.${name}`;
}

/**
 * The position after the stream's last message (its `Nats-Msg-Id`), or the ledger's start, and
 * the stream's last sequence.
 */
async function lastPublished(
  jsm: JetStreamManager,
  stream: string,
): Promise<{ cursor: EventCursor; lastSeq: number }> {
  const info = await jsm.streams.info(stream);
  const lastSeq = info.state.last_seq;
  if (info.state.messages === 0) return { cursor: { seqno: 0, index: WHOLE_TX }, lastSeq };
  const last = await jsm.streams.getMessage(stream, { seq: info.state.last_seq });
  const id = last?.header?.get(MSG_ID_HEADER) ?? "";
  const m = /^\d+\.(\d+)\/(\d+)$/.exec(id);
  if (m === null)
    throw new Error(`stream ${stream}: last message has no treaty ${MSG_ID_HEADER} (${JSON.stringify(id)})`);
  return { cursor: { seqno: Number(m[1]), index: Number(m[2]) }, lastSeq };
}

function isStreamNotFound(err: unknown): boolean {
  return (
    err instanceof Error && (err.name === "StreamNotFoundError" || /stream not found/i.test(err.message))
  );
}
