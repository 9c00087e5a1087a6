/**
 * Forwarded writes on a 3-node network over a real nats-server: a burst of signed writes sent to
 * a follower at once (which it forwards to the leader in batches, node/forward-batch.ts) is
 * answered request by request — each valid write with its own txid, a duplicate of one of them
 * in the same burst with Replay, a bad signature with BadSignature — and every write commits
 * with the value it carried. The follower's `treaty_forwarded_total` counts the requests it
 * forwarded and the node-to-node sends that carried them. Governance writes are forwarded before
 * admission too: a member's proposal is recorded, the same request signed by a user is
 * Forbidden and a tampered one BadSignature, each the leader's answer.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { actions } from "../../sdk/governance.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { signRequest, type SignedRequest } from "../../sdk/request.js";
import { type Cluster, type ClusterNode, startCluster } from "../support/cluster.js";

const PATH = "/app/log/writePublic";
const WRITES = 48;

async function post(node: ClusterNode, request: SignedRequest) {
  const response = await fetch(`${node.url}${request.path}`, {
    method: "POST",
    body: Buffer.from(request.body),
    headers: request.headers,
  });
  const json = (await response.json()) as { txid?: string; proposalId?: string; error?: { code: string } };
  return { status: response.status, json };
}

async function forwardedCounts(node: ClusterNode): Promise<{ requests: number; sends: number }> {
  const text = await (await fetch(`${node.url}/node/metrics`)).text();
  const count = (kind: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`treaty_forwarded_total{kind="${kind}"}`));
    assert.ok(line !== undefined, `treaty_forwarded_total{kind="${kind}"} in /node/metrics`);
    return Number(line.split(" ").at(-1));
  };
  return { requests: count("requests"), sends: count("sends") };
}

describe("writes forwarded by a follower in batches", () => {
  let cluster: Cluster;
  let follower: ClusterNode;

  before(async () => {
    cluster = await startCluster({ nodes: 3, logLevel: "warn" });
    const leader = await cluster.waitForLeader();
    follower = cluster.nodes.find((node) => node !== leader)!;
  });
  after(() => cluster?.dispose());

  it("answers each write of a burst on its own, and every valid one commits", async () => {
    const before = await forwardedCounts(follower);
    const writes = Array.from({ length: WRITES }, (_, i) =>
      signRequest(cluster.user, cluster.serviceId, PATH, { id: 7000 + i, msg: `burst ${i}` }),
    );
    const forged = signRequest(cluster.user, cluster.serviceId, PATH, { id: 6999, msg: "forged" });
    const badSignature = {
      ...forged,
      body: new TextEncoder().encode(new TextDecoder().decode(forged.body).replace("forged", "forgeD")),
    };
    const answers = await Promise.all([...writes, writes[0]!, badSignature].map((w) => post(follower, w)));

    const valid = answers.slice(0, WRITES);
    const duplicate = answers[WRITES]!;
    const bad = answers[WRITES + 1]!;
    // The write and its duplicate raced in the same burst: exactly one executed.
    const firstPair = [valid[0]!, duplicate];
    assert.equal(firstPair.filter((a) => a.status === 200).length, 1, JSON.stringify(firstPair));
    assert.equal(firstPair.find((a) => a.status !== 200)?.json.error?.code, "Replay");
    for (const [i, answer] of valid.slice(1).entries())
      assert.equal(answer.status, 200, `write ${i + 1}: ${JSON.stringify(answer.json)}`);
    assert.equal(bad.json.error?.code, "BadSignature");

    const txids = answers.flatMap((a) => (a.json.txid === undefined ? [] : [a.json.txid]));
    assert.equal(new Set(txids).size, WRITES, "one distinct txid per executed write");
    const client = cluster.client();
    for (const txid of txids) await client.waitForCommit(txid);
    for (let i = 0; i < WRITES; i += 7) {
      const read = await client.call("log", "readPublic", { id: 7000 + i });
      assert.deepEqual(read.result, { msg: `burst ${i}` });
    }

    const after = await forwardedCounts(follower);
    // Every write was forwarded before admission, the bad signature too: the leader refused it.
    assert.equal(after.requests - before.requests, WRITES + 2);
    assert.ok(after.sends - before.sends >= 1 && after.sends - before.sends <= WRITES + 2);
  });

  it("forwards governance writes before admission: the leader's admission answers them", async () => {
    const before = await forwardedCounts(follower);
    const action = actions.setUser(generateKeyPair("ed25519"));
    const args = { actions: [{ name: action.name, args: action.args }] };
    const propose = (key: typeof cluster.member) =>
      signRequest(key, cluster.serviceId, "/gov/proposals", args);

    const proposed = await post(follower, propose(cluster.member));
    assert.equal(proposed.status, 200, JSON.stringify(proposed.json));
    assert.match(proposed.json.proposalId ?? "", /^[0-9a-f]{64}$/);

    const byUser = await post(follower, propose(cluster.user));
    assert.deepEqual([byUser.status, byUser.json.error?.code], [403, "Forbidden"]);

    const signed = propose(cluster.member);
    const text = new TextDecoder().decode(signed.body).replace('"actions"', '"actions" ');
    const tampered = await post(follower, { ...signed, body: new TextEncoder().encode(text) });
    assert.equal(tampered.json.error?.code, "BadSignature", JSON.stringify(tampered.json));

    const after = await forwardedCounts(follower);
    assert.equal(after.requests - before.requests, 3, "the follower forwarded all three");
  });
});
