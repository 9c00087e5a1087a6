/**
 * `loadBundle`: runs a compiled contract bundle in plain Node (node:vm) with the stand-in's
 * host, so tests can check that the compiled artifact behaves like the source. Modules are
 * instantiated afresh per call and the context is locked down roughly as the sandbox is (no
 * Date, Math.random, eval; frozen intrinsics; globals read-only), with a time limit per call.
 * node:vm is NOT a security boundary and enforces no memory cap: do not run hostile bundles
 * (memory bombs) with it; the QuickJS sandbox is the boundary.
 */
import type { GuestHost } from "../../runtime/sandbox/abi.js";
import { evaluateBundle } from "./vm.js";
import type { Contract } from "../api/contract.js";

/** Options of `loadBundle`. */
export interface LoadBundleOptions {
  /** Wall-clock limit of loading and of each call (default 2000 ms): beyond it, ExecutionLimit. */
  readonly timeoutMs?: number;
}

/** The host the harness installed for the call in progress (it sets `globalThis.__treatyHost`). */
function currentHost(): GuestHost {
  const host = (globalThis as { __treatyHost?: GuestHost }).__treatyHost;
  if (host === undefined) throw new Error("no host installed: call the bundle through testContract");
  return host;
}

/**
 * Evaluates `bundle` and returns its contract object (`describe`, `invoke`) for `testContract`.
 * Give the source contract's type to keep typed calls: `loadBundle<typeof bank>(result.bundle)`.
 * Throws what evaluating the bundle throws (a syntax error, a module failing to load).
 */
export function loadBundle<C extends Contract = Contract>(
  bundle: string,
  options: LoadBundleOptions = {},
): C {
  const loaded = evaluateBundle(bundle, { host: currentHost, timeoutMs: options.timeoutMs ?? 2000 });
  const contract: Contract = {
    describe: () => loaded.describe(),
    invoke: (method, argsJson, ctxJson) => loaded.invoke(method, argsJson, ctxJson),
  };
  return contract as C;
}
