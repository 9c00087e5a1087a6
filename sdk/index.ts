/**
 * `treaty/sdk`: what apps import. Runs in Node and in browsers.
 *
 * - `Client`: signed calls, safe retries, commit waits, verified receipts, typed contract clients;
 * - keys: generation, key files, signing and verification on ed25519, P-256 and secp256k1;
 * - receipts: offline verification against a pinned service identity key;
 * - signed answers: a readonly call's answer signed by its node, naming the txid it observed;
 * - requests: the signed request format, for clients that build their own transport;
 * - governance: `Governance` (propose, vote, withdraw, read the tables) and typed `actions`;
 * - Ethereum wallets: requests signed with EIP-191 `personal_sign` or EIP-712 typed data;
 * - disaster recovery: a member submits its recovery share (`submitRecoveryShare`).
 */
export {
  type CallOptions,
  type CallResult,
  Client,
  type ClientOptions,
  type ContractClient,
  type NodeStatus,
  parseServiceFile,
  type TxStatus,
} from "./client.js";
export {
  bearerRequest,
  bearerRequestDigest,
  HEADER_AUTHORIZATION,
  jwtCallerId,
  MAX_BEARER_TOKEN_CHARS,
} from "./bearer.js";
export { fromHex, toHex } from "./bytes.js";
export { decode, encode, encodeCanonical } from "./codec.js";
export {
  EIP191_SCHEME,
  EIP712_SCHEME,
  ethereumAddress,
  HEADER_SIGNATURE_SCHEME,
  isEthereumAddress,
  keyWallet,
  signWalletRequest,
  TREATY_TYPES,
  type TreatyTypedData,
  treatyTypedData,
  type WalletSigner,
  walletRequest,
  walletRequestText,
  walletTypedRequest,
} from "./ethereum.js";
export { ErrorCode, isTreatyError, TreatyError } from "./errors.js";
export * from "./governance.js";
export {
  type Curve,
  CURVES,
  fromKeyFile,
  generateKeyPair,
  type KeyFile,
  type KeyPair,
  keyId,
  parsePublicKey,
  type PublicKey,
  sign,
  signAsync,
  toKeyFile,
  verify,
} from "./keys.js";
export { verifyConsistency, verifyInclusion } from "./merkle.js";
export {
  type ConsistencyProof,
  type SignedTreeHead,
  type VerifiedTreeHead,
  verifyConsistencyProof,
  verifySignedTreeHead,
} from "./consistency.js";
export {
  type VerifiedCoseReceipt,
  verifyCoseReceipt,
} from "./cose-receipt.js";
export {
  type EncryptionKeyPair,
  encryptionKeyFromFile,
  generateEncryptionKeyPair,
  type SealedShare,
  type ShareSubmission,
  submitRecoveryShare,
} from "./recovery.js";
export {
  type AnswerStatement,
  HEADER_ANSWER_CHALLENGE,
  type SignedAnswer,
  verifySignedAnswer,
} from "./signed-answer.js";
export { formatTxId, parseTxId, type Receipt, type VerifiedReceipt, verifyReceipt } from "./receipt.js";
export {
  HEADER_CONSISTENCY,
  READ_CONSISTENCIES,
  type ReadConsistency,
  signingInput,
  signRequest,
  signRequestAsync,
  type SignedRequest,
  unsignedRequest,
} from "./request.js";
export {
  EventStreamRefused,
  type StreamedEvent,
  sseFrames,
  watchEvents,
  type WatchEventsOptions,
} from "./events.js";
