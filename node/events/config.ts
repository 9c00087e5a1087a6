/**
 * The `events` section of the node config (node/config.ts):
 *
 *   events:
 *     maxStreams: 64              # open /app/events streams (more get 503)
 *     maxBufferedBytes: 1048576   # unread bytes per stream client
 *     stallTimeoutMs: 30000       # a client that does not drain for this long is disconnected
 *     jetstream:                  # optional: publish committed public events to JetStream
 *       servers: ["nats://127.0.0.1:4222"]
 *       stream: TREATY_EVENTS
 *       subjectPrefix: treaty.events   # subject = <prefix>.<contract>.<event name>
 *       createStream: true             # create the stream when missing (file storage, 2 min dedup window)
 */
import { TreatyError } from "../../sdk/errors.js";
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

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/;

/** Validates the `events` section; every failure is MalformedRequest naming the field. */
export function parseEventsConfig(value: unknown): EventsConfig {
  const o = object(value, "events");
  const int = (field: keyof EventStreamOptions, min: number, max: number): number => {
    const v = o[field];
    if (v === undefined) return DEFAULT_EVENT_STREAM_OPTIONS[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      throw bad(`events.${field}`, `an integer from ${min} to ${max}`, v);
    return v;
  };
  let jetstream: JetStreamExportConfig | null = null;
  if (o.jetstream !== undefined && o.jetstream !== null) {
    const j = object(o.jetstream, "events.jetstream");
    const servers = j.servers;
    if (
      !Array.isArray(servers) ||
      servers.length === 0 ||
      !servers.every((s) => typeof s === "string" && s !== "")
    )
      throw bad("events.jetstream.servers", "a non-empty array of NATS URLs", servers);
    if (typeof j.stream !== "string" || !TOKEN.test(j.stream))
      throw bad("events.jetstream.stream", `a stream name matching ${TOKEN}`, j.stream);
    const prefix = j.subjectPrefix ?? "treaty.events";
    if (typeof prefix !== "string" || !PREFIX.test(prefix))
      throw bad("events.jetstream.subjectPrefix", `subject tokens matching ${PREFIX}`, prefix);
    const create = j.createStream ?? true;
    if (typeof create !== "boolean") throw bad("events.jetstream.createStream", "true or false", create);
    jetstream = {
      servers: servers as string[],
      stream: j.stream,
      subjectPrefix: prefix,
      createStream: create,
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

function bad(field: string, expected: string, got: unknown): TreatyError {
  return new TreatyError(
    "MalformedRequest",
    `config ${field}: expected ${expected}, got ${JSON.stringify(got) ?? "nothing"}`,
  );
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw bad(field, "an object", v);
  return v as Record<string, unknown>;
}
