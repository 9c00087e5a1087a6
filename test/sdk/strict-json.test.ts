/**
 * sdk/strict-json.ts: `parseStrictJson` parses what JSON.parse parses, refuses a key repeated in
 * one object (however it is escaped) and nesting beyond MAX_JSON_NESTING, and reports text that
 * is not JSON as JSON.parse does.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isTreatyError } from "../../sdk/errors.js";
import { TreatyError } from "../../sdk/errors.js";
import { MAX_JSON_NESTING, parseStrictJson } from "../../sdk/strict-json.js";

/** What happens to `text`: its value, "duplicate", "deep", or "syntax". */
function outcome(text: string, parse = parseStrictJson): unknown {
  try {
    return { value: parse(text, "body") };
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

  it("decides as the first, allocating version did, on texts full of repeated and escaped keys", () => {
    // Objects and arrays whose keys come from a few names, raw and escaped, so repeats (in one
    // object, or only across siblings and levels) are frequent; some texts are cut short.
    const key = fc.constantFrom('"a"', '"b"', '"\\u0061"', '"a\\"b"', '"k1"', '"k10"', '"é"', '"\\u00e9"');
    const value: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
      v: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.constantFrom("1", '"x"', "null", "[]", "{}"),
        fc.array(tie("v"), { maxLength: 4 }).map((items) => `[${items.join(",")}]`),
        fc
          .array(fc.tuple(key, tie("v")), { maxLength: 20 })
          .map((entries) => `{${entries.map(([k, v]) => `${k}:${v}`).join(",")}}`),
      ),
    })).v;
    fc.assert(
      fc.property(value, fc.nat(), fc.boolean(), (text, cut, whole) => {
        const input = whole ? text : text.slice(0, cut % (text.length + 1));
        assert.deepEqual(outcome(input), outcome(input, referenceParse), input);
      }),
      { numRuns: 3000 },
    );
    // The scratch state left by a refused text changes nothing for the next one.
    assert.equal(outcome('{"x":{"a":1,"b":{"c":[{"d":1,"d":2'), "duplicate");
    assert.deepEqual(outcome('{"a":1,"b":2}'), { value: { a: 1, b: 2 } });
  });
});

/** Keys of one object checked by a linear search before a Set takes over (the reference's). */
const REFERENCE_SMALL_OBJECT_KEYS = 16;

/** The first parseStrictJson (a list or Set of key strings per open object), as a reference. */
function referenceParse(text: string, what: string): unknown {
  // Keys seen in each open object (undefined for arrays): a plain list while short (a request
  // body's objects have a handful of keys: a linear search beats hashing, and nothing but the
  // list is allocated), a Set once it grows past REFERENCE_SMALL_OBJECT_KEYS.
  const keys: (string[] | Set<string> | undefined)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          i++;
          escaped = true;
        } else if (d === 0x22) break;
        else if (d < 0x20) escaped = true; // invalid in JSON: JSON.parse decides, as for escapes
      }
      if (expectKey) {
        const open = keys[keys.length - 1];
        let key: unknown;
        if (!escaped && i < text.length) {
          // Neither an escape nor a control character: the key is the text between the quotes.
          key = text.slice(start + 1, i);
        } else {
          try {
            key = JSON.parse(text.slice(start, i + 1));
          } catch {
            break; // malformed: JSON.parse below reports it
          }
        }
        if (open !== undefined && typeof key === "string") {
          if (Array.isArray(open) ? open.includes(key) : open.has(key)) {
            throw new TreatyError(
              "MalformedEncoding",
              `${what}: key ${JSON.stringify(key.slice(0, 80))} appears twice in one object`,
            );
          }
          if (!Array.isArray(open)) open.add(key);
          else if (open.length < REFERENCE_SMALL_OBJECT_KEYS) open.push(key);
          else keys[keys.length - 1] = new Set(open).add(key);
        }
        expectKey = false;
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (keys.length >= MAX_JSON_NESTING) {
        throw new TreatyError("MalformedEncoding", `${what}: nested deeper than ${MAX_JSON_NESTING} levels`);
      }
      keys.push(c === 0x7b ? [] : undefined);
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      keys.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = keys.length > 0 && keys[keys.length - 1] !== undefined;
    }
  }
  return JSON.parse(text);
}
