/**
 * The host's check of a contract manifest: what a bundle's `describe()` returned, read inside
 * the QuickJS sandbox (runtime/sandbox/sandbox.ts) and checked here before the node uses it for
 * routing, auth, OpenAPI or governance. The manifest is untrusted data: a bundle need not use
 * `contract()`, so every rule `contract()` applies (contracts/api/manifest-rules.ts) is applied
 * again, with hard bounds on size, and the result is rebuilt from null-prototype objects holding
 * only the checked fields. Nothing here runs contract code.
 */
import type { ContractManifest, EventManifest, MethodManifest } from "../sandbox/abi.js";
import { utf8 } from "../../sdk/bytes.js";
import { TreatyError } from "../../sdk/errors.js";
import {
  eventNameProblem,
  MAX_DECLARED_EVENTS,
  MAX_DESCRIPTION_CHARS,
  MAX_METHODS,
  methodNameProblem,
} from "../../contracts/api/manifest-rules.js";
import { shapeProblem } from "../../contracts/api/shapes.js";

/**
 * Largest manifest (UTF-8 bytes of its JSON): room for 256 methods with full descriptions (even
 * in three-byte characters) and their argument shapes; it bounds what one contract adds to
 * `/app/openapi.json`.
 */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

const MODES = ["readonly", "readwrite"];
const POLICIES = ["anyone", "users", "members", "users_and_members", "jwt", "users_and_jwt"];

/**
 * Parses and checks the JSON text `describe()` returned (see `parseManifest`). Throws
 * TreatyError(InvalidContract) for text over MAX_MANIFEST_BYTES, text that is not JSON and
 * malformed manifests.
 */
export function parseManifestJson(text: string): ContractManifest {
  // Characters never outnumber UTF-8 bytes: the cheap test first, the exact one second.
  if (text.length > MAX_MANIFEST_BYTES || utf8.encode(text).length > MAX_MANIFEST_BYTES) {
    throw new TreatyError("InvalidContract", `manifest: larger than ${MAX_MANIFEST_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TreatyError("InvalidContract", "manifest: describe() did not return JSON");
  }
  return parseManifest(value);
}

/**
 * Checks that `value` (parsed JSON from `describe()`) is a well-formed ContractManifest: 1 to
 * MAX_METHODS methods, names per `methodNameProblem` (identifiers, no Object.prototype names),
 * modes, auth policies (`anyone` only on readonly methods), descriptions of at most
 * MAX_DESCRIPTION_CHARS, argument and result shapes per `shapeProblem` (at most 32 levels deep). Returns a copy made
 * of null-prototype objects with only those fields. Throws TreatyError(InvalidContract) naming
 * the field otherwise.
 */
export function parseManifest(value: unknown): ContractManifest {
  const fail = (message: string): never => {
    throw new TreatyError("InvalidContract", `manifest${message}`);
  };
  if (!isRecord(value)) return fail(": expected an object");
  const extra = Object.keys(value).filter((key) => key !== "methods" && key !== "events");
  if (extra.length > 0) fail(`.${clipName(extra[0]!)}: unexpected property`);
  const methods = value.methods;
  if (!isRecord(methods)) return fail(".methods: expected an object");
  const names = Object.keys(methods);
  if (names.length === 0) fail(".methods: a contract needs at least one method");
  if (names.length > MAX_METHODS)
    fail(`.methods: ${names.length} methods, at most ${MAX_METHODS} are allowed`);
  const out: Record<string, MethodManifest> = Object.create(null);
  for (const name of names) {
    const at = `.methods[${JSON.stringify(clipName(name))}]`;
    const problem = methodNameProblem(name);
    if (problem !== undefined) fail(`${at}: ${clipName(problem)}`);
    const entry = methods[name];
    if (!isRecord(entry)) return fail(`${at}: expected an object`);
    const { mode, auth, args, returns, description, ...rest } = entry;
    const stray = Object.keys(rest);
    if (stray.length > 0) fail(`${at}.${clipName(stray[0]!)}: unexpected property`);
    if (typeof mode !== "string" || !MODES.includes(mode))
      fail(`${at}.mode: expected "readonly" or "readwrite"`);
    if (typeof auth !== "string" || !POLICIES.includes(auth))
      fail(`${at}.auth: expected one of ${POLICIES.join(", ")}`);
    if (mode === "readwrite" && auth === "anyone")
      fail(`${at}.auth: "anyone" is allowed for readonly methods only`);
    if (description !== undefined && typeof description !== "string")
      fail(`${at}.description: expected a string`);
    if (typeof description === "string" && description.length > MAX_DESCRIPTION_CHARS)
      fail(`${at}.description: longer than ${MAX_DESCRIPTION_CHARS} characters`);
    const shape = shapeProblem(args, "args");
    if (shape !== undefined) fail(`${at}.${clipPath(shape)}`);
    const returnsProblem = returns === undefined ? undefined : shapeProblem(returns, "returns");
    if (returnsProblem !== undefined) fail(`${at}.${clipPath(returnsProblem)}`);
    const method: Record<string, unknown> = Object.create(null);
    method.mode = mode;
    method.auth = auth;
    method.args = copyJson(args);
    if (returns !== undefined) method.returns = copyJson(returns);
    if (description !== undefined) method.description = description;
    out[name] = method as unknown as MethodManifest;
  }
  const manifest: Record<string, unknown> = Object.create(null);
  manifest.methods = out;
  if (value.events !== undefined) manifest.events = parseEvents(value.events, fail);
  return manifest as unknown as ContractManifest;
}

/** The declared events: names per `eventNameProblem`, a data shape, `public` a boolean. */
function parseEvents(events: unknown, fail: (message: string) => never): Record<string, EventManifest> {
  if (!isRecord(events)) return fail(".events: expected an object");
  const names = Object.keys(events);
  if (names.length > MAX_DECLARED_EVENTS)
    fail(`.events: ${names.length} events, at most ${MAX_DECLARED_EVENTS} are allowed`);
  const out: Record<string, EventManifest> = Object.create(null);
  for (const name of names) {
    const at = `.events[${JSON.stringify(clipName(name))}]`;
    const problem = eventNameProblem(name);
    if (problem !== undefined) fail(`${at}: ${clipName(problem)}`);
    const entry = events[name];
    if (!isRecord(entry)) return fail(`${at}: expected an object`);
    const { data, public: isPublic, description, ...rest } = entry;
    const stray = Object.keys(rest);
    if (stray.length > 0) fail(`${at}.${clipName(stray[0]!)}: unexpected property`);
    if (typeof isPublic !== "boolean") fail(`${at}.public: expected a boolean`);
    if (description !== undefined && typeof description !== "string")
      fail(`${at}.description: expected a string`);
    if (typeof description === "string" && description.length > MAX_DESCRIPTION_CHARS)
      fail(`${at}.description: longer than ${MAX_DESCRIPTION_CHARS} characters`);
    const shape = shapeProblem(data, "data");
    if (shape !== undefined) fail(`${at}.${clipPath(shape)}`);
    const declared: Record<string, unknown> = Object.create(null);
    declared.data = copyJson(data);
    declared.public = isPublic;
    if (description !== undefined) declared.description = description;
    out[name] = declared as unknown as EventManifest;
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Keeps error messages short when a hostile manifest uses huge names. */
function clipName(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Keeps the end of a shape problem (where the problem is) when its path is long. */
function clipPath(text: string): string {
  return text.length > 400 ? `${text.slice(0, 100)}…${text.slice(-300)}` : text;
}

/** A copy of checked JSON data (a shape, so bounded in depth) with null-prototype objects. */
function copyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyJson);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value)) out[key] = copyJson(value[key]);
  return out;
}

/** The manifest entry of `method`, or undefined. */
export function manifestMethod(manifest: ContractManifest, method: string): MethodManifest | undefined {
  return Object.hasOwn(manifest.methods, method) ? manifest.methods[method] : undefined;
}
