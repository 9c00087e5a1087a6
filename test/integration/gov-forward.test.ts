/**
 * Governance writes sent to a follower on a 3-node network over a real nats-server: the follower
 * forwards them before any admission, as it does `/app` writes, and the leader's admission
 * decides. A member's proposal is recorded; the same request signed by a user is Forbidden, and
 * a tampered one is BadSignature — each answer is the leader's, and each of the three requests
 * shows in the follower's `treaty_forwarded_total`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { actions } from "../../sdk/governance.js";
import { signRequest, type SignedRequest } from "../../sdk/request.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";

const PATH = "/gov/proposals";

async function post(node: ClusterNode, request: SignedRequest) {
  const response = await fetch(`${node.url}${request.path}`, {
    method: "POST",
    body: Buffer.from(request.body),
    headers: request.headers,
  });
  const json = (await response.json()) as { proposalId?: string; error?: { code: string } };
  return { status: response.status, json };
}

async function forwardedRequests(node: ClusterNode): Promise<number> {
  const text = await (await fetch(`${node.url}/node/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith('treaty_forwarded_total{kind="requests"}'));
  assert.ok(line !== undefined, "treaty_forwarded_total in /node/metrics");
  return Number(line.split(" ").at(-1));
}

describe("governance writes sent to a follower", () => {
  let cluster: Cluster;
  let follower: ClusterNode;

  before(async () => {
    cluster = await startCluster({ nodes: 3, logLevel: "warn" });
    const leader = await cluster.waitForLeader();
    follower = cluster.nodes.find((node) => node !== leader)!;
  });
  after(() => cluster?.dispose());

  it("are forwarded before admission and answered by the leader's admission", async () => {
    const before = await forwardedRequests(follower);
    const action = actions.setUser(generateKeyPair("ed25519"));
    const args = { actions: [{ name: action.name, args: action.args }] };

    const proposed = await post(follower, signRequest(cluster.member, cluster.serviceId, PATH, args));
    assert.equal(proposed.status, 200, JSON.stringify(proposed.json));
    assert.match(proposed.json.proposalId ?? "", /^[0-9a-f]{64}$/);

    const byUser = await post(follower, signRequest(cluster.user, cluster.serviceId, PATH, args));
    assert.equal(byUser.status, 403, JSON.stringify(byUser.json));
    assert.equal(byUser.json.error?.code, "Forbidden");

    const signed = signRequest(cluster.member, cluster.serviceId, PATH, args);
    const text = new TextDecoder().decode(signed.body);
    const tampered = { ...signed, body: new TextEncoder().encode(text.replace('"actions"', '"actions" ')) };
    const bad = await post(follower, tampered);
    assert.equal(bad.json.error?.code, "BadSignature", JSON.stringify(bad.json));

    assert.equal((await forwardedRequests(follower)) - before, 3, "the follower forwarded all three");
  });
});
