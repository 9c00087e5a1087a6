/**
 * docs/contracts.md ("Testing without the sandbox"): the bank sample under `treaty/testing`.
 * Run it: `node dist/docs/examples/testing-bank.js` (prints the error code of the transfer).
 */
// #region testing
import { member, testContract, user } from "treaty/testing";
import bank, { accounts } from "../../contracts/examples/bank/index.js"; // export the maps you want to inspect

const c = testContract(bank, { name: "bank" });
c.call("openAccount", {}, { caller: user("alice") });
c.call("mint", { to: "alice", amount: 100 }, { caller: member("treasurer") });
const r = c.call("transfer", { to: "bob", amount: 5 }, { caller: user("alice") });
if (!r.ok) console.log(r.error.code); // "AccountNotFound"
c.map(accounts).get("alice"); // { balance: 100, openedAtMs: ... }, typed Account | undefined
c.map(accounts).set("bob", { balance: 7, openedAtMs: 0 }); // seed state, outside any call
// #endregion testing
console.log(JSON.stringify(c.map(accounts).get("alice")));
