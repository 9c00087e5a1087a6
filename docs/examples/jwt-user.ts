/**
 * docs/identities.md ("JWT / OIDC users"): members trust an identity provider's signing keys by
 * proposal, and the app calls with the ID token it got from that provider. test/node/jwt.test.ts
 * runs the same flow against a local issuer.
 */
import { actions, Client, type Governance, type PublicKey } from "treaty/sdk";

export async function callWithToken(
  gov: Governance,
  nodes: string[],
  serviceKey: PublicKey,
  jwks: { keys: Record<string, unknown>[] }, // the provider's JWKS, e.g. from its jwks_uri
  idToken: () => Promise<string>, // the signed-in user's current token
) {
  // #region jwt
  await gov.propose([actions.setJwtIssuer("https://login.example.com", "my-treaty-app", jwks)]); // then members vote
  const client = new Client({ nodes, serviceKey, bearerToken: idToken });
  const { result } = await client.call("profile", "whoami", {}); // {id, issuer, subject, email}
  // #endregion jwt
  return result;
}
