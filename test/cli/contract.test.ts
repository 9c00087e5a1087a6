/**
 * `treaty contract build | call`, run as a user would: the built CLI spawned in temp dirs.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { loadBundle, member, testContract, user } from "../../contracts/testing/index.js";
import { compileContract, findPackageRoot } from "../../runtime/compiler/index.js";
import { treatyIn } from "../support/cli.js";

const LOG = join(findPackageRoot(), "contracts", "examples", "log");

function bundleOf(dir: string): string {
  const compiled = compileContract(dir);
  assert.ok(compiled.ok);
  return compiled.bundle;
}

const BROKEN = `import { contract, method } from "treaty/contract";
export default contract({
  m: method({ mode: "readonly", auth: "anyone", run: () => { const n: number = "not a number"; return n; } }),
});
`;

const HOSTILE = `import { contract, map, method } from "treaty/contract";
const marks = map<string, number>("marks");
export default contract({
  spin: method({ mode: "readwrite", auth: "users", run: () => { marks.set("before", 1); for (;;) {} } }),
  count: method({ mode: "readonly", auth: "users", run: () => marks.keys().length }),
});
`;

const WHOAMI = `import { caller, contract, method } from "treaty/contract";
export default contract({
  whoami: method({ mode: "readonly", auth: "users_and_members", run: () => caller() }),
});
`;

describe("treaty contract", { concurrency: true }, () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "treaty-cli-contract-"));
    mkdirSync(join(root, "broken"));
    writeFileSync(join(root, "broken", "index.ts"), BROKEN);
    mkdirSync(join(root, "hostile"));
    writeFileSync(join(root, "hostile", "index.ts"), HOSTILE);
    mkdirSync(join(root, "whoami"));
    writeFileSync(join(root, "whoami", "index.ts"), WHOAMI);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("build prints the digest, the size and the manifest", async () => {
    const run = await treatyIn(root, "contract", "build", LOG);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as {
      digest: string;
      bytes: number;
      methods: Record<string, { mode: string; auth: string }>;
    };
    assert.match(out.digest, /^[0-9a-f]{64}$/);
    assert.ok(out.bytes > 1000);
    assert.deepEqual(Object.keys(out.methods).sort(), [
      "readPrivate",
      "readPublic",
      "writePrivate",
      "writePublic",
    ]);
    assert.deepEqual(
      out.methods.writePrivate && [out.methods.writePrivate.mode, out.methods.writePrivate.auth],
      ["readwrite", "users"],
    );
  });

  it("call --caller NAME is the identity treaty/testing calls user(NAME) or member(NAME)", async () => {
    const c = testContract(loadBundle(bundleOf(join(root, "whoami"))), { name: "whoami" });
    for (const [flags, caller] of [
      [[], user("acme")],
      [["--role", "member"], member("acme")],
    ] as const) {
      const run = await treatyIn(
        root,
        "contract",
        "call",
        join(root, "whoami"),
        "whoami",
        "--caller",
        "acme",
        ...flags,
      );
      assert.equal(run.code, 0, run.stderr);
      const inTests = c.call("whoami", {}, { caller });
      assert.deepEqual(JSON.parse(run.stdout), { result: inTests.ok && inTests.result });
      assert.deepEqual(inTests.ok && inTests.result, { id: "acme", role: caller.role });
    }
  });

  it("build reports problems as file:line:col message and exits 1", async () => {
    const run = await treatyIn(root, "contract", "build", join(root, "broken"));
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(run.stderr, /^index\.ts:3:\d+ .*not assignable/m);
  });

  it("call writes to the state store, reads back, and answers errors as JSON", async () => {
    const cwd = join(root, "calls");
    mkdirSync(cwd);
    const write = await treatyIn(
      cwd,
      "contract",
      "call",
      LOG,
      "writePrivate",
      "--args",
      '{"id": 7, "msg": "hello"}',
      "--caller",
      "alice",
    );
    assert.equal(write.code, 0, write.stderr + write.stdout);
    assert.deepEqual(JSON.parse(write.stdout), { result: null });
    const readAsBob = (...more: string[]) =>
      treatyIn(
        cwd,
        "contract",
        "call",
        LOG,
        "readPrivate",
        "--args",
        '{"id": 7}',
        "--caller",
        "bob",
        ...more,
      );
    const read = await readAsBob();
    assert.equal(read.code, 0, read.stderr + read.stdout);
    assert.deepEqual(JSON.parse(read.stdout), { result: { msg: "hello" } });
    const elsewhere = await readAsBob("--state", join(root, "other-state"));
    assert.equal(elsewhere.code, 1);
    assert.equal((JSON.parse(elsewhere.stdout) as { error: { code: string } }).error.code, "MessageNotFound");
  });

  it("a hostile call ends in a coded error with nothing committed", async () => {
    const cwd = join(root, "hostile-calls");
    mkdirSync(cwd);
    const dir = join(root, "hostile");
    const spin = await treatyIn(cwd, "contract", "call", dir, "spin", "--caller", "mallory");
    assert.equal(spin.code, 1, spin.stderr);
    assert.deepEqual(JSON.parse(spin.stdout).error.code, "ExecutionLimit");
    assert.equal(spin.stderr, "");
    const count = await treatyIn(cwd, "contract", "call", dir, "count", "--caller", "mallory");
    assert.deepEqual(JSON.parse(count.stdout), { result: 0 });
  });

  it("deep values end in a clear coded error, never a stack trace", async () => {
    const cwd = join(root, "deep-calls");
    mkdirSync(cwd);
    const forged = join(findPackageRoot(), "test", "fixtures", "contracts", "forged-output");
    const deep = await treatyIn(cwd, "contract", "call", forged, "deepResult", "--args", '{"depth":100000}');
    assert.equal(deep.code, 1, deep.stderr);
    assert.equal(JSON.parse(deep.stdout).error.code, "ValueTooDeep");
    assert.equal(deep.stderr, "");
    const args = `{"id":1,"msg":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    const deepArgs = await treatyIn(
      cwd,
      "contract",
      "call",
      LOG,
      "writePublic",
      "--caller",
      "a",
      "--args",
      args,
    );
    assert.equal(deepArgs.code, 2);
    assert.match(deepArgs.stderr, /--args: nested deeper than 64 levels/);
    assert.doesNotMatch(deepArgs.stderr, /\n\s+at /);
    const twice = await treatyIn(cwd, "contract", "call", LOG, "readPublic", "--args", '{"id":1,"id":2}');
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /appears twice/);
  });

  it("usage errors exit 2 without running anything", async () => {
    const badJson = await treatyIn(root, "contract", "call", LOG, "readPrivate", "--args", "{nope");
    assert.equal(badJson.code, 2);
    assert.match(badJson.stderr, /--args: not valid JSON/);
    const badRole = await treatyIn(
      root,
      "contract",
      "call",
      LOG,
      "readPrivate",
      "--caller",
      "a",
      "--role",
      "admin",
    );
    assert.equal(badRole.code, 2);
    assert.match(badRole.stderr, /--role/);
  });
});
