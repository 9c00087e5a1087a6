/**
 * Committed events over real processes and real nats-servers (issue 14): a 3-node network runs
 * the docs' `board` contract, whose `posted` event is declared public, with the JetStream export
 * on. Under a stream of writes the leader is killed (SIGKILL) and restarted. Then:
 *
 * - a client iterating `watchEvents` over every node (connected to the leader first, so the kill
 *   cuts its stream) has seen exactly the committed sequence: every acknowledged write's event,
 *   in commit order, no gap, no duplicate; the committed sequence is read back afterwards from
 *   the ledger of another node (`after=0`);
 * - a JetStream consumer of the export stream receives every committed event exactly once, in the
 *   same order, with the position as `Nats-Msg-Id` (the new leader resumed from the stream);
 * - the undeclared `drafted` event is returned to its caller and appears in neither.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { consumeAndProve } from "../../docs/examples/integration.js";
import { type StreamedEvent, watchEvents } from "../../sdk/events.js";
import { type NatsServer, startNatsServer } from "../../node/nats-server.js";
import { type Cluster, startCluster } from "../support/cluster.js";

const STREAM = "TREATY_EVENTS";
const BOARD = [{ name: "board", path: "docs/examples/board" }];

describe("committed events across a leader kill", () => {
  let js: NatsServer;
  let cluster: Cluster;

  before(async () => {
    js = await startNatsServer({ jetstream: true });
    cluster = await startCluster({
      nodes: 3,
      contracts: BOARD,
      extraConfig: { events: { jetstream: { servers: [js.url], stream: STREAM, subjectPrefix: "board" } } },
    });
  });
  after(async () => {
    await cluster?.dispose();
    await js?.dispose();
  });

  it("streams every committed event once, in order, to a resuming client and to JetStream", async () => {
    const leader = await cluster.waitForLeader();
    const others = cluster.nodes.filter((n) => n !== leader);
    const stop = new AbortController();
    const seen: StreamedEvent[] = [];
    const watching = (async () => {
      for await (const event of watchEvents({
        nodes: [leader.url, ...others.map((n) => n.url)],
        after: "0",
        signal: stop.signal,
        retryMs: 50,
      })) {
        seen.push(event);
      }
    })();

    const client = cluster.client();
    const acknowledged: string[] = [];
    let id = 0;
    const write = async () => {
      const n = id++;
      const answer = await client.call("board", "post", { id: n, text: `notice ${n}`, draft: "secret" });
      assert.deepEqual(
        answer.events.map((e) => e.name),
        ["posted", "drafted"],
        "the caller gets both events",
      );
      await client.waitForCommit(answer.txid);
      acknowledged.push(answer.txid);
    };
    for (let i = 0; i < 15; i++) await write();
    await cluster.waitFor("the watcher to see the first events", async () =>
      seen.length >= 15 ? true : undefined,
    );
    await leader.kill();
    await cluster.waitForLeader({ exclude: [leader] });
    for (let i = 0; i < 15; i++) await write();
    await leader.start();
    for (let i = 0; i < 10; i++) await write();
    await cluster.waitForConvergence();

    // The committed sequence, read back from one node's ledger.
    const truth: StreamedEvent[] = [];
    const reader = new AbortController();
    for await (const event of watchEvents({ nodes: [others[0]!.url], after: "0", signal: reader.signal })) {
      truth.push(event);
      if (truth.length === id) reader.abort();
    }
    assert.equal(truth.length, id, "one posted event per committed write");
    assert.ok(
      truth.every((e) => e.contract === "board" && e.name === "posted"),
      "only the public event",
    );
    const truthIds = truth.map((e) => e.id);
    assert.equal(new Set(truthIds).size, truthIds.length, "no position twice");
    for (const txid of acknowledged) assert.ok(truthIds.includes(`${txid}/0`), `event of ${txid} is there`);

    await cluster.waitFor("the watcher to catch up", async () =>
      seen.length >= truth.length ? true : undefined,
    );
    stop.abort();
    await watching;
    assert.deepEqual(
      seen.map((e) => e.id),
      truthIds,
      "the resuming client saw the committed sequence: no gap, no duplicate",
    );
    assert.deepEqual(seen[0]!.data, { id: 0, text: "notice 0" });

    // JetStream: every committed event exactly once after dedup, in commit order.
    const nc = await connect({ servers: js.url });
    try {
      const consumer = await jetstream(nc).consumers.get(STREAM);
      const received: { id: string; subject: string; payload: StreamedEvent }[] = [];
      const deadline = Date.now() + 30_000;
      while (received.length < truth.length && Date.now() < deadline) {
        const batch = await consumer.fetch({ max_messages: 100, expires: 1000 });
        for await (const m of batch) {
          received.push({
            id: m.headers?.get("Nats-Msg-Id") ?? "",
            subject: m.subject,
            payload: JSON.parse(utf8.decode(m.data)) as StreamedEvent,
          });
        }
      }
      assert.deepEqual(
        received.map((r) => r.id),
        truthIds,
        "the JetStream stream holds each committed event once, in commit order",
      );
      assert.equal(received[0]!.subject, "board.board.posted");
      assert.deepEqual(received[0]!.payload.data, { id: 0, text: "notice 0" });
      const info = await (await import("@nats-io/jetstream"))
        .jetstreamManager(nc)
        .then((m) => m.streams.info(STREAM));
      assert.equal(info.state.messages, truth.length, "no extra message in the stream");
    } finally {
      await nc.close();
    }

    // docs/integration.md: the outside consumer proves every event's transaction offline.
    const proved = await quietly(() =>
      consumeAndProve(js.url, STREAM, others[0]!.url, toHex(cluster.serviceKey.publicKey), truth.length),
    );
    assert.deepEqual(
      proved.map((p) => p.id),
      truthIds,
    );
    assert.ok(proved.every((p) => /^\d+\.\d+$/.test(p.signedBy)));
  });
});

/** Runs `body` with console.log silenced (the docs example prints each event). */
async function quietly<T>(body: () => Promise<T>): Promise<T> {
  const original = console.log;
  console.log = () => undefined;
  try {
    return await body();
  } finally {
    console.log = original;
  }
}
