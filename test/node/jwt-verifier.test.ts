/**
 * The bearer-token verifier alone (node/auth/jwt.ts) with real jose keys and an in-memory issuer
 * table: what its cache answers, for how long, and when it must check a token afresh (expiry,
 * a new record for the issuer, eviction), plus the refusals that need a clock (leeway).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type CryptoKey, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { isTreatyError } from "../../sdk/errors.js";
import type { JwtIssuerRecord } from "../../node/gov/tables.js";
import { JWT_CLOCK_LEEWAY_S, JwtVerifier, jwtCallerId } from "../../node/auth/jwt.js";

const ISSUER = "https://issuer.test";
const NOW_S = 1_800_000_000;

async function setup() {
  const { publicKey, privateKey } = await generateKeyPair("EdDSA", { extractable: true });
  const record: JwtIssuerRecord = {
    issuer: ISSUER,
    audience: ["app"],
    jwks: {
      keys: [
        { ...(await exportJWK(publicKey)), kid: "k1", alg: "EdDSA" } as JwtIssuerRecord["jwks"]["keys"][0],
      ],
    },
  };
  const table = new Map<string, JwtIssuerRecord>([[ISSUER, record]]);
  return { privateKey, record, table, lookup: (iss: string) => table.get(iss) };
}

function mint(privateKey: CryptoKey, claims: JWTPayload = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: "s", aud: "app", exp: NOW_S + 60, ...claims })
    .setProtectedHeader({ alg: "EdDSA", kid: "k1" })
    .sign(privateKey);
}

const code = (expected: string) => (err: unknown) => isTreatyError(err) && err.code === expected;

describe("JwtVerifier", () => {
  it("verifies once, then answers from the cache until exp plus the leeway", async () => {
    const { privateKey, lookup } = await setup();
    const verifier = new JwtVerifier();
    const token = await mint(privateKey, { sub: "ada", groups: ["a", "b"] });
    const caller = await verifier.verify(token, NOW_S * 1000, lookup);
    assert.deepEqual(caller, {
      id: jwtCallerId(ISSUER, "ada"),
      role: "jwt",
      issuer: ISSUER,
      subject: "ada",
      claims: { iss: ISSUER, sub: "ada", aud: "app", exp: NOW_S + 60, groups: ["a", "b"] },
    });
    assert.equal(await verifier.verify(token, (NOW_S + 60 + JWT_CLOCK_LEEWAY_S) * 1000 - 1, lookup), caller);
    assert.deepEqual(verifier.stats(), { verified: 1, cacheHits: 1, refused: 0, cachedTokens: 1 });
    await assert.rejects(
      verifier.verify(token, (NOW_S + 60 + JWT_CLOCK_LEEWAY_S) * 1000, lookup),
      code("ExpiredToken"),
    );
    assert.equal(verifier.stats().cachedTokens, 0, "the expired entry is gone");
  });

  it("checks afresh when the issuer's record changes, and refuses when it is removed", async () => {
    const { privateKey, record, table, lookup } = await setup();
    const verifier = new JwtVerifier();
    const token = await mint(privateKey);
    await verifier.verify(token, NOW_S * 1000, lookup);
    table.set(ISSUER, { ...record, audience: ["another-app"] }); // same keys, a new record
    await assert.rejects(verifier.verify(token, NOW_S * 1000, lookup), code("InvalidToken"));
    table.set(ISSUER, { ...record });
    await verifier.verify(token, NOW_S * 1000, lookup);
    assert.equal(verifier.stats().verified, 2, "a new record means a new signature check");
    table.delete(ISSUER);
    await assert.rejects(verifier.verify(token, NOW_S * 1000, lookup), code("UnknownIssuer"));
  });

  it("keeps at most its bound of tokens, dropping the oldest", async () => {
    const { privateKey, lookup } = await setup();
    const verifier = new JwtVerifier({ maxCachedTokens: 2 });
    const tokens = await Promise.all(["a", "b", "c"].map((sub) => mint(privateKey, { sub })));
    for (const token of tokens) await verifier.verify(token, NOW_S * 1000, lookup);
    assert.equal(verifier.stats().cachedTokens, 2);
    await verifier.verify(tokens[2]!, NOW_S * 1000, lookup);
    await verifier.verify(tokens[0]!, NOW_S * 1000, lookup);
    assert.deepEqual(
      [verifier.stats().verified, verifier.stats().cacheHits],
      [4, 1],
      "the oldest was dropped",
    );
    const chars = new JwtVerifier({ maxCachedChars: tokens[0]!.length });
    await chars.verify(tokens[0]!, NOW_S * 1000, lookup);
    await chars.verify(tokens[1]!, NOW_S * 1000, lookup);
    assert.equal(chars.stats().cachedTokens, 1);
  });

  it("allows the leeway on exp and nbf, and no more", async () => {
    const { privateKey, lookup } = await setup();
    const verifier = new JwtVerifier();
    const now = NOW_S * 1000;
    await verifier.verify(await mint(privateKey, { exp: NOW_S - JWT_CLOCK_LEEWAY_S + 1 }), now, lookup);
    await assert.rejects(
      verifier.verify(await mint(privateKey, { exp: NOW_S - JWT_CLOCK_LEEWAY_S }), now, lookup),
      code("ExpiredToken"),
    );
    await verifier.verify(await mint(privateKey, { nbf: NOW_S + JWT_CLOCK_LEEWAY_S }), now, lookup);
    await assert.rejects(
      verifier.verify(await mint(privateKey, { nbf: NOW_S + JWT_CLOCK_LEEWAY_S + 1 }), now, lookup),
      code("TokenNotYetValid"),
    );
  });

  it("refuses claims nested too deep, and a sub that is not a string", async () => {
    const { privateKey, lookup } = await setup();
    const verifier = new JwtVerifier();
    let deep: unknown = 1;
    for (let i = 0; i < 20; i++) deep = { deep };
    await assert.rejects(
      verifier.verify(await mint(privateKey, { deep }), NOW_S * 1000, lookup),
      code("InvalidToken"),
    );
    await assert.rejects(
      verifier.verify(await mint(privateKey, { sub: 42 as unknown as string }), NOW_S * 1000, lookup),
      code("InvalidToken"),
    );
    assert.equal(verifier.stats().cachedTokens, 0, "refusals are not cached");
  });
});
