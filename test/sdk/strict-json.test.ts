/**
 * sdk/strict-json.ts: `parseStrictJson` parses what JSON.parse parses, refuses a key repeated in
 * one object (however it is escaped) and nesting beyond MAX_JSON_NESTING, and reports text that
 * is not JSON as JSON.parse does.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isTreatyError } from "../../sdk/errors.js";
import { MAX_JSON_NESTING, parseStrictJson } from "../../sdk/strict-json.js";

/** What happens to `text`: its value, "duplicate", "deep", or "syntax". */
function outcome(text: string): unknown {
  try {
    return { value: parseStrictJson(text, "body") };
  } catch (err) {
    if (isTreatyError(err, "MalformedEncoding"))
      return /appears twice/.test((err as Error).message) ? "duplicate" : "deep";
    assert.ok(err instanceof SyntaxError, String(err));
    return "syntax";
  }
}

describe("parseStrictJson", () => {
  it("parses any JSON without repeated keys as JSON.parse does", () => {
    fc.assert(
      fc.property(fc.json({ depthSize: "small" }), (text) => {
        assert.deepEqual(outcome(text), { value: JSON.parse(text) });
      }),
      { numRuns: 500 },
    );
  });

  it("refuses a repeated key, escaped or not", () => {
    for (const text of [
      '{"a":1,"a":2}',
      '{"nonce":"x","args":{},"nonce":"y"}',
      '{"a":1,"\\u0061":2}',
      '{"\\u0061":1,"a":2}',
      '{"a\\"b":1,"a\\"b":2}',
      '{"x":{"k":1,"k":2}}',
    ])
      assert.equal(outcome(text), "duplicate", text);
    assert.deepEqual(outcome('{"a":{"a":1},"b":[{"a":1},{"a":2}]}'), {
      value: { a: { a: 1 }, b: [{ a: 1 }, { a: 2 }] },
    });
  });

  it("refuses a repeated key in an object of any size, wherever the repeat falls", () => {
    for (const size of [2, 15, 16, 17, 40]) {
      const keys = Array.from({ length: size }, (_, i) => `k${i}`);
      const whole = `{${keys.map((k, i) => `"${k}":${i}`).join(",")}}`;
      assert.deepEqual(outcome(whole), { value: JSON.parse(whole) }, `${size} distinct keys`);
      for (const first of [0, size - 1]) {
        const again = `{${keys.map((k, i) => `"${k}":${i}`).join(",")},"${keys[first]}":0}`;
        assert.equal(outcome(again), "duplicate", `${size} keys, k${first} again`);
      }
    }
  });

  it("reports text that is not JSON as a syntax error, control characters in keys included", () => {
    for (const text of ['{"a\n":1,"a\n":2}', '{"a\t":1}', '{"a', '{"a":1,}', "{'a':1}"])
      assert.equal(outcome(text), "syntax", JSON.stringify(text));
  });

  it("refuses nesting beyond the bound", () => {
    const deep = "[".repeat(MAX_JSON_NESTING + 1) + "]".repeat(MAX_JSON_NESTING + 1);
    assert.equal(outcome(deep), "deep");
    const ok = "[".repeat(MAX_JSON_NESTING) + "]".repeat(MAX_JSON_NESTING);
    assert.notEqual(outcome(ok), "deep");
  });
});
