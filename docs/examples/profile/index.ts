/**
 * `profile`: a contract for users signed in with an identity provider (docs/identities.md, "JWT
 * / OIDC users"). Each caller with a bearer token from a trusted issuer keeps a display name,
 * kept in a private map under its caller id; the contract reads the token's claims.
 *
 * - whoami (jwt): the caller's id, issuer, subject and `email` claim (null when absent);
 * - setName `{name}` (users and JWT callers): stores the caller's display name, with the
 *   issuer and subject of a JWT caller (null for a user);
 * - profile `{id}` (users and JWT callers): a caller's stored profile, or NoSuchProfile.
 *
 * test/node/jwt.test.ts deploys it on a real node and calls it with tokens from a local issuer.
 */
import { ContractError, caller, contract, type JwtCaller, map, method, t } from "treaty/contract";

interface Profile {
  readonly name: string;
  readonly issuer: string | null;
  readonly subject: string | null;
}

const profiles = map<string, Profile>("profiles");

// #region caller
/** The JWT caller of a method whose policy admits only JWT callers. */
function jwtCaller(): JwtCaller {
  const who = caller();
  if (who?.role !== "jwt") throw new ContractError("NotJwtCaller", "expected a JWT bearer caller");
  return who; // {id, role: "jwt", issuer, subject, claims}
}

export default contract({
  whoami: method({
    mode: "readonly",
    auth: "jwt",
    returns: t.object({
      id: t.string(),
      issuer: t.string(),
      subject: t.string(),
      email: t.union(t.string(), t.null()),
    }),
    description: "The caller as its token describes it.",
    run: () => {
      const { id, issuer, subject, claims } = jwtCaller();
      return { id, issuer, subject, email: typeof claims.email === "string" ? claims.email : null };
    },
  }),
  // #endregion caller
  setName: method({
    mode: "readwrite",
    auth: "users_and_jwt",
    args: { name: t.string({ minLength: 1, maxLength: 100 }) },
    description: "Stores the caller's display name.",
    run: ({ name }) => {
      const who = caller()!; // the policy admits signed users and JWT callers only
      const jwt = who.role === "jwt" ? who : null;
      profiles.set(who.id, { name, issuer: jwt?.issuer ?? null, subject: jwt?.subject ?? null });
      return { id: who.id };
    },
  }),
  profile: method({
    mode: "readonly",
    auth: "users_and_jwt",
    args: { id: t.string({ maxLength: 100 }) },
    description: "A caller's stored profile.",
    run: ({ id }) => {
      const found = profiles.get(id);
      if (found === undefined) throw new ContractError("NoSuchProfile", `no profile for ${id}`);
      return found;
    },
  }),
});
