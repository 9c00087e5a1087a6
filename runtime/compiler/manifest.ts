/**
 * Reading and checking a bundle's manifest outside the sandbox, for tooling (the CLI's
 * `contract build`, docs, OpenAPI). The node itself reads manifests in the sandbox.
 */
import type { ContractManifest, MethodManifest } from "../sandbox/abi.js";
import { TreatyError } from "../../sdk/errors.js";
import { shapeProblem } from "../../contracts/api/shapes.js";
import { evaluateBundle } from "./vm.js";

const METHOD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MODES = ["readonly", "readwrite"];
const POLICIES = ["anyone", "users", "members", "users_and_members"];

/**
 * Checks that `value` (parsed JSON from `describe()`) is a well-formed ContractManifest: method
 * names, modes, auth policies (`anyone` only on readonly methods), argument and result shapes. Throws
 * TreatyError(InvalidContract) naming the field otherwise.
 */
export function parseManifest(value: unknown): ContractManifest {
  const fail = (message: string): never => {
    throw new TreatyError("InvalidContract", `manifest${message}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return fail(": expected an object");
  const extra = Object.keys(value).filter((key) => key !== "methods");
  if (extra.length > 0) fail(`.${extra[0]}: unexpected property`);
  const methods = (value as { methods?: unknown }).methods;
  if (typeof methods !== "object" || methods === null || Array.isArray(methods))
    return fail(".methods: expected an object");
  const names = Object.keys(methods);
  if (names.length === 0) fail(".methods: a contract needs at least one method");
  for (const name of names) {
    const at = `.methods[${JSON.stringify(name)}]`;
    if (!METHOD_NAME.test(name)) fail(`${at}: method names must match ${String(METHOD_NAME)}`);
    const entry = (methods as Record<string, unknown>)[name];
    if (typeof entry !== "object" || entry === null || Array.isArray(entry))
      return fail(`${at}: expected an object`);
    const { mode, auth, args, returns, description, ...rest } = entry as Record<string, unknown>;
    const stray = Object.keys(rest);
    if (stray.length > 0) fail(`${at}.${stray[0]}: unexpected property`);
    if (typeof mode !== "string" || !MODES.includes(mode))
      fail(`${at}.mode: expected "readonly" or "readwrite"`);
    if (typeof auth !== "string" || !POLICIES.includes(auth))
      fail(`${at}.auth: expected one of ${POLICIES.join(", ")}`);
    if (mode === "readwrite" && auth === "anyone")
      fail(`${at}.auth: "anyone" is allowed for readonly methods only`);
    if (description !== undefined && typeof description !== "string")
      fail(`${at}.description: expected a string`);
    const problem = shapeProblem(args, "args");
    if (problem !== undefined) fail(`${at}.${problem}`);
    const returnsProblem = returns === undefined ? undefined : shapeProblem(returns, "returns");
    if (returnsProblem !== undefined) fail(`${at}.${returnsProblem}`);
  }
  return value as ContractManifest;
}

/**
 * The manifest of a compiled bundle, evaluated in node:vm with a host that refuses every call
 * (describing a contract must not touch state). Throws TreatyError(InvalidContract) when the
 * bundle fails to load, describe() fails or times out, or the manifest is malformed.
 */
export function bundleManifest(bundle: string, timeoutMs = 2000): ContractManifest {
  let json: string;
  try {
    const loaded = evaluateBundle(bundle, {
      timeoutMs,
      host: () => {
        throw new Error("the host is not available while reading a manifest");
      },
    });
    json = loaded.describe();
  } catch (err) {
    throw new TreatyError(
      "InvalidContract",
      `bundle does not describe itself: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new TreatyError("InvalidContract", "describe() did not return JSON");
  }
  return parseManifest(value);
}

/** The manifest entry of `method`, or undefined. */
export function manifestMethod(manifest: ContractManifest, method: string): MethodManifest | undefined {
  return Object.hasOwn(manifest.methods, method) ? manifest.methods[method] : undefined;
}
