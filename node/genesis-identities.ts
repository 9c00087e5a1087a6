/**
 * The members and users of a genesis config (`genesis.members[]`, `genesis.users[]`): keys
 * (`{curve, publicKey, encryptionKey?, data?}`) or Ethereum wallets (`{address, data?}`), checked
 * by the rules the constitution's `set_member` / `set_user` apply to the same arguments, and the
 * governance records genesis writes for them.
 */
import { fromHex } from "../sdk/bytes.js";
import { TreatyError } from "../sdk/errors.js";
import { isEthereumAddress } from "../sdk/ethereum.js";
import { type Curve, isCurve, keyId, parsePublicKey } from "../sdk/keys.js";
import { encryptionKeyProblem } from "../sdk/recovery.js";
import { array, bad, hex32, object, string } from "./config-fields.js";
import type { MemberRecord, UserRecord } from "./gov/tables.js";

/** A member or user given by its signing key. */
export interface KeyIdentityConfig {
  readonly curve: Curve;
  readonly publicKey: string;
  /** Members: the x25519 public key (hex) their recovery share is sealed to. */
  readonly encryptionKey?: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/** A member or user given by its Ethereum address (lowercase), as `set_member {address}`. */
export interface WalletIdentityConfig {
  readonly address: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

export type IdentityConfig = KeyIdentityConfig | WalletIdentityConfig;

/**
 * Validates `genesis.members` or `genesis.users` (absent: none); MalformedRequest names the field.
 * A wallet member takes no `encryptionKey` (it could not submit a recovery share).
 */
export function parseIdentities(value: unknown, field: string): IdentityConfig[] {
  return array(value ?? [], field).map((item, i) => {
    const at = `${field}[${i}]`;
    const o = object(item, at);
    const data = o.data === undefined ? {} : { data: object(o.data, `${at}.data`) };
    if (o.address !== undefined) {
      if (o.encryptionKey !== undefined)
        throw new TreatyError(
          "MalformedRequest",
          `config ${at}.encryptionKey: a wallet member holds no recovery share (its share could not be submitted with a wallet signature); give the encryption key to a key member`,
        );
      if (o.publicKey !== undefined || o.curve !== undefined)
        throw bad(at, "either {address} (a wallet) or {curve, publicKey} (a key), not both", item);
      // Mixed-case (EIP-55) addresses are recorded lowercase, as the SDK's setWalletMember sends them.
      const address = typeof o.address === "string" ? o.address.toLowerCase() : o.address;
      if (!isEthereumAddress(address))
        throw bad(`${at}.address`, "an Ethereum address (0x and 40 hex digits)", o.address);
      return { address, ...data };
    }
    if (!isCurve(o.curve ?? "ed25519")) throw bad(`${at}.curve`, "ed25519, p256 or secp256k1", o.curve);
    return {
      curve: (o.curve ?? "ed25519") as Curve,
      publicKey: string(o.publicKey, `${at}.publicKey`),
      ...(o.encryptionKey !== undefined && {
        encryptionKey: encryptionKey(o.encryptionKey, `${at}.encryptionKey`),
      }),
      ...data,
    };
  });
}

/** A member's x25519 encryption key: 32 bytes in hex, not of small order (as set_member checks). */
function encryptionKey(value: unknown, at: string): string {
  const hex = hex32(value, at);
  const problem = encryptionKeyProblem(fromHex(hex));
  if (problem !== undefined) throw new TreatyError("MalformedRequest", `config ${at}: ${problem}`);
  return hex;
}

/**
 * The `public:gov.members` and `public:gov.users` rows for the genesis identities: keyed by key
 * id or address, the records `set_member` / `set_user` write. Throws MalformedRequest naming the
 * field for a public key that does not parse, an identity listed twice, or one that is both a
 * member and a user (one id, one role: `RoleConflict` in governance).
 */
export function identityRows(
  members: readonly IdentityConfig[],
  users: readonly IdentityConfig[],
): { members: Array<[string, MemberRecord]>; users: Array<[string, UserRecord]> } {
  const seen = new Map<string, string>();
  const idOf = (identity: IdentityConfig, at: string): string => {
    const id =
      "address" in identity
        ? identity.address
        : keyId(parsePublicKey(identity.curve, identity.publicKey, `${at}.publicKey`));
    const first = seen.get(id);
    if (first !== undefined)
      throw new TreatyError(
        "MalformedRequest",
        `${at}: ${id} is already ${first} (an identity is listed once, as a member or a user)`,
      );
    seen.set(id, at);
    return id;
  };
  const data = (identity: IdentityConfig) => (identity.data ? { data: identity.data } : {});
  return {
    members: members.map((m, i) => {
      const id = idOf(m, `genesis.members[${i}]`);
      const record: MemberRecord =
        "address" in m
          ? { address: m.address, ...data(m), status: "active" }
          : {
              curve: m.curve,
              publicKey: m.publicKey,
              ...(m.encryptionKey !== undefined && { encryptionKey: m.encryptionKey }),
              ...data(m),
              status: "active",
            };
      return [id, record];
    }),
    users: users.map((u, i) => {
      const id = idOf(u, `genesis.users[${i}]`);
      const record: UserRecord =
        "address" in u
          ? { address: u.address, ...data(u) }
          : { curve: u.curve, publicKey: u.publicKey, ...data(u) };
      return [id, record];
    }),
  };
}
