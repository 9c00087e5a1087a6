/**
 * Retirement on a real replicated network: three in-process nodes on the in-memory transport
 * (joiners trusted by the service's `autoTrustNodes` policy, set at genesis: trust by proposal is covered
 * in node.test.ts and test/gov-e2e). `retire_node` only marks the node retiring; the leader then
 * takes it out of the consensus configuration and, once that change is committed, records it
 * retired. Leader changes mid-vote are test/gov-e2e's.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { toHex } from "../../sdk/bytes.js";
import { pinnedFetch } from "../../node/tls/client.js";
import { Client } from "../../sdk/client.js";
import { actions, Governance } from "../../sdk/governance.js";
import { generateKeyPair } from "../../sdk/keys.js";
import { fileIdentity, memoryNodes, until } from "../support/memory-nodes.js";

const member = generateKeyPair("ed25519");
const { running, startNetwork, stopAll } = memoryNodes({
  dir: () => dir,
  config: fileIdentity,
});
let dir: string;

describe("governance retires a node from a 3-node network", () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "treaty-gov-net-"));
    await startNetwork({
      genesis: {
        members: [{ curve: member.curve, publicKey: toHex(member.publicKey) }],
        users: [],
        contracts: [],
        open: true,
        autoTrustNodes: true,
      },
    });
  });

  after(async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("retire_node: retiring, out of the configuration, then retired; the others carry on", async () => {
    const leader = await until("a leader", () =>
      [...running].find((n) => n.replica.consensus.status().role === "Leader"),
    );
    const retiree = [...running].find((n) => n !== leader)!;
    // The nodes serve TLS (the default): the client pins the service certificate.
    const client = new Client({
      nodes: [leader.url],
      serviceKey: leader.serviceKey,
      key: member,
      fetch: pinnedFetch(leader.serviceCertificate),
    });
    const gov = new Governance(client, member);
    const { proposalId } = await gov.propose([actions.retireNode(retiree.identity.id)]);
    const decided = await gov.vote(proposalId, "for");
    assert.equal(decided.state, "Accepted");
    await until("the retirement to commit", () => {
      const record = leader.gov.node(retiree.identity.id);
      return record?.status === "retired" ? record : undefined;
    });
    const config = leader.gov.config();
    assert.ok(config !== null && !config.includes(retiree.identity.id), "out of the committed configuration");
    assert.equal(config.length, 2);
    assert.deepEqual(leader.replica.consensus.status().config, config);
    // The remaining two still decide: governance works on without the retired node.
    const next = await gov.propose([actions.setUser(generateKeyPair())]);
    const accepted = await gov.vote(next.proposalId, "for");
    assert.equal(accepted.state, "Accepted");
    await client.waitForCommit(accepted.txid);
    const survivors = [...running].filter((n) => n !== retiree);
    await until("every remaining node to see the retirement", () =>
      survivors.every((n) => n.gov.node(retiree.identity.id)?.status === "retired") ? true : undefined,
    );
  });
});
