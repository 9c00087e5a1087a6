/**
 * The governance tables: public maps under `public:gov.*`, written only by genesis and by the
 * constitution's `apply`, readable by everyone (they are in clear in the ledger, so any auditor
 * can replay every governance decision). Keys are the API's string keys (stored as UTF-8), values
 * JSON, exactly as a contract's `map<string, V>` would store them, so the constitution (a
 * contract deployed under the reserved name `gov`) reads and writes them with the normal API.
 */
import { utf8 } from "../../sdk/bytes.js";
import type { Curve } from "../../sdk/keys.js";

export const GOV = {
  members: "public:gov.members",
  users: "public:gov.users",
  contracts: "public:gov.contracts",
  constitution: "public:gov.constitution",
  nodes: "public:gov.nodes",
  nodeCode: "public:gov.nodeCode",
  service: "public:gov.service",
  limits: "public:gov.limits",
  proposals: "public:gov.proposals",
  ballots: "public:gov.ballots",
  /** Decided proposals, oldest first: key `<16-digit decision seqno>:<proposal id>`. Engine-owned. */
  decided: "public:gov.decided",
  /** How many rows `decided` holds (key SINGLETON_KEY, a number). Engine-owned. */
  decidedCount: "public:gov.decidedCount",
  /** Member id → how many Open proposals it has (node/gov/open-proposals.ts). Engine-owned. */
  openProposals: "public:gov.openProposals",
  /** The latest recovery share round (node/recovery/shares.ts), key "current". */
  recovery: "public:gov.recovery",
  /** memberId → that member's sealed share of the latest round. */
  recoveryShares: "public:gov.recoveryShares",
  /** Service identity (hex) → its endorsement by the identity before it (disaster recovery). */
  serviceEndorsements: "public:gov.serviceEndorsements",
  /** Rekey requests (`trigger_ledger_rekey` counts them), key "current": `{requests}`. */
  rekey: "public:gov.rekey",
  /** The latest ledger secret version, sealed to each trusted node (node/secrets/rekey.ts). */
  ledgerSecret: "public:gov.ledgerSecret",
  /** Trusted JWT issuers by `iss` (`set_jwt_issuer`; node/auth/jwt.ts). */
  jwtIssuers: "public:gov.jwtIssuers",
} as const;

/** Internal node tables (not reachable from contracts). */
export const INTERNAL = {
  /**
   * Executed signed requests, one row each: key `createdMs` (u64 BE) ‖ 16 bytes of SHA-256 over
   * caller id and nonce, value `timeMs` (f64 BE) ‖ txid (node/execution/nonces.ts). Private.
   */
  nonceLog: "treaty.nonceLog",
  /**
   * Legacy (before session 20): executed nonces, key `<callerId>:<nonce>`, value `{txid, timeMs}`.
   * Still read and pruned until empty, and written beside `nonceLog` while a node of the previous
   * version may lead (nonces.ts). Private.
   */
  nonces: "treaty.nonces",
  /** Legacy: the same nonces in time order, key `<15-digit createdMs>:<callerId>:<nonce>`. Private. */
  nonceExpiry: "treaty.nonceExpiry",
  /** `{throughMs}`: nonces created at or before it may be forgotten (key SINGLETON_KEY). Private. */
  nonceHorizon: "treaty.nonceHorizon",
} as const;

export interface IdentityRecord {
  readonly curve: Curve;
  readonly publicKey: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/** A member: a key, or an Ethereum wallet recorded by its address (no encryption key, no share). */
export type MemberRecord = KeyMemberRecord | WalletMemberRecord;

export interface KeyMemberRecord extends IdentityRecord {
  /** x25519 public key (hex) recovery shares are sealed to; members without one hold no share. */
  readonly encryptionKey?: string;
  readonly status: "active";
}

export interface WalletMemberRecord extends WalletRecord {
  readonly status: "active";
}

/** A user: a key, or an Ethereum wallet recorded by its address (sdk/ethereum.ts). */
export type UserRecord = IdentityRecord | WalletRecord;

export interface WalletRecord {
  /** `0x` and 40 lowercase hex digits; also the user's id. */
  readonly address: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/**
 * A trusted JWT issuer, as the constitution's `set_jwt_issuer` records it: its public signature
 * keys (JWKs with `kid` and `alg` always set) and the audiences its tokens must name.
 */
export interface JwtIssuerRecord {
  readonly issuer: string;
  readonly audience: readonly string[];
  readonly jwks: { readonly keys: readonly JwtIssuerKey[] };
  readonly data?: Readonly<Record<string, unknown>>;
}

/** One key of a JwtIssuerRecord: a public JWK. */
export interface JwtIssuerKey {
  readonly kty: string;
  readonly kid: string;
  readonly alg: string;
  readonly [member: string]: unknown;
}

export interface ContractRecord {
  readonly version: number;
  /** hex SHA-256 of `bundle`. */
  readonly digest: string;
  /** The compiled bundle that nodes execute. */
  readonly bundle: string;
  /** The TypeScript sources it was compiled from, for audit (relative path → text). */
  readonly source: Readonly<Record<string, string>>;
}

export type NodeStatus = "pending" | "trusted" | "retiring" | "retired";

export interface NodeRecord {
  readonly publicKey: string;
  readonly status: NodeStatus;
  /**
   * Code measurement the node presented when it joined. (Its endorsement by the service identity
   * is not recorded here: the leader makes it when it seals the secrets for the node.)
   */
  readonly measurement: string;
  /** NATS subject suffix / HTTP URL the node advertises. */
  readonly url?: string;
  /**
   * What the node's code announces it does beyond the previous version's (NODE_FEATURES; session
   * 21 on). Records of nodes of older versions lack it, and so do those an older leader made
   * (it builds the record from the join request's fields it knows); old code ignores it.
   */
  readonly features?: readonly string[];
}

/**
 * Features a node announces in its record (`NodeRecord.features`).
 * - `nonceLog`: the node reads replay protection in `treaty.nonceLog` (one row per signed call).
 *   While a record that is not retired lacks it, leaders write the legacy rows too
 *   (node/execution/nonces.ts), so a node of the previous version refuses replays whoever led.
 */
export const NODE_FEATURES = { nonceLog: "nonceLog" } as const;

/** The features this build announces (genesis, the join request, recovery). */
export const OWN_NODE_FEATURES: readonly string[] = [NODE_FEATURES.nonceLog];

/** Whether a node record (as stored: any JSON) announces `feature`. */
export function announces(record: unknown, feature: string): boolean {
  const features = (record as Partial<NodeRecord> | null)?.features;
  return Array.isArray(features) && features.includes(feature);
}

export type ServiceStatus = "opening" | "open" | "recovering";

export interface ServiceRecord {
  readonly status: ServiceStatus;
  /** Service identity public key (ed25519, hex). */
  readonly identity: string;
  readonly recoveryThreshold: number;
  /**
   * The service's trust policy for joining nodes: when true, whichever node leads trusts a
   * pending node whose code is allowed without a `trust_node` vote (development networks).
   * Set at genesis (`genesis.autoTrustNodes`) and changed by `set_auto_trust_nodes`; absent
   * (older ledgers) means false.
   */
  readonly autoTrustNodes?: boolean;
  /** After a disaster recovery: the identity of the service this one was recovered from. */
  readonly previousIdentity?: string;
}

/** `public:gov.serviceEndorsements`: a service identity endorsed by the one before it. */
export interface ServiceEndorsementRecord {
  /** The endorsing (previous) identity, hex. */
  readonly endorsedBy: string;
  /** Its ed25519 signature over `serviceEndorsementMessage(identity)` (sdk/receipt.ts), hex. */
  readonly signature: string;
  readonly timeMs: number;
}

/** `public:gov.constitution` (key SINGLETON_KEY): the constitution in force. */
export interface ConstitutionRecord {
  /** hex SHA-256 of `bundle`. */
  readonly digest: string;
  readonly bundle: string;
  /** The TypeScript sources it was compiled from (relative path → text). */
  readonly source: Readonly<Record<string, string>>;
}

/** Where a proposal is. Every state but Open is final. */
export type ProposalState = "Open" | "Accepted" | "Rejected" | "Withdrawn" | "Failed" | "Dropped";

/** One action of a proposal, as the member wrote it. */
export interface ProposalAction {
  readonly name: string;
  readonly args: unknown;
}

/** Code the leader compiled from an action's `files` when the proposal arrived. */
export interface CompiledCode {
  readonly digest: string;
  readonly bundle: string;
}

/** `public:gov.proposals` (key: proposal id). */
export interface ProposalRecord {
  /** Member id of the proposer. */
  readonly proposer: string;
  readonly actions: readonly ProposalAction[];
  /** Per action: its compiled code (deploy_contract, set_constitution) or null. */
  readonly code: readonly (CompiledCode | null)[];
  readonly state: ProposalState;
  /** The transaction that created the proposal. */
  readonly createdTxid: string;
  /** The transaction that moved it to its final state. */
  readonly decidedTxid?: string;
  /** Why it Failed or was Dropped. */
  readonly error?: { readonly code: string; readonly message: string };
}

export type Ballot = "for" | "against";

/** `public:gov.ballots` (key: proposal id): member id → that member's current ballot. */
export type BallotsRecord = Readonly<Record<string, Ballot>>;

/** The single key of one-row tables (`service`, `constitution`, `limits`). */
export const SINGLETON_KEY = "current";

export function tableKey(key: string): Uint8Array {
  return utf8.encode(key);
}

export function tableValue(value: unknown): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}

export function readTableValue<T>(bytes: Uint8Array): T {
  return JSON.parse(utf8.decode(bytes)) as T;
}
