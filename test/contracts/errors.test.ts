import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ApiError,
  ContractError,
  MAX_ERROR_MESSAGE_CHARS,
  RESERVED_ERROR_CODES,
} from "../../contracts/api/errors.js";
import { ErrorCode } from "../../sdk/errors.js";

describe("contract errors", () => {
  it("reserves exactly Treaty's own error codes", () => {
    assert.deepEqual([...RESERVED_ERROR_CODES].sort(), Object.keys(ErrorCode).sort());
  });

  it("ContractError carries a contract's own code and message", () => {
    const err = new ContractError("InsufficientFunds", "balance 3 < 5");
    assert.equal(err.code, "InsufficientFunds");
    assert.equal(err.message, "balance 3 < 5");
    assert.equal(err.name, "ContractError");
    assert.ok(err instanceof Error);
  });

  it("refuses reserved and malformed codes with an ApiError the author sees", () => {
    for (const code of ["NotFound", "Forbidden", "InvalidArgs"]) {
      assert.throws(
        () => new ContractError(code, "x"),
        (err: unknown) =>
          err instanceof ApiError &&
          err.code === "ContractFault" &&
          err.message.includes(`"${code}" is reserved by Treaty`),
      );
    }
    for (const code of ["", "lowercase", "Has Space", "A".repeat(65), "Dash-Code", 7 as unknown as string]) {
      assert.throws(
        () => new ContractError(code, "x"),
        (err: unknown) =>
          err instanceof ApiError &&
          err.code === "ContractFault" &&
          /is invalid: it must match/.test(err.message),
      );
    }
    assert.equal(new ContractError("A", "x").code, "A");
    assert.equal(new ContractError(`A${"b".repeat(63)}`, "x").code.length, 64);
  });

  it("cuts very long messages", () => {
    const err = new ContractError("Big", "m".repeat(5000));
    assert.equal(err.message.length, MAX_ERROR_MESSAGE_CHARS);
    assert.ok(err.message.endsWith("…"));
  });
});
