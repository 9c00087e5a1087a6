/**
 * The JWT part of `bench:network`: committed writes of the same method (`profile.setName`, auth
 * `users_and_jwt`, docs/examples/profile) sent as signed requests and as JWT bearer requests, at
 * one in-flight level to the leader: with one token for every request (after the first, each is
 * answered from the node's verified-token cache: no signature check), and with a new token per
 * request (every one verified with jose). A local issuer (an ES256 key made here) is trusted by a
 * `set_jwt_issuer` proposal first. Every request is built (and every token signed) before the
 * clock starts.
 */
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { bearerRequest } from "../sdk/bearer.js";
import { actions, Governance } from "../sdk/governance.js";
import type { SignedRequest } from "../sdk/request.js";
import type { Cluster } from "../test/support/cluster.js";
import { fastSignedRequest } from "../test/integration/load.js";

const ISSUER = "https://bench-issuer.example";
const AUDIENCE = "treaty-bench";
const PATH = "/app/profile/setName";

/** What a write run reports that this comparison prints. */
export interface RunFigures {
  readonly acknowledgedPerSecond: number;
  readonly committedPerSecond: number;
  readonly ack: { readonly p50Ms: number; readonly p99Ms: number };
  readonly cpuMicrosPerWrite: { readonly nodes: readonly number[] } | null;
}

export interface JwtBenchResult {
  readonly nodes: number;
  readonly inFlight: number;
  readonly requests: number;
  readonly runs: readonly {
    readonly auth: string;
    readonly figures: RunFigures;
    /** On the leader during the run: tokens whose signature was checked, and answered from the cache. */
    readonly tokensVerified: number;
    readonly tokensCached: number;
  }[];
}

/** The leader's `treaty_jwt_tokens_total` counters. */
async function tokenCounts(url: string): Promise<{ verified: number; cached: number }> {
  const text = await (await fetch(`${url}/node/metrics`)).text();
  const count = (outcome: string) =>
    Number(
      new RegExp(`^treaty_jwt_tokens_total\\{outcome="${outcome}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0,
    );
  return { verified: count("verified"), cached: count("cached") };
}

/**
 * Trusts a local issuer, then runs `requests` writes of each kind through `run` (a closed-loop
 * write run at the caller's in-flight level).
 */
export async function benchJwt(
  cluster: Cluster,
  requests: number,
  inFlight: number,
  run: (requests: readonly SignedRequest[]) => Promise<RunFigures>,
): Promise<JwtBenchResult> {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "bench-1", alg: "ES256" };
  const gov = new Governance(cluster.client(cluster.member), cluster.member);
  const { proposalId } = await gov.propose([actions.setJwtIssuer(ISSUER, AUDIENCE, { keys: [jwk] })]);
  await gov.vote(proposalId, "for");
  const final = await gov.waitForFinal(proposalId);
  if (final.state !== "Accepted") throw new Error(`set_jwt_issuer: proposal ${final.state}`);
  const now = Math.floor(Date.now() / 1000);
  const mint = (sub: string) =>
    new SignJWT({ iss: ISSUER, sub, aud: AUDIENCE, iat: now, exp: now + 3600 })
      .setProtectedHeader({ alg: "ES256", kid: "bench-1" })
      .sign(privateKey);
  const args = (i: number) => ({ name: `bench user ${i}` });
  const shared = await mint("bench-user");
  const fresh: string[] = [];
  for (let i = 0; i < requests; i++) fresh.push(await mint(`bench-user-${i}`));
  const kinds: { auth: string; make: (i: number) => SignedRequest | Promise<SignedRequest> }[] = [
    {
      auth: "signed (ed25519)",
      make: (i) => fastSignedRequest(cluster.user, cluster.serviceId, PATH, args(i)),
    },
    { auth: "JWT, one token (cached)", make: (i) => bearerRequest(shared, PATH, args(i)) },
    { auth: "JWT, new token each", make: (i) => bearerRequest(fresh[i]!, PATH, args(i)) },
  ];
  const runs: JwtBenchResult["runs"][number][] = [];
  // A warm-up of each kind first (its own tokens), so no run pays for the first verification.
  await run(await Promise.all(Array.from({ length: 200 }, (_, i) => kinds[0]!.make(i))));
  await run(Array.from({ length: 200 }, (_, i) => bearerRequest(shared, PATH, args(i))));
  const leader = await cluster.waitForLeader();
  for (const kind of kinds) {
    const batch = await Promise.all(Array.from({ length: requests }, (_, i) => kind.make(i)));
    const before = await tokenCounts(leader.url);
    const figures = await run(batch);
    const after = await tokenCounts(leader.url);
    runs.push({
      auth: kind.auth,
      figures,
      tokensVerified: after.verified - before.verified,
      tokensCached: after.cached - before.cached,
    });
  }
  return { nodes: cluster.nodes.length, inFlight, requests, runs };
}
