import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  contract,
  emit,
  fromHex,
  method,
  randomBytes,
  randomHex,
  randomInt,
  sha256,
  t,
  toHex,
  verifySignature,
} from "../../contracts/api/index.js";
import { testContract, user } from "../../contracts/testing/index.js";
import { CURVES, generateKeyPair, sign } from "../../sdk/keys.js";

const tools = contract({
  hashText: method({
    mode: "readonly",
    auth: "users",
    args: { text: t.string() },
    run: ({ text }) => sha256(text),
  }),
  hashHex: method({
    mode: "readonly",
    auth: "users",
    args: { hex: t.string() },
    run: ({ hex }) => sha256(fromHex(hex)),
  }),
  verify: method({
    mode: "readonly",
    auth: "users",
    args: {
      curve: t.enum("ed25519", "p256", "secp256k1"),
      publicKey: t.string(),
      message: t.string(),
      signature: t.string(),
      messageIsHex: t.boolean(),
    },
    run: (a) =>
      verifySignature({
        curve: a.curve,
        publicKey: a.publicKey,
        signature: fromHex(a.signature),
        message: a.messageIsHex ? fromHex(a.message) : a.message,
      }),
  }),
  random: method({
    mode: "readwrite",
    auth: "users",
    args: { bytes: t.integer() },
    run: ({ bytes }) => randomHex(bytes),
  }),
  dice: method({
    mode: "readwrite",
    auth: "users",
    args: { max: t.number(), rolls: t.integer() },
    run: ({ max, rolls }) => Array.from({ length: rolls }, () => randomInt(max)),
  }),
  badRandom: method({ mode: "readwrite", auth: "users", run: () => randomBytes(1.5).length }),
  events: method({
    mode: "readwrite",
    auth: "users",
    args: { names: t.array(t.string()) },
    run: ({ names }) => {
      for (const name of names) emit(name, { name });
    },
  }),
  badEventData: method({ mode: "readwrite", auth: "users", run: () => emit("x", { when: new Date(0) }) }),
  eventThenFail: method({
    mode: "readwrite",
    auth: "users",
    run: () => {
      emit("lost");
      throw new Error("boom");
    },
  }),
});

const alice = { caller: user("alice") };
const result = <T>(r: { ok: boolean; result?: T }) => {
  assert.ok(r.ok, JSON.stringify(r));
  return r.result as T;
};

describe("hashing, signatures, randomness and events", () => {
  it("hashes text as UTF-8 and bytes as bytes, like node:crypto", () => {
    const c = testContract(tools, { name: "tools" });
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.uint8Array({ maxLength: 64 }), (text, bytes) => {
        assert.equal(
          result(c.call("hashText", { text }, alice)),
          createHash("sha256").update(text, "utf8").digest("hex"),
        );
        assert.equal(
          result(c.call("hashHex", { hex: toHex(bytes) }, alice)),
          createHash("sha256").update(bytes).digest("hex"),
        );
      }),
      { numRuns: 50 },
    );
  });

  it("verifies signatures on every curve, false for wrong or malformed input", () => {
    const c = testContract(tools, { name: "tools" });
    for (const curve of CURVES) {
      const key = generateKeyPair(curve);
      const message = "pay bob 5";
      const signature = toHex(sign(key, new TextEncoder().encode(message)));
      const args = { curve, publicKey: toHex(key.publicKey), message, signature, messageIsHex: false };
      assert.equal(result(c.call("verify", args, alice)), true, curve);
      assert.equal(
        result(
          c.call(
            "verify",
            { ...args, messageIsHex: true, message: toHex(new TextEncoder().encode(message)) },
            alice,
          ),
        ),
        true,
      );
      assert.equal(result(c.call("verify", { ...args, message: "pay bob 6" }, alice)), false);
      assert.equal(result(c.call("verify", { ...args, publicKey: "zz" }, alice)), false);
      assert.equal(result(c.call("verify", { ...args, publicKey: "00" }, alice)), false);
      assert.equal(result(c.call("verify", { ...args, signature: "00".repeat(64) }, alice)), false);
    }
  });

  it("draws deterministic random bytes from the call's seed (SHA-256 stream, chunked past 1024)", () => {
    const c = testContract(tools, { name: "tools" });
    const seed = new Uint8Array(32).fill(7);
    const hex = result<string>(c.call("random", { bytes: 3000 }, { ...alice, seed }));
    let expected = "";
    for (let counter = 0; expected.length < 6000; counter++) {
      const block = Buffer.alloc(4);
      block.writeUInt32BE(counter);
      expected += createHash("sha256")
        .update(Buffer.concat([seed, block]))
        .digest("hex");
    }
    assert.equal(hex, expected.slice(0, 6000));
    assert.equal(result(c.call("random", { bytes: 3000 }, { ...alice, seed })), hex);
    assert.notEqual(
      result(c.call("random", { bytes: 16 }, alice)),
      result(c.call("random", { bytes: 16 }, alice)),
    );
    const bad = c.call("badRandom", {}, alice);
    assert.deepEqual(!bad.ok && bad.error, {
      code: "ContractFault",
      message: "randomBytes(length): expected an integer from 0 to 65536, got 1.5",
    });
  });

  it("draws random integers in [0, max) and refuses bad bounds", () => {
    const c = testContract(tools, { name: "tools" });
    const rolls = result<number[]>(c.call("dice", { max: 6, rolls: 600 }, alice));
    assert.ok(rolls.every((n) => Number.isInteger(n) && n >= 0 && n < 6));
    assert.deepEqual(new Set(rolls).size, 6);
    assert.deepEqual(result(c.call("dice", { max: 1, rolls: 3 }, alice)), [0, 0, 0]);
    const big = result<number[]>(c.call("dice", { max: 2 ** 48, rolls: 5 }, alice));
    assert.ok(big.every((n) => Number.isSafeInteger(n) && n < 2 ** 48));
    for (const max of [0, 1.5, 2 ** 48 + 1, -3]) {
      const r = c.call("dice", { max, rolls: 1 }, alice);
      assert.equal(!r.ok && r.error.code, "ContractFault");
      assert.match(!r.ok ? r.error.message : "", /randomInt\(max\): expected an integer from 1 to 2\^48/);
    }
  });

  it("collects events of successful calls only, within the cap", () => {
    const c = testContract(tools, { name: "tools", limits: { maxEvents: 3 } });
    const r = c.call("events", { names: ["a", "b.c", "d:e"] }, alice);
    assert.deepEqual(r.events, [
      { name: "a", data: { name: "a" } },
      { name: "b.c", data: { name: "b.c" } },
      { name: "d:e", data: { name: "d:e" } },
    ]);
    const tooMany = c.call("events", { names: ["a", "b", "c", "d"] }, alice);
    assert.deepEqual(!tooMany.ok && tooMany.error, {
      code: "PayloadTooLarge",
      message: "events: a call may emit at most 3 events",
    });
    assert.deepEqual(tooMany.events, []);
    const badName = c.call("events", { names: ["no spaces"] }, alice);
    assert.equal(!badName.ok && badName.error.code, "ContractFault");
    const badData = c.call("badEventData", {}, alice);
    assert.deepEqual(!badData.ok && badData.error, {
      code: "ContractFault",
      message: 'emit("x"): data.when: a Date is not JSON (only plain objects and arrays are)',
    });
    assert.deepEqual(c.call("eventThenFail", {}, alice).events, []);
  });
});
