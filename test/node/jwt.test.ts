/**
 * JWT / OIDC users on a real node. A small local issuer (keys made with jose here) is trusted by
 * a `set_jwt_issuer` proposal carrying its JWKS; a caller with its token calls the `profile`
 * contract (docs/examples/profile), which sees the token's claims. Every bad token (expired,
 * not yet valid, wrong audience, unknown kid, untrusted issuer, `alg: none`, HMAC, tampered,
 * removed issuer, key dropped by a refresh) is a coded 401 that writes nothing; hostile
 * `set_jwt_issuer` proposals are refused with ProposalInvalid naming the field.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from "jose";
import { bearerRequest, bearerRequestDigest } from "../../sdk/bearer.js";
import { fromBase64Url, toBase64Url, toHex } from "../../sdk/bytes.js";
import { isTreatyError } from "../../sdk/errors.js";
import { signRequest } from "../../sdk/request.js";
import { actions, Governance } from "../../sdk/governance.js";
import { jwtVerifierFor } from "../../node/auth/bearer.js";
import { jwtCallerId } from "../../node/auth/jwt.js";
import { startTestNode, type TestNode } from "../support/node.js";

const ISSUER = "https://login.example.test";
const AUDIENCE = "treaty-test-app";

/** A signing key of the local issuer and its public JWK (with kid and alg). */
interface IssuerKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function issuerKey(kid: string, alg: "ES256" | "RS256" | "EdDSA"): Promise<IssuerKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** A token signed by `key` with sensible claims; `claims`/`header` override them. */
async function mint(
  key: IssuerKey,
  claims: JWTPayload = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: ISSUER,
    sub: "alice",
    aud: AUDIENCE,
    iat: now,
    exp: now + 600,
    email: "alice@example.test",
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header })
    .sign(key.privateKey);
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe("JWT bearer callers on a real node", () => {
  let t: TestNode;
  let gov: Governance;
  let es: IssuerKey;
  let rs: IssuerKey;

  const accept = async (...list: ReturnType<typeof actions.setJwtIssuer>[]) => {
    const { proposalId } = await gov.propose(list);
    await gov.vote(proposalId, "for");
    assert.equal((await gov.waitForFinal(proposalId)).state, "Accepted");
  };
  /** Posts a bearer request to `path`; resolves with the status and error code. */
  const post = async (token: string, path = "/app/profile/setName", args: unknown = { name: "x" }) => {
    const request = bearerRequest(token, path, args);
    return t.post(path, request.body, request.headers);
  };
  /** Polls until `token` on `whoami` answers `code` (governance takes effect once committed). */
  const until = async (token: string, code: string | undefined) => {
    for (let i = 0; i < 200; i++) {
      if ((await post(token, "/app/profile/whoami", {})).code === code) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.fail(`whoami never answered ${code}`);
  };

  before(async () => {
    t = await startTestNode({ extraContracts: [{ name: "profile", path: "docs/examples/profile" }] });
    gov = new Governance(t.client(t.member), t.member);
    es = await issuerKey("es-1", "ES256");
    rs = await issuerKey("rs-1", "RS256");
    await accept(actions.setJwtIssuer(ISSUER, AUDIENCE, { keys: [es.jwk, rs.jwk] }));
    assert.deepEqual(await gov.jwtIssuers(), [
      { issuer: ISSUER, audience: [AUDIENCE], jwks: { keys: [es.jwk, rs.jwk] } },
    ]);
  });
  after(() => t?.dispose());

  it("a JWT user calls a contract, which sees the token's claims", async () => {
    const token = await mint(es);
    const client = t.client(null, { bearerToken: () => token });
    const { txid, result } = await client.call<{ id: string }>("profile", "setName", { name: "Alice" });
    const id = jwtCallerId(ISSUER, "alice");
    assert.deepEqual(result, { id });
    await client.waitForCommit(txid);
    const who = await client.call("profile", "whoami", {});
    assert.deepEqual(who.result, { id, issuer: ISSUER, subject: "alice", email: "alice@example.test" });
    // A user (signed requests) reads the profile the JWT caller wrote.
    const read = await t.client().call("profile", "profile", { id });
    assert.deepEqual(read.result, { name: "Alice", issuer: ISSUER, subject: "alice" });
    // The same method serves a signed user (policy users_and_jwt), who has no issuer.
    const byUser = await t.client().call<{ id: string }>("profile", "setName", { name: "User" });
    assert.equal(byUser.result.id, t.user.id);
    await t.client().waitForCommit(byUser.txid);
    const userProfile = await t.client().call("profile", "profile", { id: t.user.id });
    assert.deepEqual(userProfile.result, { name: "User", issuer: null, subject: null });
    // An RSA key of the same issuer works too; another subject is another caller.
    const bob = await mint(rs, { sub: "bob", email: undefined });
    const bobWho = await t.client(null, { bearerToken: bob }).call("profile", "whoami", {});
    assert.deepEqual(bobWho.result, {
      id: jwtCallerId(ISSUER, "bob"),
      issuer: ISSUER,
      subject: "bob",
      email: null,
    });
  });

  it("records the request digest and the caller id, never the token; the same bytes twice are a Replay", async () => {
    const token = await mint(es, { sub: "carol" });
    const path = "/app/profile/setName";
    const request = bearerRequest(token, path, { name: "Carol" });
    const first = await t.post(path, request.body, request.headers);
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const { txid } = first.json as { txid: string };
    const again = await t.post(path, request.body, request.headers);
    assert.equal(again.code, "Replay");
    await t.client().waitForCommit(txid);
    await t.settled();
    const receipt = await t
      .client()
      .get<{ leaf: { requestDigest: string | null } }>(`/node/receipt?txid=${txid}`);
    assert.equal(
      receipt.leaf.requestDigest,
      toHex(bearerRequestDigest(t.node.serviceId, path, token, request.body)),
    );
    // Nothing the node stores holds the token (its signature part is unique to it).
    const signature = Buffer.from(token.split(".")[2]!);
    const payload = Buffer.from(token.split(".")[1]!);
    for (const file of filesUnder(t.dataDir)) {
      const bytes = readFileSync(file);
      assert.equal(bytes.indexOf(signature), -1, `${file} holds the token's signature`);
      assert.equal(bytes.indexOf(payload), -1, `${file} holds the token's payload`);
    }
  });

  /** `levels` objects nested in one another (`{a: {a: {}}}` is 3); the claims object is one more. */
  const nested = (levels: number): unknown => (levels <= 1 ? {} : { a: nested(levels - 1) });

  it("accepts the longest sub and the deepest claims docs/identities.md allows", async () => {
    // The claims object and 15 levels in it: 16 levels.
    for (const claims of [{ sub: "s".repeat(1024) }, { sub: "deep", deep: nested(15) }]) {
      const answer = await post(await mint(es, claims));
      assert.equal(
        answer.status,
        200,
        `${JSON.stringify(claims).slice(0, 60)}: ${JSON.stringify(answer.json)}`,
      );
    }
  });

  it("refuses every bad token with a coded 401 and writes nothing", async () => {
    const now = Math.floor(Date.now() / 1000);
    const stranger = await issuerKey("es-1", "ES256"); // same kid, not the issuer's key
    const good = await mint(es);
    const [h, p, s] = good.split(".") as [string, string, string];
    const rsParts = (await mint(rs)).split(".");
    const header = (fields: Record<string, unknown>) =>
      toBase64Url(new TextEncoder().encode(JSON.stringify(fields)));
    const flipped = fromBase64Url(s);
    flipped[0]! ^= 1;
    const otherPayload = toBase64Url(
      new TextEncoder().encode(
        JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), sub: "mallory" }),
      ),
    );
    const hmac = await new SignJWT({ iss: ISSUER, sub: "alice", aud: AUDIENCE, exp: now + 600 })
      .setProtectedHeader({ alg: "HS256", kid: "es-1" })
      .sign(new TextEncoder().encode(JSON.stringify(es.jwk)));
    const cases: Array<[string, string, string]> = [
      ["expired", await mint(es, { exp: now - 3600, iat: now - 7200 }), "ExpiredToken"],
      ["not yet valid", await mint(es, { nbf: now + 3600 }), "TokenNotYetValid"],
      ["wrong audience", await mint(es, { aud: "another-app" }), "InvalidToken"],
      ["unknown kid", await mint(es, {}, { kid: "es-9" }), "InvalidToken"],
      ["no kid", await mint(es, {}, { kid: undefined }), "InvalidToken"],
      ["untrusted issuer", await mint(es, { iss: "https://evil.example.test" }), "UnknownIssuer"],
      ["signed by a stranger's key under the issuer's kid", await mint(stranger), "InvalidToken"],
      [
        "alg none",
        new UnsecuredJWT({ iss: ISSUER, sub: "alice", aud: AUDIENCE, exp: now + 600 }).encode(),
        "InvalidToken",
      ],
      ["HMAC with the public key as secret", hmac, "InvalidToken"],
      [
        "alg other than the key's",
        `${header({ alg: "PS256", kid: "rs-1" })}.${rsParts[1]}.${rsParts[2]}`,
        "InvalidToken",
      ],
      ["tampered signature", `${h}.${p}.${toBase64Url(flipped)}`, "InvalidToken"],
      ["tampered claims", `${h}.${otherPayload}.${s}`, "InvalidToken"],
      ["signature stripped", `${h}.${p}.`, "InvalidToken"],
      ["no exp", await mint(es, { exp: undefined }), "InvalidToken"],
      // docs/identities.md: `sub` is a string of 1 to 1,024 characters.
      ["no sub", await mint(es, { sub: undefined }), "InvalidToken"],
      ["empty sub", await mint(es, { sub: "" }), "InvalidToken"],
      ["sub over 1,024 characters", await mint(es, { sub: "s".repeat(1025) }), "InvalidToken"],
      ["claims nested 17 levels", await mint(es, { deep: nested(16) }), "InvalidToken"],
      ["not a JWT", "not-a-token", "InvalidToken"],
      ["oversized", `${h}.${"A".repeat(9000)}.${s}`, "InvalidToken"],
    ];
    const before = await t.settled();
    for (const [name, token, code] of cases) {
      const answer = await post(token);
      assert.equal(answer.status, 401, `${name}: ${JSON.stringify(answer.json)}`);
      assert.equal(answer.code, code, `${name}: ${JSON.stringify(answer.json)}`);
    }
    const basic = await t.post("/app/profile/setName", bearerRequest(good, "/x", {}).body, {
      "content-type": "application/json",
      authorization: `Basic ${Buffer.from("alice:pw").toString("base64")}`,
    });
    assert.deepEqual([basic.status, basic.code], [401, "InvalidToken"]);
    assert.equal(await t.settled(), before, "nothing was written");
  });

  it("applies each method's policy to JWT callers", async () => {
    const token = await mint(es);
    // A users-only method refuses a JWT caller; a jwt-only method refuses a user.
    const users = await post(token, "/app/log/writePublic", { id: 1, msg: "x" });
    assert.deepEqual([users.status, users.code], [403, "Forbidden"]);
    await assert.rejects(
      () => t.client().call("profile", "whoami", {}),
      (err) => isTreatyError(err) && err.code === "Forbidden",
    );
    // A request cannot be both signed and carry a token.
    const path = "/app/profile/setName";
    const signed = signRequest(t.user, t.node.serviceId, path, { name: "both" });
    const both = await t.post(path, signed.body, { ...signed.headers, authorization: `Bearer ${token}` });
    assert.deepEqual([both.status, both.code], [400, "MalformedRequest"]);
  });

  it("answers a repeated token from its cache, with no signature check", async () => {
    const token = await mint(es, { sub: "dave" });
    const verifier = jwtVerifierFor(t.node.gov);
    const client = t.client(null, { bearerToken: token });
    await client.call("profile", "whoami", {});
    const before = verifier.stats();
    for (let i = 0; i < 5; i++) await client.call("profile", "whoami", {});
    const after = verifier.stats();
    assert.equal(after.verified, before.verified, "no new signature check");
    assert.equal(after.cacheHits, before.cacheHits + 5);
  });

  it("refreshed keys: a key dropped by a new proposal is refused, cached tokens included", async () => {
    const old = await mint(es, { sub: "erin" });
    await until(old, undefined); // works, and is now cached
    const next = await issuerKey("es-2", "ES256");
    await accept(actions.setJwtIssuer(ISSUER, AUDIENCE, { keys: [next.jwk, rs.jwk] }));
    await until(old, "InvalidToken");
    const before = await t.settled();
    const refused = await post(old);
    assert.deepEqual([refused.status, refused.code], [401, "InvalidToken"]);
    assert.match((refused.json as { error: { message: string } }).error.message, /kid "es-1" is not a key/);
    assert.equal(await t.settled(), before, "nothing was written");
    const fresh = await t
      .client(null, { bearerToken: await mint(next, { sub: "erin" }) })
      .call("profile", "whoami", {});
    assert.equal((fresh.result as { subject: string }).subject, "erin");
    es = next;
  });

  it("a removed issuer's tokens are refused", async () => {
    const token = await mint(es);
    await until(token, undefined);
    await accept(actions.removeJwtIssuer(ISSUER));
    await until(token, "UnknownIssuer");
    const before = await t.settled();
    const answer = await post(token);
    assert.deepEqual([answer.status, answer.code], [401, "UnknownIssuer"]);
    assert.equal(await t.settled(), before, "nothing was written");
    await accept(actions.setJwtIssuer(ISSUER, AUDIENCE, { keys: [es.jwk] }));
    await until(token, undefined);
  });

  it("refuses hostile set_jwt_issuer proposals with ProposalInvalid naming the field", async () => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const privateJwk = { ...(await exportJWK(privateKey)), kid: "p-1" };
    const ec = es.jwk;
    const offCurve = { ...ec, kid: "off", y: ec.x };
    const p521 = {
      ...(await exportJWK((await generateKeyPair("ES512", { extractable: true })).publicKey)),
      kid: "p521",
    };
    const big = { ...ec, kid: "big", x5c: ["A".repeat(70_000)] };
    const hostile: Array<[string, Record<string, unknown>, RegExp]> = [
      ["private key", { keys: [privateJwk] }, /keys\[0\]\.d: private or symmetric key material/],
      ["symmetric key", { keys: [{ kty: "oct", kid: "h", k: "c2VjcmV0" }] }, /keys\[0\]\.k: private/],
      ["unsupported curve", { keys: [p521] }, /keys\[0\]\.crv: expected one of P-256, P-384/],
      ["unsupported kty", { keys: [{ kty: "AKP", kid: "pq" }] }, /keys\[0\]\.kty: expected RSA, EC or OKP/],
      ["alg mismatch", { keys: [{ ...ec, alg: "RS256" }] }, /keys\[0\]\.alg: expected ES256/],
      ["alg none", { keys: [{ ...ec, alg: "none" }] }, /keys\[0\]\.alg/],
      ["point off the curve", { keys: [offCurve] }, /keys\[0\]: not a valid EC public key/],
      ["not a JWKS", { keys: "all of them" }, /jwks\.keys: expected 1 to 16 keys/],
      ["no kid", { keys: [{ ...ec, kid: undefined }] }, /keys\[0\]\.kid/],
      ["duplicate kid", { keys: [ec, ec] }, /keys\[1\]\.kid: "es-2" appears twice/],
      ["encryption key", { keys: [{ ...ec, use: "enc" }] }, /keys\[0\]\.use: expected "sig"/],
      ["oversized", { keys: [big] }, /larger than 65536 characters/],
    ];
    for (const [name, jwks, message] of hostile) {
      await assert.rejects(
        () => gov.propose([{ name: "set_jwt_issuer", args: { issuer: ISSUER, audience: AUDIENCE, jwks } }]),
        (err) =>
          isTreatyError(err) && err.code === "ProposalInvalid" && message.test(err.message)
            ? true
            : assert.fail(`${name}: ${String(err)}`),
      );
    }
    await assert.rejects(
      () => gov.propose([actions.setJwtIssuer("has space", AUDIENCE, { keys: [ec] })]),
      (err) => isTreatyError(err) && err.code === "ProposalInvalid" && /args\.issuer/.test(err.message),
    );
  });
});
