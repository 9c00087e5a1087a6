/**
 * The `events` section of the node config (node/config.ts):
 *
 *   events:
 *     maxStreams: 64              # open /app/events streams (more get 503)
 *     maxBufferedBytes: 1048576   # unread bytes per stream client
 *     stallTimeoutMs: 30000       # a client that does not drain for this long is disconnected
 *     jetstream:                  # optional: publish committed public events to JetStream
 *       servers: ["nats://127.0.0.1:4222"]   # nats:// or tls:// URLs, as the node's `nats.servers`
 *       stream: TREATY_EVENTS
 *       subjectPrefix: treaty.events   # subject = <prefix>.<contract>.<event name>
 *       createStream: true             # create the stream when missing (file storage, 2 min dedup window)
 */
import { bad, boolean, integer, object } from "../config-fields.js";
import { natsServers, subjectPrefixField } from "../nats-config.js";
import { DEFAULT_EVENT_STREAM_OPTIONS, type EventStreamOptions } from "./stream.js";

export interface JetStreamExportConfig {
  readonly servers: readonly string[];
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly createStream: boolean;
}

export interface EventsConfig extends EventStreamOptions {
  readonly jetstream: JetStreamExportConfig | null;
}

export const DEFAULT_EVENTS_CONFIG: EventsConfig = { ...DEFAULT_EVENT_STREAM_OPTIONS, jetstream: null };

/** A JetStream stream name: one subject token. */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Validates the `events` section; every failure is MalformedRequest naming the field. */
export function parseEventsConfig(value: unknown): EventsConfig {
  const o = object(value, "events");
  const int = (field: keyof EventStreamOptions, min: number, max: number): number =>
    o[field] === undefined
      ? DEFAULT_EVENT_STREAM_OPTIONS[field]
      : integer(o[field], `events.${field}`, min, max);
  let jetstream: JetStreamExportConfig | null = null;
  if (o.jetstream !== undefined && o.jetstream !== null) {
    const j = object(o.jetstream, "events.jetstream");
    if (typeof j.stream !== "string" || !STREAM_NAME.test(j.stream))
      throw bad("events.jetstream.stream", `a stream name matching ${STREAM_NAME}`, j.stream);
    jetstream = {
      servers: natsServers(j.servers, "events.jetstream.servers"),
      stream: j.stream,
      subjectPrefix: subjectPrefixField(j.subjectPrefix ?? "treaty.events", "events.jetstream.subjectPrefix"),
      createStream:
        j.createStream === undefined ? true : boolean(j.createStream, "events.jetstream.createStream"),
    };
  }
  return {
    maxStreams: int("maxStreams", 0, 100_000),
    maxBufferedBytes: int("maxBufferedBytes", 64 * 1024, 256 << 20),
    stallTimeoutMs: int("stallTimeoutMs", 100, 3_600_000),
    heartbeatMs: int("heartbeatMs", 100, 3_600_000),
    jetstream,
  };
}
