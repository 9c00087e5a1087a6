/**
 * treaty/contract keeps no state between calls: its modules are instantiated once per sandbox
 * and shared by all calls, so anything they cached would survive. Anonymous calls that each make
 * the API compile a fresh pattern must not fill the heap: a user's call still succeeds after
 * many of them (before the fix, the pattern cache grew until every call failed MemoryLimit).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { compileContract, findPackageRoot } from "../../runtime/compiler/index.js";
import { type Caller, ContractRuntime, resolveLimits } from "../../runtime/executor.js";
import { KvStore } from "../../runtime/kv/store.js";
import { MIN_HEAP_BYTES } from "../../runtime/sandbox/limits.js";

const USER: Caller = { id: "alice", role: "user" };

describe("the authoring API is stateless across calls", () => {
  let runtime: ContractRuntime;
  let kv: KvStore;
  let seq = 0;

  before(async () => {
    // The smallest heap: a few megabytes of leftover patterns would exhaust it.
    runtime = await ContractRuntime.create({
      limits: resolveLimits({ heapBytes: MIN_HEAP_BYTES, executionBudget: 50_000_000, wallClockMs: 10_000 }),
    });
    kv = KvStore.open(null);
    const compiled = compileContract(join(findPackageRoot(), "test/fixtures/contracts/api-abuse"));
    assert.ok(compiled.ok);
    runtime.load("abuse", compiled.bundle);
  });
  after(async () => {
    runtime.dispose();
    await kv.close();
  });

  const call = (method: string, args: unknown, caller: Caller | null) => {
    seq++;
    return runtime.execute(
      {
        contract: "abuse",
        method,
        args,
        caller,
        txid: null,
        timeMs: 1_700_000_000_000,
        seed: new Uint8Array(32).fill(seq & 255),
      },
      kv.begin(),
    );
  };

  it("a user's call succeeds after 200 anonymous calls with distinct 40 KB patterns", () => {
    const body = "a".repeat(40_000);
    for (let i = 0; i < 200; i++) {
      const outcome = call("match", { pattern: `^(?:${i}|${body})$`, value: String(i) }, null);
      assert.ok(outcome.ok, `anonymous call ${i}: ${JSON.stringify(outcome)}`);
      assert.equal(outcome.result, true);
    }
    const user = call("match", { pattern: "^b+$", value: "bbb" }, USER);
    assert.ok(user.ok, JSON.stringify(user));
    assert.equal(user.result, true);
    const ok = call("ok", {}, USER);
    assert.deepEqual(ok.ok && ok.result, "ok");
  });
});
