/**
 * docs/contracts.md ("Testing a constitution"): the default constitution under `treaty/testing`,
 * over seeded governance tables. Run it: `node dist/docs/examples/testing-constitution.js`
 * (prints validate's verdict, resolve's decision and whether apply succeeded).
 */
import { namedPublicKey } from "treaty/testing";
import { compileContract } from "../../runtime/compiler/index.js";

const compiled = compileContract("contracts/examples/log");
if (!compiled.ok) throw new Error("the log sample does not compile");
const { bundle } = compiled;
const source = { "index.ts": "..." };
const publicKey = namedPublicKey("app");

// #region constitution
import { member, seedGovernance, testConstitution } from "treaty/testing";
import constitution from "../../contracts/constitution/index.js";

const c = testConstitution(constitution);
seedGovernance(c.store, {
  members: { acme: { data: { name: "Acme" } }, bigco: {} }, // active members, id = name
  users: { dana: {} },
  contracts: { registry: { bundle, source } },              // digest computed, version 1
  limits: { executionBudget: 2_000_000 },
});
const proposal = { proposalId: "p1", proposer: "acme", actions: [{ name: "set_user", args: { publicKey } }] };
c.call("validate", { proposal }, { caller: member("acme") });             // {valid: true}
c.call("resolve", { proposal, ballots: { acme: "for", bigco: "for" } }, { caller: member("acme") }); // "Accepted"
c.call("apply", { proposal }, { caller: member("acme") });
// #endregion constitution

const show = (r: { ok: boolean; result?: unknown; error?: { code: string } }) =>
  JSON.stringify(r.ok ? r.result : r.error?.code);
console.log(show(c.call("validate", { proposal }, { caller: member("acme") })));
console.log(show(c.call("resolve", { proposal, ballots: { acme: "for", bigco: "for" } }, { caller: member("acme") })));
console.log(JSON.stringify(c.call("apply", { proposal }, { caller: member("acme") }).ok));
