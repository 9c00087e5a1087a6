/**
 * `treaty/contract`: what contract authors import. A contract is a folder whose index.ts
 * declares maps and methods and default-exports `contract({...})`:
 *
 *   import { contract, map, method, t, ContractError } from "treaty/contract";
 *   const messages = map<number, string>("messages", { key: "number" });
 *   export default contract({
 *     write: method({ mode: "readwrite", auth: "users", args: { id: t.integer(), msg: t.string() },
 *                     run: ({ id, msg }) => messages.set(id, msg) }),
 *   });
 *
 * The same module runs compiled into every contract bundle inside the QuickJS sandbox and in
 * plain Node under `treaty/testing`, so it imports nothing but its siblings (and ABI types) and
 * reaches the host only through `globalThis.__treatyHost`. See docs/contracts.md.
 */
export type {
  AuthPolicy,
  CallerRole,
  ContractManifest,
  JwtClaims,
  EventManifest,
  MethodManifest,
  MethodMode,
  Shape,
} from "../../runtime/sandbox/abi.js";
export { fromHex, isHex, toHex, utf8Decode, utf8Encode } from "./bytes.js";
export {
  type AnyEvent,
  type AnyMethod,
  type ArgsOf,
  type ArgsSpec,
  type Contract,
  contract,
  type ContractOptions,
  type EventDecl,
  type EventSpec,
  type EventsOf,
  event,
  type InferArgs,
  type JsonResult,
  Method,
  type MethodSpec,
  type MethodsOf,
  method,
  type PublicEventsOf,
  type ResultOf,
  type WriteAuthPolicy,
} from "./contract.js";
export {
  type Bytes,
  type Curve,
  type Data,
  MAX_RANDOM_BYTES,
  randomBytes,
  randomHex,
  randomInt,
  type SignatureCheck,
  sha256,
  verifySignature,
} from "./crypto.js";
export {
  ApiError,
  type ApiErrorCode,
  ContractError,
  MAX_ERROR_MESSAGE_CHARS,
  RESERVED_ERROR_CODES,
} from "./errors.js";
export { emit, setClaimsDigest } from "./events.js";
export { type Caller, caller, currentMethod, type JwtCaller, now, txid } from "./host.js";
export { describeValue, type JsonValue, jsonProblem, MAX_JSON_DEPTH } from "./json.js";
export {
  compareKeys,
  decodeKey,
  encodeKey,
  encodeKeyPrefix,
  isKeyKind,
  type KeyKind,
  type KeyOf,
  MAX_KEY_COMPONENTS,
  prefixRange,
  type ScalarKeyKind,
  tryEncodeKey,
} from "./keys.js";
export {
  type KeyPrefix,
  type KindsOf,
  KvMap,
  type MapKey,
  map,
  type MapOptionsFor,
  type NumberMapOptions,
  type RangeOptions,
  type StringMapOptions,
  type TupleMapOptions,
} from "./map.js";
export {
  type AnyShape,
  describeShape,
  type Field,
  fieldsMatch,
  type Infer,
  type InferObject,
  type Optional,
  shapeMatches,
  shapeProblem,
  t,
  type Typed,
  validate,
} from "./shapes.js";
