/**
 * The governance tables as the constitution sees them. The node loads the constitution under
 * the reserved name `gov`, so the local map `public:members` is the store's `public:gov.members`:
 * the same tables genesis writes and the node reads (node/gov/tables.ts holds the node's side of
 * these record types). Every table is public: governance is auditable from the ledger alone.
 */
import { map } from "treaty/contract";

export type Curve = "ed25519" | "p256" | "secp256k1";
export type FreeData = Record<string, unknown>;

export type MemberRecord =
  | {
      readonly curve: Curve;
      readonly publicKey: string;
      readonly encryptionKey?: string;
      readonly data?: FreeData;
      readonly status: "active";
    }
  /** An Ethereum wallet member, recorded under its address: no encryption key, no recovery share. */
  | { readonly address: string; readonly data?: FreeData; readonly status: "active" };

export type UserRecord =
  | { readonly curve: Curve; readonly publicKey: string; readonly data?: FreeData }
  /** An Ethereum wallet user, recorded under its address (requests signed with EIP-191). */
  | { readonly address: string; readonly data?: FreeData };

export interface ContractRecord {
  readonly version: number;
  readonly digest: string;
  readonly bundle: string;
  readonly source: Record<string, string>;
}

export interface ConstitutionRecord {
  readonly digest: string;
  readonly bundle: string;
  readonly source: Record<string, string>;
}

export type NodeStatus = "pending" | "trusted" | "retiring" | "retired";

export interface NodeRecord {
  readonly publicKey: string;
  readonly status: NodeStatus;
  readonly measurement: string;
  readonly url?: string;
}

export interface ServiceRecord {
  readonly status: "opening" | "open" | "recovering";
  readonly identity: string;
  readonly recoveryThreshold: number;
  /** Joining nodes are trusted without a trust_node vote (set at genesis, or by set_auto_trust_nodes). */
  readonly autoTrustNodes?: boolean;
}

/** A public signature key of a JWT issuer (a JWK; `alg` always set, `kid` unique in its set). */
export interface JwtKey {
  readonly kty: "RSA" | "EC" | "OKP";
  readonly kid: string;
  readonly alg: string;
  readonly [member: string]: unknown;
}

/** A trusted JWT issuer (`set_jwt_issuer`), keyed by its `iss`. */
export interface JwtIssuerRecord {
  readonly issuer: string;
  /** A token's `aud` must name one of these. */
  readonly audience: readonly string[];
  readonly jwks: { readonly keys: readonly JwtKey[] };
  readonly data?: FreeData;
}

/** The sandbox limits governance set (a subset; the node fills the rest with its defaults). */
export type LimitsRecord = Record<string, number>;

/** The single key of one-row tables. */
export const CURRENT = "current";

export const members = map<string, MemberRecord>("members", { public: true });
export const users = map<string, UserRecord>("users", { public: true });
export const contracts = map<string, ContractRecord>("contracts", { public: true });
export const constitution = map<string, ConstitutionRecord>("constitution", { public: true });
export const nodes = map<string, NodeRecord>("nodes", { public: true });
export const nodeCode = map<string, { readonly platform: string }>("nodeCode", { public: true });
export const service = map<string, ServiceRecord>("service", { public: true });
export const limits = map<string, LimitsRecord>("limits", { public: true });
/** Trusted JWT issuers by `iss` (node/auth/jwt.ts verifies bearer tokens against them). */
export const jwtIssuers = map<string, JwtIssuerRecord>("jwtIssuers", { public: true });
/** Rekey requests: the node makes a new ledger secret version for each (node/secrets/rekey.ts). */
export const rekey = map<string, { readonly requests: number }>("rekey", { public: true });

/** The number of active members: the electorate of the default resolve. */
export function activeMemberCount(): number {
  let count = 0;
  for (const [, member] of members.range()) if (member.status === "active") count++;
  return count;
}

/**
 * The number of recovery share holders: active members with an encryption key, to whom the
 * leader seals one share each (node/recovery/issuer.ts `holders`). Wallet members have none.
 */
export function recoveryShareHolderCount(): number {
  let count = 0;
  for (const [, member] of members.range())
    if (member.status === "active" && "encryptionKey" in member && member.encryptionKey !== undefined)
      count++;
  return count;
}
