/**
 * Members run a consortium end to end, on a real 3-node network (three node processes over a
 * real nats-server, test/gov-e2e/network.ts), through the CLI and the SDK only:
 *
 *   genesis (one founding member, service opening) → the founder trusts the joining nodes →
 *   members are added and the majority grows with them → a user is added → a contract is
 *   deployed (and a broken one refused) → members open the service → the contract is upgraded
 *   (behaviour changes, state kept) → withdrawals, refusals, replaced ballots and a rejection →
 *   the constitution is replaced by one requiring unanimity (open proposals Dropped, the next
 *   proposal needs every member) → a vote survives a leader change between its ballots, and the
 *   stopped node catches up when it comes back.
 *
 * The steps share one network and build on each other, in order. CLI steps run the commands'
 * `run*` functions in-process (the same code the binary runs); the first proposal and ballot go
 * through the built binary as a shell would.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import { actions, Governance, type ProposalState } from "../../sdk/governance.js";
import { generateKeyPair, type KeyPair, toKeyFile } from "../../sdk/keys.js";
import { signRequest } from "../../sdk/request.js";
import {
  runConstitutionPropose,
  runConstitutionShow,
  runDeploy,
  runPropose,
  runProposal,
  runProposals,
  runVote,
  runWithdraw,
} from "../../node/cli/gov.js";
import { treaty as runBuiltCli, runInProcess } from "../support/cli.js";
import { type GovNetwork, type NetNode, startGovNetwork } from "./network.js";

interface CliRun {
  readonly code: number | null;
  readonly json: Record<string, unknown>;
  readonly stderr: string;
}

/** Runs the built `treaty` binary and parses its JSON stdout. */
async function treatyBinary(...args: string[]): Promise<CliRun> {
  const { code, stdout, stderr } = await runBuiltCli(...args);
  return { code, stderr, json: stdout === "" ? {} : (JSON.parse(stdout) as Record<string, unknown>) };
}

/** Runs a governance command in-process with captured output. */
const treaty = runInProcess;

/** Asserts a CLI run succeeded and returns its JSON. */
function ok(run: CliRun): Record<string, unknown> {
  assert.equal(run.code, 0, `exit ${run.code}: ${JSON.stringify(run.json)} ${run.stderr}`);
  return run.json;
}

const COUNTER_V1 = `import { contract, map, method } from "treaty/contract";

const counts = map<string, number>("counts", { public: true });

export default contract({
  bump: method({
    mode: "readwrite",
    auth: "users",
    description: "Adds 1 to the counter.",
    run: () => {
      const n = (counts.get("n") ?? 0) + 1;
      counts.set("n", n);
      return { n };
    },
  }),
});
`;

const COUNTER_V2 = `import { contract, map, method } from "treaty/contract";

const counts = map<string, number>("counts", { public: true });

export default contract({
  bump: method({
    mode: "readwrite",
    auth: "users",
    description: "Adds 10 to the counter (version 2).",
    run: () => {
      const n = (counts.get("n") ?? 0) + 10;
      counts.set("n", n);
      return { n };
    },
  }),
  get: method({
    mode: "readonly",
    auth: "users",
    description: "The counter.",
    run: () => ({ n: counts.get("n") ?? 0 }),
  }),
});
`;

describe("governance end to end: members run a 3-node consortium with the CLI and the SDK", () => {
  let net: GovNetwork;
  /** The members: the founder, then the two members the founder's proposals add. */
  const members: KeyPair[] = [];
  const keyFiles: string[] = [];
  const user1 = generateKeyPair("ed25519");
  const user2 = generateKeyPair("p256");
  const user3 = generateKeyPair("ed25519");
  let service: string;

  /** Governance signing as member `i`, over `urls` (default: every node). */
  const gov = (i: number, urls?: readonly string[]) => new Governance(net.client(null, urls), members[i]);
  /** `treaty --key <member i> --service <service.json>` flags. */
  const as = (i: number) => ["--key", keyFiles[i]!, "--service", service];
  const userClient = (key: KeyPair, urls?: readonly string[]): Client => net.client(key, urls);

  /** Waits until every running node's applied state shows `proposalId` in `state`. */
  const everywhere = (proposalId: string, state: ProposalState, nodes?: readonly NetNode[]) =>
    Promise.all(
      (nodes ?? net.nodes.filter((n) => n.running())).map((n) =>
        net.waitFor(`${proposalId.slice(0, 8)} ${state} on node ${n.index}`, async () => {
          const p = await new Governance(net.client(null, [n.url])).proposal(proposalId);
          return p.state === state ? p : undefined;
        }),
      ),
    );

  /** Waits until every running node serves `contract.method` (its OpenAPI lists the path). */
  const served = (contract: string, method: string) =>
    Promise.all(
      net.nodes
        .filter((n) => n.running())
        .map((n) =>
          net.waitFor(`node ${n.index} to serve ${contract}.${method}`, async () => {
            const doc = (await (await fetch(`${n.url}/app/openapi.json`)).json()) as {
              paths?: Record<string, unknown>;
            };
            return Object.hasOwn(doc.paths ?? {}, `/app/${contract}/${method}`) ? true : undefined;
          }),
        ),
    );

  /** A step of the story: a failure carries the tail of every node's log. */
  const step = (name: string, body: () => Promise<void>) =>
    it(name, async () => {
      try {
        await body();
      } catch (err) {
        if (err instanceof Error) err.message += `\n--- node logs (${net.dir}) ---\n${net.logs(25)}`;
        throw err;
      }
    });

  before(async () => {
    net = await startGovNetwork(3);
    service = net.serviceFilePath;
    members.push(net.founder, generateKeyPair("ed25519"), generateKeyPair("secp256k1"));
    for (const [i, key] of members.entries()) {
      const path = join(net.dir, `member${i}.json`);
      writeFileSync(path, JSON.stringify(toKeyFile(key)), { mode: 0o600 });
      keyFiles.push(path);
    }
  });

  after(async () => {
    await net?.dispose();
  });

  step(
    "the founder trusts the joining nodes by proposal (built CLI); they become voting members",
    async () => {
      const joiners = net.nodes.slice(1);
      await Promise.all(joiners.map((n) => n.start()));
      const reader = new Governance(net.client(null));
      await net.waitFor("both joiners to be pending", async () => {
        const pending = (await reader.nodes()).filter((n) => n.status === "pending").map((n) => n.id);
        return joiners.every((j) => pending.includes(j.id)) ? true : undefined;
      });
      const file = join(net.dir, "trust.json");
      writeFileSync(file, JSON.stringify({ actions: joiners.map((j) => actions.trustNode(j.id)) }));

      const proposed = await treatyBinary("propose", file, ...as(0));
      assert.equal(proposed.code, 0, proposed.stderr);
      assert.equal(proposed.json.state, "Open", "proposing does not vote");
      const id = proposed.json.proposalId as string;
      const voted = await treatyBinary("vote", id, "--for", ...as(0), "--wait");
      assert.equal(voted.code, 0, voted.stderr);
      assert.deepEqual(
        { state: voted.json.state, status: voted.json.status },
        { state: "Accepted", status: "Committed" },
      );

      await net.waitFor(
        "all three nodes in the consensus configuration",
        async () => {
          const network = (await (await fetch(`${net.nodes[0]!.url}/node/network`)).json()) as {
            config: string[] | null;
          };
          return network.config?.length === 3 ? true : undefined;
        },
        60_000,
      );
      const trusted = (await reader.nodes()).filter((n) => n.status === "trusted").map((n) => n.id);
      assert.deepEqual(trusted.sort(), net.nodes.map((n) => n.id).sort());
    },
  );

  step("members add members through the CLI, and the majority grows with them", async () => {
    const memberFile = (i: number) => {
      const file = join(net.dir, `add-member${i}.json`);
      const key = JSON.parse(readFileSync(keyFiles[i]!, "utf8")) as { publicKey: string; curve: string };
      writeFileSync(
        file,
        JSON.stringify({
          actions: [
            { name: "set_member", args: { publicKey: key.publicKey, curve: key.curve, data: { n: i } } },
          ],
        }),
      );
      return file;
    };
    // One member: its own ballot is a strict majority.
    // `--wait` returns once the node that took the vote answered Committed, i.e. folded it (and
    // a follower forwards the next write with its folded commit point): the new member's first
    // request, from a client that starts on that same node, is admitted at once.
    const first = ok(await treaty(runPropose, memberFile(1), ...as(0))).proposalId as string;
    assert.equal(ok(await treaty(runVote, first, "--for", ...as(0), "--wait")).state, "Accepted");

    // Two members: the new member proposes; one ballot of two is not a strict majority.
    const second = ok(await treaty(runPropose, memberFile(2), ...as(1))).proposalId as string;
    assert.equal(ok(await treaty(runVote, second, "--for", ...as(0))).state, "Open");
    assert.equal(ok(await treaty(runVote, second, "--for", ...as(1), "--wait")).state, "Accepted");

    const detail = ok(await treaty(runProposal, second, "--service", service, "--wait"));
    assert.equal(detail.proposer, members[1]!.id);
    assert.deepEqual(detail.ballots, { [members[0]!.id]: "for", [members[1]!.id]: "for" });
    const listed = await gov(0).members();
    assert.deepEqual(listed.map((m) => m.id).sort(), members.map((m) => m.id).sort());
    const third = listed.find((m) => m.id === members[2]!.id);
    assert.equal(third !== undefined && "curve" in third && third.curve, "secp256k1");
  });

  step("a member adds a user through the SDK", async () => {
    const { proposalId, state } = await gov(2).propose([actions.setUser(user1, { name: "alice" })]);
    assert.equal(state, "Open");
    assert.equal((await gov(0).vote(proposalId, "for")).state, "Open", "1 of 3 is no majority");
    assert.equal((await gov(1).vote(proposalId, "for")).state, "Accepted");
    const final = await gov(2).waitForFinal(proposalId);
    assert.equal(final.state, "Accepted");
    assert.ok(final.decidedTxid);
    const user = (await gov(2).users()).find((u) => u.id === user1.id);
    assert.deepEqual(user?.data, { name: "alice" });
  });

  step("treaty deploy proposes a new contract; a broken one is refused at once", async () => {
    const v1 = join(net.dir, "counter-v1");
    mkdirSync(v1);
    writeFileSync(join(v1, "index.ts"), COUNTER_V1);
    const proposed = ok(await treaty(runDeploy, v1, "--name", "counter", ...as(1)));
    const id = proposed.proposalId as string;
    // Governance reads serve committed state: the proposal shows once its transaction commits.
    await gov(1).client.waitForCommit(proposed.txid as string);
    const detail = await gov(1).proposal(id);
    assert.equal(detail.actions[0]?.name, "deploy_contract");
    assert.match(detail.actions[0]?.digest ?? "", /^[0-9a-f]{64}$/, "members see the digest they vote for");
    ok(await treaty(runVote, id, "--for", ...as(1)));
    assert.equal(ok(await treaty(runVote, id, "--for", ...as(2), "--wait")).state, "Accepted");
    await served("counter", "bump");
    const contracts = await gov(0).contracts();
    assert.deepEqual(
      contracts.map((c) => [c.name, c.version]),
      [["counter", 1]],
    );

    const broken = join(net.dir, "broken");
    mkdirSync(broken);
    writeFileSync(join(broken, "index.ts"), "export default contract({ oops: ;\n");
    const before = (await gov(0).proposals()).length;
    const refused = await treaty(runDeploy, broken, ...as(0));
    assert.equal(refused.code, 1);
    assert.equal((refused.json.error as { code: string }).code, "CompileError");
    assert.equal((await gov(0).proposals()).length, before, "no proposal was recorded");
  });

  step("users are refused until members open the service (SDK); then their calls run", async () => {
    await assert.rejects(userClient(user1).call("counter", "bump"), (err: unknown) =>
      isTreatyError(err, "ServiceNotOpen"),
    );
    assert.equal((await gov(0).service()).status, "opening");
    const { proposalId } = await gov(0).propose([actions.transitionServiceToOpen()]);
    await gov(1).vote(proposalId, "for");
    await gov(2).vote(proposalId, "for");
    assert.equal((await gov(0).waitForFinal(proposalId)).state, "Accepted");
    await net.waitFor("every node to see the service open", async () => {
      const statuses = await Promise.all(net.nodes.map((n) => n.status()));
      return statuses.every((s) => s.serviceStatus === "open") ? true : undefined;
    });
    assert.deepEqual((await userClient(user1).call("counter", "bump")).result, { n: 1 });
    assert.deepEqual((await userClient(user1).call("counter", "bump")).result, { n: 2 });
  });

  step("an upgrade changes behaviour from the next transaction and keeps the contract's state", async () => {
    const before = (await gov(0).contracts()).find((c) => c.name === "counter")!;
    const { proposalId } = await gov(0).propose([
      actions.deployContract("counter", { "index.ts": COUNTER_V2 }),
    ]);
    await gov(0).vote(proposalId, "for");
    await gov(2).vote(proposalId, "for");
    assert.equal((await gov(0).waitForFinal(proposalId)).state, "Accepted");
    await served("counter", "get");
    const after = await gov(0).contract("counter");
    assert.equal(after.version, 2);
    assert.notEqual(after.digest, before.digest);
    assert.equal(after.source["index.ts"], COUNTER_V2);
    const { result, txid } = await userClient(user1).call("counter", "bump");
    assert.deepEqual(result, { n: 12 }, "version 2 adds 10 to the value version 1 left");
    await userClient(user1).waitForCommit(txid!);
    assert.deepEqual((await userClient(user1).call("counter", "get")).result, { n: 12 });
  });

  step("withdrawals, refusals, replaced ballots and a rejection (CLI)", async () => {
    const file = join(net.dir, "remove-user1.json");
    writeFileSync(file, JSON.stringify({ actions: [actions.removeUser(user1.id)] }));
    const withdrawn = ok(await treaty(runPropose, file, ...as(2))).proposalId as string;
    const notProposer = await treaty(runWithdraw, withdrawn, ...as(0));
    assert.equal(notProposer.code, 1);
    assert.equal((notProposer.json.error as { code: string }).code, "Forbidden");
    assert.equal(ok(await treaty(runWithdraw, withdrawn, ...as(2))).state, "Withdrawn");
    const late = await treaty(runVote, withdrawn, "--for", ...as(0));
    assert.equal((late.json.error as { code: string }).code, "ProposalNotOpen");
    const unknown = await treaty(runVote, "0".repeat(64), "--for", ...as(0));
    assert.equal((unknown.json.error as { code: string }).code, "UnknownProposal");
    const outsider = generateKeyPair("ed25519");
    const outsiderFile = join(net.dir, "outsider.json");
    writeFileSync(outsiderFile, JSON.stringify(toKeyFile(outsider)));
    const refused = await treaty(runPropose, file, "--key", outsiderFile, "--service", service);
    assert.equal((refused.json.error as { code: string }).code, "UnknownCaller", "a stranger cannot propose");
    const client = net.client(null);
    const asUser = signRequest(user1, client.serviceId, "/gov/proposals", {
      actions: [actions.removeUser(user1.id)],
    });
    await assert.rejects(client.post(asUser), (err: unknown) => isTreatyError(err, "Forbidden"));

    const rejected = ok(await treaty(runPropose, file, ...as(0))).proposalId as string;
    assert.equal(ok(await treaty(runVote, rejected, "--for", ...as(1))).state, "Open");
    assert.equal(
      ok(await treaty(runVote, rejected, "--against", ...as(1))).state,
      "Open",
      "replaced, not added",
    );
    assert.equal(ok(await treaty(runVote, rejected, "--against", ...as(2), "--wait")).state, "Rejected");
    const detail = ok(await treaty(runProposal, rejected, "--service", service, "--wait"));
    assert.deepEqual(detail.ballots, { [members[1]!.id]: "against", [members[2]!.id]: "against" });
    const listed = ok(await treaty(runProposals, "--service", service, "--state", "Rejected"));
    assert.deepEqual(
      (listed.proposals as { proposalId: string; ballots: unknown }[]).map((p) => [p.proposalId, p.ballots]),
      [[rejected, { for: 0, against: 2 }]],
    );
    assert.ok(
      (await gov(0).users()).some((u) => u.id === user1.id),
      "rejected and withdrawn changed nothing",
    );
  });

  step("the constitution is replaced: unanimity from the next proposal, open proposals Dropped", async () => {
    const dir = join(net.dir, "constitution");
    const shown = ok(await treaty(runConstitutionShow, "--service", service, "--out", dir));
    const index = join(dir, "index.ts");
    const source = readFileSync(index, "utf8");
    const majority = 'if (votesFor * 2 > electorate) return "Accepted";';
    const rejection = 'if ((electorate - votesAgainst) * 2 <= electorate) return "Rejected";';
    assert.ok(
      source.includes(majority) && source.includes(rejection),
      "the default rule is where we expect it",
    );
    writeFileSync(
      index,
      source
        .replace(majority, 'if (votesFor === electorate) return "Accepted";')
        .replace(rejection, 'if (votesAgainst > 0) return "Rejected";'),
    );

    const pending = await gov(1).propose([actions.setUser(user3)]);
    await gov(1).vote(pending.proposalId, "for");
    const proposed = ok(await treaty(runConstitutionPropose, dir, ...as(0)));
    const id = proposed.proposalId as string;
    ok(await treaty(runVote, id, "--for", ...as(0)));
    assert.equal(ok(await treaty(runVote, id, "--for", ...as(2), "--wait")).state, "Accepted");
    const dropped = await gov(0).waitForFinal(pending.proposalId);
    assert.equal(dropped.state, "Dropped", "an open proposal is dropped when the rules change");

    const now = ok(await treaty(runConstitutionShow, "--service", service));
    assert.notEqual(now.digest, shown.digest);
    assert.match((now.source as Record<string, string>)["index.ts"]!, /votesFor === electorate/);

    const next = await gov(1).propose([actions.setUser(user3)]);
    await gov(0).vote(next.proposalId, "for");
    assert.equal((await gov(1).vote(next.proposalId, "for")).state, "Open", "2 of 3 is no longer enough");
    assert.equal((await gov(2).vote(next.proposalId, "for")).state, "Accepted");
    await gov(2).waitForFinal(next.proposalId);
    assert.ok((await gov(2).users()).some((u) => u.id === user3.id));
  });
  step(
    "a vote survives a leader change between ballots (unanimity: one ballot before, two after)",
    async () => {
      const { proposalId } = await gov(0).propose([actions.setUser(user2)]);
      const first = await gov(0).vote(proposalId, "for");
      assert.equal(first.state, "Open");
      await gov(0).client.waitForCommit(first.txid);
      await everywhere(proposalId, "Open");

      const old = await net.leader();
      const oldView = (await old.status()).view;
      await old.stop();
      const leader = await net.leader({ exclude: [old] });
      assert.notEqual(leader.id, old.id);
      const survivors = net.nodes.filter((n) => n !== old).map((n) => n.url);

      await assert.rejects(userClient(user2, survivors).call("counter", "get"), (err: unknown) =>
        isTreatyError(err, "UnknownCaller"),
      );
      assert.equal((await gov(1, survivors).vote(proposalId, "for")).state, "Open");
      const last = await gov(2, survivors).vote(proposalId, "for");
      assert.equal(last.state, "Accepted", "the first ballot, cast under the old leader, still counts");
      assert.ok(Number(last.txid.split(".")[0]) > oldView, "decided in a later view");
      const final = await gov(2, survivors).waitForFinal(proposalId);
      assert.deepEqual(final.ballots, Object.fromEntries(members.map((m) => [m.id, "for"])));
      await net.waitFor("user2 to be admitted on the survivors", async () => {
        await userClient(user2, survivors).call("counter", "get");
        return true;
      });

      await old.start();
      await everywhere(proposalId, "Accepted", [old]);
      assert.deepEqual((await userClient(user2, [old.url]).call("counter", "get")).result, { n: 12 });
      await net.leader(); // all three agree on one leader again
    },
  );
});
