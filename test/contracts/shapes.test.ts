import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Shape } from "../../runtime/sandbox/abi.js";
import {
  type Field,
  fieldsMatch,
  type Infer,
  shapeMatches,
  shapeProblem,
  t,
  validate,
} from "../../contracts/api/shapes.js";

describe("t builders", () => {
  it("produce the ABI's Shape data (what the manifest publishes)", () => {
    assert.deepEqual(t.string(), { type: "string" });
    assert.deepEqual(t.string({ maxLength: 3, pattern: "^a" }), {
      type: "string",
      maxLength: 3,
      pattern: "^a",
    });
    assert.deepEqual(t.integer({ minimum: 1 }), { type: "number", integer: true, minimum: 1 });
    assert.deepEqual(t.number(), { type: "number" });
    assert.deepEqual(t.boolean(), { type: "boolean" });
    assert.deepEqual(t.null(), { type: "null" });
    assert.deepEqual(t.any(), { type: "any" });
    assert.deepEqual(t.literal("x"), { type: "string", enum: ["x"] });
    assert.deepEqual(t.literal(5), { type: "number", minimum: 5, maximum: 5 });
    assert.deepEqual(t.enum("a", "b"), { type: "string", enum: ["a", "b"] });
    assert.deepEqual(t.array(t.string(), { maxItems: 2 }), {
      type: "array",
      items: { type: "string" },
      maxItems: 2,
    });
    assert.deepEqual(t.array(t.string()), { type: "array", items: { type: "string" } });
    assert.deepEqual(t.record(t.number()), { type: "record", values: { type: "number" } });
    assert.deepEqual(t.union(t.string(), t.null()), {
      type: "union",
      anyOf: [{ type: "string" }, { type: "null" }],
    });
    assert.deepEqual(t.nullable(t.boolean()), {
      type: "union",
      anyOf: [{ type: "boolean" }, { type: "null" }],
    });
    assert.deepEqual(t.object({ b: t.string(), a: t.optional(t.integer()) }), {
      type: "object",
      properties: { b: { type: "string" }, a: { type: "number", integer: true } },
      optional: ["a"],
    });
    const proto = t.object({ ["__proto__"]: t.string() });
    assert.ok(Object.hasOwn(proto.type === "object" ? proto.properties : {}, "__proto__"));
    assert.equal(Object.getPrototypeOf(proto.type === "object" ? proto.properties : {}), Object.prototype);
  });

  it("infer TypeScript types (checked at compile time)", () => {
    const shape = t.object({
      id: t.integer(),
      tags: t.array(t.enum("a", "b")),
      memo: t.optional(t.string()),
      v: t.nullable(t.literal(3)),
    });
    const value: Infer<typeof shape> = { id: 1, tags: ["a"], v: null };
    const full: Infer<typeof shape> = { id: 1, tags: ["b"], memo: "m", v: 3 };
    // @ts-expect-error: tags holds "a" | "b" only
    const wrong: Infer<typeof shape> = { id: 1, tags: ["c"], v: null };
    // @ts-expect-error: id is required
    const missing: Infer<typeof shape> = { tags: [], v: null };
    const record: Infer<ReturnType<typeof t.record<ReturnType<typeof t.boolean>>>> = { x: true };
    assert.ok(value && full && wrong && missing && record);
  });
});

describe("validate", () => {
  const transfer = t.object({
    to: t.string({ minLength: 1, maxLength: 8 }),
    amount: t.integer({ minimum: 1 }),
    memo: t.optional(t.string()),
  });

  it("accepts values that fit, optional properties omitted", () => {
    assert.equal(validate(transfer, { to: "bob", amount: 5 }, "args"), undefined);
    assert.equal(validate(transfer, { to: "bob", amount: 5, memo: "hi" }, "args"), undefined);
  });

  it("names the first bad field and what it got", () => {
    const cases: Array<[Shape, unknown, string]> = [
      [transfer, { to: "bob", amount: "ten" }, 'args.amount: expected an integer, got "ten"'],
      [transfer, { to: "bob", amount: 1.5 }, "args.amount: expected an integer, got 1.5"],
      [
        transfer,
        { to: "bob", amount: 2 ** 60 },
        "args.amount: expected an integer within ±(2^53 - 1), got 1152921504606847000",
      ],
      [transfer, { to: "bob", amount: 0 }, "args.amount: expected a number ≥ 1, got 0"],
      [transfer, { amount: 1 }, "args.to: required"],
      [transfer, { to: "", amount: 1 }, "args.to: expected at least 1 UTF-16 code units, got 0"],
      [transfer, { to: "123456789", amount: 1 }, "args.to: expected at most 8 UTF-16 code units, got 9"],
      [transfer, { to: "bob", amount: 1, extra: true }, "args.extra: unexpected property"],
      [transfer, { to: "bob", amount: 1, "odd key": 1 }, 'args["odd key"]: unexpected property'],
      [transfer, [], "args: expected an object, got an array"],
      [transfer, null, "args: expected an object, got null"],
      [t.array(t.object({ n: t.number() })), [{ n: 1 }, { n: "x" }], 'args[1].n: expected a number, got "x"'],
      [t.array(t.number(), { maxItems: 1 }), [1, 2], "args: expected at most 1 items, got 2"],
      [t.record(t.boolean()), { a: true, "b c": 1 }, 'args["b c"]: expected a boolean, got 1'],
      [t.union(t.string(), t.integer()), true, "args: expected a string or an integer, got true"],
      [t.enum("a", "b"), "c", 'args: expected one of "a", "b", got "c"'],
      [t.literal("x"), "y", 'args: expected "x", got "y"'],
      [t.literal(5), 6, "args: expected 5, got 6"],
      [t.string({ pattern: "^[a-z]+$" }), "AB", 'args: expected a string matching /^[a-z]+$/, got "AB"'],
      [t.null(), 0, "args: expected null, got 0"],
      [t.number({ maximum: 10 }), 11, "args: expected a number ≤ 10, got 11"],
    ];
    for (const [shape, value, message] of cases) assert.equal(validate(shape, value, "args"), message);
  });

  it("options as docs/contracts.md states them: UTF-16 lengths, unanchored patterns, inclusive bounds", () => {
    // Lengths count UTF-16 code units (s.length): "é" is 1, "😀" is 2.
    assert.equal(validate(t.string({ maxLength: 1 }), "é", "args"), undefined);
    assert.equal(
      validate(t.string({ maxLength: 1 }), "😀", "args"),
      "args: expected at most 1 UTF-16 code units, got 2",
    );
    assert.equal(validate(t.string({ minLength: 2 }), "😀", "args"), undefined);
    // A pattern is found anywhere unless anchored.
    assert.equal(validate(t.string({ pattern: "[a-z]" }), "A1b", "args"), undefined);
    assert.notEqual(validate(t.string({ pattern: "^[a-z]+$" }), "A1b", "args"), undefined);
    // The u flag: "." is one code point, so "😀" is one "."; without u it would be two.
    assert.equal(validate(t.string({ pattern: "^.$" }), "😀", "args"), undefined);
    // Bounds are inclusive; maxItems is the most elements.
    assert.equal(validate(t.integer({ minimum: 1, maximum: 3 }), 3, "args"), undefined);
    assert.equal(validate(t.integer({ minimum: 1, maximum: 3 }), 1, "args"), undefined);
    assert.equal(validate(t.array(t.null(), { maxItems: 2 }), [null, null], "args"), undefined);
    assert.equal(validate(t.integer(), 2 ** 53 - 1, "args"), undefined);
    assert.notEqual(validate(t.integer(), 2 ** 53, "args"), undefined);
  });

  it("agrees with shapeMatches on random shapes and values (messages exactly when no match)", () => {
    const leaf = fc.constantFrom<Shape>(
      t.string(),
      t.string({ maxLength: 2 }),
      t.integer(),
      t.integer({ minimum: 0, maximum: 3 }),
      t.number(),
      t.boolean(),
      t.null(),
      t.any(),
      t.enum("a", "b"),
      t.literal(1),
    );
    const shape: fc.Arbitrary<Shape> = fc.letrec<{ shape: Shape }>((tie) => ({
      shape: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        leaf,
        tie("shape").map((items) => ({ type: "array", items, maxItems: 3 }) as Shape),
        tie("shape").map((values) => ({ type: "record", values }) as Shape),
        fc.tuple(tie("shape"), tie("shape")).map(([a, b]) => ({ type: "union", anyOf: [a, b] }) as Shape),
        fc
          .dictionary(fc.constantFrom("a", "b", "c"), tie("shape"), { maxKeys: 3 })
          .chain((properties) =>
            fc
              .subarray(Object.keys(properties))
              .map((optional) => ({ type: "object", properties, optional }) as Shape),
          ),
      ),
    })).shape;
    const value = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    fc.assert(
      fc.property(shape, value, (s, v) => {
        const message = validate(s, v, "args");
        assert.equal(message === undefined, shapeMatches(s, v));
        if (message !== undefined) assert.doesNotMatch(message, /does not match the declared shape/);
        assert.equal(shapeProblem(s, "args"), undefined);
        if (s.type === "object") {
          // The same object as a record of fields (how methods usually declare args).
          const fields: Record<string, Field> = {};
          for (const [key, shape] of Object.entries(s.properties)) {
            fields[key] = s.optional?.includes(key)
              ? t.optional(shape as ReturnType<typeof t.any>)
              : (shape as ReturnType<typeof t.any>);
          }
          assert.equal(fieldsMatch(fields, v), shapeMatches(s, v));
          const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
          assert.deepEqual(
            json(t.object(fields)),
            json(s.optional?.length ? s : { type: "object", properties: s.properties }),
          );
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("shapeProblem", () => {
  it("finds malformed shapes and names the field", () => {
    const cases: Array<[unknown, string]> = [
      [null, 'args: expected a shape (an object with a string "type")'],
      [{ type: "date" }, 'args.type: unknown shape type "date"'],
      [{ type: "string", maxLen: 3 }, "args.maxLen: not a property of a string shape"],
      [{ type: "string", pattern: "(" }, "args.pattern: not a valid regular expression"],
      [{ type: "string", minLength: 3, maxLength: 1 }, "args: minLength is greater than maxLength"],
      [{ type: "string", enum: [] }, "args.enum: expected a non-empty array of strings"],
      [{ type: "number", minimum: Number.NaN }, "args.minimum: expected a finite number"],
      [{ type: "number", integer: true, minimum: 0.5 }, "args: bounds of an integer shape must be integers"],
      [{ type: "number", minimum: 2, maximum: 1 }, "args: minimum is greater than maximum"],
      [{ type: "array", items: { type: "nope" } }, 'args.items.type: unknown shape type "nope"'],
      [{ type: "array", items: t.string(), maxItems: -1 }, "args.maxItems: expected a non-negative integer"],
      [{ type: "union", anyOf: [] }, "args.anyOf: expected a non-empty array of shapes"],
      [
        { type: "object", properties: { a: 1 } },
        'args.properties.a: expected a shape (an object with a string "type")',
      ],
      [
        { type: "object", properties: {}, optional: ["x"] },
        'args.optional: "x" is not a property of the shape',
      ],
      [{ type: "record" }, 'args.values: expected a shape (an object with a string "type")'],
    ];
    for (const [shape, message] of cases) assert.equal(shapeProblem(shape, "args"), message);
    let deep: unknown = t.string();
    for (let i = 0; i < 100; i++) deep = { type: "array", items: deep };
    assert.match(shapeProblem(deep, "args") ?? "", /nested deeper than 32 levels/);
  });
});
