/**
 * Hostile code in proposals, on a real 3-node network (node processes over a real nats-server,
 * test/support/cluster.ts). A member proposes contracts and constitutions whose `describe()`
 * tries the `constructor`-chain escape to the host process (it would write a marker file),
 * spins forever, declares 12,000 methods, or whose module cannot load at all. Each proposal must
 * be refused with ProposalInvalid naming the action (nothing recorded, no proposal to vote on),
 * the marker must never appear, no node may hold an election over it (view and leader unchanged
 * on every node, no crash), `/gov/contracts` must still show the version in force, and the next
 * honest call and proposal succeed on the first attempt.
 *
 * Fixtures: test/fixtures/contracts/{describe-escape,describe-spin,describe-wide,load-fails};
 * the hostile constitutions are the default one with its export wrapped (see `wrapConstitution`).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { findPackageRoot } from "../../runtime/compiler/package-root.js";
import { readContractFolder } from "../../node/gov/contract-folder.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, type GovAction, Governance } from "../../sdk/governance.js";
import { type Cluster, startCluster } from "../support/cluster.js";

const root = findPackageRoot();
const EXPORT_ANCHOR = "export default contract({";

/** A fixture folder's files, with the escape's marker pointed at `marker`. */
function fixture(name: string, marker: string): Record<string, string> {
  const files = readContractFolder(join(root, "test", "fixtures", "contracts", name));
  for (const [path, text] of Object.entries(files)) files[path] = text.replaceAll("MARKER_PATH", marker);
  return files;
}

/**
 * The default constitution with a hand-written `describe()` in front of it: `body` runs first
 * (the files of `extra` are added next to index.ts), then the real manifest is returned.
 */
function wrapConstitution(body: string, extra: Record<string, string> = {}): Record<string, string> {
  const files = readContractFolder(join(root, "contracts", "constitution"));
  const index = files["index.ts"]!;
  assert.ok(index.includes(EXPORT_ANCHOR), "the default constitution exports contract({...})");
  files["index.ts"] =
    `${Object.keys(extra).length > 0 ? 'import { breakOut } from "./escape.js";\n' : ""}${index.replace(
      EXPORT_ANCHOR,
      "const constitution = contract({",
    )}
export default {
  describe(): string {
    ${body}
    return constitution.describe();
  },
  invoke: (method: string, argsJson: string, ctxJson: string): string =>
    constitution.invoke(method, argsJson, ctxJson),
};
`;
  return { ...files, ...extra };
}

describe("hostile code in proposals runs only in the sandbox (3 nodes)", () => {
  let cluster: Cluster;
  let gov: Governance;
  before(async () => {
    cluster = await startCluster({ nodes: 3, contracts: [{ name: "log", path: "contracts/examples/log" }] });
    gov = new Governance(cluster.client(cluster.member), cluster.member);
  });
  after(() => cluster?.dispose());

  it("refuses each one before anything is recorded; nothing escapes, nobody holds an election", async () => {
    const leader = await cluster.waitForLeader();
    const before = await Promise.all(cluster.nodes.map((n) => n.status()));
    const logBefore = await gov.contract("log");
    const proposalsBefore = (await gov.proposals()).length;
    const marker = join(cluster.dir, "escaped.txt");
    const escapeFiles = fixture("describe-escape", marker);

    const hostile: Array<[what: string, action: GovAction, message: RegExp]> = [
      [
        "a contract whose describe() reaches for process",
        actions.deployContract("escape", escapeFiles),
        /^actions\[0\]\.args\.files: bundle: ContractFault: .*escape blocked: .*Function constructor is disabled/,
      ],
      [
        "a constitution whose describe() reaches for process",
        actions.setConstitution(wrapConstitution("breakOut();", { "escape.ts": escapeFiles["escape.ts"]! })),
        /^actions\[0\]\.args\.files: bundle: ContractFault: .*escape blocked/,
      ],
      [
        "a contract whose describe() spins",
        actions.deployContract("spin", fixture("describe-spin", marker)),
        /^actions\[0\]\.args\.files: bundle: ExecutionLimit: /,
      ],
      [
        "a constitution whose describe() spins",
        actions.setConstitution(wrapConstitution("for (;;) {}")),
        /^actions\[0\]\.args\.files: bundle: ExecutionLimit: /,
      ],
      [
        "a contract declaring 12,000 methods",
        actions.deployContract("wide", fixture("describe-wide", marker)),
        /^actions\[0\]\.args\.files: manifest\.methods: 12000 methods, at most 256 are allowed$/,
      ],
      [
        "an upgrade of log that cannot load",
        actions.deployContract("log", fixture("load-fails", marker)),
        /^actions\[0\]\.args\.files: bundle: ContractFault: .*this version cannot start/,
      ],
    ];
    for (const [what, action, message] of hostile) {
      await assert.rejects(
        gov.propose([action]),
        (err: unknown) => isTreatyError(err, "ProposalInvalid") && message.test((err as Error).message),
        what,
      );
      assert.equal(existsSync(marker), false, `${what}: the marker file was written`);
    }

    // Nothing was recorded: no proposal, the same log contract on record.
    assert.equal((await gov.proposals()).length, proposalsBefore);
    const logAfter = await gov.contract("log");
    assert.equal(logAfter.digest, logBefore.digest);
    assert.equal(logAfter.version, logBefore.version);

    // No election: every node is in the view it was in, under the same leader; no crash.
    const after = await Promise.all(cluster.nodes.map((n) => n.status()));
    for (const [i, status] of after.entries()) {
      assert.equal(status.view, before[i]!.view, `node ${i} changed view`);
      assert.equal(status.leader, leader.id, `node ${i} follows another leader`);
    }
    assert.deepEqual(cluster.crashes(), []);

    // The next honest call and proposal succeed on the first attempt.
    const honest = cluster.client(cluster.user, { retries: 1 });
    const { txid } = await honest.call("log", "writePublic", { id: 1, msg: "after the attacks" });
    assert.ok(txid);
    const ping = {
      "index.ts": `import { contract, method } from "treaty/contract";
export default contract({ ping: method({ mode: "readonly", auth: "anyone", run: () => "pong" }) });
`,
    };
    const accepted = await gov.propose([actions.deployContract("ping", ping)]);
    const final = accepted.state === "Open" ? await gov.vote(accepted.proposalId, "for") : accepted;
    assert.equal(final.state, "Accepted");
    await cluster.waitFor("ping to load on every node", async () => {
      const answers = await Promise.all(
        cluster.nodes.map((n) =>
          cluster.client(null, { nodes: [n.url], retries: 1 }).call("ping", "ping", {}),
        ),
      );
      return answers.every((a) => a.result === "pong") ? true : undefined;
    });
  });
});
