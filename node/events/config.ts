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
 *       tls: { caFile: ..., certFile: ..., keyFile: ... }   # as the `nats` section's (node/nats-config.ts)
 *       credentials: { nkeySeedFile: ... }                  # as the `nats` section's
 *
 * The export uses only its own `tls` and `credentials`, never the `nats` section's, even when
 * its servers are the same: what secures it is what its own section says (docs/integration.md).
 */
import { bad, boolean, integer, known, object } from "../config-fields.js";
import {
  NATS_SECURITY_FIELDS,
  type NatsSecurity,
  natsServers,
  parseNatsSecurity,
  subjectPrefixField,
} from "../nats-config.js";
import { DEFAULT_EVENT_STREAM_OPTIONS, type EventStreamOptions } from "./stream.js";

/** The `events.jetstream` section; `tls` and `credentials` as the `nats` section's. */
export interface JetStreamExportConfig extends NatsSecurity {
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

/**
 * Validates the `events` section; every failure is MalformedRequest naming the field. `path`
 * resolves a file path field (the export's TLS and credential files) against the config's folder.
 */
export function parseEventsConfig(value: unknown, path: (v: unknown, field: string) => string): EventsConfig {
  const o = object(value, "events");
  const int = (field: keyof EventStreamOptions, min: number, max: number): number =>
    o[field] === undefined
      ? DEFAULT_EVENT_STREAM_OPTIONS[field]
      : integer(o[field], `events.${field}`, min, max);
  let jetstream: JetStreamExportConfig | null = null;
  if (o.jetstream !== undefined && o.jetstream !== null) {
    const j = object(o.jetstream, "events.jetstream");
    // Unknown fields are refused, as in `nats`: a misspelt `tls` must not leave the export in clear.
    known(j, "events.jetstream", [
      "servers",
      "stream",
      "subjectPrefix",
      "createStream",
      ...NATS_SECURITY_FIELDS,
    ]);
    if (typeof j.stream !== "string" || !STREAM_NAME.test(j.stream))
      throw bad("events.jetstream.stream", `a stream name matching ${STREAM_NAME}`, j.stream);
    jetstream = {
      servers: natsServers(j.servers, "events.jetstream.servers"),
      stream: j.stream,
      subjectPrefix: subjectPrefixField(j.subjectPrefix ?? "treaty.events", "events.jetstream.subjectPrefix"),
      createStream:
        j.createStream === undefined ? true : boolean(j.createStream, "events.jetstream.createStream"),
      ...parseNatsSecurity(j, "events.jetstream", path),
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
