/**
 * The rules a contract manifest obeys, shared by both sides of the boundary: `contract()` checks
 * them when a contract describes itself (inside the guest), and the host checks them again on
 * whatever `describe()` returned (runtime/compiler/manifest.ts), since a bundle need not use
 * `contract()` at all. Runs inside QuickJS and in Node: imports nothing (but types).
 */
import type { AuthPolicy, CallerInfo } from "../../runtime/sandbox/abi.js";

/** Method names: an identifier of at most 64 characters. */
export const METHOD_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Most methods one contract may declare. */
export const MAX_METHODS = 256;

/** Longest method description, in characters. */
export const MAX_DESCRIPTION_CHARS = 1024;

/**
 * Names no method may take: the properties of `Object.prototype`. As keys of a plain object they
 * change or shadow the object's prototype (`{__proto__: m}` sets it, so the method would vanish
 * from the manifest without a word), so they are refused outright, on both sides.
 */
export const RESERVED_METHOD_NAMES: readonly string[] = Object.freeze([
  "__proto__",
  "__defineGetter__",
  "__defineSetter__",
  "__lookupGetter__",
  "__lookupSetter__",
  "constructor",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "toString",
  "valueOf",
]);

/** Why `name` cannot name a method, or undefined when it can. */
export function methodNameProblem(name: string): string | undefined {
  if (!METHOD_NAME.test(name)) return `method name ${JSON.stringify(name)} must match ${String(METHOD_NAME)}`;
  if (RESERVED_METHOD_NAMES.includes(name)) {
    return `method name ${JSON.stringify(name)} is reserved (a property of Object.prototype)`;
  }
  return undefined;
}

/**
 * Event names: at most 64 characters, a letter first, then letters, digits, `_`, `:`, `-` and
 * dots that separate non-empty segments (`order.created`, `v2.paid`; never `a..b`, `a.` or
 * `.a`). The JetStream export publishes an event on `<prefix>.<contract>.<name>`
 * (node/events/jetstream.ts): each segment is one subject token, and NATS refuses an empty token;
 * no character here is whitespace, `*` or `>`, so a name is never a wildcard. The one rule for
 * `emit` (in the guest, the host and the test harness), declared events and the `name` filter of
 * `/app/events`.
 */
export const EVENT_NAME = /^(?=.{1,64}$)[A-Za-z][A-Za-z0-9_:-]*(?:\.[A-Za-z0-9_:-]+)*$/;

/** `EVENT_NAME` in words, for error messages. */
const EVENT_NAME_RULE =
  "at most 64 characters: a letter, then letters, digits, _ : - and dots between non-empty segments";

/** Why `name` is not an event name (`EVENT_NAME`), or undefined when it is one. */
export function invalidEventName(name: unknown): string | undefined {
  if (typeof name === "string" && EVENT_NAME.test(name)) return undefined;
  const shown = typeof name === "string" ? JSON.stringify(name.slice(0, 80)) : typeof name;
  return `event name ${shown} is invalid (${EVENT_NAME_RULE})`;
}

/** Contract names: lowercase, so they can prefix map names unambiguously. */
export const CONTRACT_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/** Contract names the node keeps for itself: governance (`public:gov.*`) and internals (`public:treaty.*`). */
export const RESERVED_CONTRACT_NAMES: readonly string[] = ["gov", "treaty"];

/** A contract-local map name (what follows the optional `public:`). */
export const MAP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** Most events one contract may declare. */
export const MAX_DECLARED_EVENTS = 256;

/** Why `name` cannot name a declared event, or undefined when it can. */
export function eventNameProblem(name: string): string | undefined {
  const invalid = invalidEventName(name);
  if (invalid !== undefined) return invalid;
  if (RESERVED_METHOD_NAMES.includes(name)) {
    return `event name ${JSON.stringify(name)} is reserved (a property of Object.prototype)`;
  }
  return undefined;
}

/**
 * Why a caller with `role` (null: no signed caller) may not call a method declared with `auth`,
 * or undefined when it may. The one wording for the guest's `contract()`, the executor and the
 * test harness.
 */
export function authProblem(auth: AuthPolicy, role: CallerInfo["role"] | null): string | undefined {
  if (auth === "anyone") return undefined;
  if (role === null) return "requires a signed caller";
  switch (auth) {
    case "users":
      return role === "user" ? undefined : "may be called by users only";
    case "members":
      return role === "member" ? undefined : "may be called by members only";
    case "users_and_members":
      return role === "user" || role === "member" ? undefined : "may be called by users and members only";
    case "jwt":
      return role === "jwt" ? undefined : "may be called with a JWT bearer token only";
    case "users_and_jwt":
      return role === "user" || role === "jwt"
        ? undefined
        : "may be called by users and JWT bearer callers only";
  }
}
