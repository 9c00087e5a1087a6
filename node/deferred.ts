/**
 * A promise with its settle functions, made without a closure per call. The usual
 * `new Promise((resolve, reject) => ...)` makes an executor closure each time; on a path run for
 * every request TurboFan optimizes that closure (with whatever it inlined), and V8 holds the
 * optimized code of closures weakly once the closures that ran it are gone, so every major GC
 * dropped it and it was compiled again (docs/performance.md, "Hot closures recompiled after
 * every major GC"). Here the executor is one long-lived function: the Promise constructor calls
 * it synchronously, and it hands the two functions over through module state read at once.
 */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (reason: unknown) => void;
}

let handedResolve: ((value: never) => void) | undefined;
let handedReject: ((reason: unknown) => void) | undefined;

function handOver(resolve: (value: never) => void, reject: (reason: unknown) => void): void {
  handedResolve = resolve;
  handedReject = reject;
}

/** A pending promise and the functions that settle it. */
export function deferred<T>(): Deferred<T> {
  const promise = new Promise<T>(
    handOver as (resolve: (value: T) => void, reject: (reason: unknown) => void) => void,
  );
  const resolve = handedResolve as (value: T) => void;
  const reject = handedReject!;
  handedResolve = undefined;
  handedReject = undefined;
  return { promise, resolve, reject };
}
