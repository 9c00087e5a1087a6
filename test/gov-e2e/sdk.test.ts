/**
 * `sdk/governance.ts` against a scripted fake node (the platform `fetch` replaced): which paths
 * and bodies each helper sends, that writes are signed by the member for this service, that
 * errors keep the node's code, that builders never carry a private key, and the proposal-shape
 * check over a table of hostile inputs. The real node is exercised in the e2e tests.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toHex, utf8 } from "../../sdk/bytes.js";
import { Client } from "../../sdk/client.js";
import { isTreatyError } from "../../sdk/errors.js";
import {
  type Action,
  actions,
  checkProposal,
  FINAL_STATES,
  Governance,
  type ProposalDetail,
} from "../../sdk/governance.js";
import { generateKeyPair, type KeyPair } from "../../sdk/keys.js";
import { HEADER_CALLER, HEADER_SIGNATURE, parseSignatureHeader, verifyRequest } from "../../sdk/request.js";
import { fakeFetch, type SentRequest } from "../support/fake-node.js";

type Sent = SentRequest;
type Route = (sent: Sent) => { status?: number; json: unknown; contentType?: string };

const serviceKeyPair = generateKeyPair("ed25519");
const serviceKey = { curve: serviceKeyPair.curve, publicKey: serviceKeyPair.publicKey };

function governance(route: Route, key?: KeyPair) {
  const node = fakeFetch(route);
  const client = new Client({
    nodes: ["http://node.test"],
    serviceKey,
    fetch: node.fetch,
    retries: 2,
    backoffMs: 1,
  });
  return { gov: new Governance(client, key), sent: node.sent, client };
}

function bodyOf(sent: Sent): { args: unknown; nonce: string; createdMs: number } {
  return JSON.parse(utf8.decode(sent.body!)) as { args: unknown; nonce: string; createdMs: number };
}

function assertSignedBy(sent: Sent, key: KeyPair, serviceId: string): void {
  assert.equal(sent.headers[HEADER_CALLER], key.id);
  const signature = parseSignatureHeader(sent.headers[HEADER_SIGNATURE]!);
  assert.ok(verifyRequest(key, serviceId, sent.path, sent.body!, signature), `signature over ${sent.path}`);
}

describe("Governance writes", () => {
  const member = generateKeyPair("ed25519");
  const ok =
    (state = "Open"): Route =>
    () => ({ json: { proposalId: "p1", state, txid: "2.14" } });

  it("propose sends the actions, signed by the member for this service; an action list or a Proposal", async () => {
    const { gov, sent, client } = governance(ok(), member);
    const list = [actions.removeUser("u1"), actions.transitionServiceToOpen()];
    assert.deepEqual(await gov.propose(list), { proposalId: "p1", state: "Open", txid: "2.14" });
    await gov.propose({ actions: list });
    assert.equal(sent.length, 2);
    for (const request of sent) {
      assert.equal(request.method, "POST");
      assert.equal(request.path, "/gov/proposals");
      assertSignedBy(request, member, client.serviceId);
      const body = bodyOf(request);
      assert.deepEqual(body.args, {
        actions: [
          { name: "remove_user", args: { id: "u1" } },
          { name: "transition_service_to_open", args: {} },
        ],
      });
      assert.match(body.nonce, /^[0-9a-f]{44}$/);
    }
    assert.notEqual(bodyOf(sent[0]!).nonce, bodyOf(sent[1]!).nonce, "each request has its own nonce");
  });

  it("vote and withdraw post to the proposal's paths (ids URL-encoded)", async () => {
    const { gov, sent, client } = governance(ok("Accepted"), member);
    assert.equal((await gov.vote("p/1 x", "for")).state, "Accepted");
    await gov.vote("p2", "against");
    await gov.withdraw("p3");
    assert.deepEqual(
      sent.map((s) => [s.path, bodyOf(s).args]),
      [
        ["/gov/proposals/p%2F1%20x/ballots", { vote: "for" }],
        ["/gov/proposals/p2/ballots", { vote: "against" }],
        ["/gov/proposals/p3/withdraw", {}],
      ],
    );
    for (const request of sent) assertSignedBy(request, member, client.serviceId);
  });

  it("refuses writes without a member key, bad ballots and empty ids, before sending anything", async () => {
    const readOnly = governance(ok());
    await assert.rejects(readOnly.gov.propose([actions.removeUser("u")]), /need a member key/);
    const { gov, sent } = governance(ok(), member);
    await assert.rejects(gov.vote("p1", "maybe" as "for"), /vote: expected "for" or "against"/);
    await assert.rejects(gov.vote("", "for"), /proposalId: expected a non-empty string/);
    await assert.rejects(gov.withdraw(undefined as unknown as string), /proposalId/);
    assert.equal(readOnly.sent.length + sent.length, 0);
  });

  it("the node's refusal becomes a TreatyError with its code, and a refused write is not resent", async () => {
    const { gov, sent } = governance(
      () => ({
        status: 409,
        json: { error: { code: "ProposalNotOpen", message: "proposal p1 is Accepted" } },
      }),
      member,
    );
    await assert.rejects(
      gov.vote("p1", "for"),
      (err: unknown) => isTreatyError(err, "ProposalNotOpen") && /is Accepted/.test((err as Error).message),
    );
    assert.equal(sent.length, 1);
  });

  it("a 503 is retried with the very same signed bytes (a retry can never count twice)", async () => {
    let calls = 0;
    const { gov, sent } = governance(() => {
      calls++;
      return calls === 1
        ? { status: 503, json: { error: { code: "Unavailable", message: "electing" } } }
        : { json: { proposalId: "p1", state: "Open", txid: "3.2" } };
    }, member);
    await gov.vote("p1", "for");
    assert.equal(sent.length, 2);
    assert.deepEqual(sent[0]!.body, sent[1]!.body);
    assert.equal(sent[0]!.headers[HEADER_SIGNATURE], sent[1]!.headers[HEADER_SIGNATURE]);
  });
});

describe("Governance reads", () => {
  it("each read GETs its endpoint and unwraps the list", async () => {
    const answers: Record<string, unknown> = {
      "/gov/proposals": { proposals: [{ proposalId: "p1" }] },
      "/gov/proposals/p1": { proposalId: "p1", state: "Open" },
      "/gov/members": { members: [{ id: "m" }] },
      "/gov/users": { users: [{ id: "u" }] },
      "/gov/contracts": { contracts: [{ name: "log", version: 1, digest: "d" }] },
      "/gov/contracts/my%20c": { name: "my c", version: 2, digest: "e", source: {} },
      "/gov/constitution": { digest: "c", source: { "index.ts": "" } },
      "/gov/nodes": { nodes: [{ id: "n" }] },
      "/gov/service": { status: "open", identity: "i", recoveryThreshold: 1, autoTrustNodes: false },
      "/gov/limits": { heapBytes: 1 },
    };
    const { gov, sent } = governance((s) => ({ json: answers[s.path] ?? { error: "unexpected" } }));
    assert.deepEqual(await gov.proposals(), [{ proposalId: "p1" }]);
    assert.equal((await gov.proposal("p1")).state, "Open");
    assert.deepEqual(await gov.members(), [{ id: "m" }]);
    assert.deepEqual(await gov.users(), [{ id: "u" }]);
    assert.equal((await gov.contracts())[0]!.name, "log");
    assert.equal((await gov.contract("my c")).version, 2);
    assert.deepEqual((await gov.constitution()).source, { "index.ts": "" });
    assert.deepEqual(await gov.nodes(), [{ id: "n" }]);
    assert.equal((await gov.service()).status, "open");
    assert.equal((await gov.limits()).heapBytes, 1);
    assert.ok(sent.every((s) => s.method === "GET" && s.headers[HEADER_SIGNATURE] === undefined));
    assert.deepEqual(
      sent.map((s) => s.path),
      Object.keys(answers),
    );
  });

  it("waitForFinal polls until a final state, then waits for the deciding transaction's commit", async () => {
    let polls = 0;
    const { gov, sent } = governance((s) => {
      if (s.path.startsWith("/node/tx")) return { json: { txid: "2.9", status: "Committed" } };
      polls++;
      const detail: Partial<ProposalDetail> =
        polls < 3
          ? { proposalId: "p1", state: "Open" }
          : { proposalId: "p1", state: "Accepted", decidedTxid: "2.9" };
      return { json: detail };
    });
    const final = await gov.waitForFinal("p1", { pollMs: 1 });
    assert.equal(final.state, "Accepted");
    assert.equal(polls, 3);
    assert.equal(sent.at(-1)!.path, "/node/tx?txid=2.9&wait=2000");
  });

  it("waitForFinal with committed: false does not wait for the commit", async () => {
    const { gov, sent } = governance(() => ({
      json: { proposalId: "p1", state: "Rejected", decidedTxid: "2.9" },
    }));
    assert.equal((await gov.waitForFinal("p1", { committed: false })).state, "Rejected");
    assert.equal(sent.length, 1);
  });

  it("waitForFinal gives up with Timeout naming the proposal and its state", async () => {
    const { gov } = governance(() => ({ json: { proposalId: "p9", state: "Open" } }));
    await assert.rejects(
      gov.waitForFinal("p9", { timeoutMs: 30, pollMs: 5 }),
      (err: unknown) => isTreatyError(err, "Timeout") && /p9: still Open/.test((err as Error).message),
    );
  });

  it("waitForFinal keeps asking about an unknown proposal (a lagging node) until its deadline", async () => {
    const { gov, sent } = governance(() => ({
      status: 404,
      json: { error: { code: "UnknownProposal", message: "no proposal zz" } },
    }));
    await assert.rejects(gov.waitForFinal("zz", { timeoutMs: 200, pollMs: 10 }), (err: unknown) =>
      isTreatyError(err, "UnknownProposal"),
    );
    assert.ok(sent.length > 1, `asked ${sent.length} time(s)`);
  });

  it("every final state ends the wait; Open is the only non-final state", () => {
    assert.deepEqual([...FINAL_STATES].sort(), ["Accepted", "Dropped", "Failed", "Rejected", "Withdrawn"]);
  });
});

describe("actions", () => {
  const key = generateKeyPair("p256");

  it("a key pair given for a member or user yields only its curve and hex public key", () => {
    const member = actions.setMember(key, { org: "Contoso" }, "ab".repeat(32));
    assert.deepEqual(member, {
      name: "set_member",
      args: {
        publicKey: toHex(key.publicKey),
        curve: "p256",
        data: { org: "Contoso" },
        encryptionKey: "ab".repeat(32),
      },
    });
    const user = actions.setUser(key);
    assert.deepEqual(user, { name: "set_user", args: { publicKey: toHex(key.publicKey), curve: "p256" } });
    const text = JSON.stringify([member, user]);
    assert.ok(!text.includes(toHex(key.privateKey)), "the private key never enters an action");
  });

  it("identity args pass through; data given separately wins", () => {
    assert.deepEqual(actions.setUser({ publicKey: "aa", data: { a: 1 } }), {
      name: "set_user",
      args: { publicKey: "aa", data: { a: 1 } },
    });
    assert.deepEqual(actions.setUser({ publicKey: "aa", curve: "secp256k1", data: { a: 1 } }, { b: 2 }), {
      name: "set_user",
      args: { publicKey: "aa", curve: "secp256k1", data: { b: 2 } },
    });
    assert.deepEqual(actions.setMember({ publicKey: "bb", encryptionKey: "cc" }), {
      name: "set_member",
      args: { publicKey: "bb", encryptionKey: "cc" },
    });
  });

  it("every builder produces the API's action name and argument shape", () => {
    const files = { "index.ts": "export default {}" };
    const built: Action[] = [
      actions.removeMember("m1"),
      actions.removeUser("u1"),
      actions.deployContract("escrow", files),
      actions.removeContract("escrow"),
      actions.setConstitution(files),
      actions.addNodeCode("ee"),
      actions.removeNodeCode("ee"),
      actions.trustNode("n1"),
      actions.retireNode("n1"),
      actions.transitionServiceToOpen(),
      actions.setRecoveryThreshold(2),
      actions.setRuntimeLimits({ wallClockMs: 500 }),
    ];
    assert.deepEqual(built, [
      { name: "remove_member", args: { id: "m1" } },
      { name: "remove_user", args: { id: "u1" } },
      { name: "deploy_contract", args: { name: "escrow", files } },
      { name: "remove_contract", args: { name: "escrow" } },
      { name: "set_constitution", args: { files } },
      { name: "add_node_code", args: { measurement: "ee" } },
      { name: "remove_node_code", args: { measurement: "ee" } },
      { name: "trust_node", args: { id: "n1" } },
      { name: "retire_node", args: { id: "n1" } },
      { name: "transition_service_to_open", args: {} },
      { name: "set_recovery_threshold", args: { threshold: 2 } },
      { name: "set_runtime_limits", args: { limits: { wallClockMs: 500 } } },
    ]);
  });

  it("builders copy the caller's file maps (a later edit does not change a built action)", () => {
    const files: Record<string, string> = { "index.ts": "a" };
    const action = actions.deployContract("c", files);
    files["index.ts"] = "b";
    assert.deepEqual(action.args, { name: "c", files: { "index.ts": "a" } });
  });
});

describe("checkProposal", () => {
  it("accepts {actions: [{name, args}]} and defaults missing args to {}", () => {
    assert.deepEqual(checkProposal({ actions: [{ name: "x" }, { name: "y", args: { a: 1 } }] }), {
      actions: [
        { name: "x", args: {} },
        { name: "y", args: { a: 1 } },
      ],
    });
  });

  const hostile: Array<[unknown, RegExp]> = [
    [null, /^proposal: expected an object/],
    ["actions", /^proposal: expected an object/],
    [[{ name: "x" }], /^proposal: expected an object/],
    [{}, /^proposal\.actions: expected a non-empty array/],
    [{ actions: [] }, /^proposal\.actions: expected a non-empty array/],
    [{ actions: { 0: { name: "x" } } }, /^proposal\.actions: expected a non-empty array/],
    [{ actions: [{ name: "x" }], extra: 1 }, /^proposal\.extra: unknown field/],
    [{ actions: [null] }, /^proposal\.actions\[0\]: expected an object/],
    [{ actions: [{ name: "x" }, "y"] }, /^proposal\.actions\[1\]: expected an object/],
    [{ actions: [{ args: {} }] }, /^proposal\.actions\[0\]\.name: expected a non-empty string/],
    [{ actions: [{ name: "" }] }, /^proposal\.actions\[0\]\.name: expected a non-empty string/],
    [{ actions: [{ name: 7 }] }, /^proposal\.actions\[0\]\.name: expected a non-empty string/],
    [{ actions: [{ name: "x", argz: {} }] }, /^proposal\.actions\[0\]\.argz: unknown field/],
    [JSON.parse('{"actions": [{"name": "x", "__proto__": {"polluted": true}}]}'), /__proto__: unknown field/],
  ];
  for (const [input, message] of hostile) {
    it(`refuses ${JSON.stringify(input)} with ProposalInvalid naming the field`, () => {
      assert.throws(
        () => checkProposal(input),
        (err: unknown) => isTreatyError(err, "ProposalInvalid") && message.test((err as Error).message),
      );
    });
  }
});
