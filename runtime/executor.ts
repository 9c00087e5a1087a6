/**
 * The contract executor: load contracts, run one call against a KV transaction, get back
 * `{result, writeSet, events}` or a coded error. See executor/runtime.ts for the checks and
 * executor/host.ts for what a contract can reach.
 */
export {
  type ContractEvent,
  storeMapName,
  TxHost,
  type TxHostOptions,
} from "./executor/host.js";
export { CONTRACT_ERROR_CODE, checkOutcome } from "./executor/outcome.js";
export {
  type CallError,
  type CallOutcome,
  type Caller,
  type ContractCall,
  ContractRuntime,
  checkContractName,
  EMPTY_WRITE_SET,
  type RuntimeOptions,
} from "./executor/runtime.js";
export { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from "./sandbox/limits.js";
