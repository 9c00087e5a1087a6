/**
 * Historical queries after a restart start from a snapshot (node/history/): the history engine
 * installs the newest kept snapshot at or below its window instead of replaying from seqno 1, and
 * answers old-state reads inside the window exactly as before the restart.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { isTreatyError } from "../../sdk/errors.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { until } from "../support/poll.js";

const WINDOW = 30;

describe("historical queries start from a snapshot after a restart", () => {
  let net: TestNode;
  const writes: string[] = [];
  before(async () => {
    net = await startTestNode({
      history: { windowEntries: WINDOW },
      snapshots: { everyEntries: 40, everyMs: 3_600_000 },
    });
    for (let i = 0; i < 70; i++) {
      const { txid } = await net.client().call("log", "writePublic", { id: 1, msg: `version ${i}` });
      writes.push(txid!);
    }
    await net.client().waitForCommit(writes.at(-1)!);
    await net.settled();
    await until("a usable snapshot", () => (net.node.snapshots.latest()?.seqno ?? 0) >= 40);
    await net.restart();
  });
  after(() => net?.dispose());

  it("reads states in the window after the restart, the engine having started at a snapshot", async () => {
    const client = net.client();
    const read = async (i: number) => {
      const answer = await client.call<{ msg: string }>("log", "readPublic", { id: 1 }, { at: writes[i]! });
      assert.deepEqual(answer.result, { msg: `version ${i}` });
    };
    await read(69);
    const started = net.node.history.startedAt;
    assert.ok(started > 0, "the history engine started from a snapshot, not seqno 1");
    // Another write above the snapshot it started from: the newest but one, as the window keeps
    // moving with every signature appended after the restart (how many decides which writes
    // are still in it, so a lower one could fall out before it is read).
    const seqnoOf = (txid: string) => Number(txid.split(".")[1]);
    const inWindow = seqnoOf(writes[68]!) > started ? 68 : -1;
    assert.ok(inWindow >= 0 && inWindow < 69, `a write other than the last one lies above seqno ${started}`);
    await read(inWindow);
    assert.ok(
      started <= net.node.replica.consensus.status().commitSeqno - WINDOW ||
        started === net.node.ledger.base?.seqno,
    );
    // Before the snapshot it started from, the state is not rebuilt: refused, coded.
    const old = await client.call("log", "readPublic", { id: 1 }, { at: writes[0]! }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(isTreatyError(old, "HistoryUnavailable"), String(old));
  });
});
