/**
 * The documentation's examples (docs/examples/, embedded in README.md and docs/*.md) run: the
 * contracts compile with the contract compiler and behave as the docs say, the scripts print
 * what the docs show, and the SDK snippets work against a real node.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { toHex } from "../../sdk/bytes.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { generateKeyPair, keyId, toKeyFile } from "../../sdk/keys.js";
import { actions, Governance } from "../../sdk/governance.js";
import { signingInput, signRequest } from "../../sdk/request.js";
import { compileContract, findPackageRoot } from "../../runtime/compiler/index.js";
import { sandboxManifest } from "../support/manifest.js";
import type { ContractManifest } from "../../runtime/sandbox/abi.js";
import { member, testContract, user } from "../../contracts/testing/index.js";
import deposit from "../../docs/examples/deposit/index.js";
import maps from "../../docs/examples/maps/index.js";
import { walkthrough } from "../../docs/examples/governance.js";
import { checks } from "../../docs/examples/typed-client.js";
import { resolveUnanimous } from "../../docs/examples/unanimity.js";
import { proveTransaction } from "../../docs/examples/verify-receipt.js";
import { startTestNode, type TestNode } from "../support/node.js";
import { runScript } from "../support/cli.js";

const ROOT = findPackageRoot();

/** Runs `body` with console.log captured (the examples print what the docs show). */
async function printed(body: () => Promise<unknown>): Promise<string> {
  const original = console.log;
  const lines: string[] = [];
  console.log = (...values: unknown[]) => {
    lines.push(values.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(" "));
  };
  try {
    await body();
  } finally {
    console.log = original;
  }
  return lines.join("\n");
}
const built = (path: string) => join(ROOT, "dist", path);

describe("documentation examples", () => {
  it("deposit (README): compiles, publishes its returns shape, and runs", async () => {
    const compiled = compileContract(join(ROOT, "docs/examples/deposit"));
    assert.ok(compiled.ok, JSON.stringify(!compiled.ok && compiled.diagnostics));
    const manifest = JSON.parse(JSON.stringify(await sandboxManifest(compiled.bundle))) as ContractManifest;
    assert.deepEqual(manifest.methods.balance?.returns, {
      type: "object",
      properties: { balance: { type: "number", integer: true } },
    });
    assert.equal(manifest.methods.deposit?.returns, undefined);
    const c = testContract(deposit, { name: "deposit" });
    assert.ok(c.call("deposit", { account: "a", amount: 5 }, { caller: member("m") }).ok);
    assert.ok(c.call("deposit", { account: "a", amount: 2 }, { caller: member("m") }).ok);
    assert.deepEqual(c.call("balance", { account: "a" }, { caller: member("m") }), {
      ok: true,
      result: { balance: 7 },
      events: [],
      writes: [],
      txid: null,
    });
    const missing = c.call("balance", { account: "b" }, { caller: member("m") });
    assert.equal(!missing.ok && missing.error.code, "AccountNotFound");
  });

  it("maps (docs/contracts.md): compiles and keeps private and public maps", () => {
    const compiled = compileContract(join(ROOT, "docs/examples/maps"));
    assert.ok(compiled.ok, JSON.stringify(!compiled.ok && compiled.diagnostics));
    const c = testContract(maps, { name: "maps" });
    assert.ok(c.call("open", { id: "alice", note: "first" }, { caller: user("u") }).ok);
    assert.ok(c.call("open", { id: "bob", note: "second" }, { caller: user("u") }).ok);
    const feed = c.call("feed", {}, { caller: user("u") });
    assert.deepEqual(feed.ok && feed.result, ["first", "second"]);
    const account = c.call("account", { id: "bob" }, { caller: user("u") });
    assert.deepEqual(account.ok && account.result, { balance: 0 });
    // Tuple keys: one product's transfers are one prefix range, in sequence order.
    for (const [productId, to] of [
      ["p1", "a"],
      ["p2", "x"],
      ["p1", "b"],
      ["p1", "c"],
    ]) {
      assert.ok(c.call("ship", { productId, to }, { caller: user("u") }).ok);
    }
    const history = c.call("history", { productId: "p1" }, { caller: user("u") });
    assert.deepEqual(history.ok && (history.result as Array<{ to: string }>).map((x) => x.to), [
      "a",
      "b",
      "c",
    ]);
  });

  it("testing-bank (docs/contracts.md) prints the transfer's error code", async () => {
    const run = await runScript(built("docs/examples/testing-bank.js"), []);
    assert.equal(run.code, 0, run.stderr);
    const [code, account] = run.stdout.trim().split("\n");
    assert.equal(code, "AccountNotFound");
    assert.equal((JSON.parse(account!) as { balance: number }).balance, 100);
  });

  it("testing-constitution (docs/contracts.md) validates, resolves and applies a set_user", async () => {
    const run = await runScript(built("docs/examples/testing-constitution.js"), [], ROOT);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split("\n"), ['{"valid":true}', '"Accepted"', "true"]);
  });

  it("compile (docs/contracts.md) prints the bank's digest and manifest", async () => {
    const run = await runScript(built("docs/examples/compile.js"), [], ROOT);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^[0-9a-f]{64} \{/);
    assert.match(run.stdout, /transfer/);
  });

  it("typed-client (docs/contracts.md): the types the comments name", () => {
    assert.deepEqual(checks, [true, true, true]);
  });

  it("unanimity (docs/governance.md): the rule, and its 'was:' lines are the default constitution's", () => {
    assert.equal(resolveUnanimous(3, 3, 0), "Accepted");
    assert.equal(resolveUnanimous(3, 2, 0), "Open");
    assert.equal(resolveUnanimous(3, 2, 1), "Rejected");
    const example = readFileSync(join(ROOT, "docs/examples/unanimity.ts"), "utf8");
    const constitution = readFileSync(join(ROOT, "contracts/constitution/index.ts"), "utf8");
    const was = [...example.matchAll(/\/\/ was: (.*)$/gm)].map((m) => m[1]!);
    assert.equal(was.length, 2);
    assert.ok(constitution.includes(`if (${was[0]}) return "Accepted";`), was[0]);
    assert.ok(constitution.includes(`if (${was[1]}) return "Rejected";`), was[1]);
  });

  describe("against a node", () => {
    let net: TestNode;
    let dir: string;
    before(async () => {
      net = await startTestNode();
      dir = mkdtempSync(join(tmpdir(), "treaty-doc-examples-"));
      writeFileSync(join(dir, "service.json"), JSON.stringify(net.serviceFile));
      writeFileSync(join(dir, "user0.json"), JSON.stringify(toKeyFile(net.user)));
    });
    after(async () => {
      await net?.dispose();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it("sign-request (docs/http.md): the printed headers and body.json make a call; the same bytes again are a Replay", async () => {
      const run = await runScript(
        built("docs/examples/sign-request.js"),
        [join(dir, "service.json"), join(dir, "user0.json")],
        dir,
      );
      assert.equal(run.code, 0, run.stderr);
      const headers = Object.fromEntries(
        [...run.stdout.matchAll(/-H "([^:]+): ([^"]+)"/g)].map((m) => [m[1]!, m[2]!]),
      );
      assert.deepEqual(Object.keys(headers).sort(), [
        "content-type",
        "x-treaty-caller",
        "x-treaty-signature",
      ]);
      const body = readFileSync(join(dir, "body.json"));
      const first = await net.post("/app/log/writePublic", body, headers);
      assert.equal(first.status, 200, JSON.stringify(first.json));
      const { txid } = first.json as { txid: string };
      assert.match(txid, /^\d+\.\d+$/);
      const again = await net.post("/app/log/writePublic", body, headers);
      assert.equal(again.status, 409);
      assert.equal(again.code, "Replay");
    });

    it("verify-receipt (docs/receipts.md) proves a call with its request digest", async () => {
      const client = net.client();
      const { txid } = await client.call("log", "writePublic", { id: 2, msg: "proven" });
      await client.waitForCommit(txid!);
      // The digest of the request the client sent is not returned by call(): sign one ourselves.
      const signed = signRequest(net.user, keyId(net.serviceKey), "/app/log/writePublic", {
        id: 3,
        msg: "p",
      });
      const answer = await net.post("/app/log/writePublic", signed.body, signed.headers);
      const own = (answer.json as { txid: string }).txid;
      await client.waitForCommit(own);
      const digest = sha256(signingInput(keyId(net.serviceKey), "/app/log/writePublic", signed.body));
      let proven: Awaited<ReturnType<typeof proveTransaction>> | undefined;
      const out = await printed(async () => {
        proven = await proveTransaction(net.url, toHex(net.serviceKey.publicKey), own, digest);
      });
      assert.ok(proven);
      assert.match(out, /^user \d+\.\d+ /);
      assert.equal(proven.txid, own);
      assert.equal(proven.kind, "user");
      await assert.rejects(
        proveTransaction(net.url, toHex(net.serviceKey.publicKey), txid!, digest),
        (err: unknown) => (err as { code?: string }).code === "ReceiptInvalid",
      );
    });
  });

  it("governance walk-through (docs/governance.md) runs with two members", async () => {
    const net = await startTestNode({ open: false });
    try {
      const alice = net.member;
      const bob = generateKeyPair("ed25519");
      const founder = new Governance(net.client(null), alice);
      const added = await founder.propose([actions.setMember(bob)]);
      await founder.vote(added.proposalId, "for");
      assert.equal((await founder.waitForFinal(added.proposalId)).state, "Accepted");
      const app = generateKeyPair("p256");
      const out = await printed(() =>
        walkthrough(
          JSON.stringify(net.serviceFile),
          JSON.stringify(toKeyFile(alice)),
          JSON.stringify(toKeyFile(bob)),
          app,
          readFileSync(join(ROOT, "docs/examples/deposit/index.ts"), "utf8"),
        ),
      );
      assert.match(out, /^Accepted \{/);
      const reader = new Governance(net.client(null));
      assert.ok((await reader.contracts()).some((c) => c.name === "escrow"));
    } finally {
      await net.dispose();
    }
  });
});
