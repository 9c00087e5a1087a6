/**
 * The lockdown script: trusted guest code the sandbox evaluates in every fresh context, after
 * installing the raw host functions (`__treatyRawHost`) and before any contract code. It
 *
 * 0. moves the raw functions out of reach and defines `__treatyHost`, the ABI's functions, as
 *    wrappers that pass their arguments as one JSON array (exact for any string, see below);
 * 1. removes ambient non-determinism and escape hatches: `eval`, `Date`, `Math.random`, `WeakRef`,
 *    `FinalizationRegistry`, `SharedArrayBuffer` (QuickJS has no timers, `Atomics` or console);
 * 2. replaces every constructor that compiles strings (`Function`, and the AsyncFunction,
 *    GeneratorFunction and AsyncGeneratorFunction reachable through `(function*(){}).constructor`
 *    and friends) with one that throws; `instanceof Function` keeps working;
 * 3. turns the data properties that ordinary code overrides by assignment (`err.name = ...`,
 *    `obj.toString = ...`) into accessors that define an own property on the receiver, so freezing
 *    the prototypes does not break such code (SES's "override mistake" enablements);
 * 4. deep-freezes every intrinsic and `globalThis` (SES-style walk over own properties, accessors
 *    and prototypes, including intrinsics reachable only through syntax, such as
 *    %IteratorPrototype% or %TypedArray%), so prototype tampering and global writes fail.
 *
 * Dynamic `import()` needs no code here: no module loader is installed, so it only enqueues a job,
 * and the sandbox refuses calls that leave jobs behind.
 *
 * The script's completion value is a frozen helper object the host keeps (never exposed to
 * contracts): `harden(value)` deep-freezes a value (the sandbox hardens the contract factory),
 * `run(factory, method, a, b, c)` makes a fresh instance and calls one of its methods (so a call is
 * one crossing of the boundary, and getters on the instance run as guest code under the meter),
 * `describeError(thrown)` returns JSON `[kind, name, message]` for a thrown value, reading only data
 * properties (and the enablement accessors above), so it runs no contract code for genuine errors
 * (a Proxy in an error's prototype chain can still run code; the call's meter bounds it).
 */
export const LOCKDOWN_SOURCE = `(function () {
  "use strict";
  const g = globalThis;
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, freeze } = Object;
  const ownKeys = Reflect.ownKeys;
  const isError = Error.isError;
  const hasOwn = Object.hasOwn;
  const stringify = JSON.stringify;

  // The host's raw functions take one JSON array of the arguments: strings cross the boundary
  // as NUL-terminated C strings, so a raw U+0000 or a lone surrogate would be cut or replaced;
  // inside JSON text they are escapes. The ABI's functions are thin frozen wrappers over them.
  const raw = g.__treatyRawHost;
  delete g.__treatyRawHost;
  defineProperty(g, "__treatyHost", {
    value: {
      kvGet(map, key) { return raw.kvGet(stringify([map, key])); },
      kvHas(map, key) { return raw.kvHas(stringify([map, key])); },
      kvSet(map, key, value) { return raw.kvSet(stringify([map, key, value])); },
      kvDelete(map, key) { return raw.kvDelete(stringify([map, key])); },
      kvRange(map, optionsJson) { return raw.kvRange(stringify([map, optionsJson])); },
      sha256(data, isHex) { return raw.sha256(stringify([data, isHex])); },
      verifySignature(curve, publicKeyHex, messageHex, signatureHex) {
        return raw.verifySignature(stringify([curve, publicKeyHex, messageHex, signatureHex]));
      },
      randomBytes(length) { return raw.randomBytes(stringify([length])); },
      emit(name, dataJson) { return raw.emit(stringify([name, dataJson])); },
    },
    writable: false,
    enumerable: false,
    configurable: false,
  });

  for (const name of ["eval", "Date", "WeakRef", "FinalizationRegistry", "SharedArrayBuffer", "Atomics"]) {
    delete g[name];
  }
  delete Math.random;

  const FunctionPrototype = getPrototypeOf(function () {});
  const AsyncFunctionPrototype = getPrototypeOf(async function () {});
  const GeneratorFunctionPrototype = getPrototypeOf(function* () {});
  const AsyncGeneratorFunctionPrototype = getPrototypeOf(async function* () {});

  function tame(prototype, label) {
    const tamed = function () {
      throw new TypeError(label + " constructor is disabled: contracts cannot compile code from strings");
    };
    defineProperty(tamed, "name", { value: label });
    defineProperty(tamed, "prototype", { value: prototype, writable: false, enumerable: false, configurable: false });
    defineProperty(prototype, "constructor", { value: tamed, writable: false, enumerable: false, configurable: false });
    return tamed;
  }
  defineProperty(g, "Function", { value: tame(FunctionPrototype, "Function"), writable: false, enumerable: false, configurable: false });
  tame(AsyncFunctionPrototype, "AsyncFunction");
  tame(GeneratorFunctionPrototype, "GeneratorFunction");
  tame(AsyncGeneratorFunctionPrototype, "AsyncGeneratorFunction");

  const overrideGetters = new Map();
  function enableOverride(object, key) {
    const desc = getOwnPropertyDescriptor(object, key);
    if (desc === undefined || !("value" in desc) || !desc.writable) return;
    const value = desc.value;
    function getter() {
      return value;
    }
    overrideGetters.set(getter, value);
    function setter(next) {
      if (this === object) throw new TypeError("Cannot assign to read-only property '" + String(key) + "' of a frozen intrinsic");
      if (hasOwn(this, key)) this[key] = next;
      else defineProperty(this, key, { value: next, writable: true, enumerable: true, configurable: true });
    }
    defineProperty(object, key, { get: getter, set: setter, enumerable: desc.enumerable, configurable: false });
  }
  const errorNames = ["Error", "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError", "InternalError", "AggregateError"];
  const overridable = [
    [Object.prototype, ["constructor", "toString", "valueOf", "toLocaleString", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable"]],
    [Array.prototype, ["toString", "push", "concat", "constructor", Symbol.iterator]],
    [FunctionPrototype, ["toString", "bind", "call", "apply"]],
    [Promise.prototype, ["constructor", "then"]],
    [getPrototypeOf(Int8Array.prototype), ["constructor", "toString"]],
  ];
  for (const name of errorNames) {
    if (typeof g[name] === "function") overridable.push([g[name].prototype, ["constructor", "name", "message", "toString"]]);
  }
  for (const [object, keys] of overridable) for (const key of keys) enableOverride(object, key);

  const seen = new Set();
  function harden(root) {
    const stack = [root];
    while (stack.length > 0) {
      const value = stack.pop();
      if (value === null || (typeof value !== "object" && typeof value !== "function") || seen.has(value)) continue;
      seen.add(value);
      freeze(value);
      stack.push(getPrototypeOf(value));
      for (const key of ownKeys(value)) {
        const desc = getOwnPropertyDescriptor(value, key);
        if (desc === undefined) continue;
        if ("value" in desc) stack.push(desc.value);
        else stack.push(desc.get, desc.set);
      }
    }
    return root;
  }

  const syntaxOnly = [
    FunctionPrototype,
    AsyncFunctionPrototype,
    GeneratorFunctionPrototype,
    AsyncGeneratorFunctionPrototype,
    getPrototypeOf((function* () {})()),
    getPrototypeOf((async function* () {})()),
    getPrototypeOf([][Symbol.iterator]()),
    getPrototypeOf(new Map()[Symbol.iterator]()),
    getPrototypeOf(new Set()[Symbol.iterator]()),
    getPrototypeOf(""[Symbol.iterator]()),
    getPrototypeOf(/a/[Symbol.matchAll]("")),
    getPrototypeOf(Int8Array),
  ];
  if (typeof Iterator === "function") {
    syntaxOnly.push(getPrototypeOf([].values().map((x) => x)));
    syntaxOnly.push(getPrototypeOf(Iterator.from({ next() { return { done: true, value: undefined }; } })));
  }
  harden(g);
  for (const value of syntaxOnly) harden(value);

  function dataString(object, key) {
    for (let depth = 0; depth < 8 && object !== null; depth++) {
      const desc = getOwnPropertyDescriptor(object, key);
      if (desc !== undefined) {
        const value = "value" in desc ? desc.value : overrideGetters.get(desc.get);
        return typeof value === "string" ? value : undefined;
      }
      object = getPrototypeOf(object);
    }
    return undefined;
  }
  function describeError(thrown) {
    if (thrown === null) return stringify(["null", "", ""]);
    const kind = typeof thrown;
    if (kind === "string") return stringify(["string", "", thrown.slice(0, 1024)]);
    if (kind !== "object") return stringify([kind, "", ""]);
    if (!isError(thrown)) return stringify(["object", "", ""]);
    const name = dataString(thrown, "name");
    const message = dataString(thrown, "message");
    return stringify(["error", name === undefined ? "Error" : name.slice(0, 64), message === undefined ? "" : message.slice(0, 1024)]);
  }
  function run(factory, method, a, b, c) {
    const instance = factory();
    return instance[method](a, b, c);
  }
  return freeze({ harden, describeError, run });
})()`;
