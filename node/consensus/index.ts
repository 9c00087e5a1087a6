/**
 * The consensus core's public surface: the pure state machine (`ConsensusNode`), its data types
 * and helpers. Drivers (the node process, the simulator, scenario tests) import from here.
 */
export { describeEntry, describeMessage, describePayload, describeReady } from "./describe.js";
export {
  bootstrapState,
  type ConsensusNodeOptions,
  type ConsensusStats,
  ConsensusNode,
  emptyState,
  type MembershipChange,
  type NodeStatus,
} from "./node.js";
export {
  type ConsensusLimits,
  DEFAULT_CONSENSUS_LIMITS,
  MAX_NODE_ID_LENGTH,
  resolveLimits,
} from "./options.js";
export { baseOf, type LogStorage } from "./log.js";
export { cryptoRng } from "./rng.js";
export { evaluateTxStatus, type TxKnowledge } from "./txstatus.js";
export type * from "./types.js";
export { REJECT_REASONS, type RejectReason } from "./validate.js";
