/**
 * The exit status of `treaty node start` after a fatal error (node/main.ts): what the systemd
 * example's RestartPreventExitStatus and docs/deploy.md rely on. test/node/kv-damage runs the
 * real CLI into a 74; the mapping is checked here for every kind of fatal error.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EXIT_BROKEN_INVARIANT, EXIT_STATE_DAMAGED, fatalExitStatus } from "../../node/main.js";
import { AssertionFailure } from "../../sdk/assert.js";
import { TreatyError } from "../../sdk/errors.js";

describe("a node's exit status after a fatal error", () => {
  it("is 70 for a broken invariant, wherever it was met", () => {
    assert.equal(EXIT_BROKEN_INVARIANT, 70);
    assert.equal(fatalExitStatus(new AssertionFailure("invariant broken: test")), 70);
  });

  it("is 74 for stored state found damaged (LedgerCorrupt)", () => {
    assert.equal(EXIT_STATE_DAMAGED, 74);
    assert.equal(fatalExitStatus(new TreatyError("LedgerCorrupt", "kv store: damaged page")), 74);
  });

  it("is 1 for any other fatal error (a restart may clear it)", () => {
    assert.equal(fatalExitStatus(new TreatyError("Unavailable", "replica failed")), 1);
    assert.equal(fatalExitStatus(new Error("replica failed")), 1);
    assert.equal(fatalExitStatus("not an error"), 1);
  });
});
