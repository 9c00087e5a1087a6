/**
 * Hand-written bundles in the ABI shape (runtime/sandbox/abi.ts), so sandbox and executor tests
 * need neither the compiler nor treaty/contract. A method is JS source of a function
 * `(args, ctx, host) => result`; throwing `{code, message}` (an object with a string `code`)
 * becomes `{ok: false, error}`, like treaty/contract's ContractError.
 */
import type { AuthPolicy, MethodMode, Shape } from "../../runtime/sandbox/abi.js";

export interface GuestMethod {
  readonly mode?: MethodMode;
  readonly auth?: AuthPolicy;
  readonly args?: Shape;
  /** JS source of `(args, ctx, host) => result`. */
  readonly run: string;
}

export interface GuestOptions {
  /** Source placed inside the factory: the contract's module level (fresh on every call). */
  readonly moduleLevel?: string;
  /** Source placed outside the factory, run once per evaluation (what a hand-made bundle could do). */
  readonly outer?: string;
  /** Replaces the manifest JSON `describe()` returns. */
  readonly manifestJson?: string;
}

/** A bundle whose methods are `methods` (a string is a readwrite method open to users and members). */
export function guestBundle(
  methods: Readonly<Record<string, string | GuestMethod>>,
  options: GuestOptions = {},
): string {
  const manifest: Record<string, unknown> = {};
  const table: string[] = [];
  for (const [name, spec] of Object.entries(methods)) {
    const method = typeof spec === "string" ? { run: spec } : spec;
    manifest[name] = {
      mode: method.mode ?? "readwrite",
      auth: method.auth ?? "users_and_members",
      args: method.args ?? { type: "any" },
    };
    table.push(`${JSON.stringify(name)}: (${method.run})`);
  }
  const manifestJson = options.manifestJson ?? JSON.stringify({ methods: manifest });
  return `(function () {
"use strict";
${options.outer ?? ""}
return function __treatyContract() {
  ${options.moduleLevel ?? ""}
  const methods = { ${table.join(",\n")} };
  return {
    describe() { return ${JSON.stringify(manifestJson)}; },
    invoke(method, argsJson, ctxJson) {
      if (!Object.prototype.hasOwnProperty.call(methods, method)) {
        return JSON.stringify({ ok: false, error: { code: "UnknownMethod", message: "no method " + method } });
      }
      try {
        const result = methods[method](JSON.parse(argsJson), JSON.parse(ctxJson), globalThis.__treatyHost);
        return JSON.stringify({ ok: true, result: result === undefined ? null : result });
      } catch (e) {
        if (e !== null && typeof e === "object" && typeof e.code === "string" && !(e instanceof Error)) {
          return JSON.stringify({ ok: false, error: { code: e.code, message: String(e.message) } });
        }
        throw e;
      }
    },
  };
};
})()`;
}
