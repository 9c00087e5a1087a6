/**
 * treaty/testing in the contract's own terms: typed access through map declarations, public
 * maps without the `public:` prefix, constitutions under the reserved name with seeded
 * governance tables, and the package's own export paths (`treaty/compiler`, `treaty/testing`).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contract, map, method, t } from "../../contracts/api/index.js";
import constitution from "../../contracts/constitution/index.js";
import { members, users } from "../../contracts/constitution/tables.js";
import {
  member,
  namedPublicKey,
  seedGovernance,
  testConstitution,
  testContract,
  user,
} from "../../contracts/testing/index.js";
import { isTreatyError } from "../../sdk/errors.js";
import { keyId } from "../../sdk/keys.js";
import { fromHex } from "../../sdk/bytes.js";

interface Product {
  readonly owner: string;
}
const products = map<string, Product>("products", { public: true });
const readings = map<number, number>("readings", { key: "number" });

const registry = contract({
  register: method({
    mode: "readwrite",
    auth: "users",
    args: { sku: t.string() },
    run: ({ sku }) => products.set(sku, { owner: "me" }),
  }),
  read: method({
    mode: "readwrite",
    auth: "users",
    args: { at: t.number() },
    run: ({ at }) => readings.set(at, at * 2),
  }),
  whoami: method({ mode: "readonly", auth: "users_and_members", run: () => null }),
});

describe("treaty/testing in the contract's language", () => {
  it("reads and seeds state through the contract's own map declarations, typed", () => {
    const c = testContract(registry, { name: "registry" });
    assert.equal(c.call("register", { sku: "A1" }, { caller: user("acme") }).ok, true);
    const view = c.map(products);
    const owner: string | undefined = view.get("A1")?.owner;
    assert.equal(owner, "me");
    view.set("B2", { owner: "seeded" });
    assert.deepEqual(view.entries(), [
      ["A1", { owner: "me" }],
      ["B2", { owner: "seeded" }],
    ]);
    assert.deepEqual(view.keys({ from: "B" }), ["B2"]);
    for (const at of [3, -1, 0.5]) c.call("read", { at }, { caller: user("acme") });
    assert.deepEqual(c.map(readings).entries({ reverse: true, limit: 2 }), [
      [3, 6],
      [0.5, 1],
    ]);
    assert.equal(c.map(readings).has(-1), true);
    c.map(readings).delete(-1);
    assert.equal(c.map(readings).get(-1), undefined);
  });

  it("finds a public map by its plain name in c.state", () => {
    const c = testContract(registry, { name: "registry" });
    c.call("register", { sku: "A1" }, { caller: user("acme") });
    assert.deepEqual(c.state.get("products", "A1"), { owner: "me" });
    assert.deepEqual(c.state.get("public:products", "A1"), { owner: "me" });
    assert.deepEqual(c.state.maps(), ["public:products"]);
  });

  it("tests a constitution under its reserved name over seeded members, users and contracts", () => {
    assert.throws(
      () => testContract(constitution, { name: "gov" }),
      (err: unknown) => isTreatyError(err, "InvalidArgs") && /testConstitution/.test((err as Error).message),
    );
    const c = testConstitution(constitution);
    assert.equal(c.name, "gov");
    seedGovernance(c.store, {
      members: { acme: { data: { name: "Acme" } }, bigco: {}, cargo: {} },
      users: { dana: {} },
      contracts: { registry: { bundle: "(function(){})" } },
    });
    assert.deepEqual(c.map(members).get("acme")?.data, { name: "Acme" });
    const bigco = c.map(members).get("bigco");
    assert.ok(bigco !== undefined && "publicKey" in bigco, "a key member");
    assert.equal(bigco.publicKey, namedPublicKey("bigco"));
    assert.equal(c.state.get("contracts", "registry") !== undefined, true);
    const publicKey = namedPublicKey("erin");
    const proposal = {
      proposalId: "p1",
      proposer: "acme",
      actions: [{ name: "set_user", args: { publicKey, data: { name: "Erin" } } }],
    };
    const valid = c.call("validate", { proposal }, { caller: member("acme") });
    assert.deepEqual(valid.ok && valid.result, { valid: true });
    const open = c.call("resolve", { proposal, ballots: { acme: "for" } }, { caller: member("acme") });
    assert.equal(open.ok && open.result, "Open");
    const accepted = c.call(
      "resolve",
      { proposal, ballots: { acme: "for", cargo: "for" } },
      { caller: member("acme") },
    );
    assert.equal(accepted.ok && accepted.result, "Accepted");
    assert.equal(c.call("apply", { proposal }, { caller: member("acme") }).ok, true);
    const erin = keyId({ curve: "ed25519", publicKey: fromHex(publicKey) });
    assert.deepEqual(c.map(users).get(erin), { curve: "ed25519", publicKey, data: { name: "Erin" } });
    assert.ok(c.map(users).has("dana"));
  });

  it("exports the compiler and the stand-in from the package's own paths", async () => {
    const compiler = await import("treaty/compiler");
    const testing = await import("treaty/testing");
    const compiled = compiler.compileContract({
      files: {
        "index.ts":
          'import { contract, method } from "treaty/contract";\nexport default contract({ hi: method({ mode: "readonly", auth: "anyone", run: () => "hi" }) });\n',
      },
    });
    assert.ok(compiled.ok);
    const c = testing.testContract(testing.loadBundle(compiled.bundle), { name: "hello" });
    const r = c.call("hi");
    assert.equal(r.ok && r.result, "hi");
  });
});
