/**
 * JWT bearer requests on a 3-node network over a real nats-server: a write sent to a follower is
 * forwarded to the leader with its token (the leader verifies it again) and commits; the same
 * bytes again are a Replay; a bad token sent to a follower is forwarded too and refused by the
 * leader (401); every node sees the issuer set by governance, and a read on a follower sees the write.
 * Wallet writes (EIP-712 and EIP-191) sent to a follower are forwarded with their scheme header.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { bearerRequest } from "../../sdk/bearer.js";
import { keyWallet } from "../../sdk/ethereum.js";
import { generateKeyPair as generateTreatyKey } from "../../sdk/keys.js";
import { actions, Governance } from "../../sdk/governance.js";
import { jwtCallerId } from "../../node/auth/jwt.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";

const ISSUER = "https://login.example.test";
const AUDIENCE = "treaty-cluster-test";
const PATH = "/app/profile/setName";

async function post(
  node: ClusterNode,
  request: { body: Uint8Array; headers: Readonly<Record<string, string>> },
) {
  const response = await fetch(`${node.url}${PATH}`, {
    method: "POST",
    body: Buffer.from(request.body),
    headers: request.headers,
  });
  const json = (await response.json()) as { txid?: string; error?: { code: string } };
  return { status: response.status, json };
}

/** The follower's count of requests forwarded to the leader (its metrics). */
async function forwardedRequests(node: ClusterNode): Promise<number> {
  const text = await (await fetch(`${node.url}/node/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith('treaty_forwarded_total{kind="requests"}'));
  assert.ok(line, "treaty_forwarded_total{kind=requests} in /node/metrics");
  return Number(line.split(" ").at(-1));
}

describe("JWT bearer requests on 3 nodes", () => {
  let cluster: Cluster;
  let token: string;
  let leader: ClusterNode;
  let follower: ClusterNode;
  const wallet = keyWallet(generateTreatyKey("secp256k1"));

  before(async () => {
    cluster = await startCluster({
      nodes: 3,
      contracts: [{ name: "profile", path: "docs/examples/profile" }],
      logLevel: "warn",
    });
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    const gov = new Governance(cluster.client(cluster.member), cluster.member);
    const { proposalId } = await gov.propose([
      actions.setJwtIssuer(ISSUER, AUDIENCE, { keys: [jwk] }),
      actions.setWalletUser(wallet.address),
    ]);
    await gov.vote(proposalId, "for");
    assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");
    const now = Math.floor(Date.now() / 1000);
    token = await new SignJWT({ iss: ISSUER, sub: "fred", aud: AUDIENCE, exp: now + 600 })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .sign(privateKey);
    leader = await cluster.waitForLeader();
    follower = cluster.nodes.find((n) => n !== leader)!;
    await cluster.waitForConvergence();
  });
  after(() => cluster?.dispose());

  it("a follower forwards a bearer write to the leader; the same bytes again are a Replay", async () => {
    const request = bearerRequest(token, PATH, { name: "Fred" });
    const first = await post(follower, request);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const again = await post(follower, request);
    assert.deepEqual([again.status, again.json.error?.code], [409, "Replay"]);
    await cluster.waitForConvergence();
    const read = await cluster
      .client(null, { nodes: [follower.url], bearerToken: token })
      .call("profile", "profile", { id: jwtCallerId(ISSUER, "fred") });
    assert.deepEqual(read.result, { name: "Fred", issuer: ISSUER, subject: "fred" });
  });

  it("a follower forwards a write with a bad token, and the leader refuses it", async () => {
    const [h, p] = token.split(".");
    const unsigned = bearerRequest(`${h}.${p}.`, PATH, { name: "Mallory" });
    const before = await forwardedRequests(follower);
    const answer = await post(follower, unsigned);
    assert.deepEqual([answer.status, answer.json.error?.code], [401, "InvalidToken"]);
    assert.equal((await forwardedRequests(follower)) - before, 1);
  });

  it("a follower forwards a wallet write with its signature scheme (EIP-712 and EIP-191)", async () => {
    for (const [name, signer] of [
      ["Typed", wallet],
      ["Text", { address: wallet.address, signText: wallet.signText }],
    ] as const) {
      const client = cluster.client(null, { nodes: [follower.url], wallet: signer });
      const { txid } = await client.call("profile", "setName", { name });
      await client.waitForCommit(txid!);
      const read = await client.call("profile", "profile", { id: wallet.address });
      assert.equal((read.result as { name: string }).name, name);
    }
  });
});
