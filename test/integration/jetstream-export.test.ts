/**
 * The JetStream export (node/events/jetstream.ts) against a real nats-server with JetStream: the
 * stream holds every committed public event once, in commit order, and never an event after a
 * missing one (docs/integration.md, "JetStream export"). Here the stream, created by the
 * operator with a `max_msg_size`, refuses one large event in the middle of a pipelined batch:
 * the export must stop at it (no later event stored) and carry on once the operator raises the
 * limit, rather than resume after the later events and skip it for good.
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
const PREFIX = "board";
const MAX_MSG_SIZE = 512;

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

describe("JetStream export: a refused event", () => {
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
      config: { servers: [server.url], stream: STREAM, subjectPrefix: PREFIX, createStream: false },
      feed: listFeed(events),
      isLeader: () => true,
      logger: createLogger({
        level: "warn",
        write: (line) => {
          warnings.push(line);
        },
      }),
    });
    const storedIds = async (): Promise<string[]> => {
      const info = await jsm.streams.info(STREAM);
      const ids: string[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(STREAM, { seq });
        ids.push(m?.header?.get("Nats-Msg-Id") ?? "");
      }
      return ids;
    };
    exporter.start();
    try {
      // The export tried the batch and the stream refused the large event (logged, retried).
      await until("the export to be refused", () => warnings.length >= 2);
      assert.deepEqual(
        await storedIds(),
        [messageId(events[0]!)],
        "the stream holds the events before the refused one, and none after it",
      );

      // The operator lifts the limit: the export resumes at the refused event.
      const info = await jsm.streams.info(STREAM);
      await jsm.streams.update(STREAM, { ...info.config, max_msg_size: -1 });
      await until(
        "the export to reach the last event",
        async () => (await storedIds()).length === events.length,
      );
      assert.deepEqual(await storedIds(), events.map(messageId), "every event once, in commit order");
    } finally {
      await exporter.stop();
    }
  });
});
