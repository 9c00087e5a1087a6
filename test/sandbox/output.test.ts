/**
 * The one check of what leaves the sandbox (runtime/sandbox/output.ts), as properties over
 * random values: nested, wide, huge and malformed. Whatever the text, the check either returns
 * exactly what JSON.parse returns (and the value then survives structured clone, msgpack and
 * JSON round trips: nothing downstream can fail on its shape) or throws a TreatyError with one of
 * its codes; never another kind of error.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decode, encode } from "../../sdk/codec.js";
import { isTreatyError } from "../../sdk/errors.js";
import {
  checkJsonText,
  checkJsonValueText,
  isPlainJson,
  MAX_OBJECT_KEYS,
  MAX_VALUE_DEPTH,
  MAX_VALUE_NODES,
  utf8Length,
} from "../../runtime/sandbox/output.js";
import { parseStrictJson } from "../../sdk/strict-json.js";

const CODES = new Set(["ValueTooLarge", "ValueTooDeep", "ContractFault"]);

function nested(depth: number, open = "[", close = "]"): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** What a check did with `text`: "ok", or the code and message it threw. */
function result(check: () => unknown): string {
  try {
    check();
    return "ok";
  } catch (err) {
    assert.ok(isTreatyError(err), `not a TreatyError: ${String(err)}`);
    return `${err.code}: ${err.message}`;
  }
}

/**
 * Checks `text` and asserts the contract of the check; returns the code or "ok". The check
 * without a value (`checkJsonValueText`, what kvSet runs) must decide exactly alike, with the
 * same message, and its one-pass test (`isPlainJson`) must pass only texts the check accepts.
 */
function outcome(text: string, maxBytes: number): string {
  const full = result(() => checkJsonText(text, "value", maxBytes));
  assert.equal(
    result(() => checkJsonValueText(text, "value", maxBytes)),
    full,
    JSON.stringify(text),
  );
  if (isPlainJson(text, maxBytes, MAX_VALUE_DEPTH)) assert.equal(full, "ok", JSON.stringify(text));
  let value: unknown;
  try {
    value = checkJsonText(text, "value", maxBytes);
  } catch (err) {
    assert.ok(isTreatyError(err), `not a TreatyError: ${String(err)}`);
    assert.ok(CODES.has(err.code), err.code);
    return err.code;
  }
  assert.deepEqual(value, JSON.parse(text));
  assert.ok(utf8Length(text) <= maxBytes);
  // Everything downstream recurses over the value: it must all succeed.
  assert.deepEqual(structuredClone(value), value);
  assert.deepEqual(decode(encode(value)), value);
  assert.deepEqual(JSON.parse(JSON.stringify(value)), value);
  return "ok";
}

/** Random JSON values, some nested far past the bound. */
const deepValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.oneof(
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      fc.string(),
    ),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie("value"), { maxKeys: 4 }),
  ),
})).value;

describe("the sandbox output check", () => {
  it("accepts and round-trips any value within the bounds, refuses the rest with its code", () => {
    fc.assert(
      fc.property(
        deepValue,
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 4096 }),
        (value, wrap, maxBytes) => {
          const text = `${"[".repeat(wrap)}${JSON.stringify(value)}${"]".repeat(wrap)}`;
          const code = outcome(text, maxBytes);
          if (wrap > MAX_VALUE_DEPTH && utf8Length(text) <= maxBytes) assert.equal(code, "ValueTooDeep");
          if (utf8Length(text) > maxBytes) assert.equal(code, "ValueTooLarge");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("never throws anything but its codes on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        outcome(text, 1 << 20);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("[", "]", "{", "}", ",", ":", '"', "\\", "1", "a", " "), { maxLength: 200 }),
        (parts) => {
          outcome(parts.join(""), 1 << 20);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("makes a label given as a function only for a message", () => {
    let made = 0;
    const label = () => {
      made++;
      return 'kvSet("m") value';
    };
    assert.deepEqual(checkJsonText('{"a":[1,2]}', label, 100), { a: [1, 2] });
    assert.equal(made, 0, "a value that passes makes no label");
    assert.throws(() => checkJsonText('"too long"', label, 3), {
      code: "ValueTooLarge",
      message: 'kvSet("m") value: 10 bytes, the limit is 3',
    });
    assert.throws(() => checkJsonText("{", label, 100), {
      code: "ContractFault",
      message: /^kvSet\("m"\) value: /,
    });
    assert.equal(made, 2);
  });

  it("the one-pass test accepts every well-formed value within the bounds, whitespace included", () => {
    fc.assert(
      fc.property(deepValue, fc.constantFrom(undefined, 1, "\t", " \r\n "), (value, space) => {
        const text = JSON.stringify(value, null, space);
        assert.equal(isPlainJson(text, 1 << 20, MAX_VALUE_DEPTH), outcome(text, 1 << 20) === "ok");
      }),
      { numRuns: 1000 },
    );
    for (const text of [
      '"a\\u00e9\\ud800\\/\\b\\f\\n\\r\\t\\"\\\\"',
      "-0.5e+10",
      "0",
      "[]",
      "{}",
      ' { "a" : [ ] } ',
      '"😀é"',
    ])
      assert.ok(isPlainJson(text, 1 << 20, MAX_VALUE_DEPTH), text);
    for (const text of [
      "01",
      "-",
      "1.",
      ".5",
      "1e",
      "+1",
      "[1,]",
      '{"a":1,}',
      '{"a"}',
      "tru",
      "nul",
      '"\\x"',
      '"\\u12G4"',
      '"\t"',
      "\ufeff1",
      "1 2",
      '"\ud800"',
      '"\udc00\ud800"',
    ])
      assert.ok(!isPlainJson(text, 1 << 20, MAX_VALUE_DEPTH), text);
  });

  it("bounds depth, width and bytes exactly", () => {
    const max = 8 << 20;
    assert.equal(outcome(nested(MAX_VALUE_DEPTH), max), "ok");
    assert.equal(outcome(nested(MAX_VALUE_DEPTH + 1), max), "ValueTooDeep");
    assert.equal(outcome(nested(200_000), max), "ValueTooDeep");
    assert.equal(outcome(`${'{"a":'.repeat(200_000)}1${"}".repeat(200_000)}`, max), "ValueTooDeep");
    // Strings that look like brackets do not count.
    assert.equal(outcome(JSON.stringify("[".repeat(10_000)), max), "ok");
    assert.equal(outcome(JSON.stringify(['\\"[', "]"]), max), "ok");
    // Count: scalars and containers; object keys are not values.
    assert.equal(outcome(`[${"0,".repeat(MAX_VALUE_NODES - 2)}0]`, max), "ok");
    assert.equal(outcome(`[${"0,".repeat(MAX_VALUE_NODES - 1)}0]`, max), "ValueTooLarge");
    const object = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":0`).join(",")}}`;
    assert.equal(outcome(object(MAX_OBJECT_KEYS), max), "ok");
    // More keys than MessagePack's 16-bit map size would fail in the ledger's codec.
    assert.equal(outcome(object(MAX_OBJECT_KEYS + 1), max), "ValueTooLarge");
    assert.equal(outcome(`[${object(40_000)},${object(40_000)}]`, max), "ok");
    // Bytes are UTF-8 bytes.
    assert.equal(outcome(JSON.stringify("é".repeat(10)), 22), "ok");
    assert.equal(outcome(JSON.stringify("é".repeat(10)), 21), "ValueTooLarge");
    // Lone surrogates and non-JSON are the contract's fault.
    assert.equal(outcome('"\ud800"', max), "ContractFault");
    assert.equal(outcome("[1,", max), "ContractFault");
    assert.equal(outcome("", max), "ContractFault");
  });
});

describe("strict JSON for request bodies", () => {
  it("refuses a key twice in one object, at any depth, however it is escaped", () => {
    for (const text of [
      '{"nonce":"a","nonce":"b"}',
      '{"args":{"x":1,"x":2}}',
      '{"a":1,"\\u0061":2}',
      '[{"k":[1,{"z":0,"z":0}]}]',
    ]) {
      assert.throws(() => parseStrictJson(text, "body"), { code: "MalformedEncoding" }, text);
    }
    assert.deepEqual(parseStrictJson('{"a":{"a":1},"b":[{"a":2},{"a":3}]}', "body"), {
      a: { a: 1 },
      b: [{ a: 2 }, { a: 3 }],
    });
    assert.deepEqual(parseStrictJson('{"a,b":"c:d","e":"{"}', "body"), { "a,b": "c:d", e: "{" });
  });

  it("agrees with JSON.parse on every value without duplicates, and bounds depth", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const text = JSON.stringify(value);
        assert.deepEqual(parseStrictJson(text, "body"), JSON.parse(text));
      }),
      { numRuns: 500 },
    );
    assert.throws(() => parseStrictJson(nested(65), "body"), { code: "MalformedEncoding" });
    assert.throws(() => parseStrictJson(nested(200_000), "body"), { code: "MalformedEncoding" });
    assert.throws(() => parseStrictJson("{", "body"), SyntaxError);
  });
});
