/**
 * checkOutcome: the result cap is on the result's own JSON, measured exactly whenever it could be
 * over the cap, including when re-encoding makes the text longer than the contract wrote it.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkOutcome } from "../../runtime/executor/outcome.js";
import { TreatyError } from "../../sdk/errors.js";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof TreatyError) return err.code;
    throw err;
  }
  return "none";
}

describe("checkOutcome", () => {
  it("passes results within the cap and refuses those over it", () => {
    assert.deepEqual(checkOutcome('{"ok":true,"result":{"msg":"hi"}}', 100), {
      ok: true,
      result: { msg: "hi" },
    });
    assert.deepEqual(checkOutcome('{"ok":true}', 100), { ok: true, result: null });
    const big = JSON.stringify({ ok: true, result: "x".repeat(200) });
    assert.equal(
      code(() => checkOutcome(big, 100)),
      "PayloadTooLarge",
    );
    assert.equal(checkOutcome(JSON.stringify({ ok: true, result: "x".repeat(98) }), 100).ok, true);
  });

  it("decides the outcome of a method that returns nothing as the full check does, cap included", () => {
    const text = '{"ok":true,"result":null}';
    for (const cap of [1, 3, 4, 100]) {
      const spaced = '{"ok":true, "result":null}'; // the same outcome, through the full check
      assert.equal(
        code(() => checkOutcome(text, cap)),
        code(() => checkOutcome(spaced, cap)),
        `cap ${cap}`,
      );
      if (cap >= 4) assert.deepEqual(checkOutcome(text, cap), { ok: true, result: null });
    }
    assert.equal(
      code(() => checkOutcome(text, 3)),
      "PayloadTooLarge",
    );
  });

  it("measures the re-encoded result: numbers written with an exponent come back in full", () => {
    // 5 × "1e20" is 29 bytes of text but 111 bytes of JSON once parsed ("100000000000000000000").
    const text = '{"ok":true,"result":[1e20,1e20,1e20,1e20,1e20]}';
    assert.equal(
      code(() => checkOutcome(text, 100)),
      "PayloadTooLarge",
    );
    assert.equal(checkOutcome(text, 111).ok, true);
    // Exactly at the cap, with plain digits.
    assert.equal(checkOutcome('{"ok":true,"result":"é"}', 4).ok, true);
    assert.equal(
      code(() => checkOutcome('{"ok":true,"result":"éé"}', 5)),
      "PayloadTooLarge",
    );
  });

  it("turns a malformed outcome into ContractFault and a forged code into InvalidErrorCode", () => {
    assert.equal(
      code(() => checkOutcome("[]", 100)),
      "ContractFault",
    );
    assert.equal(
      code(() => checkOutcome('{"ok":1}', 100)),
      "ContractFault",
    );
    const forged = checkOutcome('{"ok":false,"error":{"code":"NotLeader","message":"m"}}', 100);
    assert.equal(forged.ok, false);
    assert.equal(!forged.ok && forged.error.code, "InvalidErrorCode");
  });
});
