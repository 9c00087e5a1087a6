/**
 * Method declarations as data next to the code, and the contract object the bundle ABI calls:
 *
 *   export default contract({
 *     deposit: method({ mode: "readwrite", auth: "members", args: { to: t.string(), amount: t.integer() },
 *                       run({ to, amount }) { ... } }),
 *   });
 *
 * `contract(...)` returns `{describe, invoke}` (runtime/sandbox/abi.ts). `invoke` checks, in
 * order: the method exists (UnknownMethod), the caller's role fits the method's auth policy
 * (Forbidden), the args parse and fit the shape (InvalidArgs, naming the field); then runs the
 * method and checks its result (a Promise is a ContractFault; ResultNotEncodable names the
 * path; a result that does not fit the method's declared `returns` shape is a ContractFault
 * naming the field). ContractError and ApiError become `{ok: false, error}`; anything else propagates, and
 * the sandbox reports it as ContractFault or as the exhausted limit.
 *
 * The type helpers (`MethodsOf`, `ArgsOf`, `ResultOf`) let the SDK derive a typed client from
 * `typeof import("./contract/index.js").default` without code generation.
 *
 * Runs inside QuickJS and in Node.
 */
import type {
  AuthPolicy,
  CallerRole,
  ContractManifest,
  EventManifest,
  MethodManifest,
  MethodMode,
  Shape,
} from "../../runtime/sandbox/abi.js";
import { ApiError, ContractError } from "./errors.js";
import { type DeclaredEvents, useDeclaredEvents } from "./events.js";
import { beginCall, endCall, parseContext } from "./host.js";
import { jsonProblem } from "./json.js";
import {
  authProblem,
  eventNameProblem,
  MAX_DECLARED_EVENTS,
  MAX_DESCRIPTION_CHARS,
  MAX_METHODS,
  methodNameProblem,
} from "./manifest-rules.js";
import {
  type AnyShape,
  type Field,
  fieldsMatch,
  type Infer,
  type InferObject,
  isShape,
  resetPatternCache,
  shapeMatches,
  shapeProblem,
  t,
  validate,
} from "./shapes.js";

/** A method's arguments: a shape, or (shorthand for `t.object`) a record of property shapes. */
export type ArgsSpec = AnyShape | Readonly<Record<string, Field>>;

/** The TypeScript type of the arguments an `ArgsSpec` accepts. */
export type InferArgs<A> = A extends AnyShape
  ? Infer<A>
  : A extends Readonly<Record<string, Field>>
    ? InferObject<A>
    : never;

const AUTH_POLICIES: readonly AuthPolicy[] = [
  "anyone",
  "users",
  "members",
  "users_and_members",
  "jwt",
  "users_and_jwt",
];

/** Auth policies that may write: `anyone` (unsigned callers included) is for readonly methods only. */
export type WriteAuthPolicy = Exclude<AuthPolicy, "anyone">;

/** The declaration `method(...)` takes. */
export interface MethodSpec<A extends ArgsSpec, R, M extends MethodMode, P extends AuthPolicy> {
  /** `readonly` methods run on any node and cannot write; `readwrite` methods are transactions. */
  readonly mode: M;
  /**
   * Who may call: `anyone` (readonly only), `users`, `members`, `users_and_members`, `jwt`
   * (bearer tokens from an issuer governance trusts) or `users_and_jwt`.
   */
  readonly auth: P;
  /** The argument shape; omitted means no arguments (`{}`). */
  readonly args?: A;
  /** One line for the manifest and generated docs. */
  readonly description?: string;
  /**
   * The result's shape, optional: published in the manifest (and the OpenAPI document), and
   * every result is checked against it (a misfit is a ContractFault naming the field).
   */
  readonly returns?: AnyShape;
  /** The method body: synchronous, returns JSON-compatible data (undefined means null). */
  run(args: InferArgs<A>): R;
}

/**
 * What `method(...)` returns: the Method, or, when `run`'s result type does not fit the `returns`
 * shape, a type that `contract({...})` refuses with this message. (The check sits in the result
 * type: in the parameter type it would fix R before `run` is seen.)
 */
export type DeclaredMethod<A, R, M extends MethodMode, P extends AuthPolicy, S> = [S] extends [never]
  ? Method<A, R, M, P>
  : [JsonResult<R>] extends [Infer<S>]
    ? Method<A, R, M, P>
    : { readonly "returns: the result type of run does not fit this shape": Infer<S> };

/** A readwrite method with `auth: "anyone"` fails to type-check with this message. */
type ModeAuthRule<M, P> = [M, P] extends ["readwrite", "anyone"]
  ? { readonly "auth: anyone is allowed for readonly methods only": never }
  : unknown;

/** What JSON makes of a method's return value: `undefined`/`void` become null. */
// biome-ignore lint/suspicious/noConfusingVoidType: a method body without return has type void.
export type JsonResult<R> = [R] extends [void] ? null : R extends undefined ? null : R;

/**
 * A declared method (what `method(...)` returns). A contract's modules may be instantiated on
 * every call, so declaring must be cheap: the argument shape is built when used and checked in
 * full only by `describe()` (at deploy).
 */
export class Method<A, R, M extends MethodMode, P extends AuthPolicy> {
  readonly mode: M;
  readonly auth: P;
  readonly description: string | undefined;
  readonly run: (args: A) => R;
  /** The declared result shape, if any (checked by `describe()`). */
  readonly returns: Shape | undefined;
  private readonly argsSpec: unknown;

  /** Use `method(...)`, which type-checks the declaration. */
  constructor(
    mode: M,
    auth: P,
    argsSpec: unknown,
    description: string | undefined,
    run: (args: A) => R,
    returns?: Shape,
  ) {
    this.mode = mode;
    this.auth = auth;
    this.argsSpec = argsSpec;
    this.description = description;
    this.run = run;
    this.returns = returns;
  }

  /**
   * The argument shape (a record of fields becomes `t.object(fields)`, built on each read: a
   * Method may be frozen, runtime/compiler/reuse.ts, so it caches nothing).
   */
  get args(): Shape {
    const spec = this.argsSpec;
    return spec === undefined ? t.object({}) : isShape(spec) ? spec : t.object(spec as Record<string, Field>);
  }

  /** True when parsed `args` fit the declaration (the per-call check; `validate` explains a failure). */
  accepts(args: unknown): boolean {
    const spec = this.argsSpec;
    if (spec === undefined || isShape(spec)) return shapeMatches(this.args, args);
    return typeof spec === "object" && spec !== null && fieldsMatch(spec as Record<string, Field>, args);
  }

  /** The method's manifest entry; throws ApiError(InvalidContract) for a malformed declaration. */
  manifest(): MethodManifest {
    if (
      this.description !== undefined &&
      (typeof this.description !== "string" || this.description.length > MAX_DESCRIPTION_CHARS)
    ) {
      throw new ApiError(
        "InvalidContract",
        `description must be a string of at most ${MAX_DESCRIPTION_CHARS} characters`,
      );
    }
    const spec = this.argsSpec;
    if (spec !== undefined && (typeof spec !== "object" || spec === null || Array.isArray(spec))) {
      throw new ApiError("InvalidContract", "args must be a shape or a record of shapes");
    }
    const problem = shapeProblem(this.args, "args");
    if (problem !== undefined) throw new ApiError("InvalidContract", problem);
    if (this.returns !== undefined) {
      const returnsProblem = shapeProblem(this.returns, "returns");
      if (returnsProblem !== undefined) throw new ApiError("InvalidContract", returnsProblem);
    }
    const entry: { mode: MethodMode; auth: AuthPolicy; args: Shape; returns?: Shape; description?: string } =
      {
        mode: this.mode,
        auth: this.auth,
        args: this.args,
      };
    if (this.returns !== undefined) entry.returns = this.returns;
    if (this.description !== undefined) entry.description = this.description;
    return entry;
  }
}

/** Any declared method (for constraints). */
// biome-ignore lint/suspicious/noExplicitAny: run's parameter must accept every method's args (contravariance).
export type AnyMethod = Method<any, unknown, MethodMode, AuthPolicy>;

/**
 * Declares a method. Throws ApiError(InvalidContract) for an unknown mode or auth policy,
 * `auth: "anyone"` on a readwrite method or a missing `run`; the argument shape and the
 * description are checked by `describe()`, so a broken contract fails when it is deployed.
 * @example method({ mode: "readonly", auth: "users", args: { id: t.integer() }, run: ({ id }) => log.get(id) ?? null })
 */
export function method<
  const A extends ArgsSpec = Record<never, never>,
  R = unknown,
  M extends MethodMode = MethodMode,
  P extends AuthPolicy = AuthPolicy,
  S extends AnyShape = never,
>(
  spec: MethodSpec<A, R, M, P> & { readonly returns?: S } & ModeAuthRule<M, P>,
): DeclaredMethod<InferArgs<A>, R, M, P, S> {
  if (typeof spec !== "object" || spec === null)
    throw new ApiError("InvalidContract", "method(spec): expected an object");
  const { mode, auth, run } = spec;
  if (mode !== "readonly" && mode !== "readwrite") {
    throw new ApiError(
      "InvalidContract",
      `method: mode must be "readonly" or "readwrite", got ${JSON.stringify(String(mode))}`,
    );
  }
  if (!AUTH_POLICIES.includes(auth)) {
    throw new ApiError(
      "InvalidContract",
      `method: auth must be ${AUTH_POLICIES.join(", ")}, got ${JSON.stringify(String(auth))}`,
    );
  }
  if (mode === "readwrite" && auth === "anyone") {
    throw new ApiError("InvalidContract", 'method: auth "anyone" is allowed for readonly methods only');
  }
  if (typeof run !== "function") throw new ApiError("InvalidContract", "method: run must be a function");
  const declared = new Method(
    mode,
    auth,
    spec.args,
    spec.description,
    run as (args: InferArgs<A>) => R,
    spec.returns,
  );
  return declared as DeclaredMethod<InferArgs<A>, R, M, P, S>;
}

/** Type-level only: the methods a contract value was built from. */
declare const METHODS: unique symbol;

/**
 * A contract: what the bundle's default export must be. `describe` and `invoke` are the ABI
 * (runtime/sandbox/abi.ts); the methods are kept at the type level for `MethodsOf`.
 */
export interface Contract<
  D extends Readonly<Record<string, AnyMethod>> = Readonly<Record<string, AnyMethod>>,
  E extends Readonly<Record<string, AnyEvent>> = Readonly<Record<never, AnyEvent>>,
> {
  /** JSON ContractManifest: every method's mode, auth, args shape and description; declared events. */
  describe(): string;
  /**
   * Runs one call; returns JSON InvokeOutcome (see the module comment for the checks).
   * `callerRole`, when the host passes it, is the context's caller's role ("" for none): the
   * context is then parsed only if the method asks for it (runtime/sandbox/abi.ts).
   */
  invoke(method: string, argsJson: string, ctxJson: string, callerRole?: string): string;
  readonly [METHODS]?: D;
  readonly [EVENTS]?: E;
}

/** Type-level only: the events a contract value declares. */
declare const EVENTS: unique symbol;

/** The declaration `event(...)` takes. */
export interface EventSpec<S extends AnyShape, P extends boolean> {
  /** The shape every emitted `data` of this event must fit (checked by `emit`, and by the host). */
  readonly data: S;
  /**
   * Public events are recorded in clear in the ledger, streamed on `/app/events` and exported to
   * JetStream; anyone who can read the ledger or the stream sees them. Emitting private data in a
   * public event is the contract's explicit decision to publish it. Default false: the event is
   * only returned to the caller with the call's result.
   */
  readonly public?: P;
  readonly description?: string;
}

/** A declared event (what `event(...)` returns); `T` is the type of its data. */
export interface EventDecl<T, P extends boolean> {
  readonly data: Shape;
  readonly public: P;
  readonly description?: string;
  readonly [EVENT_DATA]?: T;
}
declare const EVENT_DATA: unique symbol;

/** Any declared event (for constraints). */
export type AnyEvent = EventDecl<unknown, boolean>;

/**
 * Declares an event of a contract: `contract(methods, {events: {name: event({...})}})`.
 * @example event({ data: t.object({ from: t.string(), to: t.string(), amount: t.integer() }), public: true })
 */
export function event<const S extends AnyShape, const P extends boolean = false>(
  spec: EventSpec<S, P>,
): EventDecl<Infer<S>, P> {
  if (typeof spec !== "object" || spec === null)
    throw new ApiError("InvalidContract", "event(spec): expected an object");
  const out: { data: Shape; public: P; description?: string } = {
    data: spec.data,
    public: (spec.public ?? false) as P,
  };
  if (spec.description !== undefined) out.description = spec.description;
  return out;
}

/**
 * The events contract `C` declares, as a union `{name, data}` (data typed by its shape); a
 * contract that declares none gives `{name: string; data: unknown}`.
 */
export type EventsOf<C> =
  C extends Contract<Readonly<Record<string, AnyMethod>>, infer E>
    ? [keyof E] extends [never]
      ? { readonly name: string; readonly data: unknown }
      : {
          [K in keyof E & string]: E[K] extends EventDecl<infer T, boolean>
            ? { readonly name: K; readonly data: T }
            : never;
        }[keyof E & string]
    : { readonly name: string; readonly data: unknown };

/** The public events contract `C` declares (what `/app/events` and JetStream carry), as a union. */
export type PublicEventsOf<C> =
  C extends Contract<Readonly<Record<string, AnyMethod>>, infer E>
    ? {
        [K in keyof E & string]: E[K] extends EventDecl<infer T, true>
          ? { readonly name: K; readonly data: T }
          : never;
      }[keyof E & string]
    : never;

/** Options of `contract(methods, options)`. */
export interface ContractOptions<E extends Readonly<Record<string, AnyEvent>>> {
  /**
   * The events the contract emits, by name (see `event`). Once a contract declares events, each
   * emitted event must be declared and fit its shape (the host fails the call otherwise).
   */
  readonly events?: E;
}

/** Per method of contract `C`: its argument type, result type (as JSON), mode and auth policy. */
export type MethodsOf<C> =
  C extends Contract<infer D>
    ? {
        [K in keyof D & string]: D[K] extends Method<infer A, infer R, infer M, infer P>
          ? { readonly args: A; readonly result: JsonResult<R>; readonly mode: M; readonly auth: P }
          : never;
      }
    : never;

/** The argument type of method `K` of contract `C`. */
export type ArgsOf<C, K extends keyof MethodsOf<C>> = MethodsOf<C>[K] extends { readonly args: infer A }
  ? A
  : never;

/** The result type (as JSON) of method `K` of contract `C`. */
export type ResultOf<C, K extends keyof MethodsOf<C>> = MethodsOf<C>[K] extends { readonly result: infer R }
  ? R
  : never;

/**
 * Builds the contract from its methods; `export default` it from the contract's index.ts.
 * `describe()` throws ApiError(InvalidContract) for no methods, more than 256, a name not
 * matching /^[A-Za-z_][A-Za-z0-9_]{0,63}$/ or reserved (a property of Object.prototype, such as
 * `constructor`; see manifest-rules.ts), a methods object that is not a plain object, a value
 * that is not a `method(...)` or a malformed declaration; that check runs when the contract is
 * deployed, not on every call.
 */
export function contract<
  const D extends Readonly<Record<string, AnyMethod>>,
  const E extends Readonly<Record<string, AnyEvent>> = Readonly<Record<never, AnyEvent>>,
>(methods: D, options: ContractOptions<E> = {}): Contract<D, E> {
  if (typeof methods !== "object" || methods === null)
    throw new ApiError("InvalidContract", "contract(methods): expected an object");
  let description: string | undefined;
  const instance = {
    describe: () => {
      description ??= describeMethods(methods, options.events);
      return description;
    },
    invoke: (name: string, argsJson: string, ctxJson: string, callerRole?: string) => {
      const entry = typeof name === "string" && Object.hasOwn(methods, name) ? methods[name] : undefined;
      return invoke(
        entry instanceof Method ? entry : undefined,
        name,
        argsJson,
        ctxJson,
        callerRole,
        options.events as DeclaredEvents | undefined,
      );
    },
  };
  // The declaration, reachable through properties (not only through the closures above), so a
  // bundle that keeps one instance for every call can deep-freeze all of it (bundle.ts): a
  // method body could otherwise keep state on its Method through `this`.
  Object.defineProperty(instance, "declaration", { value: { methods, options }, enumerable: false });
  return instance;
}

function describeMethods(methods: Readonly<Record<string, unknown>>, events: unknown): string {
  const proto: unknown = Object.getPrototypeOf(methods);
  if (proto !== Object.prototype && proto !== null) {
    // `contract({__proto__: method(...)})` sets the prototype: the method would vanish unseen.
    throw new ApiError(
      "InvalidContract",
      "contract(methods): expected a plain object literal (a method named __proto__ is not allowed)",
    );
  }
  const names = Object.keys(methods).sort();
  if (names.length === 0)
    throw new ApiError("InvalidContract", "contract(methods): a contract needs at least one method");
  if (names.length > MAX_METHODS)
    throw new ApiError("InvalidContract", `contract(methods): at most ${MAX_METHODS} methods`);
  const manifest: Record<string, MethodManifest> = {};
  for (const name of names) {
    const problem = methodNameProblem(name);
    if (problem !== undefined) throw new ApiError("InvalidContract", `contract: ${problem}`);
    const entry = methods[name];
    if (!(entry instanceof Method))
      throw new ApiError("InvalidContract", `contract: "${name}" must be declared with method({...})`);
    try {
      manifest[name] = entry.manifest();
    } catch (err) {
      if (err instanceof ApiError) throw new ApiError("InvalidContract", `method "${name}": ${err.message}`);
      throw err;
    }
  }
  if (events === undefined) return JSON.stringify({ methods: manifest } satisfies ContractManifest);
  return JSON.stringify({ methods: manifest, events: describeEvents(events) } satisfies ContractManifest);
}

function describeEvents(events: unknown): Record<string, EventManifest> {
  if (typeof events !== "object" || events === null || Array.isArray(events))
    throw new ApiError("InvalidContract", "contract(methods, {events}): expected an object");
  const names = Object.keys(events).sort();
  if (names.length > MAX_DECLARED_EVENTS)
    throw new ApiError("InvalidContract", `contract: at most ${MAX_DECLARED_EVENTS} events`);
  const out: Record<string, EventManifest> = {};
  for (const name of names) {
    const problem = eventNameProblem(name);
    if (problem !== undefined) throw new ApiError("InvalidContract", `contract: ${problem}`);
    const entry = (events as Record<string, unknown>)[name] as Partial<EventManifest> | null;
    if (typeof entry !== "object" || entry === null || typeof entry.public !== "boolean")
      throw new ApiError("InvalidContract", `contract: event "${name}" must be declared with event({...})`);
    const shape = shapeProblem(entry.data, "data");
    if (shape !== undefined) throw new ApiError("InvalidContract", `event "${name}": ${shape}`);
    out[name] = entry as EventManifest;
  }
  return out;
}

/**
 * `JSON.stringify({ok: true, result})` for a result that passed `jsonProblem`, without building
 * the wrapper object: QuickJS's JSON.stringify costs ~2 µs even for `{ok: true, result: null}`,
 * and a method that returns nothing (most writes) needs no call to it at all. The text is the
 * same (a JSON-compatible result has no toJSON to call: its objects are plain, the intrinsics
 * frozen).
 */
function okOutcome(result: unknown): string {
  if (result === null) return '{"ok":true,"result":null}';
  return `{"ok":true,"result":${JSON.stringify(result)}}`;
}

function outcomeError(code: string, message: string): string {
  return JSON.stringify({ ok: false, error: { code, message } });
}

function invoke(
  entry: AnyMethod | undefined,
  name: string,
  argsJson: string,
  ctxJson: string,
  callerRole: unknown,
  events: DeclaredEvents | undefined,
): string {
  // The API keeps no state between calls (its modules are shared by all calls of a sandbox).
  resetPatternCache();
  useDeclaredEvents(events);
  try {
    return invokeMethod(entry, name, argsJson, ctxJson, callerRole);
  } finally {
    resetPatternCache();
    useDeclaredEvents(undefined);
  }
}

function invokeMethod(
  entry: AnyMethod | undefined,
  name: string,
  argsJson: string,
  ctxJson: string,
  callerRole: unknown,
): string {
  // With the caller's role beside it, the context waits until the method asks for it (host.ts).
  const context = callerRole === undefined ? parseContext(ctxJson) : undefined;
  const role = context === undefined ? roleOf(callerRole) : (context.caller?.role ?? null);
  if (entry === undefined)
    return outcomeError("UnknownMethod", `unknown method ${JSON.stringify(String(name))}`);
  const denied = authProblem(entry.auth, role);
  if (denied !== undefined) return outcomeError("Forbidden", `method "${name}" ${denied}`);
  let args: unknown;
  try {
    args = JSON.parse(argsJson);
  } catch {
    return outcomeError("InvalidArgs", "args: not valid JSON");
  }
  if (!entry.accepts(args)) {
    return outcomeError(
      "InvalidArgs",
      validate(entry.args, args, "args") ?? "args: do not match the declared shape",
    );
  }
  beginCall(context, ctxJson, name, entry.mode);
  try {
    const returned = entry.run(args);
    if (isThenable(returned)) {
      throw new ApiError(
        "ContractFault",
        `method "${name}" returned a Promise: contract methods must be synchronous`,
      );
    }
    const result = returned === undefined ? null : returned;
    const notJson = jsonProblem(result, "result");
    if (notJson !== undefined) return outcomeError("ResultNotEncodable", notJson);
    if (entry.returns !== undefined) {
      const misfit = validate(entry.returns, result, "result");
      if (misfit !== undefined)
        return outcomeError("ContractFault", `method "${name}" broke its returns shape: ${misfit}`);
    }
    return okOutcome(result);
  } catch (err) {
    if (err instanceof ContractError || err instanceof ApiError) return outcomeError(err.code, err.message);
    throw err;
  } finally {
    endCall();
  }
}

function isThenable(value: unknown): boolean {
  return (
    (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** The caller's role the host passed beside the context ("" for none); anything else is a host bug. */
function roleOf(callerRole: unknown): CallerRole | null {
  switch (callerRole) {
    case "":
      return null;
    case "user":
    case "member":
    case "node":
    case "jwt":
      return callerRole;
    default:
      throw new Error("treaty/contract: malformed caller role from the host");
  }
}
