/**
 * `Snapshots.inFlight` (the `treaty_snapshot_in_flight` gauge bench:network waits on before each
 * write run): a snapshot counts from the moment its point's commit starts it until its body is
 * read and its file written, and the count returns to 0 once the work is done.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type logContract from "../../contracts/examples/log/index.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { until } from "../support/poll.js";

describe("Snapshots.inFlight", () => {
  let net: TestNode;
  before(async () => {
    net = await startTestNode({ snapshots: { everyEntries: 20 } });
  });
  after(async () => {
    await net?.dispose();
  });

  it("counts a snapshot from its start until its file is written, then 0", async () => {
    const snapshots = net.node.snapshots;
    // Seen just after each commit hands the range to the snapshot port: a snapshot started there
    // is in progress at once (its KV read has only been asked for).
    const seen: number[] = [];
    const original = snapshots.beforeCommit.bind(snapshots);
    snapshots.beforeCommit = (from: number, to: number) => {
      original(from, to);
      seen.push(snapshots.inFlight());
    };
    const log = net.client().contract<typeof logContract>("log");
    for (let id = 1; id <= 30; id++) await log.writePublic({ id, msg: `message ${id}` });
    await net.settled();
    await until("a usable snapshot", () => snapshots.latestSeqno() > 0);
    assert.ok(
      seen.some((n) => n > 0),
      `a snapshot was in progress after the commit that started it (seen ${seen.join(",")})`,
    );
    // The node goes on signing, so another point may start a snapshot at any time: wait for a
    // moment with none in progress, as the gauge shows it.
    await snapshots.settled();
    await until("the gauge shows no snapshot work in progress", async () =>
      /^treaty_snapshot_in_flight 0$/m.test(await (await fetch(`${net.url}/node/metrics`)).text()),
    );
  });
});
