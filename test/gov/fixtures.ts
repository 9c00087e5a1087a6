/**
 * Sources the governance scenarios deploy: small contracts (inline, compiled on first use) and
 * constitutions derived from the default one the way a member would write them: copy
 * contracts/constitution and change a line. Each change names an anchor in the default's
 * source; a missing anchor throws, so a rewrite of the default constitution cannot silently
 * turn a scenario into a test of nothing.
 */
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { readContractFolder } from "../../node/gov/contract-folder.js";
import { join } from "node:path";

/** `counter` v1: add(by) adds; get() reads. */
const COUNTER_V1 = `
import { contract, map, method, t } from "treaty/contract";
const counters = map<string, number>("counters");
export default contract({
  add: method({
    mode: "readwrite",
    auth: "users",
    args: { by: t.integer() },
    run: ({ by }) => {
      const next = (counters.get("c") ?? 0) + by;
      counters.set("c", next);
      return next;
    },
  }),
  get: method({ mode: "readonly", auth: "users", run: () => counters.get("c") ?? 0 }),
});
`;

/** `counter` v2: the same state; add() now adds twice the amount, and `version` exists. */
const COUNTER_V2 = `
import { contract, map, method, t } from "treaty/contract";
const counters = map<string, number>("counters");
export default contract({
  add: method({
    mode: "readwrite",
    auth: "users",
    args: { by: t.integer() },
    run: ({ by }) => {
      const next = (counters.get("c") ?? 0) + 2 * by;
      counters.set("c", next);
      return next;
    },
  }),
  get: method({ mode: "readonly", auth: "users", run: () => counters.get("c") ?? 0 }),
  version: method({ mode: "readonly", auth: "users", run: () => 2 }),
});
`;

/** Does not compile: a type error the compiler reports with its position. */
const BROKEN = `
import { contract, method } from "treaty/contract";
const n: number = "not a number";
export default contract({ get: method({ mode: "readonly", auth: "users", run: () => n }) });
`;

const CONTRACTS: Readonly<Record<string, Record<string, string>>> = {
  "counter-v1": { "index.ts": COUNTER_V1 },
  "counter-v2": { "index.ts": COUNTER_V2 },
  broken: { "index.ts": BROKEN },
};

type Patch = readonly [file: string, anchor: string, replacement: string];

/** Constitution variants: the default with these changes. */
const CONSTITUTIONS: Readonly<Record<string, readonly Patch[]>> = {
  default: [],
  // Every active member must vote for; a single vote against rejects.
  unanimity: [
    [
      "index.ts",
      `if (votesFor * 2 > electorate) return "Accepted";
      if ((electorate - votesAgainst) * 2 <= electorate) return "Rejected";`,
      `if (votesFor === electorate) return "Accepted";
      if (votesAgainst > 0) return "Rejected";`,
    ],
  ],
  // apply throws (a plain Error: a fault, not a ContractError) on set_recovery_threshold.
  "throwing-apply": [
    [
      "index.ts",
      "for (const { name, parsed, code } of actions) {",
      `for (const { name, parsed, code } of actions) {
        if (name === "set_recovery_threshold") throw new Error("this constitution cannot count");`,
    ],
  ],
  // apply never ends on remove_node_code: only the execution budget stops it.
  "looping-apply": [
    [
      "index.ts",
      "for (const { name, parsed, code } of actions) {",
      `for (const { name, parsed, code } of actions) {
        if (name === "remove_node_code") for (;;) {}`,
    ],
  ],
  // validate never ends on a proposal to set the recovery threshold to 13.
  "looping-validate": [
    [
      "index.ts",
      "        parseActions(proposal);\n        return { valid: true };",
      `        if (JSON.stringify(proposal).includes('"threshold":13')) for (;;) {}
        parseActions(proposal);
        return { valid: true };`,
    ],
  ],
  // resolve throws once anyone votes against.
  "throwing-resolve": [
    [
      "index.ts",
      "      let electorate = 0;",
      `      if (Object.values(ballots).includes("against")) throw new Error("no dissent allowed");
      let electorate = 0;`,
    ],
  ],
  // validate tries to read the member table (it may not touch state).
  "stateful-validate": [
    [
      "index.ts",
      "        parseActions(proposal);\n        return { valid: true };",
      `        if (members.get("x") !== undefined) return { valid: false, description: "x" };
        parseActions(proposal);
        return { valid: true };`,
    ],
  ],
  // apply also rewrites the proposals table (only the node may).
  "sneaky-apply": [
    [
      "index.ts",
      `import { members } from "./tables.js";`,
      `import { members } from "./tables.js";\nimport { map } from "treaty/contract";`,
    ],
    [
      "index.ts",
      "for (const { name, parsed, code } of actions) {",
      `map<string, unknown>("proposals", { public: true }).set(proposalId, { state: "Accepted" });
      for (const { name, parsed, code } of actions) {`,
    ],
  ],
  // apply also writes a private map (the constitution may use public maps only).
  "private-apply": [
    [
      "index.ts",
      `import { members } from "./tables.js";`,
      `import { members } from "./tables.js";\nimport { map } from "treaty/contract";`,
    ],
    [
      "index.ts",
      "for (const { name, parsed, code } of actions) {",
      `map<string, string>("secrets").set("k", "v");
      for (const { name, parsed, code } of actions) {`,
    ],
  ],
  // retire_node records the node retired at once (skips retiring): a members' constitution that
  // changes whether a node record counts as a node that may lead.
  "retire-at-once": [
    [
      "actions.ts",
      `nodes.set(id, { ...node, status: "retiring" });`,
      `nodes.set(id, { ...node, status: "retired" });`,
    ],
  ],
  // No resolve: not a constitution.
  "no-resolve": [["index.ts", "  resolve: method({", "  decide: method({"]],
  // apply records every deployed contract with a bundle that cannot load (its digest correct).
  "unloadable-deploy": [
    [
      "actions.ts",
      `import { ContractError } from "treaty/contract";`,
      `import { ContractError, sha256 } from "treaty/contract";`,
    ],
    [
      "actions.ts",
      "contracts.set(name, { version, digest, bundle, source: files });",
      `const unloadable = bundle.length > 0 ? "42" : bundle;
      contracts.set(name, { version, digest: sha256(unloadable), bundle: unloadable, source: files });`,
    ],
  ],
};

/**
 * Source files of a fixture: a contract (`counter-v1`, ...), a constitution variant
 * (`constitution/unanimity`) or a hostile contract of test/fixtures/contracts
 * (`hostile/describe-spin`).
 */
export function fixtureFiles(name: string): Record<string, string> {
  if (Object.hasOwn(CONTRACTS, name)) return { ...CONTRACTS[name]! };
  if (name.startsWith("hostile/") && /^[a-z-]+$/.test(name.slice("hostile/".length))) {
    return readContractFolder(
      join(findPackageRoot(), "test", "fixtures", "contracts", name.slice("hostile/".length)),
    );
  }
  const variant = name.startsWith("constitution/") ? name.slice("constitution/".length) : undefined;
  if (variant === undefined || !Object.hasOwn(CONSTITUTIONS, variant)) {
    throw new Error(`no fixture ${JSON.stringify(name)}`);
  }
  const files = readContractFolder(join(findPackageRoot(), "contracts", "constitution"));
  for (const [file, anchor, replacement] of CONSTITUTIONS[variant]!) {
    const text = files[file];
    if (text === undefined || !text.includes(anchor)) {
      throw new Error(`fixture ${name}: anchor not found in ${file}: ${JSON.stringify(anchor.slice(0, 60))}`);
    }
    files[file] = text.replace(anchor, replacement);
  }
  return files;
}
