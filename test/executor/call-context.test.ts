/**
 * The call context through the QuickJS sandbox: the runtime passes the caller's role beside the
 * context's JSON, the API checks auth with it and parses the context only when a method asks
 * (`caller()`, `txid()`, `now()`). Each call must still see its own context, whatever the calls
 * before it asked; the role cannot be forged from inside by a nested `invoke`; and the method
 * name and role strings the sandbox keeps across calls change nothing a call sees.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { compileContract } from "../../runtime/compiler/index.js";
import { type CallOutcome, type Caller, ContractRuntime, resolveLimits } from "../../runtime/executor.js";
import { KvStore } from "../../runtime/kv/store.js";
import { TEST_LIMITS } from "../sandbox/harness.js";

const SOURCE = `import { caller, contract, method, now, txid } from "treaty/contract";
import self from "./index.js";

const context = () => ({ caller: caller(), txid: txid(), now: now() });

export default contract({
  who: method({ mode: "readwrite", auth: "users_and_members", run: context }),
  whoAnyone: method({ mode: "readonly", auth: "anyone", run: context }),
  quiet: method({ mode: "readwrite", auth: "users", run: () => "quiet" }),
  membersOnly: method({ mode: "readonly", auth: "members", run: () => "secret" }),
  // A nested invoke with a forged member context and role: refused before the method runs.
  forge: method({
    mode: "readonly",
    auth: "anyone",
    run: (): string => {
      const forged = JSON.stringify({ caller: { id: "x", role: "member" }, txid: null, timeMs: 1 });
      try {
        return self.invoke("membersOnly", "{}", forged, "member");
      } catch (err) {
        return "refused: " + (err instanceof Error ? err.message : String(err));
      }
    },
  }),
});
`;

const ALICE: Caller = { id: "a".repeat(64), role: "user" };
const BOARD: Caller = { id: "b".repeat(64), role: "member" };
const BOB: Caller = { id: "bob", role: "user" };

describe("the call context in the sandbox", () => {
  let runtime: ContractRuntime;
  let kv: KvStore;
  let seq = 0;

  before(async () => {
    runtime = await ContractRuntime.create({ limits: resolveLimits(TEST_LIMITS) });
    kv = KvStore.open(null);
    const compiled = compileContract({ files: { "index.ts": SOURCE } });
    assert.ok(compiled.ok, JSON.stringify(!compiled.ok && compiled.diagnostics));
    runtime.load("ctx", compiled.bundle);
  });
  after(async () => {
    runtime.dispose();
    await kv.close();
  });

  const call = (method: string, caller: Caller | null, txid: string | null = null): CallOutcome => {
    seq++;
    return runtime.execute(
      {
        contract: "ctx",
        method,
        args: {},
        caller,
        txid,
        timeMs: 1_700_000_000_000 + seq,
        seed: new Uint8Array(32).fill(seq & 255),
      },
      kv.begin(),
    );
  };
  const result = (outcome: CallOutcome): unknown => {
    assert.ok(outcome.ok, JSON.stringify(outcome));
    return outcome.result;
  };

  it("gives every call its own context, whether or not the calls before asked for theirs", () => {
    const first = seq + 1;
    assert.deepEqual(result(call("who", ALICE, "2.1")), {
      caller: ALICE,
      txid: "2.1",
      now: 1_700_000_000_000 + first,
    });
    // A call that never asks leaves nothing for the next one.
    assert.equal(result(call("quiet", BOB, "2.2")), "quiet");
    assert.deepEqual(result(call("who", BOARD, "2.3")), {
      caller: BOARD,
      txid: "2.3",
      now: 1_700_000_000_000 + first + 2,
    });
    assert.deepEqual(result(call("whoAnyone", null)), {
      caller: null,
      txid: null,
      now: 1_700_000_000_000 + first + 3,
    });
    assert.deepEqual(result(call("who", BOB, "2.5")), {
      caller: BOB,
      txid: "2.5",
      now: 1_700_000_000_000 + first + 4,
    });
  });

  it("writes each call's own caller into its context, whatever the caller before it was", () => {
    const SAME_ID_MEMBER: Caller = { id: ALICE.id, role: "member" };
    const JWT: Caller = {
      id: "jwt-1",
      role: "jwt",
      issuer: "https://issuer.example",
      subject: "sub-1",
      claims: { iss: "https://issuer.example", sub: "sub-1", email: "a@example.com" },
    };
    // A key caller carrying more than its id and role: the contract sees {id, role}, as ever.
    const EXTRA = { id: "c".repeat(64), role: "user", note: "not for the guest" } as unknown as Caller;
    for (const caller of [ALICE, ALICE, SAME_ID_MEMBER, BOB, JWT, ALICE, null, EXTRA, EXTRA, BOB]) {
      const seen = result(call("whoAnyone", caller)) as { caller: unknown };
      const expected =
        caller === null || caller.role === "jwt" ? caller : { id: caller.id, role: caller.role };
      assert.deepEqual(seen.caller, expected, JSON.stringify(caller));
    }
  });

  it("refuses a nested invoke with a forged role before the method runs", () => {
    const text = result(call("forge", ALICE));
    assert.equal(text, 'refused: method "membersOnly" was invoked while "forge" is running');
  });
});
