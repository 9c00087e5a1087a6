/**
 * Seeding the governance tables of the stand-in store, for tests of a constitution (or of
 * anything that reads `public:gov.*`). Records have the shapes the node writes (node/gov/tables.ts);
 * identities are named, and a named identity's id is its name, as for `member("acme")`.
 */
import { toHex } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import { keyPairFromPrivate } from "../../sdk/keys.js";
import { sha256 } from "../../runtime/crypto.js";
import { jsonProblem } from "../api/json.js";
import type { MemoryStore } from "./store.js";

/** Free-form data of a member or user (shown by `treaty members`, e.g. `{ name: "Acme" }`). */
export type IdentityData = Readonly<Record<string, unknown>>;

/** What `seedGovernance` writes, by id (= name). Omitted tables are left as they are. */
export interface GovernanceSeed {
  /** Active members; without `publicKey`, an ed25519 key derived from the name. */
  readonly members?: Readonly<Record<string, { readonly data?: IdentityData; readonly publicKey?: string }>>;
  readonly users?: Readonly<Record<string, { readonly data?: IdentityData; readonly publicKey?: string }>>;
  /** Deployed contracts by name; `digest` is computed from `bundle`, `version` defaults to 1. */
  readonly contracts?: Readonly<
    Record<
      string,
      {
        readonly bundle: string;
        readonly version?: number;
        readonly source?: Readonly<Record<string, string>>;
      }
    >
  >;
  /** Sandbox limits set by governance (`treaty limits`), e.g. `{ executionBudget: 1000000 }`. */
  readonly limits?: Readonly<Record<string, number>>;
}

/** The governance tables as store map names (the constitution's `public:x` is `public:gov.x`). */
const TABLES = {
  members: "public:gov.members",
  users: "public:gov.users",
  contracts: "public:gov.contracts",
  limits: "public:gov.limits",
} as const;

/** A deterministic public key (hex) for a named identity. */
export function namedPublicKey(name: string): string {
  return toHex(keyPairFromPrivate("ed25519", sha256(`treaty-named-identity\n${name}`)).publicKey);
}

/**
 * Writes members, users, contracts and limits into `store` (outside any call), as genesis and
 * governance would. Throws TreatyError(InvalidArgs) for data JSON cannot carry.
 * @example seedGovernance(c.store, { members: { acme: { data: { name: "Acme" } }, bigco: {} } });
 */
export function seedGovernance(store: MemoryStore, seed: GovernanceSeed): void {
  const writes: Array<{ map: string; key: string; value: string }> = [];
  const put = (map: string, key: string, value: unknown, field: string) => {
    const problem = jsonProblem(value, field);
    if (problem !== undefined) throw new TreatyError("InvalidArgs", problem);
    writes.push({ map, key, value: JSON.stringify(value) });
  };
  const identity = (name: string, spec: { data?: IdentityData; publicKey?: string }) => ({
    curve: "ed25519",
    publicKey: spec.publicKey ?? namedPublicKey(name),
    ...(spec.data === undefined ? {} : { data: spec.data }),
  });
  for (const [name, spec] of Object.entries(seed.members ?? {}))
    put(TABLES.members, name, { ...identity(name, spec), status: "active" }, `members.${name}`);
  for (const [name, spec] of Object.entries(seed.users ?? {}))
    put(TABLES.users, name, identity(name, spec), `users.${name}`);
  for (const [name, spec] of Object.entries(seed.contracts ?? {})) {
    const record = {
      version: spec.version ?? 1,
      digest: toHex(sha256(spec.bundle)),
      bundle: spec.bundle,
      source: spec.source ?? {},
    };
    put(TABLES.contracts, name, record, `contracts.${name}`);
  }
  if (seed.limits !== undefined) put(TABLES.limits, "current", seed.limits, "limits");
  store.apply(writes);
}
