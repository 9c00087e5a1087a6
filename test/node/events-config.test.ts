/**
 * The `events` section of a node config: stream bounds and the JetStream export, validated like
 * the rest of the config (the same server-URL and subject-prefix rules as the `nats` section).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig } from "../../node/config.js";
import { DEFAULT_EVENTS_CONFIG } from "../../node/events/config.js";
import { isTreatyError } from "../../sdk/errors.js";

const events = (value: unknown) => parseConfig({ dataDir: "d", events: value }, "/srv/t").events;

function refused(value: unknown, field: string): void {
  assert.throws(
    () => events(value),
    (err: unknown) => isTreatyError(err, "MalformedRequest") && err.message.startsWith(`config ${field}:`),
    field,
  );
}

describe("events config", () => {
  it("defaults every bound and exports nothing", () => {
    assert.deepEqual(events({}), DEFAULT_EVENTS_CONFIG);
    assert.equal(parseConfig({ dataDir: "d" }, "/").events, undefined);
  });

  it("reads a JetStream export with its defaults", () => {
    assert.deepEqual(events({ maxStreams: 5, jetstream: { servers: ["tls://js:4222"], stream: "EV" } }), {
      ...DEFAULT_EVENTS_CONFIG,
      maxStreams: 5,
      jetstream: {
        servers: ["tls://js:4222"],
        stream: "EV",
        subjectPrefix: "treaty.events",
        createStream: true,
      },
    });
  });

  it("refuses what the nats section refuses, naming the field", () => {
    refused({ maxStreams: -1 }, "events.maxStreams");
    refused({ heartbeatMs: "1s" }, "events.heartbeatMs");
    refused({ jetstream: [] }, "events.jetstream");
    refused({ jetstream: { servers: [], stream: "EV" } }, "events.jetstream.servers");
    refused({ jetstream: { servers: ["js:4222"], stream: "EV" } }, "events.jetstream.servers[0]");
    refused({ jetstream: { servers: ["nats://js"], stream: "a.b" } }, "events.jetstream.stream");
    refused(
      { jetstream: { servers: ["nats://js"], stream: "EV", subjectPrefix: "ev.>" } },
      "events.jetstream.subjectPrefix",
    );
    refused(
      { jetstream: { servers: ["nats://js"], stream: "EV", subjectPrefix: "x".repeat(129) } },
      "events.jetstream.subjectPrefix",
    );
    refused(
      { jetstream: { servers: ["nats://js"], stream: "EV", createStream: "yes" } },
      "events.jetstream.createStream",
    );
  });
});
