import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import bank from "../../contracts/examples/bank/index.js";
import {
  type CallResult,
  member,
  type TestContract,
  testContract,
  user,
} from "../../contracts/testing/index.js";

const alice = { caller: user("alice") };
const bob = { caller: user("bob") };
const treasurer = { caller: member("treasurer") };

function code(result: CallResult): string | undefined {
  return result.ok ? undefined : result.error.code;
}

/** Sum of all balances and the recorded supply, read straight from the store. */
function ledger(c: TestContract): { sum: number; supply: number } {
  const sum = c.state
    .entries("accounts")
    .reduce((total, [, account]) => total + (account as { balance: number }).balance, 0);
  return { sum, supply: (c.state.get("supply", "total") as number | undefined) ?? 0 };
}

describe("sample: bank", () => {
  it("opens accounts, mints, transfers, and keeps balances private to their owners", () => {
    const c = testContract(bank, { name: "bank" });
    const opened = c.call("openAccount", {}, alice);
    assert.deepEqual(opened.ok && opened.result, { id: "alice" });
    assert.deepEqual(opened.events, [{ name: "accountOpened", data: { id: "alice" } }]);
    assert.ok(c.call("openAccount", {}, bob).ok);
    const minted = c.call("mint", { to: "alice", amount: 100 }, treasurer);
    assert.deepEqual(minted.ok && minted.result, { supply: 100 });
    const sent = c.call("transfer", { to: "bob", amount: 30, memo: "lunch" }, alice);
    assert.deepEqual(sent.ok && sent.result, { balance: 70 });
    assert.deepEqual(sent.events, [
      { name: "transfer", data: { from: "alice", to: "bob", amount: 30, memo: "lunch" } },
    ]);
    const mine = c.call("balance", {}, bob);
    assert.deepEqual(mine.ok && mine.result, { balance: 30 });
    const total = c.call("totalSupply", {}, treasurer);
    assert.deepEqual(total.ok && total.result, { supply: 100 });
    // No method reveals someone else's balance; members cannot use the users' balance method.
    assert.equal(code(c.call("balance", {}, treasurer)), "Forbidden");
    assert.equal(code(c.call("totalSupply", {}, alice)), "Forbidden");
  });

  it("refuses bad transfers with their own codes and writes nothing", () => {
    const c = testContract(bank, { name: "bank" });
    c.call("openAccount", {}, alice);
    c.call("openAccount", {}, bob);
    c.call("mint", { to: "alice", amount: 10 }, treasurer);
    const before = c.state.dump();
    const cases: Array<[CallResult, string]> = [
      [c.call("transfer", { to: "bob", amount: 11 }, alice), "InsufficientFunds"],
      [c.call("transfer", { to: "alice", amount: 1 }, alice), "SelfTransfer"],
      [c.call("transfer", { to: "carol", amount: 1 }, alice), "AccountNotFound"],
      [c.call("transfer", { to: "bob", amount: 1 }, { caller: user("carol") }), "AccountNotFound"],
      [c.call("transfer", { to: "bob", amount: 0 }, alice), "InvalidArgs"],
      [c.call("transfer", { to: "bob", amount: -5 }, alice), "InvalidArgs"],
      [c.call("transfer", { to: "bob", amount: 1.5 }, alice), "InvalidArgs"],
      [c.callJson("transfer", '{"to":"bob","amount":"ten"}', alice), "InvalidArgs"],
      [c.call("transfer", { to: "bob", amount: 1 }, treasurer), "Forbidden"],
      [c.call("openAccount", {}, alice), "AccountExists"],
      [c.call("mint", { to: "alice", amount: 1 }, alice), "Forbidden"],
      [c.call("mint", { to: "nobody", amount: 1 }, treasurer), "AccountNotFound"],
      [c.call("mint", { to: "alice", amount: Number.MAX_SAFE_INTEGER }, treasurer), "AmountTooLarge"],
    ];
    for (const [result, expected] of cases) assert.equal(code(result), expected);
    assert.deepEqual(c.state.dump(), before);
  });

  it("keeps the sum of balances equal to the total supply over random operation sequences", () => {
    const users = ["u0", "u1", "u2", "u3"];
    const who = fc.constantFrom(...users);
    const operation = fc.oneof(
      fc.record({ kind: fc.constant("open" as const), who }),
      fc.record({ kind: fc.constant("mint" as const), to: who, amount: fc.integer({ min: -5, max: 1000 }) }),
      fc.record({
        kind: fc.constant("transfer" as const),
        from: who,
        to: who,
        amount: fc.integer({ min: -5, max: 600 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 40 }), (operations) => {
        const c = testContract(bank, { name: "bank" });
        const model = new Map<string, number>();
        let supply = 0;
        for (const op of operations) {
          if (op.kind === "open") {
            const r = c.call("openAccount", {}, { caller: user(op.who) });
            assert.equal(code(r), model.has(op.who) ? "AccountExists" : undefined);
            if (!model.has(op.who)) model.set(op.who, 0);
          } else if (op.kind === "mint") {
            const r = c.call("mint", { to: op.to, amount: op.amount }, treasurer);
            const expected = op.amount < 1 ? "InvalidArgs" : model.has(op.to) ? undefined : "AccountNotFound";
            assert.equal(code(r), expected);
            if (expected === undefined) {
              model.set(op.to, model.get(op.to)! + op.amount);
              supply += op.amount;
            }
          } else {
            const r = c.call("transfer", { to: op.to, amount: op.amount }, { caller: user(op.from) });
            const expected =
              op.amount < 1
                ? "InvalidArgs"
                : op.from === op.to
                  ? "SelfTransfer"
                  : !model.has(op.from) || !model.has(op.to)
                    ? "AccountNotFound"
                    : model.get(op.from)! < op.amount
                      ? "InsufficientFunds"
                      : undefined;
            assert.equal(code(r), expected);
            if (expected === undefined) {
              model.set(op.from, model.get(op.from)! - op.amount);
              model.set(op.to, model.get(op.to)! + op.amount);
            }
          }
          const { sum, supply: recorded } = ledger(c);
          assert.equal(sum, recorded, "sum of balances == total supply");
          assert.equal(recorded, supply);
        }
        for (const [id, balance] of model) {
          const r = c.call("balance", {}, { caller: user(id) });
          assert.deepEqual(r.ok && r.result, { balance });
        }
      }),
      { numRuns: 150 },
    );
  });
});
