/**
 * `treaty/testing`: unit-test contracts in plain Node, without QuickJS. `testContract` runs a
 * contract's methods through the same invoke path as the sandbox over an in-memory store with
 * the sandbox host's rules; `loadBundle` runs a compiled bundle the same way; `testConstitution`
 * and `seedGovernance` test a constitution over seeded governance tables. See docs/contracts.md
 * ("Testing").
 */
export { type LoadBundleOptions, loadBundle } from "./bundle.js";
export {
  type CallOptions,
  type CallResult,
  CONSTITUTION_NAME,
  type Invokable,
  jwtCaller,
  MapState,
  member,
  StateView,
  type TestCaller,
  TestContract,
  type TestContractOptions,
  testConstitution,
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
export { type GovernanceSeed, type IdentityData, namedPublicKey, seedGovernance } from "./governance.js";
export { after, type Assert, assert, before, describe, it, type TestBody } from "./runner.js";
export { MemoryStore, type StoreWrite } from "./store.js";
