/**
 * Argument shapes: the `t.*` builders produce the ABI's `Shape` data (what the manifest
 * publishes, so a node can check arguments without running the contract) and, at the type
 * level, the TypeScript type of the value (`Infer<S>`), so `run(args)` is typed with no
 * annotation and SDK clients get the same types.
 *
 * `validate` checks a parsed JSON value against a shape and names the first bad field:
 * `args.amount: expected an integer, got "ten"`. Objects are closed: a property the shape
 * does not list is an error (a misspelt optional field must not pass silently).
 *
 * Runs inside QuickJS and in Node: type-only imports.
 */
import type { Shape } from "../../runtime/sandbox/abi.js";
import { describeValue, propertyPath } from "./json.js";

/** Carries the TypeScript type a shape stands for. Type-level only: never set at run time. */
declare const INFERRED: unique symbol;

/** A shape whose values have TypeScript type `T`. */
export type Typed<S extends Shape, T> = S & { readonly [INFERRED]?: T };

/** Any typed shape. */
export type AnyShape = Typed<Shape, unknown>;

/** The TypeScript type of the values a shape accepts. */
export type Infer<S> = S extends { readonly [INFERRED]?: infer T } ? T : never;

/** Marks an object property optional; only meaningful inside `t.object({...})`. */
export interface Optional<S extends AnyShape> {
  readonly optionalShape: S;
}

/** What `t.object` accepts for each property: a shape, or `t.optional(shape)`. */
export type Field = AnyShape | Optional<AnyShape>;

type InferField<F> = F extends Optional<infer S> ? Infer<S> : Infer<F>;
type OptionalKeys<P> = { [K in keyof P]: P[K] extends Optional<AnyShape> ? K : never }[keyof P];
type RequiredKeys<P> = Exclude<keyof P, OptionalKeys<P>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The type of `t.object(properties)`: optional properties become `key?: T`. */
export type InferObject<P extends Readonly<Record<string, Field>>> = Simplify<
  { -readonly [K in RequiredKeys<P>]: InferField<P[K]> } & {
    -readonly [K in OptionalKeys<P>]?: InferField<P[K]>;
  }
>;

interface StringOptions {
  /** Fewest UTF-16 code units (`s.length`: "😀" is 2), a non-negative integer. */
  readonly minLength?: number;
  /** Most UTF-16 code units (`s.length`), a non-negative integer. */
  readonly maxLength?: number;
  /**
   * A regular expression (source text, `u` flag) that must match somewhere in the string:
   * unanchored, so write `^...$` to constrain the whole string.
   */
  readonly pattern?: string;
}

interface NumberOptions {
  readonly minimum?: number;
  readonly maximum?: number;
}

function isOptional(field: Field): field is Optional<AnyShape> {
  return typeof field === "object" && field !== null && "optionalShape" in field;
}

/** Options of string and number shapes, copied without undefined entries (shapes are manifest data). */
function withOptions<T extends object>(shape: T, options: object): T {
  const out = shape as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return shape;
}

/**
 * Shape builders. They only build data; `shapeProblem` checks it when the contract is
 * described (at deploy), so building stays cheap on every call.
 * @example const args = t.object({ to: t.string({ maxLength: 64 }), amount: t.integer({ minimum: 1 }), memo: t.optional(t.string()) });
 */
export const t = {
  /** A string, optionally with length bounds and a pattern (an unanchored ECMAScript regex, `u` flag). */
  string(options: StringOptions = {}): Typed<{ readonly type: "string" } & StringOptions, string> {
    return withOptions({ type: "string" as const }, options);
  },
  /** A safe integer (|n| ≤ 2^53 - 1), optionally bounded. */
  integer(
    options: NumberOptions = {},
  ): Typed<{ readonly type: "number"; readonly integer: true } & NumberOptions, number> {
    return withOptions({ type: "number" as const, integer: true as const }, options);
  },
  /** A finite number, optionally bounded. */
  number(options: NumberOptions = {}): Typed<{ readonly type: "number" } & NumberOptions, number> {
    return withOptions({ type: "number" as const }, options);
  },
  /** `true` or `false`. */
  boolean(): Typed<{ readonly type: "boolean" }, boolean> {
    return { type: "boolean" };
  },
  /** Only `null` (mostly inside `t.union`; see `t.nullable`). */
  null(): Typed<{ readonly type: "null" }, null> {
    return { type: "null" };
  },
  /** Any JSON value (typed `unknown`: check it yourself). */
  any(): Typed<{ readonly type: "any" }, unknown> {
    return { type: "any" };
  },
  /** Exactly this string or (finite) number. */
  literal<const L extends string | number>(value: L): Typed<Shape, L> {
    return typeof value === "string"
      ? { type: "string", enum: [value] }
      : { type: "number", minimum: value, maximum: value };
  },
  /** One of these strings. */
  enum<const L extends readonly [string, ...string[]]>(
    ...values: L
  ): Typed<{ readonly type: "string"; readonly enum: L }, L[number]> {
    return { type: "string", enum: values };
  },
  /** An array of `items`, optionally at most `maxItems` long. */
  array<const S extends AnyShape>(
    items: S,
    options: { readonly maxItems?: number } = {},
  ): Typed<{ readonly type: "array"; readonly items: S; readonly maxItems?: number }, Infer<S>[]> {
    return withOptions({ type: "array" as const, items }, options);
  },
  /** An object with exactly these properties (wrap optional ones in `t.optional`). */
  object<const P extends Readonly<Record<string, Field>>>(
    properties: P,
  ): Typed<Shape & { readonly type: "object" }, InferObject<P>> {
    const shapes: Record<string, Shape> = {};
    let optional: string[] | undefined;
    for (const key in properties) {
      if (!Object.hasOwn(properties, key)) continue;
      const field = properties[key]!;
      const isOptionalField = isOptional(field);
      const shape: Shape = isOptionalField ? field.optionalShape : field;
      // "__proto__" as a plain assignment would replace the prototype of `shapes`.
      if (key === "__proto__")
        Object.defineProperty(shapes, key, {
          value: shape,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else shapes[key] = shape;
      if (isOptionalField) {
        optional ??= [];
        optional.push(key);
      }
    }
    return optional !== undefined
      ? { type: "object", properties: shapes, optional }
      : { type: "object", properties: shapes };
  },
  /** An object used as a dictionary: any string keys, values of one shape. */
  record<const S extends AnyShape>(
    values: S,
  ): Typed<{ readonly type: "record"; readonly values: S }, Record<string, Infer<S>>> {
    return { type: "record", values };
  },
  /** A value matching any of the shapes (checked in order). */
  union<const S extends readonly [AnyShape, ...AnyShape[]]>(
    ...shapes: S
  ): Typed<{ readonly type: "union"; readonly anyOf: S }, Infer<S[number]>> {
    return { type: "union", anyOf: shapes };
  },
  /** `shape` or null. */
  nullable<const S extends AnyShape>(
    shape: S,
  ): Typed<{ readonly type: "union"; readonly anyOf: readonly [S, { type: "null" }] }, Infer<S> | null> {
    return { type: "union", anyOf: [shape, { type: "null" }] };
  },
  /** An optional property of `t.object` (`key?: T`). */
  optional<const S extends AnyShape>(shape: S): Optional<S> {
    return { optionalShape: shape };
  },
};

/** True when `value` looks like a Shape (has a string `type`), as opposed to a property record. */
export function isShape(value: unknown): value is Shape {
  return (
    typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string"
  );
}

/**
 * The first way `value` fails `shape`, as `"<path>: expected ..., got ..."`, or undefined when
 * it fits. `value` must come from JSON.parse (no undefined, no cycles). A fast check runs
 * first; the message (with its path) is only built for a value that does not fit.
 */
export function validate(shape: Shape, value: unknown, path: string): string | undefined {
  if (fits(shape, value)) return undefined;
  return explain(shape, value, path) ?? `${path}: does not match the declared shape`;
}

/**
 * True when `value` (from JSON.parse) fits `shape`: `validate` without the message, for
 * callers that only need the answer.
 */
export function shapeMatches(shape: Shape, value: unknown): boolean {
  return fits(shape, value);
}

/**
 * `shapeMatches(t.object(fields), value)` without building the shape: the per-call fast path
 * for methods declared with a record of fields.
 */
export function fieldsMatch(fields: Readonly<Record<string, Field>>, value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  let present = 0;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const field = fields[key]!;
    const optional = isOptional(field);
    if (Object.hasOwn(value, key)) {
      present++;
      if (!fits(optional ? field.optionalShape : field, value[key])) return false;
    } else if (!optional) {
      return false;
    }
  }
  return Object.keys(value).length === present;
}

/** The check behind `validate` and `shapeMatches` (`explain` applies the same rules with messages). */
function fits(shape: Shape, value: unknown): boolean {
  switch (shape.type) {
    case "string":
      return (
        typeof value === "string" &&
        (shape.enum === undefined || shape.enum.includes(value)) &&
        (shape.minLength === undefined || value.length >= shape.minLength) &&
        (shape.maxLength === undefined || value.length <= shape.maxLength) &&
        (shape.pattern === undefined || patternRegExp(shape.pattern).test(value))
      );
    case "number":
      return (
        typeof value === "number" &&
        Number.isFinite(value) &&
        (shape.integer !== true || Number.isSafeInteger(value)) &&
        (shape.minimum === undefined || value >= shape.minimum) &&
        (shape.maximum === undefined || value <= shape.maximum)
      );
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
    case "any":
      return value !== undefined;
    case "array": {
      if (!Array.isArray(value) || (shape.maxItems !== undefined && value.length > shape.maxItems))
        return false;
      for (let i = 0; i < value.length; i++) if (!fits(shape.items, value[i])) return false;
      return true;
    }
    case "object": {
      if (!isPlainObject(value)) return false;
      const properties = shape.properties;
      let present = 0;
      for (const key in properties) {
        if (!Object.hasOwn(properties, key)) continue;
        if (Object.hasOwn(value, key)) {
          present++;
          if (!fits(properties[key]!, value[key])) return false;
        } else if (shape.optional === undefined || !shape.optional.includes(key)) {
          return false;
        }
      }
      // No property beyond the declared ones: count the value's own keys.
      return Object.keys(value).length === present;
    }
    case "record": {
      if (!isPlainObject(value)) return false;
      for (const key of Object.keys(value)) if (!fits(shape.values, value[key])) return false;
      return true;
    }
    case "union":
      for (const option of shape.anyOf) if (fits(option, value)) return true;
      return false;
    default:
      return false;
  }
}

function explain(shape: Shape, value: unknown, path: string): string | undefined {
  switch (shape.type) {
    case "string":
      return validateString(shape, value, path);
    case "number":
      return validateNumber(shape, value, path);
    case "boolean":
      return typeof value === "boolean"
        ? undefined
        : `${path}: expected a boolean, got ${describeValue(value)}`;
    case "null":
      return value === null ? undefined : `${path}: expected null, got ${describeValue(value)}`;
    case "any":
      return value === undefined ? `${path}: expected a value, got nothing` : undefined;
    case "array": {
      if (!Array.isArray(value)) return `${path}: expected an array, got ${describeValue(value)}`;
      if (shape.maxItems !== undefined && value.length > shape.maxItems) {
        return `${path}: expected at most ${shape.maxItems} items, got ${value.length}`;
      }
      for (let i = 0; i < value.length; i++) {
        const problem = explain(shape.items, value[i], `${path}[${i}]`);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    case "object":
      return validateObject(shape, value, path);
    case "record": {
      if (!isPlainObject(value)) return `${path}: expected an object, got ${describeValue(value)}`;
      for (const key of Object.keys(value)) {
        const problem = explain(shape.values, value[key], `${path}${propertyPath(key)}`);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    case "union": {
      for (const option of shape.anyOf) if (fits(option, value)) return undefined;
      return `${path}: expected ${shape.anyOf.map(describeShape).join(" or ")}, got ${describeValue(value)}`;
    }
    default:
      return `${path}: the contract declares an unknown shape type ${JSON.stringify((shape as { type: unknown }).type)}`;
  }
}

function validateString(
  shape: Extract<Shape, { type: "string" }>,
  value: unknown,
  path: string,
): string | undefined {
  if (typeof value !== "string")
    return `${path}: expected ${describeShape(shape)}, got ${describeValue(value)}`;
  if (shape.enum !== undefined && !shape.enum.includes(value)) {
    return `${path}: expected ${describeShape(shape)}, got ${describeValue(value)}`;
  }
  if (shape.minLength !== undefined && value.length < shape.minLength) {
    return `${path}: expected at least ${shape.minLength} UTF-16 code units, got ${value.length}`;
  }
  if (shape.maxLength !== undefined && value.length > shape.maxLength) {
    return `${path}: expected at most ${shape.maxLength} UTF-16 code units, got ${value.length}`;
  }
  if (shape.pattern !== undefined && !patternRegExp(shape.pattern).test(value)) {
    return `${path}: expected a string matching /${shape.pattern}/, got ${describeValue(value)}`;
  }
  return undefined;
}

/**
 * Compiled patterns of the call in progress. This module is shared between calls (instantiated
 * once per sandbox and hardened, runtime/compiler/bundle.ts), so the cache must not outlive a
 * call: `invoke` clears it before and after every call (`resetPatternCache`), and it holds at
 * most MAX_CACHED_PATTERNS entries within one call. Otherwise patterns chosen by callers would
 * pile up across calls until unrelated calls fail with MemoryLimit.
 */
const patterns = new Map<string, RegExp>();
/** Most patterns kept compiled within one call; beyond, patterns are compiled at each use. */
export const MAX_CACHED_PATTERNS = 64;
/**
 * True once `patterns` may hold an entry: most calls compile no pattern, and a boolean costs
 * QuickJS less than `Map.prototype.clear` twice per call.
 */
let patternsCached = false;

/** Empties the pattern cache (called by `invoke` around every call). */
export function resetPatternCache(): void {
  if (!patternsCached) return;
  patterns.clear();
  patternsCached = false;
}

function patternRegExp(pattern: string): RegExp {
  let regexp = patterns.get(pattern);
  if (regexp === undefined) {
    regexp = new RegExp(pattern, "u");
    if (patterns.size < MAX_CACHED_PATTERNS) {
      patternsCached = true;
      patterns.set(pattern, regexp);
    }
  }
  return regexp;
}

function validateNumber(
  shape: Extract<Shape, { type: "number" }>,
  value: unknown,
  path: string,
): string | undefined {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    return `${path}: expected ${describeShape(shape)}, got ${describeValue(value)}`;
  }
  if (shape.integer === true && !Number.isSafeInteger(value)) {
    return Number.isInteger(value)
      ? `${path}: expected an integer within ±(2^53 - 1), got ${value}`
      : `${path}: expected an integer, got ${value}`;
  }
  if (shape.minimum !== undefined && shape.minimum === shape.maximum && value !== shape.minimum) {
    return `${path}: expected ${shape.minimum}, got ${value}`;
  }
  if (shape.minimum !== undefined && value < shape.minimum)
    return `${path}: expected a number ≥ ${shape.minimum}, got ${value}`;
  if (shape.maximum !== undefined && value > shape.maximum)
    return `${path}: expected a number ≤ ${shape.maximum}, got ${value}`;
  return undefined;
}

function validateObject(
  shape: Extract<Shape, { type: "object" }>,
  value: unknown,
  path: string,
): string | undefined {
  if (!isPlainObject(value)) return `${path}: expected an object, got ${describeValue(value)}`;
  const optional = shape.optional ?? [];
  for (const key of Object.keys(shape.properties)) {
    const present = Object.hasOwn(value, key);
    if (!present) {
      if (optional.includes(key)) continue;
      return `${path}${propertyPath(key)}: required`;
    }
    const problem = explain(shape.properties[key]!, value[key], `${path}${propertyPath(key)}`);
    if (problem !== undefined) return problem;
  }
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(shape.properties, key)) return `${path}${propertyPath(key)}: unexpected property`;
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short description of what a shape accepts, for "expected ..." in messages. */
export function describeShape(shape: Shape): string {
  switch (shape.type) {
    case "string":
      if (shape.enum !== undefined) {
        return shape.enum.length === 1
          ? JSON.stringify(shape.enum[0])
          : `one of ${shape.enum.map((v) => JSON.stringify(v)).join(", ")}`;
      }
      return "a string";
    case "number":
      if (shape.minimum !== undefined && shape.minimum === shape.maximum) return String(shape.minimum);
      return shape.integer === true ? "an integer" : "a number";
    case "boolean":
      return "a boolean";
    case "null":
      return "null";
    case "array":
      return "an array";
    case "object":
    case "record":
      return "an object";
    case "union":
      return shape.anyOf.map(describeShape).join(" or ");
    case "any":
      return "any value";
    default:
      return "an unknown shape";
  }
}

const SHAPE_KEYS: Readonly<Record<string, readonly string[]>> = {
  string: ["type", "minLength", "maxLength", "pattern", "enum"],
  number: ["type", "integer", "minimum", "maximum"],
  boolean: ["type"],
  null: ["type"],
  any: ["type"],
  array: ["type", "items", "maxItems"],
  object: ["type", "properties", "optional"],
  record: ["type", "values"],
  union: ["type", "anyOf"],
};

/** Bounds the walk of a (possibly hostile) shape: real argument shapes are shallow. */
const MAX_SHAPE_DEPTH = 32;

/**
 * The first way `value` is not a well-formed `Shape` (unknown type, stray key, bad bound,
 * invalid pattern, ...), as `"<path>: ..."`, or undefined. Used on method declarations and by
 * tooling that reads manifests.
 */
export function shapeProblem(value: unknown, path: string, depth = 0): string | undefined {
  if (depth > MAX_SHAPE_DEPTH) return `${path}: shapes nested deeper than ${MAX_SHAPE_DEPTH} levels`;
  if (!isShape(value) || Array.isArray(value))
    return `${path}: expected a shape (an object with a string "type")`;
  const record = value as unknown as Record<string, unknown>;
  const allowed = Object.hasOwn(SHAPE_KEYS, value.type) ? SHAPE_KEYS[value.type] : undefined;
  if (allowed === undefined) return `${path}.type: unknown shape type ${JSON.stringify(value.type)}`;
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) return `${path}${propertyPath(key)}: not a property of a ${value.type} shape`;
  }
  const isCount = (v: unknown) => v === undefined || (Number.isSafeInteger(v) && (v as number) >= 0);
  const isNumber = (v: unknown) => v === undefined || (typeof v === "number" && Number.isFinite(v));
  const isInteger = (v: unknown) => v === undefined || Number.isSafeInteger(v);
  switch (value.type) {
    case "string": {
      if (!isCount(record.minLength)) return `${path}.minLength: expected a non-negative integer`;
      if (!isCount(record.maxLength)) return `${path}.maxLength: expected a non-negative integer`;
      if (
        typeof record.minLength === "number" &&
        typeof record.maxLength === "number" &&
        record.minLength > record.maxLength
      ) {
        return `${path}: minLength is greater than maxLength`;
      }
      if (record.pattern !== undefined) {
        if (typeof record.pattern !== "string") return `${path}.pattern: expected a string`;
        try {
          new RegExp(record.pattern, "u");
        } catch {
          return `${path}.pattern: not a valid regular expression`;
        }
      }
      const values = record.enum;
      if (
        values !== undefined &&
        (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== "string"))
      ) {
        return `${path}.enum: expected a non-empty array of strings`;
      }
      return undefined;
    }
    case "number":
      if (record.integer !== undefined && typeof record.integer !== "boolean")
        return `${path}.integer: expected a boolean`;
      if (!isNumber(record.minimum)) return `${path}.minimum: expected a finite number`;
      if (!isNumber(record.maximum)) return `${path}.maximum: expected a finite number`;
      if (record.integer === true && (!isInteger(record.minimum) || !isInteger(record.maximum))) {
        return `${path}: bounds of an integer shape must be integers`;
      }
      if (
        typeof record.minimum === "number" &&
        typeof record.maximum === "number" &&
        record.minimum > record.maximum
      ) {
        return `${path}: minimum is greater than maximum`;
      }
      return undefined;
    case "array":
      if (!isCount(record.maxItems)) return `${path}.maxItems: expected a non-negative integer`;
      return shapeProblem(record.items, `${path}.items`, depth + 1);
    case "record":
      return shapeProblem(record.values, `${path}.values`, depth + 1);
    case "union": {
      const options = record.anyOf;
      if (!Array.isArray(options) || options.length === 0)
        return `${path}.anyOf: expected a non-empty array of shapes`;
      for (let i = 0; i < options.length; i++) {
        const problem = shapeProblem(options[i], `${path}.anyOf[${i}]`, depth + 1);
        if (problem !== undefined) return problem;
      }
      return undefined;
    }
    case "object": {
      const properties = record.properties;
      if (typeof properties !== "object" || properties === null || Array.isArray(properties)) {
        return `${path}.properties: expected an object`;
      }
      for (const key of Object.keys(properties)) {
        const problem = shapeProblem(
          (properties as Record<string, unknown>)[key],
          `${path}.properties${propertyPath(key)}`,
          depth + 1,
        );
        if (problem !== undefined) return problem;
      }
      const optional = record.optional;
      if (optional !== undefined) {
        if (!Array.isArray(optional)) return `${path}.optional: expected an array of property names`;
        for (const name of optional) {
          if (typeof name !== "string" || !Object.hasOwn(properties, name)) {
            return `${path}.optional: ${JSON.stringify(name)} is not a property of the shape`;
          }
        }
      }
      return undefined;
    }
    default:
      return undefined;
  }
}
