/**
 * A node whose own record in its committed governance state is `retired` refuses to start:
 * `TreatyNode.start` logs one `NodeRetired` line (level warn, the node id) and throws
 * `NodeRetired` (node/main.ts exits with `EXIT_RETIRED`). A node `retiring` starts as before, and
 * a serving node that finds itself retired keeps serving (its operator stops it). The records are
 * written by internal entries, as the leader's reaction writes them (node/gov/reactions.ts); the
 * cluster path (retire_node, stop, start again) is test/integration/retired-restart.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { publicWriteSet } from "../../node/genesis.js";
import { GOV, type NodeRecord, type NodeStatus } from "../../node/gov/tables.js";
import { createLogger } from "../../node/log.js";
import { NodeRetired } from "../../node/service.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("a node retired in its own committed state", () => {
  let net: TestNode;
  const lines: Record<string, unknown>[] = [];

  before(async () => {
    const logger = createLogger({
      level: "warn",
      write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    net = await startTestNode({ logger });
  });
  after(async () => {
    await net?.dispose();
  });

  /** Commits this node's own record with `status`, as the leader's reaction would. */
  const mark = async (status: NodeStatus) => {
    const { node } = net;
    const id = node.identity.id;
    const record: NodeRecord = { ...node.gov.node(id)!, status };
    const txid = await node.sequencer.appendInternal({
      kind: "internal",
      writeSet: publicWriteSet([{ map: GOV.nodes, key: id, value: record }]),
      meta: { timeMs: Date.now(), contract: null, method: "retired_node", callerId: null },
    });
    await net.client().waitForCommit(`${txid.view}.${txid.seqno}`);
    await net.settled();
    assert.equal(node.gov.node(id)?.status, status);
  };
  const retiredLines = () => lines.filter((l) => l.code === "NodeRetired");

  it("starts while retiring; refuses to start once retired", async () => {
    await net.settled();
    const id = net.node.identity.id;
    await mark("retiring");
    await net.restart();
    const before = await net.client().call("log", "writePublic", { id: 0, msg: "retiring, restarted" });
    await net.client().waitForCommit(before.txid);
    assert.deepEqual(retiredLines(), []);

    await mark("retired");
    // Serving when it learns it: it keeps running (and says nothing).
    assert.equal(net.node.lifecycle.serving, true);
    const { txid } = await net.client().call("log", "writePublic", { id: 1, msg: "still serving" });
    await net.client().waitForCommit(txid);
    assert.deepEqual(retiredLines(), []);

    await assert.rejects(net.restart(), (err) => err instanceof NodeRetired && err.nodeId === id);
    const logged = retiredLines();
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.level, "warn");
    assert.equal(logged[0]!.node, id);
    assert.equal(logged[0]!.source, "ledger");
  });
});
