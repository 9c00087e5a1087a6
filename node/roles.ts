/**
 * The part each node plays in consensus, as `/node/status` (this node) and `/node/network` (every
 * node of the node table) show it. A node that joins first catches up as a non-voting learner
 * (node/consensus/node.ts, `learnerMaxLagEntries`); the leader adds it to the configuration once
 * its log is close to the leader's, and only then does it vote and count for commits.
 */
import type { NodeStatus as ConsensusStatus } from "./consensus/node.js";
import type { NodeRecord } from "./gov/tables.js";

/**
 * This node: `leader`, `candidate`, `follower` (a voter), `learner` (replicates the ledger but
 * is not in its latest configuration: a joiner catching up or waiting to be added) or `retired`
 * (out of the configuration for good: governance is retiring or retired it).
 */
export type OwnRole = "leader" | "candidate" | "follower" | "learner" | "retired";

/** This node's role from its consensus state and its own record in the node table. */
export function ownRole(
  consensus: Pick<ConsensusStatus, "role" | "member">,
  record: Pick<NodeRecord, "status"> | undefined,
): OwnRole {
  if (consensus.role === "Leader") return "leader";
  if (consensus.role === "Candidate") return "candidate";
  if (consensus.member) return "follower";
  // Out of the configuration: a node governance is retiring has left it (its change committed).
  return record?.status === "retired" || record?.status === "retiring" ? "retired" : "learner";
}

/**
 * A node of the node table, as this node sees it: `leader`, `follower` (in the latest
 * configuration), `learner` (trusted, or replicated to by this leader, but not in the
 * configuration yet) or null (pending admission, or retiring/retired and out of the
 * configuration: no part in consensus; `status` of the record says which).
 */
export type TableRole = "leader" | "follower" | "learner" | null;

/** The role of node `id`, whose record is `record`, from this node's consensus state. */
export function tableRole(
  consensus: Pick<ConsensusStatus, "leader" | "config" | "learners">,
  id: string,
  record: Pick<NodeRecord, "status">,
): TableRole {
  if (id === consensus.leader) return "leader";
  if (consensus.config?.includes(id) === true) return "follower";
  if (consensus.learners.includes(id)) return "learner";
  return record.status === "trusted" ? "learner" : null;
}
