/**
 * `treaty/testing`: unit-test contracts in plain Node, without QuickJS. `testContract` runs a
 * contract's methods through the same invoke path as the sandbox over an in-memory store with
 * the sandbox host's rules; `loadBundle` runs a compiled bundle the same way. See
 * docs/contracts.md ("Testing").
 */
export { type LoadBundleOptions, loadBundle } from "./bundle.js";
export {
  type CallOptions,
  type CallResult,
  type Invokable,
  member,
  StateView,
  type TestCaller,
  TestContract,
  type TestContractOptions,
  testContract,
  user,
  type Write,
} from "./harness.js";
export {
  CallHost,
  type CallHostOptions,
  type ContractEvent,
  DEFAULT_STAND_IN_LIMITS,
  type StandInLimits,
  storeMapName,
} from "./host.js";
export { MemoryStore, type StoreWrite } from "./store.js";
