import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { isTreatyError } from "../../sdk/errors.js";
import { compileContract } from "../../runtime/compiler/index.js";
import { CompilerThread } from "../../node/gov/compiler-thread.js";

const GOOD = `import { contract, method } from "treaty/contract";
export default contract({ ping: method({ mode: "readonly", auth: "anyone", run: () => "pong" }) });
`;
const BAD = `import { contract, method } from "treaty/contract";
export default contract({ ping: method({ mode: "readonly", auth: "anyone", run: () => { const n: number = "x"; return n; } }) });
`;

describe("compiler thread", () => {
  const thread = new CompilerThread();
  after(() => thread.close());

  it("compiles off the main thread to the same bytes as in process", async () => {
    const compiled = await thread.compile({ "index.ts": GOOD });
    const local = compileContract({ files: { "index.ts": GOOD } });
    assert.ok(local.ok);
    assert.equal(compiled.digest, local.digest);
    assert.equal(compiled.bundle, local.bundle);
  });

  it("returns compile errors as CompileError with diagnostics, and keeps serving", async () => {
    await assert.rejects(thread.compile({ "index.ts": BAD }), (err) => {
      assert.ok(isTreatyError(err, "CompileError"));
      assert.match(err.message, /index\.ts:2:\d+ /);
      assert.ok(Array.isArray((err.details as { diagnostics?: unknown[] }).diagnostics));
      return true;
    });
    assert.ok((await thread.compile({ "index.ts": GOOD })).digest.length === 64);
  });

  it("times out a compile that outlives its deadline and recovers with a fresh thread", async () => {
    await assert.rejects(thread.compile({ "index.ts": GOOD }, 1), (err) => isTreatyError(err, "Timeout"));
    assert.ok((await thread.compile({ "index.ts": GOOD })).digest.length === 64);
    const closed = new CompilerThread();
    await closed.close();
    await assert.rejects(closed.compile({ "index.ts": GOOD }), (err) => isTreatyError(err, "Unavailable"));
  });
});
