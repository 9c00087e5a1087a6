/**
 * A direct path for guest calls of host functions (`context.newFunction`), replacing the one
 * quickjs-emscripten takes. Its own dispatcher runs every call through a generator-based
 * "maybe async" block, a `Scope` and one `WeakLifetime` per argument and for `this`: on this
 * machine that was about half of a contract's host call (a no-op crossing cost ~3.7 µs under
 * load). The sandbox's host functions are synchronous and never keep their argument handles, so
 * none of that is needed.
 *
 * Semantics are the library's (quickjs-emscripten 0.32, context.ts `cToHostCallbacks`): the
 * function gets borrowed handles for `this` and its arguments, valid during the call only; a
 * returned handle is duplicated for QuickJS and then disposed; a thrown error becomes a guest
 * Error with its name and message. It reaches into the library's private fields, so
 * `installDirectCalls` checks each one and throws when the library's shape differs (a dependency
 * upgrade then fails every sandbox boot loudly, never silently).
 */
import type { QuickJSContext, QuickJSHandle } from "quickjs-emscripten";
import { assert } from "../../sdk/assert.js";

type Pointer = number;

/** The library's context callbacks object (the module dispatches to `callFunction` on it). */
interface ContextCallbacks {
  callFunction: (ctx: Pointer, thisPtr: Pointer, argc: number, argv: Pointer, fnId: number) => Pointer;
}

/** The private parts of QuickJSContext used here. */
interface ContextInternals {
  readonly ctx: { readonly value: Pointer };
  readonly ffi: {
    QTS_ArgvGetJSValueConstPointer(argv: Pointer, index: number): Pointer;
    QTS_DupValuePointer(ctx: Pointer, value: Pointer): Pointer;
    QTS_Throw(ctx: Pointer, error: Pointer): Pointer;
  };
  readonly cToHostCallbacks: ContextCallbacks;
  getFunction(fnId: number): (this: QuickJSHandle, ...args: QuickJSHandle[]) => unknown;
}

/**
 * A handle on a value QuickJS owns for the duration of a host call: readable through the
 * context's getters (`typeof`, `getString`, `getNumber`), never disposed by the host.
 */
class Borrowed {
  alive = true;
  readonly owner = undefined;
  constructor(readonly value: Pointer) {}
  dispose(): void {
    this.alive = false;
  }
}

/**
 * Routes every host function call of `context` through the direct path. Call once, right after
 * the context is created. Throws AssertionFailure when quickjs-emscripten's internals are not
 * the ones this module was written against.
 */
export function installDirectCalls(context: QuickJSContext): void {
  const internals = context as unknown as Partial<ContextInternals>;
  const { ctx, ffi, cToHostCallbacks: callbacks } = internals;
  assert(
    ctx !== undefined &&
      typeof ctx.value === "number" &&
      ffi !== undefined &&
      typeof ffi.QTS_ArgvGetJSValueConstPointer === "function" &&
      typeof ffi.QTS_DupValuePointer === "function" &&
      typeof ffi.QTS_Throw === "function" &&
      callbacks !== undefined &&
      typeof callbacks.callFunction === "function" &&
      typeof internals.getFunction === "function",
    "direct calls: quickjs-emscripten's context internals are as expected (0.32)",
  );
  const ctxPtr = ctx.value;
  const getFunction = internals.getFunction.bind(context);
  callbacks.callFunction = (calledCtx, thisPtr, argc, argv, fnId) => {
    assert(calledCtx === ctxPtr, "direct calls: a host call arrives on its own context");
    const fn = getFunction(fnId);
    const self = new Borrowed(thisPtr);
    const args: Borrowed[] = new Array(argc);
    for (let i = 0; i < argc; i++) args[i] = new Borrowed(ffi.QTS_ArgvGetJSValueConstPointer(argv, i));
    try {
      const result = fn.apply(self as unknown as QuickJSHandle, args as unknown as QuickJSHandle[]);
      if (result === undefined || result === null) return 0;
      assert(
        typeof result === "object" && "value" in result,
        "direct calls: a host function returns a handle",
      );
      const handle = result as QuickJSHandle;
      try {
        return ffi.QTS_DupValuePointer(ctxPtr, handle.value as unknown as Pointer);
      } finally {
        handle.dispose();
      }
    } catch (error) {
      const thrown = context.newError(error instanceof Error ? error : new Error(String(error)));
      try {
        return ffi.QTS_Throw(ctxPtr, thrown.value as unknown as Pointer);
      } finally {
        thrown.dispose();
      }
    } finally {
      self.dispose();
      for (const arg of args) arg.dispose();
    }
  };
}
