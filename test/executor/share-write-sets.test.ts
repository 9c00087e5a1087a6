/**
 * RuntimeOptions.shareWriteSets: an outcome's write set holds the transaction's own arrays
 * (KvTx.writeSetView) when asked, fresh copies otherwise; the contents are the same.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ContractCall, ContractRuntime } from "../../runtime/executor.js";
import { KvStore } from "../../runtime/kv/store.js";
import type { KvTx } from "../../runtime/kv/types.js";
import { guestBundle } from "../sandbox/guest.js";
import { TEST_LIMITS } from "../sandbox/harness.js";

const CALL: ContractCall = {
  contract: "w",
  method: "write",
  args: {},
  caller: { id: "user-1", role: "user" },
  txid: "1.1",
  timeMs: 1_700_000_000_000,
  seed: new Uint8Array(32).fill(7),
};

async function writeOnce(shareWriteSets: boolean) {
  const runtime = await ContractRuntime.create({ limits: TEST_LIMITS, shareWriteSets });
  try {
    runtime.load(
      "w",
      guestBundle({ write: '(args, c, host) => { host.kvSet("m", "k", "1"); return null; }' }),
    );
    const tx: KvTx = KvStore.open(null).begin();
    const outcome = runtime.execute(CALL, tx);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const [key, value] = outcome.writeSet.private[0]!.writes[0]!;
    const [ownKey, ownValue] = tx.writeSetView!().private[0]!.writes[0]!;
    return { outcome, shared: key === ownKey && value === ownValue };
  } finally {
    runtime.dispose();
  }
}

describe("ContractRuntime shareWriteSets", () => {
  it("hands out the transaction's own arrays only when asked", async () => {
    const shared = await writeOnce(true);
    const copied = await writeOnce(false);
    assert.equal(shared.shared, true, "shareWriteSets: the tx's own arrays");
    assert.equal(copied.shared, false, "by default: copies");
    assert.deepEqual(shared.outcome.writeSet, copied.outcome.writeSet, "the same write set either way");
  });
});
