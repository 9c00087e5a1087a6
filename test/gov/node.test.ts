/**
 * Governance on a real node over HTTP: the /gov endpoints, admission of governance writes, and
 * the node's reactions to committed decisions (service opening, users, contracts reloaded,
 * limits in the worker, node trust through the join path, retirement). One node, genesis left
 * "opening"; the tests run in order and build on each other's state. The rules themselves are
 * covered by the scenarios (test/scenarios/governance), the 3-node network by test/gov-e2e.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fromHex, toHex } from "../../sdk/bytes.js";
import { isTreatyError, type TreatyError } from "../../sdk/errors.js";
import { actions, Governance, type ProposalResult } from "../../sdk/governance.js";
import { generateKeyPair, type KeyPair, verify } from "../../sdk/keys.js";
import { endorsementMessage } from "../../sdk/receipt.js";
import { signRequest } from "../../sdk/request.js";
import { DEFAULT_LIMITS } from "../../runtime/sandbox/limits.js";
import { JOIN_PATH, openSecrets, trustVoteReason } from "../../node/join.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { fixtureFiles } from "./fixtures.js";
import { until } from "../support/poll.js";
import { MAX_OPEN_PROPOSALS } from "../../node/gov/open-proposals.js";

let net: TestNode;

/** A member's governance handle on the test node. */
function gov(key: KeyPair = net.member): Governance {
  return new Governance(net.client(key), key);
}

/** Proposes `list` as member0 and votes for it: one member is a majority. Waits for the commit. */
async function pass(list: Parameters<Governance["propose"]>[0]): Promise<ProposalResult> {
  const g = gov();
  const proposed = await g.propose(list);
  assert.equal(proposed.state, "Open", "proposing does not vote");
  const decided = await g.vote(proposed.proposalId, "for");
  await net.client().waitForCommit(decided.txid);
  return decided;
}

async function get(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(net.url + path);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** Rejects unless `work` fails with a TreatyError of `code`. */
async function refused(work: Promise<unknown>, code: string): Promise<TreatyError> {
  try {
    await work;
  } catch (err) {
    assert.ok(isTreatyError(err, code), `expected ${code}, got ${String(err)}`);
    return err as TreatyError;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

describe("governance on a node (HTTP)", () => {
  before(async () => {
    net = await startTestNode({ open: false });
  });
  after(async () => {
    await net?.dispose();
  });

  it("users are refused until members open the service by proposal and vote", async () => {
    const user = net.client();
    await refused(user.call("log", "writePublic", { id: 1, msg: "early" }), "ServiceNotOpen");
    assert.equal((await get("/gov/service")).json.status, "opening");
    const decided = await pass([actions.transitionServiceToOpen()]);
    assert.equal(decided.state, "Accepted");
    const { txid } = await user.call("log", "writePublic", { id: 1, msg: "open" });
    assert.ok(txid);
    const service = (await get("/gov/service")).json;
    assert.equal(service.status, "open");
    assert.equal(service.identity, toHex(net.serviceKey.publicKey));
    assert.equal(service.recoveryThreshold, 1);
  });

  it("reads: members, users, contracts, constitution, nodes, limits, proposals", async () => {
    const members = (await get("/gov/members")).json.members as Array<Record<string, unknown>>;
    assert.deepEqual(members, [
      {
        id: net.member.id,
        name: null,
        curve: "ed25519",
        publicKey: toHex(net.member.publicKey),
        status: "active",
      },
    ]);
    const users = (await get("/gov/users")).json.users as Array<Record<string, unknown>>;
    assert.deepEqual(users, [{ id: net.user.id, curve: "ed25519", publicKey: toHex(net.user.publicKey) }]);
    const contracts = (await get("/gov/contracts")).json.contracts as Array<Record<string, unknown>>;
    assert.deepEqual(
      contracts.map((c) => [c.name, c.version]),
      [
        ["bank", 1],
        ["log", 1],
        ["meter", 1],
      ],
    );
    const log = (await get("/gov/contracts/log")).json;
    assert.equal(log.digest, contracts.find((c) => c.name === "log")!.digest);
    assert.ok(typeof (log.source as Record<string, string>)["index.ts"] === "string");
    const missing = await get("/gov/contracts/nope");
    assert.equal(missing.status, 404);
    assert.equal((missing.json.error as { code: string }).code, "UnknownContract");
    const constitution = (await get("/gov/constitution")).json;
    assert.match(constitution.digest as string, /^[0-9a-f]{64}$/);
    assert.deepEqual(Object.keys(constitution.source as object).sort(), [
      "actions.ts",
      "checks.ts",
      "index.ts",
      "jwt-issuers.ts",
      "tables.ts",
    ]);
    const nodes = (await get("/gov/nodes")).json.nodes;
    assert.deepEqual(nodes, [
      {
        id: net.node.identity.id,
        status: "trusted",
        measurement: net.node.measurement,
        url: net.url,
        features: ["nonceLog"], // genesis records what this build announces
      },
    ]);
    assert.deepEqual((await get("/gov/limits")).json, { ...DEFAULT_LIMITS });
    const list = (await get("/gov/proposals")).json.proposals as Array<Record<string, unknown>>;
    assert.equal(list.length, 1);
    assert.deepEqual(list[0], {
      proposalId: list[0]!.proposalId,
      proposer: net.member.id,
      state: "Accepted",
      actions: [{ name: "transition_service_to_open" }],
      ballots: { for: 1, against: 0 },
    });
    const detail = await gov().proposal(list[0]!.proposalId as string);
    assert.equal(detail.state, "Accepted");
    assert.deepEqual(detail.ballots, { [net.member.id]: "for" });
    assert.ok(detail.createdTxid && detail.decidedTxid);
    const unknown = await get(`/gov/proposals/${"0".repeat(64)}`);
    assert.equal(unknown.status, 404);
    assert.equal((unknown.json.error as { code: string }).code, "UnknownProposal");
  });

  it("a user added by proposal can call at once; once removed it is an unknown caller", async () => {
    const user1 = generateKeyPair("p256");
    await refused(net.client(user1).call("log", "writePublic", { id: 2, msg: "x" }), "UnknownCaller");
    await pass([actions.setUser(user1, { org: "Fabrikam" })]);
    const { txid } = await net.client(user1).call("log", "writePublic", { id: 2, msg: "hello" });
    await net.client(user1).waitForCommit(txid!);
    const users = await gov().users();
    assert.deepEqual(users.find((u) => u.id === user1.id)?.data, { org: "Fabrikam" });
    await pass([actions.removeUser(user1.id)]);
    await refused(net.client(user1).call("log", "writePublic", { id: 3, msg: "gone" }), "UnknownCaller");
  });

  it("only members write: users are Forbidden, strangers unknown, replays refused; nothing is recorded", async () => {
    const before = await net.settled();
    await refused(gov(net.user).propose([actions.setUser(generateKeyPair())]), "Forbidden");
    await refused(gov(generateKeyPair()).propose([actions.setUser(generateKeyPair())]), "UnknownCaller");
    const unsigned = await net.post(
      "/gov/proposals",
      JSON.stringify({ args: { actions: [actions.transitionServiceToOpen()] } }),
      { "content-type": "application/json" },
    );
    assert.equal(unsigned.status, 403);
    assert.equal(unsigned.code, "Forbidden");
    // A signed proposal sent twice: the second is a replay (same nonce), whatever the node did.
    const request = signRequest(net.member, net.node.serviceId, "/gov/proposals", {
      actions: [actions.setRecoveryThreshold(1)],
    });
    const first = await net.post(request.path, request.body, request.headers);
    assert.equal(first.status, 200);
    const { proposalId } = first.json as { proposalId: string };
    const again = await net.post(request.path, request.body, request.headers);
    assert.equal(again.status, 409);
    assert.equal(again.code, "Replay");
    // Signed for the wrong path (a ballot replayed as a proposal): the signature does not verify.
    const ballot = signRequest(net.member, net.node.serviceId, `/gov/proposals/${proposalId}/ballots`, {
      vote: "for",
    });
    const moved = await net.post("/gov/proposals", ballot.body, ballot.headers);
    assert.equal(moved.code, "BadSignature");
    await gov().withdraw(proposalId);
    const after = await net.settled();
    // The proposal and its withdrawal, and the signatures after them; nothing else.
    const proposals = await gov().proposals();
    assert.equal(proposals.filter((p) => p.proposalId === proposalId).length, 1);
    assert.equal(proposals.find((p) => p.proposalId === proposalId)?.state, "Withdrawn");
    assert.ok(after > before);
  });

  it("bad proposals are refused with the field named, and change nothing", async () => {
    const before = await net.settled();
    const g = gov();
    const broken = await refused(
      g.propose([actions.deployContract("broken", fixtureFiles("broken"))]),
      "CompileError",
    );
    assert.match(broken.message, /actions\[0\]\.args\.files: index\.ts:3:7 Type 'string' is not assignable/);
    const notConstitution = await refused(
      g.propose([actions.setConstitution(fixtureFiles("counter-v1"))]),
      "ProposalInvalid",
    );
    assert.match(notConstitution.message, /not a constitution/);
    const unknown = await refused(g.propose([{ name: "make_me_king", args: {} }]), "ProposalInvalid");
    assert.match(unknown.message, /actions\[0\]\.name: unknown action "make_me_king"/);
    const wrongType = await refused(
      g.propose([{ name: "set_recovery_threshold", args: { threshold: "two" } }]),
      "ProposalInvalid",
    );
    assert.match(wrongType.message, /actions\[0\]\.args\.threshold: expected an integer/);
    const malformed = signRequest(net.member, net.node.serviceId, "/gov/proposals", { actions: "all" });
    const answer = await net.post(malformed.path, malformed.body, malformed.headers);
    assert.equal(answer.status, 400);
    assert.equal(answer.code, "ProposalInvalid");
    const ballot = await refused(g.vote("f".repeat(64), "for"), "UnknownProposal");
    assert.match(ballot.message, /no proposal f{64}/);
    const badVote = signRequest(net.member, net.node.serviceId, `/gov/proposals/${"f".repeat(64)}/ballots`, {
      vote: "maybe",
    });
    assert.equal((await net.post(badVote.path, badVote.body, badVote.headers)).code, "InvalidArgs");
    assert.equal(await net.settled(), before, "refusals write nothing");
  });

  it("a contract deployed and upgraded by proposal serves the new version from the next call, state kept", async () => {
    await pass([actions.deployContract("counter", fixtureFiles("counter-v1"))]);
    await until("counter to load", () => net.node.manifests.has("counter"));
    const user = net.client();
    assert.equal((await user.call("counter", "add", { by: 3 })).result, 3);
    await pass([actions.deployContract("counter", fixtureFiles("counter-v2"))]);
    await until("counter v2 to load", () => net.node.manifests.get("counter")?.methods.version !== undefined);
    assert.equal((await user.call("counter", "add", { by: 1 })).result, 5, "v2 doubles, over v1's state");
    const contracts = await gov().contracts();
    assert.equal(contracts.find((c) => c.name === "counter")?.version, 2);
  });

  it("set_runtime_limits reaches the execution worker once committed", async () => {
    await pass([actions.setRuntimeLimits({ maxEvents: 7, maxKeyBytes: 512 })]);
    assert.deepEqual(await gov().limits(), { ...DEFAULT_LIMITS, maxEvents: 7, maxKeyBytes: 512 });
    await until("the worker's limits", () => net.node.execution.limits.maxEvents === 7);
    assert.equal(net.node.execution.limits.maxKeyBytes, 512);
  });

  it("a joining node is trusted by proposal, sealed its secrets with a fresh endorsement, then retired", async () => {
    const joiner = generateKeyPair("ed25519");
    const join = async () => {
      const request = signRequest(joiner, net.node.serviceId, JOIN_PATH, {
        publicKey: toHex(joiner.publicKey),
        measurement: net.node.measurement,
        url: "http://127.0.0.1:1",
      });
      return net.post(request.path, request.body, request.headers);
    };
    const waiting = { status: "pending", waitingFor: trustVoteReason(joiner.id) };
    assert.match(
      waiting.waitingFor,
      /^waiting for members to trust node [0-9a-f]{64} \(proposal trust_node\)$/,
    );
    assert.deepEqual((await join()).json, waiting);
    await until("the pending node to be committed", async () =>
      (await gov().nodes()).some((n) => n.id === joiner.id && n.status === "pending"),
    );
    assert.deepEqual((await join()).json, waiting, "still pending without a vote");
    await pass([actions.trustNode(joiner.id)]);
    const trusted = (await join()).json as { status: string; sealed: Parameters<typeof openSecrets>[2] };
    assert.equal(trusted.status, "trusted");
    const secrets = openSecrets(joiner, net.serviceKey, trusted.sealed, Date.now());
    const e = secrets.endorsement;
    assert.ok(
      verify(
        net.serviceKey,
        endorsementMessage({
          nodeId: joiner.id,
          publicKey: joiner.publicKey,
          validFromMs: e.validFromMs,
          validToMs: e.validToMs,
        }),
        fromHex(e.signature),
      ),
      "the joiner's endorsement is by the service identity",
    );
    const record = (await gov().nodes()).find((n) => n.id === joiner.id);
    assert.deepEqual(record, {
      id: joiner.id,
      status: "trusted",
      measurement: net.node.measurement,
      url: "http://127.0.0.1:1",
      features: [], // its request announced nothing, as a node of a version before session 21
    });
    // Never added to the configuration, so the retirement completes without a consensus change.
    await pass([actions.retireNode(joiner.id)]);
    await until("the node to be retired", async () =>
      (await gov().nodes()).some((n) => n.id === joiner.id && n.status === "retired"),
    );
    assert.equal((await join()).code, "Forbidden", "a retired node cannot join again");
  });

  it("a join request's features are recorded with the node; malformed ones are refused", async () => {
    const joiner = generateKeyPair("ed25519");
    const join = async (features: unknown) => {
      const request = signRequest(joiner, net.node.serviceId, JOIN_PATH, {
        publicKey: toHex(joiner.publicKey),
        measurement: net.node.measurement,
        url: "http://127.0.0.1:2",
        features,
      });
      return net.post(request.path, request.body, request.headers);
    };
    for (const bad of ["nonceLog", [1], [""], ["x".repeat(65)], Array(17).fill("f")]) {
      const refused = await join(bad);
      assert.equal(refused.code, "MalformedRequest", JSON.stringify(bad));
    }
    assert.deepEqual((await join(["nonceLog", "later"])).json, {
      status: "pending",
      waitingFor: trustVoteReason(joiner.id),
    });
    await until("the pending node to be committed", async () =>
      (await gov().nodes()).some((n) => n.id === joiner.id && n.status === "pending"),
    );
    const record = (await gov().nodes()).find((n) => n.id === joiner.id);
    assert.deepEqual(record?.features, ["nonceLog", "later"]);
    // Trusted by proposal: the constitution keeps the record's other fields.
    await pass([actions.trustNode(joiner.id)]);
    assert.deepEqual(
      (await gov().nodes()).find((n) => n.id === joiner.id),
      { ...record, status: "trusted" },
    );
    await pass([actions.retireNode(joiner.id)]);
  });

  it("a write whose answer was lost is resent, and the replay reads back what the first attempt did", async () => {
    // The first answer to each POST is lost after the node ran it (as when a slow node outlives
    // the HTTP timeout); the client resends the same signed bytes and gets Replay.
    let lose = true;
    const lossy: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method === "POST" && lose) {
        lose = false;
        await response.arrayBuffer();
        throw new TypeError("fetch failed (answer lost)");
      }
      return response;
    };
    const g = new Governance(net.client(net.member, { fetch: lossy }), net.member);
    const proposed = await g.propose([actions.setUser(generateKeyPair("ed25519"))]);
    assert.equal(lose, false, "the first answer was lost");
    assert.equal(proposed.state, "Open");
    assert.equal((await gov().proposal(proposed.proposalId)).proposer, net.member.id);
    lose = true;
    const voted = await g.vote(proposed.proposalId, "for");
    assert.equal(lose, false);
    assert.deepEqual(
      { proposalId: voted.proposalId, state: voted.state },
      { proposalId: proposed.proposalId, state: "Accepted" },
    );
  });

  it(`a member has at most ${MAX_OPEN_PROPOSALS} open proposals; deciding or withdrawing one frees a place`, async () => {
    const g = gov();
    const propose = () => g.propose([actions.setUser(generateKeyPair("ed25519"))]);
    const open: string[] = [];
    for (let i = 0; i < MAX_OPEN_PROPOSALS; i++) open.push((await propose()).proposalId);
    const err = await refused(propose(), "TooManyProposals");
    assert.match(err.message, new RegExp(`has ${MAX_OPEN_PROPOSALS} open proposals`));
    assert.equal((await g.withdraw(open.pop()!)).state, "Withdrawn");
    open.push((await propose()).proposalId);
    // Accepted by the member's ballot: leaves Open too.
    assert.equal((await g.vote(open.pop()!, "for")).state, "Accepted");
    const newest = await propose();
    open.push(newest.proposalId);
    await refused(propose(), "TooManyProposals");
    // /gov reads are committed state: wait for the newest proposal before counting.
    await net.client().waitForCommit(newest.txid);
    const summaries = await gov().proposals();
    assert.equal(
      summaries.filter((p) => p.state === "Open" && p.proposer === net.member.id).length,
      MAX_OPEN_PROPOSALS,
      "the refused proposals were not recorded",
    );
    for (const id of open) await g.withdraw(id);
    const last = await propose();
    assert.equal(last.state, "Open", "all withdrawn: the member proposes again");
    await g.withdraw(last.proposalId);
  });
});
