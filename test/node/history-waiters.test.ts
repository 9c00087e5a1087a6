/**
 * Historical queries waiting for the history engine (node/history/) do not leave their polls
 * behind: a query that waits for a state the engine has not reached, on a node that commits
 * nothing meanwhile, holds at most its current poll and none once it gives up.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTreatyError } from "../../sdk/errors.js";
import { Ledger } from "../../runtime/ledger/ledger.js";
import { MemoryLedgerStore } from "../../runtime/ledger/store.js";
import { HistoryReads } from "../../node/history/index.js";
import { silentLogger } from "../../node/log.js";

describe("historical query waiters", () => {
  it("a query that gives up (Unavailable) leaves no waiter behind", async () => {
    const history = new HistoryReads({
      ledger: Ledger.open({ store: new MemoryLedgerStore() }),
      windowEntries: 10,
      contracts: () => new Map(),
      logger: silentLogger,
    });
    try {
      const call = {
        contract: "log",
        method: "readPublic",
        args: {},
        caller: null,
        nonce: null,
        timeMs: 1,
        seed: new Uint8Array(16),
      };
      const query = history.read(call, 5).then(
        () => undefined,
        (err: unknown) => err,
      );
      let most = 0;
      const watch = setInterval(() => {
        most = Math.max(most, history.waiting);
      }, 250);
      const err = await query;
      clearInterval(watch);
      assert.ok(isTreatyError(err, "Unavailable"), String(err));
      assert.equal(history.waiting, 0);
      assert.ok(most <= 1, `waiters while one query polled: ${most}`);
    } finally {
      await history.close();
    }
  });
});
