/**
 * The leader's choice to record signed calls in the legacy nonce maps too (while a node of the
 * previous version may lead: node/execution/nonces.ts `legacyNonceReaders`) follows the node
 * records as governance changes them, through the executed path: a constitution's action that
 * writes `public:gov.nodes` in the same engine, with no restart and no applied write set between.
 * (Applies, rollbacks and installs: test/execution/nonce-upgrade.test.ts.)
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { INTERNAL } from "../../node/gov/tables.js";
import { GovScenario } from "./scenario.js";

describe("legacy nonce rows follow governance's node records", () => {
  test("an executed retire_node that retires an old node stops them; an old node's join starts them", async () => {
    const s = await GovScenario.create();
    const legacyRows = () => s.engine.scan(INTERNAL.nonces).length;
    const run = async (line: string, expected: string[] = ["ok"]) =>
      assert.deepEqual(await s.run(line), expected, line);
    try {
      await run("genesis members=m0 users=u0 contracts=counter:counter-v1 open");
      await run(`call u0 counter add {"by": 1}`, ["result 1"]);
      assert.equal(legacyRows(), 0, "the founder announces: one row per call");
      // A node of the previous version asks to join (the join path's internal entry, applied).
      await run("node n1 pending mB old");
      await run(`call u0 counter add {"by": 1}`, ["result 2"]);
      assert.equal(legacyRows(), 1, "a pending old node may be trusted and lead");
      // Trusted (executed), with a constitution that retires at once.
      await run(
        `propose m0 [{"name": "add_node_code", "args": {"measurement": "code:mB"}}, {"name": "trust_node", "args": {"id": "id:n1"}}, {"name": "set_constitution", "args": {"files": "files:constitution/retire-at-once"}}]`,
        ["p1 Open"],
      );
      await run("vote m0 p1 for", ["p1 Accepted"]);
      const afterTrust = legacyRows();
      assert.equal(afterTrust, 3, "the propose and the vote recorded theirs too");
      await run(`propose m0 {"name": "retire_node", "args": {"id": "id:n1"}}`, ["p2 Open"]);
      // The vote's own nonce is checked before its action retires n1: still both layouts.
      await run("vote m0 p2 for", ["p2 Accepted"]);
      assert.deepEqual(await s.run("nodes"), ["n0 trusted mA", "n1 retired mB"]);
      assert.equal(legacyRows(), afterTrust + 2);
      await run(`call u0 counter add {"by": 1}`, ["result 3"]);
      assert.equal(legacyRows(), afterTrust + 2, "every record left announces: one row per call again");
    } finally {
      await s.close();
    }
  });
});
