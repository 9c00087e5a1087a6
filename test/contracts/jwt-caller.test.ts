/**
 * JWT callers under treaty/testing: the `profile` example (docs/examples/profile) sees the
 * claims of a `jwtCaller`, with the id a node gives it; the `jwt` and `users_and_jwt`
 * policies admit and refuse as the node's runtime does.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { jwtCaller, member, testContract, user } from "../../contracts/testing/index.js";
import { jwtCallerId } from "../../sdk/bearer.js";
import profile from "../../docs/examples/profile/index.js";

const ISSUER = "https://login.example.test";

describe("JWT callers in treaty/testing", () => {
  it("a contract reads the caller's claims; the id is the node's", () => {
    const c = testContract(profile, { name: "profile" });
    const ada = jwtCaller({ iss: ISSUER, sub: "ada", email: "ada@example.test", groups: ["ops"] });
    assert.equal(ada.id, jwtCallerId(ISSUER, "ada"));
    const who = c.call("whoami", {}, { caller: ada });
    assert.deepEqual(who.ok && who.result, {
      id: ada.id,
      issuer: ISSUER,
      subject: "ada",
      email: "ada@example.test",
    });
    const set = c.call("setName", { name: "Ada" }, { caller: ada });
    assert.ok(set.ok);
    const read = c.call("profile", { id: ada.id }, { caller: user("u") });
    assert.deepEqual(read.ok && read.result, { name: "Ada", issuer: ISSUER, subject: "ada" });
  });

  it("jwt and users_and_jwt admit and refuse by role", () => {
    const c = testContract(profile, { name: "profile" });
    const forbidden = (r: { ok: boolean; error?: { code: string } }) =>
      !r.ok && r.error?.code === "Forbidden";
    assert.ok(forbidden(c.call("whoami", {}, { caller: user("u") })), "jwt refuses a user");
    assert.ok(
      forbidden(c.call("setName", { name: "M" }, { caller: member("m") })),
      "users_and_jwt refuses a member",
    );
    assert.ok(forbidden(c.call("whoami", {})), "and an anonymous caller");
    assert.ok(c.call("setName", { name: "U" }, { caller: user("u") }).ok, "users_and_jwt admits a user");
  });
});
