/**
 * `set_jwt_issuer` arguments: a trusted JWT issuer, the audience its tokens must name, and its
 * signing keys (a JWKS) embedded in the proposal, so every node verifies tokens with the same
 * committed keys and no node fetches anything. Only public signature keys of the algorithms the
 * node verifies are accepted; anything else is refused by name before a member votes on it.
 * Whether each key imports (an EC point on its curve, an RSA modulus) is checked by the node
 * when the proposal arrives (node/auth/jwks.ts): the sandbox has no curve arithmetic.
 */
import { fail, kind, object, string } from "./checks.js";
import type { JwtIssuerRecord, JwtKey } from "./tables.js";

/** Longest issuer, audience and `kid`. */
const MAX_NAME_CHARS = 256;
/** Keys in one JWKS (providers publish a handful: current, next, previous). */
export const MAX_JWKS_KEYS = 16;
/** Audiences of one issuer. */
const MAX_AUDIENCES = 16;
/** The whole action's arguments as JSON text; a 4096-bit RSA key is ~700 characters. */
export const MAX_JWT_ISSUER_CHARS = 64 * 1024;

/** Printable ASCII without spaces: issuers are URLs or names, audiences likewise. */
const NAME = /^[\x21-\x7e]{1,256}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Members of a JWK that hold private or symmetric key material. */
const SECRET_FIELDS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];
/** Public members a provider's JWKS carries besides the key itself; kept as given. */
const METADATA_FIELDS = ["kid", "kty", "alg", "use", "key_ops", "x5c", "x5t", "x5t#S256", "x5u"];

/** The key types and their algorithms: the one the key names, or the default when it names none. */
const RSA_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const EC_CURVES: Readonly<Record<string, { readonly alg: string; readonly coordinateChars: number }>> = {
  "P-256": { alg: "ES256", coordinateChars: 43 },
  "P-384": { alg: "ES384", coordinateChars: 64 },
};

/** Checks `args` of set_jwt_issuer; throws check.Invalid naming the field. */
export function parseJwtIssuer(args: unknown, path: string): JwtIssuerRecord {
  if (JSON.stringify(args ?? null).length > MAX_JWT_ISSUER_CHARS)
    fail(path, `larger than ${MAX_JWT_ISSUER_CHARS} characters of JSON`);
  const a = object(args, path, ["issuer", "audience", "jwks"], ["data"]);
  const issuer = string(a.issuer, `${path}.issuer`, NAME, "an issuer (1 to 256 printable ASCII characters)");
  const audience = audiences(a.audience, `${path}.audience`);
  const jwks = object(a.jwks, `${path}.jwks`, ["keys"]);
  const list = jwks.keys;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_JWKS_KEYS)
    fail(`${path}.jwks.keys`, `expected 1 to ${MAX_JWKS_KEYS} keys, got ${kind(list)}`);
  const keys = (list as unknown[]).map((key, i) => jwk(key, `${path}.jwks.keys[${i}]`));
  const kids = new Set<string>();
  keys.forEach((key, i) => {
    if (kids.has(key.kid)) fail(`${path}.jwks.keys[${i}].kid`, `${JSON.stringify(key.kid)} appears twice`);
    kids.add(key.kid);
  });
  if (a.data !== undefined && (a.data === null || typeof a.data !== "object" || Array.isArray(a.data)))
    fail(`${path}.data`, `expected an object, got ${kind(a.data)}`);
  return {
    issuer,
    audience,
    jwks: { keys },
    ...(a.data !== undefined && { data: a.data as Record<string, unknown> }),
  };
}

function audiences(value: unknown, path: string): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_AUDIENCES)
    fail(path, `expected an audience or 1 to ${MAX_AUDIENCES} of them, got ${kind(value)}`);
  return (list as unknown[]).map((item, i) =>
    string(
      item,
      Array.isArray(value) ? `${path}[${i}]` : path,
      NAME,
      "an audience (1 to 256 printable ASCII characters)",
    ),
  );
}

/** One public signature key; its `alg` is filled in when the key names none. */
function jwk(value: unknown, path: string): JwtKey {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    fail(path, `expected a JWK object, got ${kind(value)}`);
  const record = value as Record<string, unknown>;
  for (const field of SECRET_FIELDS) {
    if (record[field] !== undefined)
      fail(
        `${path}.${field}`,
        "private or symmetric key material: a JWKS in a proposal holds public keys only",
      );
  }
  const kid = string(
    record.kid,
    `${path}.kid`,
    /^[\x20-\x7e]{1,256}$/,
    "a key id (kid, 1 to 256 printable ASCII characters)",
  );
  if (kid.length > MAX_NAME_CHARS) fail(`${path}.kid`, "too long");
  if (record.use !== undefined && record.use !== "sig")
    fail(`${path}.use`, `expected "sig" (a signature key), got ${kind(record.use)}`);
  const kty = record.kty;
  if (kty === "RSA") {
    const k = object(value, path, ["kty", "kid", "n", "e"], METADATA_FIELDS);
    const n = b64url(k.n, `${path}.n`, 342, 1366); // 2048 to 8192 bits
    const e = b64url(k.e, `${path}.e`, 1, 8);
    const alg = k.alg ?? "RS256";
    if (typeof alg !== "string" || !RSA_ALGS.includes(alg))
      fail(`${path}.alg`, `expected one of ${RSA_ALGS.join(", ")} for an RSA key, got ${kind(alg)}`);
    return { ...k, kty, kid, n, e, alg } as JwtKey;
  }
  if (kty === "EC") {
    const k = object(value, path, ["kty", "kid", "crv", "x", "y"], METADATA_FIELDS);
    const curve = typeof k.crv === "string" && Object.hasOwn(EC_CURVES, k.crv) ? EC_CURVES[k.crv] : undefined;
    if (curve === undefined)
      fail(`${path}.crv`, `expected one of ${Object.keys(EC_CURVES).join(", ")}, got ${kind(k.crv)}`);
    const x = b64url(k.x, `${path}.x`, curve.coordinateChars, curve.coordinateChars);
    const y = b64url(k.y, `${path}.y`, curve.coordinateChars, curve.coordinateChars);
    const alg = k.alg ?? curve.alg;
    if (alg !== curve.alg) fail(`${path}.alg`, `expected ${curve.alg} for a ${k.crv} key, got ${kind(alg)}`);
    return { ...k, kty, kid, crv: k.crv as string, x, y, alg } as JwtKey;
  }
  if (kty === "OKP") {
    const k = object(value, path, ["kty", "kid", "crv", "x"], METADATA_FIELDS);
    if (k.crv !== "Ed25519") fail(`${path}.crv`, `expected Ed25519, got ${kind(k.crv)}`);
    const x = b64url(k.x, `${path}.x`, 43, 43);
    const alg = k.alg ?? "EdDSA";
    if (alg !== "EdDSA" && alg !== "Ed25519")
      fail(`${path}.alg`, `expected EdDSA or Ed25519 for an Ed25519 key, got ${kind(alg)}`);
    return { ...k, kty, kid, crv: "Ed25519", x, alg } as JwtKey;
  }
  if (kty === "oct")
    fail(`${path}.kty`, "symmetric keys (oct) are refused: a shared secret in the ledger would be public");
  return fail(`${path}.kty`, `expected RSA, EC or OKP, got ${kind(kty)}`);
}

function b64url(value: unknown, path: string, minChars: number, maxChars: number): string {
  const text = string(value, path, B64URL, "base64url without padding");
  if (text.length < minChars || text.length > maxChars)
    fail(
      path,
      `expected ${minChars === maxChars ? minChars : `${minChars} to ${maxChars}`} base64url characters, got ${text.length}`,
    );
  return text;
}
