/**
 * Assembles compiled CommonJS modules into the bundle shape of runtime/sandbox/abi.ts: one
 * classic script whose completion value is a factory returning the entry's default export.
 *
 * Two kinds of module:
 * - the contract's own modules are instantiated afresh on every factory call, so no module
 *   state of the contract survives a call (the ABI's promise); except when every one of them is
 *   declarative (runtime/compiler/reuse.ts: its top level only declares, through the API's
 *   builders, and creates no state a call could change): then they are instantiated once, when
 *   the script is evaluated, and hardened with their top-level bindings, and the factory returns
 *   that one frozen instance (about 40 µs less per call for the samples);
 * - `shared` modules (the treaty/contract API, which keeps no state between calls) are
 *   instantiated once, when the script is evaluated, and their exports hardened (every object
 *   reachable through own properties frozen), so a contract cannot tamper with them to pass
 *   state from one call to the next. Instantiating the API per call would cost ~200 µs in
 *   QuickJS, several times the cost of a whole call.
 *
 * The output depends only on the modules given: they are sorted by path, paths are relative
 * ("index.ts", "lib/util.ts", "treaty:contract/map.ts"), and nothing else (time, absolute
 * paths, versions) goes in, so equal sources give equal bytes and equal digests.
 */

/** One compiled module: its bundle path, CommonJS code, and its require table. */
export interface BundleModule {
  readonly path: string;
  readonly code: string;
  /** Specifier as written in the source (`./util.js`, `treaty/contract`) → bundle path. */
  readonly requires: Readonly<Record<string, string>>;
  /** Instantiated once per evaluation and hardened (API modules); must require only shared modules. */
  readonly shared: boolean;
  /**
   * For a declarative contract module (runtime/compiler/reuse.ts), the top-level bindings the
   * emitted code keeps as locals, hardened with the module when the bundle reuses its instance.
   */
  readonly bindings?: readonly string[];
}

/** The path of the entry module inside a bundle. */
export const ENTRY_MODULE = "index.ts";

/**
 * The loader both kinds of bundle share: `harden` deep-freezes, `instantiate` runs a module once
 * per cache (shared modules in one cache for all), with the loader's names prefixed by `p`.
 */
function loaderCore(p: "" | "__"): string {
  return `function ${p}harden(value, seen) {
  if ((typeof value !== "object" && typeof value !== "function") || value === null || seen.has(value)) return;
  seen.add(value);
  Object.freeze(value);
  var keys = Reflect.ownKeys(value);
  for (var i = 0; i < keys.length; i++) {
    var descriptor = Object.getOwnPropertyDescriptor(value, keys[i]);
    if (descriptor === undefined) continue;
    ${p}harden(descriptor.value, seen);
    ${p}harden(descriptor.get, seen);
    ${p}harden(descriptor.set, seen);
  }
}
function ${p}instantiate(path, cache) {
  var cached = cache[path];
  if (cached !== undefined) return cached.exports;
  var definition = modules[path];
  var module = { exports: {} };
  cache[path] = module;
  var table = definition[1];
  definition[0].call(undefined, module.exports, function require(specifier) {
    if (!Object.prototype.hasOwnProperty.call(table, specifier)) throw new Error("module not found: " + specifier);
    var target = table[specifier];
    return ${p}instantiate(target, modules[target][2] ? ${p}shared : cache);
  }, module);
  if (definition[2]) ${p}harden(module.exports, new Set());
  return module.exports;
}
`;
}

/** Per call: a fresh instance of the contract's modules (unchanged since the first bundles). */
const PER_CALL_LOADER = `${loaderCore("")}var shared = Object.create(null);
var paths = Object.keys(modules);
for (var i = 0; i < paths.length; i++) if (modules[paths[i]][2]) instantiate(paths[i], shared);
return function __treatyContract() {
  var instance = instantiate(${JSON.stringify(ENTRY_MODULE)}, Object.create(null)).default;
  if (instance === null || typeof instance !== "object" || typeof instance.describe !== "function" || typeof instance.invoke !== "function") {
    throw new TypeError("index.ts must export default contract({...}) from treaty/contract");
  }
  return instance;
};`;

/**
 * Declarative modules: one instance, made now (while the bundle is evaluated, never on a call's
 * fuel), then hardened with every module object (exports, and the bindings its code recorded
 * on it) and the loader's own tables, so nothing a call can reach is mutable: what the static
 * rule lets a top level make only has prototypes that are hardened already (intrinsics, API
 * classes, the module's own classes). The loader's other names start with "__", which
 * declarative modules may not mention (reuse.ts).
 */
const REUSE_LOADER = `${loaderCore("__")}var __shared = Object.create(null);
var __kept = Object.create(null);
var __instance = (function () {
  var paths = Object.keys(modules);
  for (var i = 0; i < paths.length; i++) if (modules[paths[i]][2]) __instantiate(paths[i], __shared);
  var instance = __instantiate(${JSON.stringify(ENTRY_MODULE)}, __kept).default;
  if (instance === null || typeof instance !== "object" || typeof instance.describe !== "function" || typeof instance.invoke !== "function") {
    throw new TypeError("index.ts must export default contract({...}) from treaty/contract");
  }
  var seen = new Set();
  var kept = Object.keys(__kept);
  for (var k = 0; k < kept.length; k++) __harden(__kept[kept[k]], seen);
  __harden(instance, seen);
  __harden(modules, seen);
  __harden(__shared, seen);
  __harden(__kept, seen);
  return instance;
})();
return function __treatyContract() {
  return __instance;
};`;

/**
 * True when `bundle` keeps one instance of the contract's modules for every call (all its
 * modules are declarative), false when it instantiates them per call. For tests and tooling.
 */
export function reusesInstance(bundle: string): boolean {
  return bundle.endsWith(`return function __treatyContract() {\n  return __instance;\n};\n})()\n`);
}

/** The bundle script for `modules` (which must include ENTRY_MODULE). */
export function assembleBundle(modules: readonly BundleModule[]): string {
  const sorted = [...modules].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const reuse = sorted.every((module) => module.shared || module.bindings !== undefined);
  const parts: string[] = ["(function () {", '"use strict";', "var modules = Object.create(null);"];
  for (const module of sorted) {
    const requires = Object.keys(module.requires)
      .sort()
      .map((specifier) => `${JSON.stringify(specifier)}: ${JSON.stringify(module.requires[specifier])}`)
      .join(", ");
    parts.push(`modules[${JSON.stringify(module.path)}] = [function (exports, require, module) {`);
    parts.push(module.code.trimEnd());
    if (reuse && !module.shared) parts.push(`module.bindings = [${module.bindings!.join(", ")}];`);
    parts.push(`}, { ${requires} }, ${module.shared}];`);
  }
  parts.push(reuse ? REUSE_LOADER : PER_CALL_LOADER, "})()", "");
  return parts.join("\n");
}
