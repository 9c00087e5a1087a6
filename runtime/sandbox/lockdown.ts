/**
 * The lockdown script: trusted guest code the sandbox evaluates in every fresh context, after
 * installing the raw host functions (`__treatyRawHost`) and before any contract code. It
 *
 * 0. moves the raw functions out of reach and defines `__treatyHost`, the ABI's functions, as
 *    wrappers that pass their arguments as one string: length-prefixed and concatenated when they
 *    are strings that cross as C strings unchanged, else one JSON array (exact for any string);
 * 1. removes ambient non-determinism and escape hatches: `eval`, `Date`, `Math.random`, `WeakRef`,
 *    `FinalizationRegistry`, `SharedArrayBuffer` (QuickJS has no timers, `Atomics` or console),
 *    and BigInt (`BigInt`, the BigInt typed arrays and DataView accessors: BigInt operators run
 *    natively for seconds and cannot be metered; the compiler refuses BigInt literals);
 * 1b. meters the native builtins that run long over large inputs (string search, repeat and
 *    pad, array and typed-array search, copy, join and sort, JSON): a wrapper charges their work
 *    to the call's fuel before they run (`__treatyRawCharge`), so no loop of them can outrun the
 *    call's budget;
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
 * `run(factory, method, a, b, c, d)` makes a fresh instance and calls one of its methods (so a call is
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

  // Strings cross the boundary as NUL-terminated UTF-8 C strings, so a raw U+0000 would cut one
  // short and a lone surrogate would come out as U+FFFD. Each raw host function therefore takes
  // one string, in one of two forms:
  // - for kvGet, kvHas, kvSet, kvDelete, kvRange and emit, when the arguments are strings whose
  //   concatenation is free of U+0000 and lone surrogates (nearly every call): "<length>:" for
  //   each argument but the last (UTF-16 units), then the arguments concatenated. Exact: the
  //   text crosses unchanged and the host cuts it at the same indices (a surrogate pair split
  //   across two arguments comes back split, as it was);
  // - otherwise (and always for sha256, verifySignature and randomBytes) the JSON array of the
  //   arguments, where U+0000 and lone surrogates are escapes.
  // The first character tells them apart ("[" or a digit). The first form skips QuickJS's
  // JSON.stringify (about 2.5 µs per call) and the host's JSON.parse. The ABI's functions are
  // thin frozen wrappers over the raw ones; the originals of isWellFormed and includes are taken
  // before the metering below wraps them.
  const raw = g.__treatyRawHost;
  delete g.__treatyRawHost;
  const applyNative = Reflect.apply;
  const isWellFormed = String.prototype.isWellFormed;
  const includes = String.prototype.includes;
  const NO_ARGS = freeze([]);
  const NUL = freeze(["\u0000"]);
  function crosses(text) {
    return applyNative(isWellFormed, text, NO_ARGS) && !applyNative(includes, text, NUL);
  }
  function pass2(fn, a, b) {
    if (typeof a === "string" && typeof b === "string") {
      const text = a.length + ":" + a + b;
      if (crosses(text)) return fn(text);
    }
    return fn(stringify([a, b]));
  }
  function pass3(fn, a, b, c) {
    if (typeof a === "string" && typeof b === "string" && typeof c === "string") {
      const text = a.length + ":" + b.length + ":" + a + b + c;
      if (crosses(text)) return fn(text);
    }
    return fn(stringify([a, b, c]));
  }
  const rawKvGet = raw.kvGet, rawKvHas = raw.kvHas, rawKvSet = raw.kvSet, rawKvDelete = raw.kvDelete;
  const rawKvRange = raw.kvRange, rawEmit = raw.emit;
  defineProperty(g, "__treatyHost", {
    value: {
      kvGet(map, key) { return pass2(rawKvGet, map, key); },
      kvHas(map, key) { return pass2(rawKvHas, map, key); },
      kvSet(map, key, value) { return pass3(rawKvSet, map, key, value); },
      kvDelete(map, key) { return pass2(rawKvDelete, map, key); },
      kvRange(map, optionsJson) { return pass2(rawKvRange, map, optionsJson); },
      sha256(data, isHex) { return raw.sha256(stringify([data, isHex])); },
      verifySignature(curve, publicKeyHex, messageHex, signatureHex) {
        return raw.verifySignature(stringify([curve, publicKeyHex, messageHex, signatureHex]));
      },
      randomBytes(length) { return raw.randomBytes(stringify([length])); },
      emit(name, dataJson) { return pass2(rawEmit, name, dataJson); },
    },
    writable: false,
    enumerable: false,
    configurable: false,
  });

  for (const name of ["eval", "Date", "WeakRef", "FinalizationRegistry", "SharedArrayBuffer", "Atomics"]) {
    delete g[name];
  }
  delete Math.random;

  // BigInt arithmetic runs natively on values of up to 2^20 bits (a multiplication of such values
  // takes seconds) and operators cannot be metered, so contracts get no BigInt: the compiler
  // refuses BigInt literals, and every other way to make one goes here.
  for (const name of ["BigInt", "BigInt64Array", "BigUint64Array"]) delete g[name];
  for (const name of ["getBigInt64", "getBigUint64", "setBigInt64", "setBigUint64"]) delete DataView.prototype[name];

  // Metered builtins. QuickJS polls its interrupt handler between bytecode ticks only, so one
  // native builtin over a large input (a search, a repeat, a sort, a copy) runs to its end
  // unmetered, and a loop of them outruns both fuel and the clock. Each builtin below is replaced
  // by a wrapper that charges its native work (elements or UTF-16 units, from the sizes it is
  // given, before it runs; from the size of its result after) to the call's fuel through
  // __treatyRawCharge; a refused charge fails the call with ExecutionLimit and the builtin does
  // not run. Work under FREE_UNITS is not charged (a host call costs more than it).
  const rawCharge = g.__treatyRawCharge;
  delete g.__treatyRawCharge;
  const apply = Reflect.apply;
  const isArray = Array.isArray;
  const symbolMatch = Symbol.match;
  const FREE_UNITS = 4096;
  function charge(units) {
    if (!(units <= FREE_UNITS) && !rawCharge(units)) throw new RangeError("execution budget exhausted");
  }
  function sizeOf(value) {
    if (typeof value === "string") return value.length;
    if (value !== null && typeof value === "object") {
      const length = value.length;
      return typeof length === "number" ? length : 0;
    }
    return 0;
  }
  function lengthOf(value) {
    if (value === null || value === undefined) return 0;
    const length = +value.length;
    return length > 0 ? length : 0;
  }
  function asString(value) {
    return value === null || value === undefined || typeof value === "symbol" || typeof value === "string" ? value : String(value);
  }
  function asSearch(value) {
    // A RegExp (or anything with Symbol.match) goes to its own, interrupt-polling, engine.
    if (value !== null && typeof value === "object" && value[symbolMatch] !== undefined) return value;
    return asString(value);
  }
  function asNumber(value) {
    return typeof value === "number" ? value : +value;
  }
  function meter(object, names, prepare, units, chargeResult) {
    for (const name of names) {
      const original = object[name];
      if (typeof original !== "function") continue;
      const wrapped = {
        [name](...args) {
          const self = prepare(this, args);
          charge(units(self, args));
          const result = apply(original, self, args);
          if (chargeResult) charge(sizeOf(result));
          return result;
        },
      }[name];
      defineProperty(wrapped, "length", { value: original.length });
      defineProperty(object, name, { value: wrapped, writable: true, enumerable: false, configurable: true });
    }
  }
  // String methods: "this" and string arguments are converted once, here, so the sizes charged
  // are the sizes the builtin sees.
  function stringThis(self) {
    return asString(self);
  }
  function searchArgs(self, args) {
    if (args.length > 0) args[0] = asSearch(args[0]);
    return asString(self);
  }
  function stringArgs(self, args) {
    for (let i = 0; i < args.length; i++) args[i] = asString(args[i]);
    return asString(self);
  }
  function numberArg(self, args) {
    if (args.length > 0) args[0] = asNumber(args[0]);
    if (args.length > 1) args[1] = asString(args[1]);
    return asString(self);
  }
  const S = String.prototype;
  // Naive search: up to (haystack x needle) comparisons.
  meter(S, ["includes", "indexOf", "lastIndexOf", "split"], searchArgs, (s, a) => sizeOf(s) * (1 + sizeOf(a[0])), true);
  meter(S, ["startsWith", "endsWith"], searchArgs, (s, a) => sizeOf(a[0]), false);
  meter(S, ["replace", "replaceAll"], searchArgs,
    (s, a) => sizeOf(s) * (1 + sizeOf(a[0]) + (typeof a[1] === "string" ? a[1].length : 0)), true);
  meter(S, ["repeat"], numberArg, (s, a) => sizeOf(s) * a[0], false);
  meter(S, ["padStart", "padEnd"], numberArg, (s, a) => a[0], false);
  meter(S, ["concat"], stringArgs, (s, a) => { let n = sizeOf(s); for (const x of a) n += sizeOf(x); return n; }, false);
  meter(S, ["localeCompare"], stringArgs, (s, a) => sizeOf(s) + sizeOf(a[0]), false);
  meter(S, ["toUpperCase", "toLowerCase", "toLocaleUpperCase", "toLocaleLowerCase", "normalize", "trim", "trimStart",
    "trimEnd", "slice", "substring", "substr", "isWellFormed", "toWellFormed", "toString", "valueOf"],
    stringThis, (s) => sizeOf(s), false);
  meter(S, ["match", "matchAll", "search"], stringThis, (s) => sizeOf(s), true);
  // Array methods (generic: "this" may be any object with a length).
  function same(self) {
    return self;
  }
  const log2 = (n) => (n > 1 ? Math.ceil(Math.log2(n)) : 1);
  const A = Array.prototype;
  // An element costs QuickJS about 8 times a character (measured: ~30 ns vs ~1-4 ns).
  meter(A, ["includes", "indexOf", "lastIndexOf"], same,
    (self, a) => 8 * lengthOf(self) * (1 + (typeof a[0] === "string" ? a[0].length : 0)), false);
  meter(A, ["copyWithin", "fill", "reverse", "slice", "splice", "shift", "unshift", "toReversed", "toSpliced", "with",
    "flat", "keys", "values", "entries"], same, (self) => 8 * lengthOf(self), true);
  meter(A, ["join", "toString", "toLocaleString"], same, (self, a) => 8 * lengthOf(self) * (1 + sizeOf(asString(a[0]))), true);
  meter(A, ["concat"], same, (self, a) => { let n = lengthOf(self); for (const x of a) n += lengthOf(x); return 8 * n; }, true);
  meter(A, ["sort", "toSorted"], same, (self) => 8 * lengthOf(self) * log2(lengthOf(self)), false);
  // Typed arrays (one %TypedArray%.prototype for all of them).
  const TA = getPrototypeOf(Int8Array.prototype);
  meter(TA, ["includes", "indexOf", "lastIndexOf", "copyWithin", "fill", "reverse", "slice", "toReversed", "with",
    "join", "toString", "toLocaleString"], same, (self) => lengthOf(self), true);
  meter(TA, ["set"], same, (self, a) => lengthOf(self) + lengthOf(a[0]), false);
  meter(TA, ["sort", "toSorted"], same, (self) => lengthOf(self) * log2(lengthOf(self)), false);
  // Buffers are zeroed (or copied) natively when made: charge their elements.
  const construct = Reflect.construct;
  function meterConstructor(name) {
    const Original = g[name];
    if (typeof Original !== "function") return;
    const Metered = {
      [name]: function (...args) {
        if (new.target === undefined) return apply(Original, undefined, args);
        // Charged once made (a size beyond the heap fails fast as MemoryLimit, unzeroed).
        const made = construct(Original, args, new.target === Metered ? Original : new.target);
        charge(name === "ArrayBuffer" ? made.byteLength : made.length);
        return made;
      },
    }[name];
    defineProperty(Metered, "length", { value: Original.length });
    defineProperty(Metered, "prototype", { value: Original.prototype, writable: false, enumerable: false, configurable: false });
    Object.setPrototypeOf(Metered, getPrototypeOf(Original));
    for (const key of ownKeys(Original)) {
      if (key === "length" || key === "name" || key === "prototype") continue;
      defineProperty(Metered, key, getOwnPropertyDescriptor(Original, key));
    }
    defineProperty(Original.prototype, "constructor", { value: Metered, writable: true, enumerable: false, configurable: true });
    defineProperty(g, name, { value: Metered, writable: true, enumerable: false, configurable: true });
  }
  for (const name of ["ArrayBuffer", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array"]) {
    meterConstructor(name);
  }
  // JSON: the text parsed, and the text produced.
  // QuickJS's JSON costs up to ~100-200 ns per character produced (numbers); kept low so a
  // value at the documented 1 MiB cap still fits a default budget with room to spare.
  // Written out rather than through meter(): every call parses and stringifies a few times, and
  // named parameters cost less than a rest array and Reflect.apply. Same charges, same results
  // (both builtins ignore "this", extra arguments, and treat undefined ones as absent).
  const parse_ = JSON.parse;
  defineProperty(JSON, "parse", {
    value: {
      parse(text, reviver) {
        text = asString(text);
        charge(2 * sizeOf(text));
        return parse_(text, reviver);
      },
    }.parse,
    writable: true,
    enumerable: false,
    configurable: true,
  });
  const stringify_ = JSON.stringify;
  defineProperty(JSON, "stringify", {
    value: {
      stringify(value, replacer, space) {
        const text = stringify_(value, replacer, space);
        charge(4 * sizeOf(text));
        return text;
      },
    }.stringify,
    writable: true,
    enumerable: false,
    configurable: true,
  });

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
  function run(factory, method, a, b, c, d) {
    const instance = factory();
    return instance[method](a, b, c, d);
  }
  return freeze({ harden, describeError, run });
})()`;
