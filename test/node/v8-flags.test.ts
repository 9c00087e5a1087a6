/**
 * node/v8-flags.ts: the `treaty` launcher's shebang carries exactly NODE_V8_FLAGS (V8 reads them
 * only at start), a test cluster's node processes run with them, and `missingV8Flags` tells which
 * ones a process lacks or turned off again.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { missingV8Flags, NODE_V8_FLAGS } from "../../node/v8-flags.js";

describe("node V8 flags (node/v8-flags.ts)", () => {
  it("the compiled launcher's shebang passes them to node", () => {
    const cli = fileURLToPath(new URL("../../node/cli.js", import.meta.url));
    const shebang = readFileSync(cli, "utf8").split("\n", 1)[0];
    assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_V8_FLAGS.join(" ")}`);
  });

  it("single-threaded GC is among them", () => {
    assert.ok(NODE_V8_FLAGS.includes("--single-threaded-gc"));
  });

  it("names the flags a process lacks or turned off later", () => {
    assert.deepEqual(missingV8Flags([]), [...NODE_V8_FLAGS]);
    assert.deepEqual(missingV8Flags(["--trace-gc", ...NODE_V8_FLAGS]), []);
    assert.deepEqual(missingV8Flags([...NODE_V8_FLAGS, "--no-single-threaded-gc"]), ["--single-threaded-gc"]);
    assert.deepEqual(missingV8Flags(["--no-single-threaded-gc", ...NODE_V8_FLAGS]), []);
  });
});
