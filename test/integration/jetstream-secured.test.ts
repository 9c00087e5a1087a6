/**
 * The JetStream export (node/events/jetstream.ts) to a secured nats-server: TLS with client
 * certificates (`verify: true`) and users that must authenticate (an nkey, a user and password),
 * as docs/deploy.md describes the consortium's cluster. The export's `events.jetstream.tls` and
 * `events.jetstream.credentials`, parsed from a config file's section as a node parses them
 * (relative paths resolved against the config's folder), reach the stream; a credential or a
 * client certificate the server refuses is logged naming the section's field, as the `nats`
 * section's failures are; a credential file that holds no seed fails the export's creation (the
 * node's start) naming the field.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createUser } from "@nats-io/nkeys";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, nkeyAuthenticator } from "@nats-io/transport-node";
import { parseConfig } from "../../node/config.js";
import type { JetStreamExportConfig } from "../../node/events/config.js";
import { WHOLE_TX } from "../../node/events/feed.js";
import { type ExportFeed, JetStreamExport, messageId } from "../../node/events/jetstream.js";
import type { CommittedEvent } from "../../node/events/record.js";
import { createLogger } from "../../node/log.js";
import { type NatsServer, startNatsServer } from "../../node/nats-server.js";
import { isTreatyError } from "../../sdk/errors.js";
import { createTestCa, type TestCa } from "../support/nats-pki.js";
import { until } from "../support/poll.js";

const PASSWORD = "exporter-secret";

/** The permissions of an export user publishing under `prefix`. */
function exportPermissions(prefix: string): string {
  return `{ publish: ["${prefix}.>", "$JS.API.>"], subscribe: ["_INBOX.>"] }`;
}

function event(seqno: number): CommittedEvent {
  return { txid: `2.${seqno}`, seqno, index: 0, contract: "board", name: "posted", data: { id: seqno } };
}

/** A committed feed of fixed events (every one committed from the start). */
function listFeed(events: readonly CommittedEvent[]): ExportFeed {
  return {
    read: (after, max) => {
      const rest = events.filter((e) => e.seqno > after.seqno).slice(0, max);
      const last = rest.at(-1);
      return { events: rest, cursor: last === undefined ? after : { seqno: last.seqno, index: WHOLE_TX } };
    },
    wait: (timeoutMs) => new Promise((resolve) => setTimeout(resolve, Math.min(timeoutMs, 50))),
    close: () => undefined,
  };
}

/** The export's warning lines, kept. */
function keptLogger(lines: string[]) {
  return createLogger({ level: "warn", write: (line) => void lines.push(line) });
}

describe("JetStream export to a NATS server with TLS client certificates and credentials", () => {
  let dir: string;
  let ca: TestCa;
  let server: NatsServer;
  let tap: NatsConnection;
  const exporterKey = createUser();
  const tapKey = createUser();
  let tlsUrl: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-jetstream-secured-"));
    ca = createTestCa(dir, "consortium");
    const serverCert = ca.issueServer("s0");
    server = await startNatsServer({
      jetstream: true,
      extraConfig: [
        "tls {",
        `  cert_file: ${JSON.stringify(serverCert.certFile)}`,
        `  key_file: ${JSON.stringify(serverCert.keyFile)}`,
        `  ca_file: ${JSON.stringify(ca.caFile)}`,
        "  verify: true",
        "}",
        // The account and the export's permissions docs/deploy.md documents ("The JetStream
        // export"): publish on its subject prefix and the JetStream API, subscribe on inboxes.
        "accounts {",
        "  EVENTS: { jetstream: enabled, users: [",
        `    { nkey: "${exporterKey.getPublicKey()}", permissions: ${exportPermissions("EV_NKEY")} }`,
        `    { user: "exporter", password: "${PASSWORD}", permissions: ${exportPermissions("EV_PASSWORD")} }`,
        `    { nkey: "${tapKey.getPublicKey()}" }`,
        "  ] }",
        "}",
      ].join("\n"),
    });
    tlsUrl = server.url.replace("nats://", "tls://");
    mkdirSync(join(dir, "secrets"), { mode: 0o700 });
    writeFileSync(join(dir, "secrets", "export.nk"), `${new TextDecoder().decode(exporterKey.getSeed())}\n`);
    writeFileSync(join(dir, "secrets", "wrong.nk"), `${new TextDecoder().decode(createUser().getSeed())}\n`);
    writeFileSync(join(dir, "secrets", "password"), `${PASSWORD}\n`);
    writeFileSync(join(dir, "secrets", "not-a-seed"), "hello\n");
    tap = await connect({
      servers: tlsUrl,
      tls: { caFile: ca.caFile, ...ca.issueClient("tap") },
      authenticator: nkeyAuthenticator(tapKey.getSeed()),
    });
  });

  after(async () => {
    await tap?.close();
    await server?.dispose();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** The `events.jetstream` section parsed from a config in `dir`, with paths relative to it. */
  function exportConfig(stream: string, section: Record<string, unknown>): JetStreamExportConfig {
    const events = parseConfig(
      {
        dataDir: "data",
        events: { jetstream: { servers: [tlsUrl], stream, subjectPrefix: stream, ...section } },
      },
      dir,
    ).events;
    return events!.jetstream!;
  }

  /** The client certificate `name`, as paths relative to `dir`. */
  function clientTls(issuer: TestCa, name: string) {
    const { certFile, keyFile } = issuer.issueClient(name);
    return { caFile: basename(ca.caFile), certFile: basename(certFile), keyFile: basename(keyFile) };
  }

  async function storedIds(stream: string): Promise<string[]> {
    const jsm = await jetstreamManager(tap);
    const info = await jsm.streams.info(stream);
    const ids: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++)
      ids.push((await jsm.streams.getMessage(stream, { seq }))?.header?.get("Nats-Msg-Id") ?? "");
    return ids;
  }

  for (const [name, credentials] of [
    ["an nkey seed", { nkeySeedFile: "secrets/export.nk" }],
    ["a user and password file", { user: "exporter", passwordFile: "secrets/password" }],
  ] as const) {
    it(`publishes every event over TLS with a client certificate and ${name}`, async () => {
      const stream = name.startsWith("an nkey") ? "EV_NKEY" : "EV_PASSWORD";
      const events = [event(1), event(2), event(4)];
      const warnings: string[] = [];
      const exporter = new JetStreamExport({
        config: exportConfig(stream, { tls: clientTls(ca, `exporter-${stream}`), credentials }),
        feed: listFeed(events),
        isLeader: () => true,
        logger: keptLogger(warnings),
      });
      exporter.start();
      try {
        // The export creates the stream (createStream defaults to true), then fills it.
        await until("every event in the stream", async () => {
          try {
            return (await storedIds(stream)).length === events.length;
          } catch {
            return false; // the stream does not exist yet
          }
        });
        assert.deepEqual(await storedIds(stream), events.map(messageId), "every event once, in order");
        assert.deepEqual(warnings, [], "no failure on the way");
      } finally {
        await exporter.stop();
      }
    });
  }

  /** The first line the export logs with `config` (then stopped): it must publish nothing. */
  async function firstRefusal(config: JetStreamExportConfig): Promise<string> {
    const warnings: string[] = [];
    const exporter = new JetStreamExport({
      config,
      feed: listFeed([event(1)]),
      isLeader: () => true,
      logger: keptLogger(warnings),
    });
    exporter.start();
    try {
      await until("the refusal to be logged", () => warnings.length > 0);
    } finally {
      await exporter.stop();
    }
    assert.equal(exporter.published, 0);
    return warnings[0]!;
  }

  it("a credential the server refuses is logged naming events.jetstream.credentials", async () => {
    const line = await firstRefusal(
      exportConfig("EV_WRONG_KEY", {
        tls: clientTls(ca, "exporter-wrong-key"),
        credentials: { nkeySeedFile: "secrets/wrong.nk" },
      }),
    );
    assert.match(
      line,
      /jetstream export failed; retrying.*events\.jetstream\.servers: cannot connect to tls:\/\/127\.0\.0\.1:\d+ \(.*Authorization Violation; check events\.jetstream\.credentials\)/,
    );
  });

  it("a client certificate from another CA is logged naming events.jetstream.tls", async () => {
    const rogue = createTestCa(dir, "rogue");
    const line = await firstRefusal(
      exportConfig("EV_ROGUE", {
        tls: clientTls(rogue, "intruder"),
        credentials: { nkeySeedFile: "secrets/export.nk" },
      }),
    );
    assert.match(
      line,
      /jetstream export failed; retrying.*events\.jetstream\.servers: cannot connect to tls:\/\/127\.0\.0\.1:\d+ \(.*check events\.jetstream\.tls\)/,
    );
  });

  it("a credential file that holds no nkey seed fails the export's creation, naming the field", () => {
    const config = exportConfig("EV_BAD_FILE", { credentials: { nkeySeedFile: "secrets/not-a-seed" } });
    assert.throws(
      () => new JetStreamExport({ config, feed: listFeed([]), isLeader: () => true, logger: keptLogger([]) }),
      (err: unknown) =>
        isTreatyError(err, "MalformedRequest") &&
        err.message.startsWith(
          `config events.jetstream.credentials.nkeySeedFile: ${join(dir, "secrets", "not-a-seed")} does not hold an nkey user seed`,
        ),
    );
  });
});
