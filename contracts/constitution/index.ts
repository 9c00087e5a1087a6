/**
 * The default constitution: the rules members govern the service by. The node loads it
 * privileged under the reserved name `gov` (its maps are the governance tables `public:gov.*`)
 * and calls its three entry points, each with the authority the host grants it:
 *
 * - `validate({proposal})` (no state access): is every action known and well formed? Returns
 *   `{valid: true}` or `{valid: false, description}` naming the field
 *   (`actions[0].args.publicKey: ...`); the node refuses the proposal with ProposalInvalid.
 * - `resolve({proposal, ballots})` (read-only): "Open", "Accepted" or "Rejected". The rule: a
 *   strict majority of the active members voted for → Accepted; so many voted against that a
 *   majority can no longer be reached → Rejected. Ballots of non-members are not counted.
 * - `apply({proposal})` (read-write): carries out every action, in order (actions.ts). The node
 *   runs it in the transaction of the deciding ballot; if it throws, the node discards its writes
 *   and records the proposal Failed.
 *
 * `proposal` is `{proposalId, proposer, actions: [{name, args}]}`; in `apply`, actions that carry
 * files also have `code: {digest, bundle}`, compiled by the node when the proposal arrived.
 *
 * To write another constitution, keep these three methods (the node checks their names and
 * modes when a `set_constitution` proposal arrives) and change the rules: e.g. unanimity in
 * `resolve`, or new actions in the table.
 */
import { ContractError, contract, method, t } from "treaty/contract";
import { ACTIONS, type CompiledCode } from "./actions.js";
import * as check from "./checks.js";
import { members } from "./tables.js";

/** Most actions in one proposal. */
const MAX_ACTIONS = 64;

interface ParsedAction {
  readonly name: string;
  readonly parsed: unknown;
  readonly code: CompiledCode | undefined;
}

/** Checks the proposal's actions against the table; throws check.Invalid naming the field. */
function parseActions(proposal: unknown): ParsedAction[] {
  const p = check.object(proposal, "proposal", ["actions"], ["proposalId", "proposer"]);
  const list = p.actions;
  if (!Array.isArray(list) || list.length === 0)
    check.fail("actions", `expected a non-empty array of {name, args}, got ${check.kind(list)}`);
  if (list.length > MAX_ACTIONS) check.fail("actions", `at most ${MAX_ACTIONS} actions per proposal`);
  return list.map((item, i) => {
    const at = `actions[${i}]`;
    const a = check.object(item, at, ["name"], ["args", "code"]);
    const name = a.name;
    if (typeof name !== "string" || !Object.hasOwn(ACTIONS, name)) {
      check.fail(
        `${at}.name`,
        `unknown action ${typeof name === "string" ? JSON.stringify(name.slice(0, 80)) : check.kind(name)}; this constitution knows ${Object.keys(ACTIONS).join(", ")}`,
      );
    }
    const parsed = ACTIONS[name]!.parse(a.args ?? {}, `${at}.args`);
    return { name, parsed, code: a.code as CompiledCode | undefined };
  });
}

export default contract({
  validate: method({
    mode: "readonly",
    auth: "members",
    args: { proposal: t.any() },
    description: "Checks a proposal's actions and arguments (no state access).",
    run: ({ proposal }) => {
      try {
        parseActions(proposal);
        return { valid: true };
      } catch (err) {
        if (err instanceof check.Invalid) return { valid: false, description: err.message };
        throw err;
      }
    },
  }),
  resolve: method({
    mode: "readonly",
    auth: "members",
    args: { proposal: t.any(), ballots: t.record(t.enum("for", "against")) },
    description: "Open, Accepted (a strict majority of active members for) or Rejected.",
    run: ({ ballots }) => {
      let electorate = 0;
      let votesFor = 0;
      let votesAgainst = 0;
      for (const [id, member] of members.range()) {
        if (member.status !== "active") continue;
        electorate++;
        const ballot = Object.hasOwn(ballots, id) ? ballots[id] : undefined;
        if (ballot === "for") votesFor++;
        else if (ballot === "against") votesAgainst++;
      }
      if (votesFor * 2 > electorate) return "Accepted";
      if ((electorate - votesAgainst) * 2 <= electorate) return "Rejected";
      return "Open";
    },
  }),
  apply: method({
    mode: "readwrite",
    auth: "members",
    args: { proposal: t.any() },
    description: "Carries out an accepted proposal's actions, in order.",
    run: ({ proposal }) => {
      let actions: ParsedAction[];
      try {
        actions = parseActions(proposal);
      } catch (err) {
        if (err instanceof check.Invalid) throw new ContractError("InvalidAction", err.message);
        throw err;
      }
      const { proposalId, proposer } = proposal as { proposalId: string; proposer: string };
      for (const { name, parsed, code } of actions) {
        ACTIONS[name]!.apply(parsed, { proposalId, proposer, code });
      }
      return null;
    },
  }),
});
