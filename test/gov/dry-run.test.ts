/**
 * Member tooling against a real node: `Governance.dryRun` / `treaty propose --dry-run` run a
 * proposal in an abandoned sub-transaction and report what it would change, recording nothing
 * (the ledger length is unchanged); `treaty members|users|contracts|nodes|limits` read the tables;
 * a proposal shows its members' names next to their ballots.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { EXIT_OK } from "../../node/cli/command.js";
import { runNodes, runPropose } from "../../node/cli/gov.js";
import { runGovRead } from "../../node/cli/gov-read.js";
import { captureIo } from "../support/cli.js";
import { compileContract, findPackageRoot } from "../../runtime/compiler/index.js";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair, keyId, toKeyFile } from "../../sdk/keys.js";
import { startTestNode, type TestNode } from "../support/node.js";

describe("governance dry runs and reads on a real node", () => {
  let t: TestNode;
  let gov: Governance;
  let memberKeyFile: string;
  let serviceFile: string;
  before(async () => {
    t = await startTestNode();
    gov = new Governance(t.client(t.member), t.member);
    memberKeyFile = join(t.dir, "member0.json");
    writeFileSync(memberKeyFile, JSON.stringify(toKeyFile(t.member)));
    serviceFile = join(t.dir, "service.json");
    writeFileSync(serviceFile, JSON.stringify(t.serviceFile));
  });
  after(() => t.dispose());

  it("dry-runs a set_user and a contract upgrade: prints the changes, records nothing", async () => {
    const length = await t.settled();
    const usersBefore = await gov.users();

    const app = generateKeyPair("ed25519");
    const appId = keyId(app);
    const setUser = await gov.dryRun([actions.setUser(app, { name: "App" })]);
    assert.deepEqual(setUser, {
      applies: true,
      changes: [
        {
          table: "users",
          key: appId,
          old: null,
          new: { curve: "ed25519", publicKey: toHex(app.publicKey), data: { name: "App" } },
        },
      ],
    });

    const logDir = join(findPackageRoot(), "contracts", "examples", "log");
    const upgraded = { "index.ts": `${readFileSync(join(logDir, "index.ts"), "utf8")}\n// v2\n` };
    const compiled = compileContract({ files: upgraded });
    assert.ok(compiled.ok);
    const [deployed] = (await gov.contracts()).filter((c) => c.name === "log");
    const upgrade = await gov.dryRun([actions.deployContract("log", upgraded)]);
    assert.equal(upgrade.applies, true);
    assert.equal(upgrade.changes.length, 1);
    const change = upgrade.changes[0]!;
    assert.deepEqual([change.table, change.key], ["contracts", "log"]);
    assert.deepEqual(
      { ...(change.old as object), bundleBytes: 0 },
      { version: 1, digest: deployed!.digest, bundleBytes: 0, files: ["index.ts"] },
    );
    assert.deepEqual(change.new, {
      version: 2,
      digest: compiled.digest,
      bundleBytes: Buffer.byteLength(compiled.bundle),
      files: ["index.ts"],
    });

    // The CLI prints the same report.
    const proposalFile = join(t.dir, "set-user.json");
    writeFileSync(proposalFile, JSON.stringify({ actions: [actions.setUser(app, { name: "App" })] }));
    const cli = captureIo();
    const code = await runPropose(
      [proposalFile, "--dry-run", "--key", memberKeyFile, "--service", serviceFile],
      cli.io,
    );
    assert.equal(code, EXIT_OK);
    assert.deepEqual(JSON.parse(cli.out()), setUser);

    // Nothing was recorded: same ledger length, same tables, no proposal.
    assert.equal(await t.settled(), length);
    assert.deepEqual(await gov.users(), usersBefore);
    assert.equal((await gov.contracts()).find((c) => c.name === "log")!.version, 1);
    assert.deepEqual(await gov.proposals(), []);
  });

  it("reports a failing apply, refuses invalid proposals and non-members, like propose", async () => {
    const length = await t.settled();
    const missing = "ab".repeat(32);
    assert.deepEqual(await gov.dryRun([actions.removeUser(missing)]), {
      applies: false,
      error: { code: "NoSuchUser", message: `constitution apply(): no user ${missing}` },
      changes: [],
    });
    await assert.rejects(
      gov.dryRun([{ name: "set_user", args: { publicKey: "zz" } }]),
      (err: unknown) => isTreatyError(err, "ProposalInvalid") && /publicKey/.test((err as Error).message),
    );
    await assert.rejects(
      gov.dryRun([actions.deployContract("broken", { "index.ts": "export default 1;" })]),
      (err: unknown) => isTreatyError(err, "CompileError"),
    );
    const asUser = new Governance(t.client(t.user), t.user);
    await assert.rejects(asUser.dryRun([actions.removeUser(missing)]), (err: unknown) =>
      isTreatyError(err, "Forbidden"),
    );
    assert.equal(await t.settled(), length);
  });

  it("reads the tables from the CLI and names members next to their ballots", async () => {
    const read = async (table: string) => {
      const c = captureIo();
      assert.equal(await runGovRead(table, ["--service", serviceFile], c.io), EXIT_OK);
      return JSON.parse(c.out()) as Record<string, unknown>;
    };
    const members = (await read("members")).members as Array<{ id: string; name: string | null }>;
    assert.deepEqual(
      members.map((m) => [m.id, m.name]),
      [[t.member.id, null]],
    );
    assert.deepEqual((await read("users")).users, await gov.users());
    assert.deepEqual(
      ((await read("contracts")).contracts as Array<{ name: string }>).map((c) => c.name).sort(),
      ["bank", "log", "meter"],
    );
    const nodes = captureIo();
    assert.equal(await runNodes(["--service", serviceFile], nodes.io), EXIT_OK);
    assert.equal((JSON.parse(nodes.out()).nodes as unknown[]).length, 1);
    assert.equal(typeof (await read("limits")).executionBudget, "number");

    // member0 names itself; then its ballot on the next proposal carries the name.
    const rename = await gov.propose([
      actions.setMember({ curve: "ed25519", publicKey: toHex(t.member.publicKey) }, { name: "Acme" }),
    ]);
    await gov.vote(rename.proposalId, "for");
    const next = await gov.propose([
      actions.removeUser(keyId({ curve: "ed25519", publicKey: fromHex("cd".repeat(32)) })),
    ]);
    const against = await gov.vote(next.proposalId, "against");
    await gov.client.waitForCommit(against.txid); // reads serve committed state
    const detail = await gov.proposal(next.proposalId);
    assert.deepEqual(detail.ballots, { [t.member.id]: "against" });
    assert.deepEqual(detail.names, { [t.member.id]: "Acme" });
    assert.deepEqual(
      ((await read("members")).members as Array<{ name: string | null }>).map((m) => m.name),
      ["Acme"],
    );
  });
});
