/**
 * The `events` section of a node config: stream bounds and the JetStream export, validated like
 * the rest of the config (the same server-URL, subject-prefix, TLS and credential rules as the
 * `nats` section, each message naming the `events.jetstream` field).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseConfig } from "../../node/config.js";
import { DEFAULT_EVENTS_CONFIG, type JetStreamExportConfig } from "../../node/events/config.js";
import { natsTlsOptions, readNatsCredentials } from "../../node/nats-config.js";
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
        tls: null,
        credentials: null,
      },
    });
  });

  it("reads the export's own TLS files and credentials, resolved against the config folder", () => {
    const jetstream = (security: Record<string, unknown>): JetStreamExportConfig =>
      events({ jetstream: { servers: ["tls://js:4222"], stream: "EV", ...security } })!.jetstream!;
    const config = jetstream({
      tls: { caFile: "tls/ca.pem", certFile: "tls/export.pem", keyFile: "/keys/export.key" },
      credentials: { nkeySeedFile: "secrets/export.nk" },
    });
    assert.deepEqual(config.tls, {
      caFile: "/srv/t/tls/ca.pem",
      certFile: "/srv/t/tls/export.pem",
      keyFile: "/keys/export.key",
    });
    assert.deepEqual(natsTlsOptions(config), {
      caFile: "/srv/t/tls/ca.pem",
      certFile: "/srv/t/tls/export.pem",
      keyFile: "/keys/export.key",
    });
    assert.deepEqual(config.credentials, { nkeySeedFile: "/srv/t/secrets/export.nk" });
    assert.deepEqual(jetstream({ tls: { caFile: "ca.pem" } }).tls, {
      caFile: "/srv/t/ca.pem",
      certFile: null,
      keyFile: null,
    });
    assert.deepEqual(jetstream({ credentials: { credsFile: "x.creds" } }).credentials, {
      credsFile: "/srv/t/x.creds",
    });
    assert.deepEqual(jetstream({ credentials: { user: "u", passwordFile: "p" } }).credentials, {
      user: "u",
      passwordFile: "/srv/t/p",
    });
  });

  it("refuses the TLS and credential fields the nats section refuses, naming events.jetstream", () => {
    const js = (security: Record<string, unknown>) => ({
      jetstream: { servers: ["tls://js:4222"], stream: "EV", ...security },
    });
    refused(js({ tsl: {} }), "events.jetstream.tsl");
    refused(js({ tls: [] }), "events.jetstream.tls");
    refused(js({ tls: { certFile: "c.pem" } }), "events.jetstream.tls");
    refused(js({ tls: { keyFile: "k.pem" } }), "events.jetstream.tls");
    refused(js({ tls: { caFile: "", verify: true } }), "events.jetstream.tls.verify");
    refused(js({ tls: { caFile: 7 } }), "events.jetstream.tls.caFile");
    refused(js({ credentials: {} }), "events.jetstream.credentials");
    refused(js({ credentials: { nkeySeedFile: "a", credsFile: "b" } }), "events.jetstream.credentials");
    refused(js({ credentials: { user: "u" } }), "events.jetstream.credentials.passwordFile");
    refused(js({ credentials: { password: "inline" } }), "events.jetstream.credentials.password");
  });

  it("reads the export's credential files, naming events.jetstream.credentials when one is wrong", () => {
    const dir = mkdtempSync(join(tmpdir(), "treaty-events-config-"));
    try {
      const read = (credentials: unknown) =>
        readNatsCredentials(
          events({ jetstream: { servers: ["nats://js"], stream: "EV", credentials } })!.jetstream!,
          "events.jetstream",
        );
      writeFileSync(join(dir, "password"), "s3cret\n");
      assert.deepEqual(read({ user: "exporter", passwordFile: join(dir, "password") }), {
        kind: "password",
        user: "exporter",
        password: "s3cret",
      });
      writeFileSync(join(dir, "wrong"), "not a seed\n");
      const fails = (credentials: unknown, message: string) =>
        assert.throws(
          () => read(credentials),
          (err: unknown) => isTreatyError(err, "MalformedRequest") && err.message.startsWith(message),
        );
      fails(
        { nkeySeedFile: join(dir, "wrong") },
        `config events.jetstream.credentials.nkeySeedFile: ${join(dir, "wrong")} does not hold an nkey user seed`,
      );
      fails(
        { credsFile: join(dir, "missing") },
        `config events.jetstream.credentials.credsFile: cannot read ${join(dir, "missing")}`,
      );
      writeFileSync(join(dir, "empty"), "\n");
      fails(
        { user: "u", passwordFile: join(dir, "empty") },
        `config events.jetstream.credentials.passwordFile: ${join(dir, "empty")} is empty`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
    refused({ jetstream: { servers: ["nats://js"], stream: "EV", sever: "x" } }, "events.jetstream.sever");
  });
});
