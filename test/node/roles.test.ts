/**
 * Roles as `/node/status` and `/node/network` show them: a joiner that replicates without being
 * in the configuration is a learner, not a follower; a node out of it for good is retired.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ownRole, tableRole } from "../../node/roles.js";

describe("node roles", () => {
  it("this node: leader, candidate, follower only as a voter, learner until added, retired after", () => {
    const trusted = { status: "trusted" } as const;
    assert.equal(ownRole({ role: "Leader", member: true }, trusted), "leader");
    assert.equal(ownRole({ role: "Candidate", member: true }, trusted), "candidate");
    assert.equal(ownRole({ role: "Follower", member: true }, trusted), "follower");
    assert.equal(ownRole({ role: "Follower", member: false }, trusted), "learner");
    // A joiner that has not replicated its own record yet is a learner too.
    assert.equal(ownRole({ role: "Follower", member: false }, undefined), "learner");
    assert.equal(ownRole({ role: "Follower", member: false }, { status: "retired" }), "retired");
    assert.equal(ownRole({ role: "Follower", member: false }, { status: "retiring" }), "retired");
    // Still in the configuration while its retirement is pending: it votes.
    assert.equal(ownRole({ role: "Follower", member: true }, { status: "retiring" }), "follower");
  });

  it("the node table: leader, followers in the configuration, learners, none for the others", () => {
    const leaderView = { leader: "a", config: ["a", "b"], learners: ["c"] };
    assert.equal(tableRole(leaderView, "a", { status: "trusted" }), "leader");
    assert.equal(tableRole(leaderView, "b", { status: "trusted" }), "follower");
    assert.equal(tableRole(leaderView, "c", { status: "trusted" }), "learner");
    assert.equal(tableRole(leaderView, "b", { status: "retiring" }), "follower");
    assert.equal(tableRole(leaderView, "d", { status: "pending" }), null);
    assert.equal(tableRole(leaderView, "e", { status: "retired" }), null);
    // A follower does not know the leader's learners: a trusted node out of the configuration is one.
    const followerView = { leader: "a", config: ["a", "b"], learners: [] };
    assert.equal(tableRole(followerView, "c", { status: "trusted" }), "learner");
    assert.equal(
      tableRole({ leader: null, config: null, learners: [] }, "a", { status: "trusted" }),
      "learner",
    );
  });
});
