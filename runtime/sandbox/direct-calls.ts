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
 *
 * The other direction has direct paths too, for the sandbox's one guest call per contract call:
 * `callDirect` (the library's `callFunction` without its argv copy and wrapper objects),
 * `isGuestString` (its `typeof(h) === "string"` without decoding the type name) and `newString`
 * (below). They use the same ffi functions as the library, checked by `installDirectCalls`.
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
    QTS_NewString(ctx: Pointer, utf8: Pointer): Pointer;
    QTS_Call(ctx: Pointer, fn: Pointer, thisValue: Pointer, argc: number, argv: Pointer): Pointer;
    QTS_ResolveException(ctx: Pointer, maybeException: Pointer): Pointer;
    QTS_FreeValuePointer(ctx: Pointer, value: Pointer): void;
    QTS_Typeof(ctx: Pointer, value: Pointer): Pointer;
  };
  readonly module: {
    _malloc(bytes: number): Pointer;
    _free(pointer: Pointer): void;
    readonly HEAPU8: Uint8Array;
  };
  readonly memory: { heapValueHandle(value: Pointer): QuickJSHandle };
  readonly undefined: { readonly value: Pointer };
  readonly cToHostCallbacks: ContextCallbacks;
  getFunction(fnId: number): (this: QuickJSHandle, ...args: QuickJSHandle[]) => unknown;
}

const encoder = new TextEncoder();

/**
 * `context.newString(text)`, faster: well-formed text is encoded by the native TextEncoder
 * straight into the wasm heap instead of emscripten's per-character JavaScript loop (both
 * encode it alike, and QuickJS reads the bytes as a C string either way). Text with a lone
 * surrogate, which TextEncoder would replace, takes `context.newString`.
 */
export function newString(context: QuickJSContext, text: string): QuickJSHandle {
  if (!(text as unknown as { isWellFormed(): boolean }).isWellFormed()) return context.newString(text);
  const { ctx, ffi, module, memory } = context as unknown as ContextInternals;
  const bytes = Buffer.byteLength(text, "utf8");
  const pointer = module._malloc(bytes + 1);
  // Out of wasm memory (the heap cap): the library's path fails the way it always has.
  if (pointer === 0) return context.newString(text);
  try {
    // HEAPU8 is read after the malloc, which may have grown (and so replaced) the heap.
    const heap = module.HEAPU8;
    const { written } = encoder.encodeInto(text, heap.subarray(pointer, pointer + bytes));
    heap[pointer + written] = 0;
    return memory.heapValueHandle(ffi.QTS_NewString(ctx.value, pointer));
  } finally {
    module._free(pointer);
  }
}

/** How a direct guest call ended: its value, or what it threw (the caller disposes either). */
export type DirectCallResult =
  | { readonly value: QuickJSHandle; readonly error?: undefined }
  | { readonly value?: undefined; readonly error: QuickJSHandle };

/**
 * `context.callFunction(fn, context.undefined, args)` without the library's wrappers: one argv
 * array in the wasm heap, written in place, instead of an Int32Array, a mapped copy and a
 * Lifetime per call, and a plain result object. Same ffi calls in the same order (QTS_Call, then
 * QTS_ResolveException), so the same semantics. If the call throws (a V8 stack overflow while
 * QuickJS's C code ran), the argv array is not freed: the sandbox never touches such a heap again.
 */
export function callDirect(
  context: QuickJSContext,
  fn: QuickJSHandle,
  args: readonly QuickJSHandle[],
): DirectCallResult {
  const { ctx, ffi, module, memory } = context as unknown as ContextInternals;
  const argc = args.length;
  const argv = module._malloc(4 * Math.max(argc, 1));
  if (argv === 0) {
    // Out of wasm memory (the heap cap): the library's path fails the way it always has.
    const result = context.callFunction(fn, context.undefined, [...args]);
    return result.error === undefined ? { value: result.value } : { error: result.error };
  }
  // A view made after the malloc, which may have grown (and so replaced) the heap.
  const slots = new Int32Array(module.HEAPU8.buffer, argv, argc);
  for (let i = 0; i < argc; i++) slots[i] = args[i]!.value as unknown as Pointer;
  const undefinedValue = (context as unknown as ContextInternals).undefined.value;
  const result = ffi.QTS_Call(ctx.value, fn.value as unknown as Pointer, undefinedValue, argc, argv);
  module._free(argv);
  const error = ffi.QTS_ResolveException(ctx.value, result);
  if (error !== 0) {
    ffi.QTS_FreeValuePointer(ctx.value, result);
    return { error: memory.heapValueHandle(error) };
  }
  return { value: memory.heapValueHandle(result) };
}

/** "string" followed by the C string terminator, as QTS_Typeof writes it. */
const STRING_TYPE = [0x73, 0x74, 0x72, 0x69, 0x6e, 0x67, 0];

/**
 * `context.typeof(handle) === "string"`, comparing QTS_Typeof's bytes in the wasm heap instead
 * of decoding them into a JavaScript string first.
 */
export function isGuestString(context: QuickJSContext, handle: QuickJSHandle): boolean {
  const { ctx, ffi, module } = context as unknown as ContextInternals;
  const pointer = ffi.QTS_Typeof(ctx.value, handle.value as unknown as Pointer);
  const heap = module.HEAPU8;
  let same = true;
  for (let i = 0; i < STRING_TYPE.length && same; i++) same = heap[pointer + i] === STRING_TYPE[i];
  module._free(pointer);
  return same;
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
      typeof ffi.QTS_NewString === "function" &&
      typeof ffi.QTS_Call === "function" &&
      typeof ffi.QTS_ResolveException === "function" &&
      typeof ffi.QTS_FreeValuePointer === "function" &&
      typeof ffi.QTS_Typeof === "function" &&
      typeof internals.undefined?.value === "number" &&
      typeof internals.module?._malloc === "function" &&
      typeof internals.module._free === "function" &&
      typeof internals.memory?.heapValueHandle === "function" &&
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
    let result: unknown;
    try {
      result = fn.apply(self as unknown as QuickJSHandle, args as unknown as QuickJSHandle[]);
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
    if (result === undefined || result === null) return 0;
    // Outside the catch, so a broken invariant is not disguised as the guest's error (what
    // escapes here, the library's module dispatcher logs; the guest then sees undefined).
    assert(typeof result === "object" && "value" in result, "direct calls: a host function returns a handle");
    const handle = result as QuickJSHandle;
    try {
      return ffi.QTS_DupValuePointer(ctxPtr, handle.value as unknown as Pointer);
    } finally {
      handle.dispose();
    }
  };
}
