/**
 * Evaluates a contract bundle in plain Node with node:vm, for tooling (reading a manifest) and
 * for the stand-in (`treaty/testing` loadBundle). This is NOT a security boundary: the QuickJS
 * sandbox is. It mirrors the sandbox's rules closely enough that tests catch a contract that
 * relies on what the sandbox takes away: no eval or Function from strings, no Date, no
 * Math.random, no WeakRef/FinalizationRegistry/SharedArrayBuffer/Atomics, frozen intrinsics
 * and globalThis, a fresh module instantiation per call, and a time limit per call.
 */
import vm from "node:vm";
import type { GuestHost } from "../sandbox/abi.js";

/** A bundle evaluated in its own vm context. */
export interface VmBundle {
  /** `factory().describe()`. */
  describe(): string;
  /** `factory().invoke(...)`, with modules instantiated afresh as in the sandbox. */
  invoke(method: string, argsJson: string, ctxJson: string): string;
}

/** Options of `evaluateBundle`. */
export interface VmBundleOptions {
  /** The host for the call in progress; calls to `__treatyHost` are forwarded to it. */
  readonly host: () => GuestHost;
  /** Wall-clock limit of evaluation and of each call (vm `timeout`); default 2000 ms. */
  readonly timeoutMs?: number;
}

const HOST_FUNCTIONS = [
  "kvGet",
  "kvHas",
  "kvSet",
  "kvDelete",
  "kvRange",
  "sha256",
  "verifySignature",
  "randomBytes",
  "emit",
] as const;

/**
 * Runs inside the context after the bundle is evaluated: takes away what the sandbox takes
 * away, freezes every intrinsic, and makes every global binding read-only. (A vm global cannot
 * be frozen or made non-extensible, so new globals are caught after each call instead.)
 */
const LOCKDOWN = `(function () {
  "use strict";
  const O = Object, R = Reflect;
  for (const name of ["Date", "WeakRef", "FinalizationRegistry", "SharedArrayBuffer", "Atomics"]) delete globalThis[name];
  O.defineProperty(Math, "random", { value: function random() {
    throw new Error("Math.random is not available in contracts: use randomInt or randomBytes from treaty/contract");
  } });
  // The vm global cannot be frozen; its bindings are made read-only below instead.
  const seen = new Set([globalThis]);
  const freeze = (value) => {
    if ((typeof value !== "object" && typeof value !== "function") || value === null || seen.has(value)) return;
    seen.add(value);
    O.freeze(value);
    freeze(O.getPrototypeOf(value));
    for (const key of R.ownKeys(value)) {
      const descriptor = O.getOwnPropertyDescriptor(value, key);
      if (descriptor === undefined) continue;
      freeze(descriptor.value);
      freeze(descriptor.get);
      freeze(descriptor.set);
    }
  };
  freeze(O.getPrototypeOf(globalThis));
  for (const key of R.ownKeys(globalThis)) {
    const d = O.getOwnPropertyDescriptor(globalThis, key);
    if (d === undefined) continue;
    if ("value" in d) {
      freeze(d.value);
      O.defineProperty(globalThis, key, { value: d.value, enumerable: d.enumerable, writable: false, configurable: false });
    } else {
      freeze(d.get);
      freeze(d.set);
      O.defineProperty(globalThis, key, { get: d.get, set: d.set, enumerable: d.enumerable, configurable: false });
    }
  }
})();`;

/**
 * Evaluates `bundle` and returns its `describe`/`invoke`. Throws what the bundle throws (a
 * syntax error, a module that fails to load), or an Error when a limit of `timeoutMs` is hit.
 */
export function evaluateBundle(bundle: string, options: VmBundleOptions): VmBundle {
  const timeout = options.timeoutMs ?? 2000;
  const mailbox = { method: "", args: "", ctx: "" };
  const forwarders: Record<string, (...args: never[]) => unknown> = {};
  for (const name of HOST_FUNCTIONS) {
    forwarders[name] = (...args: never[]) => (options.host()[name] as (...a: never[]) => unknown)(...args);
  }
  const context = vm.createContext({}, { codeGeneration: { strings: false, wasm: false } });
  const define = (name: string, value: unknown) =>
    Object.defineProperty(context, name, { value, writable: false, enumerable: false, configurable: false });
  define("__treatyHost", Object.freeze(forwarders));
  define("__treatyMailbox", mailbox);
  const factory = new vm.Script(bundle, { filename: "contract-bundle.js" }).runInContext(context, {
    timeout,
  }) as unknown;
  if (typeof factory !== "function")
    throw new TypeError("the bundle's completion value is not a factory function");
  define("__treatyFactory", factory);
  // Lockdown after evaluation: the bundle's top level defines only functions, like the sandbox's.
  vm.runInContext(LOCKDOWN, context, { timeout });
  const globals = new Set(Reflect.ownKeys(context));
  /** The sandbox's globalThis is frozen: a call that added a global would have failed there. */
  const checkGlobals = () => {
    const added = Reflect.ownKeys(context).filter((key) => !globals.has(key));
    if (added.length === 0) return;
    for (const key of added) Reflect.deleteProperty(context, key);
    throw new TypeError(
      `the contract assigned globalThis.${String(added[0])}: globalThis is frozen in the sandbox`,
    );
  };
  const describeScript = new vm.Script("__treatyFactory().describe()", { filename: "treaty-describe.js" });
  const invokeScript = new vm.Script(
    "__treatyFactory().invoke(__treatyMailbox.method, __treatyMailbox.args, __treatyMailbox.ctx)",
    { filename: "treaty-invoke.js" },
  );
  return {
    describe: () => {
      try {
        return describeScript.runInContext(context, { timeout }) as string;
      } finally {
        checkGlobals();
      }
    },
    invoke: (method, argsJson, ctxJson) => {
      mailbox.method = method;
      mailbox.args = argsJson;
      mailbox.ctx = ctxJson;
      let outcome: string;
      try {
        outcome = invokeScript.runInContext(context, { timeout }) as string;
      } catch (err) {
        checkGlobals();
        throw err;
      }
      checkGlobals();
      return outcome;
    },
  };
}
