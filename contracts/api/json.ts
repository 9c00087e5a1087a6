/**
 * JSON-compatibility checks for what a contract stores, emits or returns. JSON.stringify is
 * lossy without a word (undefined properties vanish, NaN becomes null, a Map becomes {}), and a
 * ledger must record exactly what the contract meant, so values are checked first and the
 * first problem is reported with its path: `value.items[2].price: NaN is not JSON`.
 *
 * Runs inside QuickJS and in Node: no imports.
 */

/** Deeper values are refused; it also bounds the recursion of the check itself. */
export const MAX_JSON_DEPTH = 64;

/** A JSON value as parsed by JSON.parse. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * The first reason `value` cannot be carried faithfully by JSON, as `"<path>: <reason>"`, or
 * undefined when it can. Accepted: null, booleans, finite numbers (-0 reads back as 0),
 * strings, arrays without holes or extra properties, and plain objects (prototype
 * Object.prototype or null) whose own properties are enumerable string-keyed data properties.
 */
export function jsonProblem(value: unknown, path: string): string | undefined {
  // Strings, booleans and null (most values and results) need no list of parents.
  if (typeof value === "string" || typeof value === "boolean" || value === null) return undefined;
  return check(value, path, []);
}

function check(value: unknown, path: string, parents: object[]): string | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined;
    case "number":
      return Number.isFinite(value) ? undefined : `${path}: ${String(value)} is not JSON`;
    case "undefined":
      return `${path}: undefined is not JSON (use null)`;
    case "bigint":
      return `${path}: a bigint is not JSON (store it as a string)`;
    case "function":
      return `${path}: a function is not JSON`;
    case "symbol":
      return `${path}: a symbol is not JSON`;
    default:
      break;
  }
  if (value === null) return undefined;
  const object = value as object;
  if (parents.includes(object)) return `${path}: a cycle is not JSON`;
  if (parents.length >= MAX_JSON_DEPTH) return `${path}: nesting deeper than ${MAX_JSON_DEPTH} levels`;
  parents.push(object);
  const problem = Array.isArray(object)
    ? checkArray(object, path, parents)
    : checkObject(object, path, parents);
  parents.pop();
  return problem;
}

function checkArray(array: unknown[], path: string, parents: object[]): string | undefined {
  if (Object.getPrototypeOf(array) !== Array.prototype) return `${path}: an array subclass is not JSON`;
  const names = Object.getOwnPropertyNames(array);
  // Own names are the indices plus "length": anything else would be dropped by JSON.
  if (names.length !== array.length + 1) {
    for (let i = 0; i < array.length; i++) {
      if (!Object.hasOwn(array, i)) return `${path}[${i}]: a hole in an array is not JSON`;
    }
    return `${path}: an array with extra properties is not JSON`;
  }
  if (Object.getOwnPropertySymbols(array).length > 0) return `${path}: symbol-keyed properties are not JSON`;
  for (let i = 0; i < array.length; i++) {
    const descriptor = Object.getOwnPropertyDescriptor(array, i);
    if (descriptor === undefined || !("value" in descriptor)) return `${path}[${i}]: a getter is not JSON`;
    const problem = check(descriptor.value, `${path}[${i}]`, parents);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function checkObject(object: object, path: string, parents: object[]): string | undefined {
  const proto: unknown = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    return `${path}: ${kindOf(object)} is not JSON (only plain objects and arrays are)`;
  }
  if (Object.getOwnPropertySymbols(object).length > 0) return `${path}: symbol-keyed properties are not JSON`;
  for (const key of Object.getOwnPropertyNames(object)) {
    const descriptor = Object.getOwnPropertyDescriptor(object, key)!;
    const child = `${path}${propertyPath(key)}`;
    if (!("value" in descriptor)) return `${child}: a getter is not JSON`;
    if (!descriptor.enumerable) return `${child}: a non-enumerable property is not JSON`;
    const problem = check(descriptor.value, child, parents);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `.name` for identifier-like keys, `["odd key"]` otherwise (paths in error messages). */
export function propertyPath(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** What a non-plain object is, for messages: "a Map", "a Date", "an instance of Account". */
function kindOf(object: object): string {
  let name: unknown;
  try {
    name = (object.constructor as { name?: unknown } | undefined)?.name;
  } catch {
    // A hostile getter: describe the object without its name.
  }
  if (typeof name === "string" && /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/.test(name)) {
    return /^[AEIO]/.test(name) ? `an ${name}` : `a ${name}`;
  }
  return "an object with a custom prototype";
}

/**
 * A short description of a value for "got ..." in messages: strings and numbers as JSON (cut
 * at 40 characters), objects by kind. Never throws, whatever the value.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case "number":
    case "boolean":
      return String(value);
    case "undefined":
      return "nothing";
    case "bigint":
      return "a bigint";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    default:
      if (value === null) return "null";
      return Array.isArray(value) ? "an array" : "an object";
  }
}
