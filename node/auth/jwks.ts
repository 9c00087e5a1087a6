/**
 * A trusted JWT issuer's keys on the node's side: importing the committed JWKS once per record
 * (jose `importJWK`, WebCrypto underneath), and the check the leader makes when a
 * `set_jwt_issuer` proposal arrives that every key really is a public key of its declared
 * algorithm (an EC point on its curve, a well-formed RSA key), which the sandbox cannot tell.
 * The constitution (contracts/constitution/jwt-issuers.ts) checks the shape: fields, key types,
 * algorithms, sizes, no private members.
 */
import { type CryptoKey, importJWK, type JWK } from "jose";
import { TreatyError } from "../../sdk/errors.js";
import type { JwtIssuerKey, JwtIssuerRecord } from "../gov/tables.js";

/** An issuer key ready to verify with: the algorithm tokens signed by it must name. */
export interface IssuerKey {
  readonly alg: string;
  readonly key: CryptoKey;
}

/** Signature algorithms a trusted issuer's key may have (all asymmetric; `none` and HMAC never). */
export const JWT_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "EdDSA",
  "Ed25519",
];

/** Only the members that describe the public key itself go to WebCrypto. */
function publicJwk(key: JwtIssuerKey): JWK {
  const { kty, crv, x, y, n, e } = key as Record<string, unknown>;
  const jwk: Record<string, unknown> = { kty };
  for (const [name, value] of Object.entries({ crv, x, y, n, e })) if (value !== undefined) jwk[name] = value;
  return jwk as JWK;
}

/** Imports one committed key; throws when it is not a public key of its `alg`. */
async function importKey(key: JwtIssuerKey): Promise<IssuerKey> {
  if (!JWT_ALGORITHMS.includes(key.alg)) throw new Error(`alg ${JSON.stringify(key.alg)} is not supported`);
  const imported = await importJWK(publicJwk(key), key.alg);
  if (imported instanceof Uint8Array || imported.type !== "public") throw new Error("not a public key");
  return { alg: key.alg, key: imported };
}

/**
 * The keys of a committed issuer record by `kid`. A key that does not import (it cannot come from
 * governance, which checks every key first: see `checkJwtIssuerKeys`) is left out, so tokens
 * naming it are refused like tokens naming an unknown key.
 */
export async function importIssuerKeys(record: JwtIssuerRecord): Promise<ReadonlyMap<string, IssuerKey>> {
  const keys = new Map<string, IssuerKey>();
  const list = record.jwks?.keys;
  for (const key of Array.isArray(list) ? list : []) {
    try {
      if (typeof key?.kid === "string") keys.set(key.kid, await importKey(key));
    } catch {
      // Left out: see above.
    }
  }
  return keys;
}

/**
 * For a `set_jwt_issuer` action whose keys are well formed, checks that each imports as a public
 * key of its algorithm. Throws TreatyError `ProposalInvalid` naming the key
 * (`actions[0].args.jwks.keys[1]: ...`). Malformed shapes are left to the constitution.
 */
export async function checkJwtIssuerKeys(name: string, args: unknown, at: string): Promise<void> {
  if (name !== "set_jwt_issuer") return;
  const keys = (args as { jwks?: { keys?: unknown } } | null)?.jwks?.keys;
  if (!Array.isArray(keys) || keys.length > 64) return;
  for (const [i, key] of keys.entries()) {
    if (key === null || typeof key !== "object") continue;
    const { kty, alg } = key as { kty?: unknown; alg?: unknown };
    if (kty !== "RSA" && kty !== "EC" && kty !== "OKP") continue;
    if (Object.hasOwn(key, "d")) continue; // private: the constitution refuses it by name
    const fits = algorithmsFor(kty, (key as { crv?: unknown }).crv);
    const algorithm = typeof alg === "string" ? alg : fits[0];
    // A key whose alg does not fit its type is the constitution's to refuse by name.
    if (algorithm === undefined || !fits.includes(algorithm)) continue;
    try {
      await importKey({ ...(key as JwtIssuerKey), alg: algorithm });
    } catch (err) {
      throw new TreatyError(
        "ProposalInvalid",
        `${at}.args.jwks.keys[${i}]: not a valid ${String(kty)} public key for ${algorithm} (${(err as Error).message})`,
      );
    }
  }
}

/** The algorithms a key of this type may have, its default first (as the constitution's rules). */
function algorithmsFor(kty: string, crv: unknown): readonly string[] {
  if (kty === "RSA") return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
  if (kty === "OKP") return crv === "Ed25519" ? ["EdDSA", "Ed25519"] : [];
  return crv === "P-256" ? ["ES256"] : crv === "P-384" ? ["ES384"] : [];
}
