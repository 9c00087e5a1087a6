/**
 * The JetStream export (node/events/jetstream.ts) against a real nats-server with JetStream: the
 * stream holds every committed public event once, in commit order, and never an event after a
 * missing one (docs/integration.md, "JetStream export"). Here the stream, created by the
 * operator with a `max_msg_size`, refuses one large event in the middle of a pipelined batch:
 * the export must stop at it (no later event stored) and carry on once the operator raises the
 * limit, rather than resume after the later events and skip it for good. And a deposed leader
 * that still publishes, having learnt of commits late, adds nothing to the stream, even after the
 * stream's duplicate window has passed.
 *
 * The feed is a list of events (the exporter reads any `ExportFeed`); the publishing, the stream
 * and its checks are real.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { EventCursor } from "../../node/events/feed.js";
import { WHOLE_TX } from "../../node/events/feed.js";
import { type ExportFeed, JetStreamExport, messageId } from "../../node/events/jetstream.js";
import type { CommittedEvent } from "../../node/events/record.js";
import { createLogger } from "../../node/log.js";
import { type NatsServer, startNatsServer } from "../../node/nats-server.js";
import { until } from "../support/poll.js";

const STREAM = "TREATY_EVENTS";
const STALE_STREAM = "TREATY_EVENTS_STALE";
const PREFIX = "board";
const MAX_MSG_SIZE = 512;
/** No TLS, no credentials: a loopback server (test/integration/jetstream-secured.test.ts secures one). */
const PLAIN = { tls: null, credentials: null } as const;

/** A committed feed of fixed events, one per seqno from 1, read as EventFeed reads. */
function listFeed(events: readonly CommittedEvent[]): ExportFeed {
  return {
    read(after: EventCursor, max: number) {
      const rest = events.filter(
        (e) => e.seqno > after.seqno || (e.seqno === after.seqno && e.index > after.index),
      );
      const taken = rest.slice(0, max);
      const last = taken.at(-1);
      return {
        events: taken,
        cursor:
          last === undefined
            ? after
            : { seqno: last.seqno, index: taken.length < max ? WHOLE_TX : last.index },
      };
    },
    wait: (timeoutMs: number) => new Promise((resolve) => setTimeout(resolve, Math.min(timeoutMs, 50))),
    close: () => undefined,
  };
}

/** A logger that keeps its lines (warnings and up) in `lines`. */
function keptLogger(lines: string[]) {
  return createLogger({
    level: "warn",
    write: (line) => {
      lines.push(line);
    },
  });
}

/** The `Nats-Msg-Id` of every message in `stream`, in stream order. */
async function storedIds(nc: NatsConnection, stream: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const ids: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    ids.push(m?.header?.get("Nats-Msg-Id") ?? "");
  }
  return ids;
}

function event(seqno: number, text: string): CommittedEvent {
  return {
    txid: `2.${seqno}`,
    seqno,
    index: 0,
    contract: "board",
    name: "posted",
    data: { id: seqno, text },
  };
}

describe("JetStream export: each committed event once, in order, never a gap", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  before(async () => {
    server = await startNatsServer({ jetstream: true });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.dispose();
  });

  it("stops the export at it, never storing a later event, and resumes at it once accepted", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: STREAM, subjects: [`${PREFIX}.>`], max_msg_size: MAX_MSG_SIZE });
    const events = [
      event(3, "first"),
      event(5, "x".repeat(2 * MAX_MSG_SIZE)), // over the stream's max_msg_size
      event(6, "third"),
      event(9, "fourth"),
    ];
    const warnings: string[] = [];
    const exporter = new JetStreamExport({
      config: { ...PLAIN, servers: [server.url], stream: STREAM, subjectPrefix: PREFIX, createStream: false },
      feed: listFeed(events),
      isLeader: () => true,
      logger: keptLogger(warnings),
    });
    exporter.start();
    try {
      // The export tried the batch and the stream refused the large event (logged, retried).
      await until("the export to be refused", () => warnings.length >= 2);
      assert.deepEqual(
        await storedIds(nc, STREAM),
        [messageId(events[0]!)],
        "the stream holds the events before the refused one, and none after it",
      );

      // The operator lifts the limit: the export resumes at the refused event.
      const info = await jsm.streams.info(STREAM);
      await jsm.streams.update(STREAM, { ...info.config, max_msg_size: -1 });
      await until(
        "the export to reach the last event",
        async () => (await storedIds(nc, STREAM)).length === events.length,
      );
      assert.deepEqual(
        await storedIds(nc, STREAM),
        events.map(messageId),
        "every event once, in commit order",
      );
    } finally {
      await exporter.stop();
    }
  });

  it("a deposed leader learning of commits late adds nothing, even past the duplicate window", async () => {
    const jsm = await jetstreamManager(nc);
    // A short duplicate window: what keeps the stream exact must not be the deduplication.
    await jsm.streams.add({ name: STALE_STREAM, subjects: ["stale.>"], duplicate_window: 200 * 1e6 });
    const committed = [event(1, "a"), event(2, "b"), event(4, "c"), event(7, "d")];
    const config = {
      servers: [server.url],
      stream: STALE_STREAM,
      subjectPrefix: "stale",
      createStream: false,
      ...PLAIN,
    };
    // The old leader has seen the commits up to seqno 2 only; it keeps believing it leads.
    const oldFeed = committed.slice(0, 2);
    const oldWarnings: string[] = [];
    const old = new JetStreamExport({
      config,
      feed: listFeed(oldFeed),
      isLeader: () => true,
      logger: keptLogger(oldWarnings),
    });
    const newer = new JetStreamExport({
      config,
      feed: listFeed(committed),
      isLeader: () => true,
      logger: keptLogger([]),
    });
    try {
      old.start();
      await until("the old leader's events", async () => (await storedIds(nc, STALE_STREAM)).length === 2);
      newer.start();
      await until("the new leader's events", async () => (await storedIds(nc, STALE_STREAM)).length === 4);
      await new Promise((resolve) => setTimeout(resolve, 400)); // past the duplicate window
      oldFeed.push(...committed.slice(2)); // the old leader learns of the later commits
      await until(
        "the old leader to publish or be refused",
        () => old.published > 2 || oldWarnings.length > 0,
      );
      assert.deepEqual(
        await storedIds(nc, STALE_STREAM),
        committed.map(messageId),
        "every event once, in commit order",
      );
    } finally {
      await old.stop();
      await newer.stop();
    }
  });

  it("publishes each segment of a name as a subject token, and a name with empty segments (an older version's) with each written _", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "TREATY_EVENTS_NAMES", subjects: ["names.>"] });
    // `emit` refuses "a..b" and "a." now (EVENT_NAME); a ledger written before may hold them.
    const events = [
      { ...event(1, "a"), name: "order.created" },
      { ...event(2, "b"), name: "a..b" },
      { ...event(3, "c"), name: "a." },
      event(4, "d"),
    ];
    const exporter = new JetStreamExport({
      config: {
        servers: [server.url],
        stream: "TREATY_EVENTS_NAMES",
        subjectPrefix: "names",
        createStream: false,
        ...PLAIN,
      },
      feed: listFeed(events),
      isLeader: () => true,
      logger: keptLogger([]),
    });
    try {
      exporter.start();
      await until(
        "every event stored",
        async () => (await storedIds(nc, "TREATY_EVENTS_NAMES")).length === 4,
      );
      assert.deepEqual(await storedIds(nc, "TREATY_EVENTS_NAMES"), events.map(messageId));
      const subjects: string[] = [];
      for (let seq = 1; seq <= 4; seq++)
        subjects.push((await jsm.streams.getMessage("TREATY_EVENTS_NAMES", { seq }))!.subject);
      assert.deepEqual(subjects, [
        "names.board.order.created",
        "names.board.a._.b",
        "names.board.a._",
        "names.board.posted",
      ]);
      const payload = (await jsm.streams.getMessage("TREATY_EVENTS_NAMES", { seq: 2 }))!.json<{
        name: string;
      }>();
      assert.equal(payload.name, "a..b", "the payload keeps the exact name");
    } finally {
      await exporter.stop();
    }
  });

  it("a purged stream is taken as new: republished events inside the duplicate window are dropped", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "TREATY_EVENTS_PURGED", subjects: ["purged.>"] });
    const config = {
      servers: [server.url],
      stream: "TREATY_EVENTS_PURGED",
      subjectPrefix: "purged",
      createStream: false,
      ...PLAIN,
    };
    const committed = [event(1, "a"), event(2, "b"), event(3, "c")];
    const first = new JetStreamExport({
      config,
      feed: listFeed(committed),
      isLeader: () => true,
      logger: keptLogger([]),
    });
    first.start();
    await until("the first events", async () => (await storedIds(nc, "TREATY_EVENTS_PURGED")).length === 3);
    await first.stop();
    await jsm.streams.purge("TREATY_EVENTS_PURGED");

    // The next leader finds the stream empty: it publishes from the start, all duplicates, then on.
    const next = new JetStreamExport({
      config,
      feed: listFeed(committed),
      isLeader: () => true,
      logger: keptLogger([]),
    });
    try {
      next.start();
      await until("the republished duplicates", () => next.published >= 3);
      committed.push(event(5, "d"));
      await until("the next event", async () => (await storedIds(nc, "TREATY_EVENTS_PURGED")).length === 1);
      assert.deepEqual(await storedIds(nc, "TREATY_EVENTS_PURGED"), [messageId(committed[3]!)]);
      assert.equal(next.published, 4, "each event published once by this leader");
    } finally {
      await next.stop();
    }
  });
});
