/**
 * Evaluates a contract bundle in plain Node with node:vm, for the stand-in only (`treaty/testing`
 * loadBundle: an author running their own contract on their own machine). This is NOT a security
 * boundary (the QuickJS sandbox is): a contract that catches a host error holds a Node-realm
 * object. So it lives here, apart from runtime/: no node or CLI path imports it (a test over
 * the build checks that nothing outside contracts/testing and test/ imports `node:vm`). It
 * mirrors the sandbox's rules closely enough that tests catch a contract relying on what the
 * sandbox takes away:
 *
 * - no eval or Function from strings, no Date, no Math.random, no WeakRef,
 *   FinalizationRegistry, SharedArrayBuffer or Atomics; intrinsics frozen; global bindings
 *   read-only, and a call that adds a global fails (a vm global cannot be frozen, so new
 *   globals are found and removed after each call);
 * - the host functions are created inside the context, so their `constructor` is the
 *   context's (disabled) Function;
 * - modules are instantiated afresh per call (the bundle's factory does that);
 * - every call has a wall-clock limit; promise jobs run at the end of the call, and a job that
 *   reaches the host after the method returned makes the call fail (the sandbox refuses calls
 *   that leave jobs behind). A leftover job that fails inside the API instead (say, a write
 *   after the call ended) cannot fail its call: its rejection is reported by Node after the
 *   call returned. Such rejections from bundle contexts are dropped (nothing was written)
 *   rather than crashing the test process; see `guardRejections`;
 * - after any exception escapes a call (a fault, a time limit), the context is thrown away and
 *   the bundle evaluated again on the next call, as the sandbox recreates its context.
 */
import vm from "node:vm";
import { TreatyError } from "../../sdk/errors.js";
import type { GuestHost } from "../../runtime/sandbox/abi.js";

/** A bundle evaluated in its own vm context. */
export interface VmBundle {
  /** `factory().describe()`. */
  describe(): string;
  /** `factory().invoke(...)`, with modules instantiated afresh as in the sandbox. */
  invoke(method: string, argsJson: string, ctxJson: string): string;
}

/** Options of `evaluateBundle`. */
export interface VmBundleOptions {
  /** The host for the call in progress; the guest's `__treatyHost` functions forward to it. */
  readonly host: () => GuestHost;
  /** Wall-clock limit of each call (vm `timeout`); default 2000 ms. */
  readonly timeoutMs?: number;
}

/** Limit for evaluating the bundle and locking the context down (trusted setup, slow on a busy machine). */
const SETUP_TIMEOUT_MS = 10_000;

/** What a host function answers a leftover job (the call fails anyway). */
const LATE_ANSWERS: Readonly<Record<string, unknown>> = {
  kvHas: false,
  kvRange: "[]",
  sha256: "",
  verifySignature: false,
  randomBytes: "",
};

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
];

/** Evaluated in the context: installs the host and the call helpers, returns the helpers. */
const SETUP = `(function (call, mailbox, names) {
  "use strict";
  const host = {};
  for (const name of names) host[name] = (...args) => call(name, args);
  Object.freeze(host);
  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: false, enumerable: false, configurable: false });
  define("__treatyHost", host);
  let factory;
  // Exceptions are caught here and handed over through the mailbox: if they crossed
  // runInContext, Node would format their stack, running a contract's getters without a timeout.
  define("__treatyCall", function __treatyCall() {
    mailbox.active = true;
    try {
      return factory().invoke(mailbox.method, mailbox.args, mailbox.ctx);
    } catch (thrown) {
      mailbox.threw = true;
      mailbox.thrown = thrown;
      return "";
    } finally {
      mailbox.active = false;
    }
  });
  define("__treatyDescribe", function __treatyDescribe() {
    try {
      return factory().describe();
    } catch (thrown) {
      mailbox.threw = true;
      mailbox.thrown = thrown;
      return "";
    }
  });
  return {
    setFactory(value) { factory = value; },
    globals() { return Reflect.ownKeys(globalThis).filter((key) => typeof key === "string"); },
  };
})`;

/** Runs in the context after the bundle is evaluated: takes away what the sandbox takes away, then freezes. */
const LOCKDOWN = `(function () {
  "use strict";
  const O = Object, R = Reflect;
  for (const name of ["Date", "WeakRef", "FinalizationRegistry", "SharedArrayBuffer", "Atomics", "WebAssembly"]) delete globalThis[name];
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

interface Mailbox {
  method: string;
  args: string;
  ctx: string;
  active: boolean;
  /** What the call threw (the raw value, never formatted). */
  threw: boolean;
  thrown: unknown;
  /** A host call made after the method returned (by a leftover promise job). */
  late: TreatyError | undefined;
}

interface Helpers {
  setFactory(factory: unknown): void;
  globals(): string[];
}

interface Live {
  readonly context: vm.Context;
  readonly mailbox: Mailbox;
  readonly helpers: Helpers;
  readonly globals: ReadonlySet<string>;
}

/** Promise.prototype of every context this module made (to recognize their rejections). */
const bundlePromisePrototypes = new WeakSet<object>();
let rejectionGuardInstalled = false;

/**
 * A contract's leftover promise job may reject after its call returned; Node would report it
 * as an unhandled rejection and stop the process. Rejections of promises from bundle contexts
 * are dropped; any other rejection keeps Node's default (it is rethrown as an uncaught
 * exception when no one else listens).
 */
function guardRejections(context: vm.Context): void {
  bundlePromisePrototypes.add(vm.runInContext("Promise.prototype", context) as object);
  if (rejectionGuardInstalled) return;
  rejectionGuardInstalled = true;
  process.on("unhandledRejection", (reason, promise) => {
    if (bundlePromisePrototypes.has(Object.getPrototypeOf(promise) as object)) return;
    if (process.listenerCount("unhandledRejection") === 1) throw reason;
  });
}

const DESCRIBE = new vm.Script("__treatyDescribe()", { filename: "treaty-describe.js" });
const INVOKE = new vm.Script("__treatyCall()", { filename: "treaty-invoke.js" });

/**
 * Evaluates `bundle` and returns its `describe`/`invoke`. Throws what the bundle throws (a
 * syntax error, a module that fails to load), a TypeError when it is not a factory, or vm's
 * timeout error when a limit of `timeoutMs` is hit.
 */
export function evaluateBundle(bundle: string, options: VmBundleOptions): VmBundle {
  const timeout = options.timeoutMs ?? 2000;
  const script = new vm.Script(bundle, { filename: "contract-bundle.js" });

  const create = (): Live => {
    const mailbox: Mailbox = {
      method: "",
      args: "",
      ctx: "",
      active: false,
      threw: false,
      thrown: undefined,
      late: undefined,
    };
    const call = (name: string, args: unknown[]): unknown => {
      if (!mailbox.active) {
        // The call fails with this; the job gets a neutral answer rather than an exception, so
        // it ends quietly instead of as an unhandled rejection.
        mailbox.late ??= new TreatyError(
          "ContractFault",
          `${name}: the host was called after the method returned (by a pending promise job)`,
        );
        return LATE_ANSWERS[name];
      }
      const host = options.host() as unknown as Record<string, (...a: unknown[]) => unknown>;
      return host[name]!(...args);
    };
    const context = vm.createContext(
      {},
      { codeGeneration: { strings: false, wasm: false }, microtaskMode: "afterEvaluate" },
    );
    guardRejections(context);
    const setup = vm.runInContext(SETUP, context) as (c: typeof call, m: Mailbox, n: string[]) => Helpers;
    const helpers = setup(call, mailbox, HOST_FUNCTIONS);
    const setupTimeout = Math.max(timeout, SETUP_TIMEOUT_MS);
    const factory = script.runInContext(context, { timeout: setupTimeout }) as unknown;
    if (typeof factory !== "function")
      throw new TypeError("the bundle's completion value is not a factory function");
    helpers.setFactory(factory);
    vm.runInContext(LOCKDOWN, context, { timeout: setupTimeout });
    return { context, mailbox, helpers, globals: new Set(helpers.globals()) };
  };

  let live: Live | undefined = create();
  const run = (body: (current: Live) => string): string => {
    live ??= create();
    const current = live;
    current.mailbox.late = undefined;
    current.mailbox.threw = false;
    current.mailbox.thrown = undefined;
    let out: string;
    try {
      out = body(current);
    } catch (err) {
      // A limit stopped the call: like the sandbox, start over with a fresh context.
      live = undefined;
      throw err;
    }
    if (current.mailbox.threw) {
      // An exception escaped the method: the same. The value is rethrown as it is (not formatted).
      live = undefined;
      const thrown = current.mailbox.thrown;
      current.mailbox.thrown = undefined;
      throw thrown;
    }
    const added = current.helpers.globals().filter((key) => !current.globals.has(key));
    if (added.length > 0 || current.mailbox.late !== undefined) {
      live = undefined;
      if (current.mailbox.late !== undefined) throw current.mailbox.late;
      throw new TypeError(
        `the contract assigned globalThis.${added[0]}: globalThis is frozen in the sandbox`,
      );
    }
    return out;
  };

  return {
    describe: () => run((current) => DESCRIBE.runInContext(current.context, { timeout }) as string),
    invoke: (method, argsJson, ctxJson) =>
      run((current) => {
        current.mailbox.method = method;
        current.mailbox.args = argsJson;
        current.mailbox.ctx = ctxJson;
        return INVOKE.runInContext(current.context, { timeout }) as string;
      }),
  };
}
