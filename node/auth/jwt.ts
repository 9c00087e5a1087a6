/**
 * Verification of JWT bearer tokens against the trusted issuers governance committed
 * (`public:gov.jwtIssuers`), with jose. A token is accepted when:
 *
 * - it is a compact JWS of at most MAX_BEARER_TOKEN_CHARS characters whose header names an
 *   asymmetric `alg` (never `none`, never HMAC) and a `kid`;
 * - its `iss` is a trusted issuer (else `UnknownIssuer`), the `kid` is one of that issuer's
 *   committed keys and the header's `alg` is that key's algorithm;
 * - the signature verifies with that key; `exp` (required) has not passed and `nbf` (when
 *   present) has, each with JWT_CLOCK_LEEWAY_S of leeway; `aud` names one of the issuer's
 *   audiences; `sub` is a string; the claims nest at most MAX_CLAIMS_DEPTH levels.
 *
 * Every refusal is a TreatyError: `InvalidToken` (malformed, alg, key, signature, audience,
 * claims), `ExpiredToken`, `TokenNotYetValid` or `UnknownIssuer`, all 401.
 *
 * Verified tokens are cached by their exact text (bounded in entries and characters, oldest
 * dropped first), each until its `exp` (plus the leeway), so a repeated token costs a map
 * lookup, not a signature check. An entry is only used while the issuer's committed record is
 * the very record it was verified with: any `set_jwt_issuer` for that issuer (a key refresh, a
 * new audience) or its removal makes every token verified before miss, and be checked anew.
 */
import { decodeJwt, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import { jwtCallerId, MAX_BEARER_TOKEN_CHARS } from "../../sdk/bearer.js";
import { TreatyError } from "../../sdk/errors.js";
import type { CallerInfo } from "../../runtime/sandbox/abi.js";
import type { JwtIssuerRecord } from "../gov/tables.js";
import { type IssuerKey, importIssuerKeys, JWT_ALGORITHMS } from "./jwks.js";

/** A caller authenticated by a bearer token. */
export type JwtCallerInfo = Extract<CallerInfo, { readonly role: "jwt" }>;

/** Clock leeway for `exp` and `nbf`, seconds: issuers' and nodes' clocks differ a little. */
export const JWT_CLOCK_LEEWAY_S = 10;
/** Deepest nesting of claims handed to contracts. */
export const MAX_CLAIMS_DEPTH = 16;
/** Longest `sub`, characters. */
const MAX_SUBJECT_CHARS = 1024;
/** Verified tokens kept, at most, and their total characters. */
export const MAX_CACHED_TOKENS = 10_000;
export const MAX_CACHED_TOKEN_CHARS = 8 * 1024 * 1024;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The id of a JWT caller (sdk/bearer.ts). */
export { jwtCallerId };

/** Looks a trusted issuer up by `iss` in the committed governance tables. */
export type IssuerLookup = (issuer: string) => JwtIssuerRecord | undefined;

/** What the verifier did, for metrics and tests. */
export interface JwtVerifierStats {
  /** Tokens whose signature was checked (and verified). */
  readonly verified: number;
  /** Tokens answered from the cache, with no signature check. */
  readonly cacheHits: number;
  /** Tokens refused. */
  readonly refused: number;
  readonly cachedTokens: number;
}

interface CacheEntry {
  readonly record: JwtIssuerRecord;
  readonly caller: JwtCallerInfo;
  /** `exp` plus the leeway, ms since the epoch: from then on jose would refuse the token. */
  readonly expiresMs: number;
}

function invalid(message: string): TreatyError {
  return new TreatyError("InvalidToken", `authorization: ${message}`);
}

function quote(text: string): string {
  return JSON.stringify(text.slice(0, 120));
}

/** Bounds of a verifier's cache (defaults MAX_CACHED_TOKENS, MAX_CACHED_TOKEN_CHARS). */
export interface JwtVerifierOptions {
  readonly maxCachedTokens?: number;
  readonly maxCachedChars?: number;
}

/** Verifies bearer tokens for one node; owns its cache. */
export class JwtVerifier {
  readonly #maxTokens: number;
  readonly #maxChars: number;
  readonly #cache = new Map<string, CacheEntry>();
  #cachedChars = 0;
  readonly #keys = new WeakMap<JwtIssuerRecord, Promise<ReadonlyMap<string, IssuerKey>>>();
  #verified = 0;
  #cacheHits = 0;
  #refused = 0;

  constructor(options: JwtVerifierOptions = {}) {
    this.#maxTokens = options.maxCachedTokens ?? MAX_CACHED_TOKENS;
    this.#maxChars = options.maxCachedChars ?? MAX_CACHED_TOKEN_CHARS;
  }

  /**
   * The caller `token` authenticates at `nowMs`, checked against the issuers `lookup` finds.
   * Throws TreatyError InvalidToken, ExpiredToken, TokenNotYetValid or UnknownIssuer.
   */
  async verify(token: string, nowMs: number, lookup: IssuerLookup): Promise<JwtCallerInfo> {
    const cached = this.#cache.get(token);
    if (cached !== undefined) {
      if (lookup(cached.caller.issuer) === cached.record && nowMs < cached.expiresMs) {
        this.#cacheHits++;
        return cached.caller;
      }
      this.#forget(token, cached);
    }
    try {
      const entry = await this.#verifyUncached(token, nowMs, lookup);
      this.#verified++;
      this.#remember(token, entry);
      return entry.caller;
    } catch (err) {
      this.#refused++;
      throw err;
    }
  }

  stats(): JwtVerifierStats {
    return {
      verified: this.#verified,
      cacheHits: this.#cacheHits,
      refused: this.#refused,
      cachedTokens: this.#cache.size,
    };
  }

  async #verifyUncached(token: string, nowMs: number, lookup: IssuerLookup): Promise<CacheEntry> {
    if (token.length > MAX_BEARER_TOKEN_CHARS)
      throw invalid(`the token is longer than ${MAX_BEARER_TOKEN_CHARS} characters`);
    if (!COMPACT_JWS.test(token)) throw invalid("expected a compact JWS (header.payload.signature)");
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (err) {
      throw invalid(`the token does not decode (${(err as Error).message})`);
    }
    const { alg, kid } = header;
    if (typeof alg !== "string" || alg.toLowerCase() === "none")
      throw invalid("alg none: unsigned tokens are refused");
    if (!JWT_ALGORITHMS.includes(alg)) throw invalid(`alg ${quote(alg)} is not accepted`);
    if (typeof kid !== "string") throw invalid("the token's header names no key (kid)");
    const issuer = unverified.iss;
    if (typeof issuer !== "string") throw invalid("the token has no iss claim");
    const record = lookup(issuer);
    if (record === undefined)
      throw new TreatyError(
        "UnknownIssuer",
        `authorization: iss ${quote(issuer)} is not a trusted issuer of this service`,
      );
    const key = (await this.#keysOf(record)).get(kid);
    if (key === undefined) throw invalid(`kid ${quote(kid)} is not a key of issuer ${quote(issuer)}`);
    if (key.alg !== alg)
      throw invalid(`alg ${quote(alg)} does not match key ${quote(kid)}, which is ${key.alg}`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer,
        // A record is the constitution's output: a malformed one matches no audience.
        audience: Array.isArray(record.audience) ? [...record.audience] : [],
        clockTolerance: JWT_CLOCK_LEEWAY_S,
        currentDate: new Date(nowMs),
        requiredClaims: ["exp", "sub"],
      }));
    } catch (err) {
      throw refusal(err);
    }
    const subject = payload.sub;
    if (typeof subject !== "string" || subject.length === 0 || subject.length > MAX_SUBJECT_CHARS)
      throw invalid(`sub: expected a string of 1 to ${MAX_SUBJECT_CHARS} characters`);
    if (depth(payload, 0) > MAX_CLAIMS_DEPTH)
      throw invalid(`claims nest deeper than ${MAX_CLAIMS_DEPTH} levels`);
    const caller: JwtCallerInfo = {
      id: jwtCallerId(issuer, subject),
      role: "jwt",
      issuer,
      subject,
      claims: payload as Record<string, unknown>,
    };
    return { record, caller, expiresMs: (payload.exp as number) * 1000 + JWT_CLOCK_LEEWAY_S * 1000 };
  }

  /** The imported keys of a committed record (imported once per record object). */
  #keysOf(record: JwtIssuerRecord): Promise<ReadonlyMap<string, IssuerKey>> {
    let keys = this.#keys.get(record);
    if (keys === undefined) {
      keys = importIssuerKeys(record);
      this.#keys.set(record, keys);
    }
    return keys;
  }

  #remember(token: string, entry: CacheEntry): void {
    const old = this.#cache.get(token);
    if (old !== undefined) this.#forget(token, old);
    this.#cache.set(token, entry);
    this.#cachedChars += token.length;
    while (this.#cache.size > this.#maxTokens || this.#cachedChars > this.#maxChars) {
      const [oldest, oldestEntry] = this.#cache.entries().next().value!;
      this.#forget(oldest, oldestEntry);
    }
  }

  #forget(token: string, entry: CacheEntry): void {
    if (this.#cache.get(token) !== entry) return;
    this.#cache.delete(token);
    this.#cachedChars -= token.length;
  }
}

/** The coded refusal for an error jose threw while verifying. */
function refusal(err: unknown): TreatyError {
  if (err instanceof errors.JWTExpired)
    return new TreatyError(
      "ExpiredToken",
      `authorization: the token expired (exp ${String(err.payload.exp)})`,
    );
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf" && err.reason === "check_failed")
      return new TreatyError(
        "TokenNotYetValid",
        `authorization: the token is not valid before nbf ${String(err.payload.nbf)}`,
      );
    if (err.claim === "aud" && err.reason === "check_failed")
      return invalid("aud: the token is not for this service's audience");
    return invalid(`${err.claim}: ${err.message}`);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid("the signature does not verify");
  if (err instanceof errors.JOSEError) return invalid(err.message);
  if (err instanceof DOMException || err instanceof TypeError)
    return invalid(`the token does not verify (${err.message})`);
  throw err;
}

/** How deep a JSON value nests (a scalar is 0). */
function depth(value: unknown, level: number): number {
  if (level > MAX_CLAIMS_DEPTH || value === null || typeof value !== "object") return level;
  let deepest = level + 1;
  for (const item of Object.values(value)) deepest = Math.max(deepest, depth(item, level + 1));
  return deepest;
}
