/**
 * A refused membership change leaves no trace. A joiner asks to become a voter while it is still
 * a learner (the leader refuses with Unavailable until it has caught up), typically many times
 * during one join: the leader must refuse before it stages the configuration entry, not append it
 * to the ledger and apply its write, then truncate and roll back (where a `latest` read could
 * have seen a configuration that never was).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { isTreatyError } from "../../sdk/errors.js";
import { publicWriteSet } from "../../node/genesis.js";
import { CONFIG_KEY, CONFIG_MAP } from "../../node/replica.js";
import type { TransactionInput } from "../../runtime/ledger/ledger.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("a membership change the consensus core refuses", () => {
  let net: TestNode;

  before(async () => {
    net = await startTestNode();
  });
  after(async () => {
    await net?.dispose();
  });

  it("is refused before its entry is staged: nothing appended, truncated or rolled back", async () => {
    const { ledger, sequencer, replica } = net.node;
    await net.settled();
    // Watch the real ledger: the configuration entry's appends, and every truncation.
    const staged: number[] = [];
    const truncated: number[] = [];
    const append = ledger.appendTransaction.bind(ledger);
    const truncate = ledger.truncate.bind(ledger);
    ledger.appendTransaction = (view, tx) => {
      const record = append(view, tx);
      if (tx.meta?.method === "add_node") staged.push(record.seqno);
      return record;
    };
    ledger.truncate = (fromSeqno) => {
      truncated.push(fromSeqno);
      truncate(fromSeqno);
    };
    const joiner = "f".repeat(64);
    const config = replica.consensus.status().config ?? [];
    const input: TransactionInput = {
      kind: "internal",
      writeSet: publicWriteSet([{ map: CONFIG_MAP, key: CONFIG_KEY, value: [...config, joiner].sort() }]),
      meta: { timeMs: Date.now(), contract: null, method: "add_node", callerId: null },
    };
    try {
      await assert.rejects(
        sequencer.changeMembership({ add: joiner }, input),
        (e) => isTreatyError(e, "Unavailable") && /learner/.test(e.message),
      );
    } finally {
      ledger.appendTransaction = append;
      ledger.truncate = truncate;
    }
    assert.deepEqual(staged, [], "no configuration entry was appended");
    assert.deepEqual(truncated, [], "nothing was truncated");
    // The refusal did its one job: the joiner is now a learner the leader replicates to.
    assert.deepEqual(replica.consensus.status().learners, [joiner]);
    assert.deepEqual(replica.consensus.status().config, config);
    // The node goes on: a write commits.
    const { txid } = await net.client().call("log", "writePublic", { id: 1, msg: "after" });
    await net.client().waitForCommit(txid);
  });
});
