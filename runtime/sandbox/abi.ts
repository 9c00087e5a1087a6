/**
 * The ABI between compiled contract bundles and the sandbox. Two sides implement it:
 * `contracts/api` (inside the guest: what `treaty/contract` calls) and `runtime/sandbox` (the
 * host functions). Only strings, numbers, booleans and undefined cross the boundary: it is the
 * cheapest path through quickjs-emscripten, and keeps the guest from holding host objects.
 *
 * Bundle shape: a compiled contract is one classic script (not an ES module) whose completion
 * value is a factory function. The sandbox evaluates the script once per context and keeps the
 * factory; for every call it runs `factory()`, then calls `invoke` on what the factory returned.
 * The factory makes a fresh instance per call, so module-level variables start clean in every
 * transaction, or (a declarative contract, runtime/compiler/reuse.ts) returns the one instance
 * it made and deep-froze when the script was evaluated, which no call can change:
 *
 *   (function () { "use strict"; ...; return function __treatyContract() { return instance; } })()
 *
 *   instance.describe(): string                  // JSON ContractManifest
 *   instance.invoke(method, argsJson, ctxJson, callerRole): string   // JSON InvokeOutcome
 *
 * `callerRole` is the role of the context's caller ("" for none). The sandbox passes it so the
 * guest can check auth without parsing the context, which treaty/contract then parses only when
 * a method asks for it (`caller()`, `txid()`, `now()`); bundles built before it existed ignore
 * it, and `invoke` without it parses the context at once (the Node stand-in calls it so).
 *
 * The guest finds the host functions at `globalThis.__treatyHost` (a frozen object the sandbox
 * installs before evaluating the bundle; the Node stand-in in contracts/testing installs the
 * same functions over an in-memory KV).
 */

/** Functions the host installs as `globalThis.__treatyHost`. */
export interface GuestHost {
  /**
   * KV access. `map` is the contract-local name, `"name"` (private) or `"public:name"`; the host
   * adds the contract's namespace, so a contract can never name another contract's maps.
   * `key` is the encoded key string (the API's order-preserving encoding); its UTF-8 bytes are
   * the stored key, so bytewise order equals the API's key order. `value` is JSON text.
   */
  kvGet(map: string, key: string): string | undefined;
  kvHas(map: string, key: string): boolean;
  kvSet(map: string, key: string, value: string): void;
  kvDelete(map: string, key: string): void;
  /**
   * One page of an ordered scan. `optionsJson` is JSON `{from?, to?, reverse?, limit}` with
   * encoded keys (`from` inclusive, `to` exclusive, `limit` ≤ 1000). Returns JSON
   * `[[key, valueJson], ...]`; an empty page ends the scan.
   */
  kvRange(map: string, optionsJson: string): string;
  /** SHA-256 of the UTF-8 bytes of `data` (or of the bytes of `data` as hex when `isHex`), hex. */
  sha256(data: string, isHex: boolean): string;
  /** Signature check with the same rules as sdk/keys.verify; all byte arguments are hex. */
  verifySignature(curve: string, publicKeyHex: string, messageHex: string, signatureHex: string): boolean;
  /** `length` bytes (≤ 1024) from the transaction's recorded random seed, hex; deterministic. */
  randomBytes(length: number): string;
  /** Records an event `{name, data}` (data is JSON) in the transaction's outcome. */
  emit(name: string, dataJson: string): void;
}

/** Per-call context, passed to `invoke` as JSON. Decided by the executing node and recorded. */
export interface InvokeContext {
  /** The authenticated caller, or null for an anonymous readonly call. */
  readonly caller: CallerInfo | null;
  /** `view.seqno` of this transaction; null for readonly calls (they get no txid). */
  readonly txid: string | null;
  /** Milliseconds since the epoch on the executing node's clock, recorded with the transaction. */
  readonly timeMs: number;
}

/** The role of a caller: a key (or wallet) recorded by governance, or a JWT bearer token. */
export type CallerRole = KeyCallerRole | "jwt";

/** The roles of callers that sign their requests (members, users, nodes). */
export type KeyCallerRole = "user" | "member" | "node";

/** The verified claims of a JWT bearer token (JSON values, at most 16 levels deep). */
export type JwtClaims = Readonly<Record<string, unknown>>;

/**
 * An authenticated caller. Members, users and nodes are `{id, role}` (the id is a key id or a
 * wallet address); a caller with a JWT bearer token from a trusted issuer (node/auth/jwt.ts) is
 * `{id, role: "jwt", issuer, subject, claims}`, its id derived from issuer and subject.
 */
export type CallerInfo =
  | { readonly id: string; readonly role: KeyCallerRole }
  | {
      readonly id: string;
      readonly role: "jwt";
      /** The token's `iss`: a trusted issuer set by governance (`set_jwt_issuer`). */
      readonly issuer: string;
      /** The token's `sub`. */
      readonly subject: string;
      /** Every claim of the verified token (`iss`, `sub`, `aud`, `exp` included). */
      readonly claims: JwtClaims;
    };

/**
 * Who may call a method. `anyone` includes unsigned callers (readonly methods only); `jwt`
 * admits callers with a bearer token from a trusted issuer, `users_and_jwt` those and users.
 */
export type AuthPolicy = "anyone" | "users" | "members" | "users_and_members" | "jwt" | "users_and_jwt";

export type MethodMode = "readonly" | "readwrite";

/**
 * A JSON-Schema-like description of argument shapes (the subset the API's `t.*` builders make).
 * It is data, so the node can check arguments and publish OpenAPI without running the contract.
 */
export type Shape =
  | {
      readonly type: "string";
      readonly maxLength?: number;
      readonly minLength?: number;
      readonly pattern?: string;
      readonly enum?: readonly string[];
    }
  | {
      readonly type: "number";
      readonly integer?: boolean;
      readonly minimum?: number;
      readonly maximum?: number;
    }
  | { readonly type: "boolean" }
  | { readonly type: "null" }
  | { readonly type: "array"; readonly items: Shape; readonly maxItems?: number }
  | {
      readonly type: "object";
      readonly properties: Readonly<Record<string, Shape>>;
      readonly optional?: readonly string[];
    }
  | { readonly type: "record"; readonly values: Shape }
  | { readonly type: "union"; readonly anyOf: readonly Shape[] }
  | { readonly type: "any" };

export interface MethodManifest {
  readonly mode: MethodMode;
  readonly auth: AuthPolicy;
  readonly args: Shape;
  /** The result's shape, when the contract declares one (`method({returns})`). */
  readonly returns?: Shape;
  readonly description?: string;
}

/**
 * A declared event (`contract(methods, {events})`): the shape its data must fit, and whether it
 * is public. Only public events are recorded in clear in the ledger, streamed on `/app/events`
 * and exported (docs/integration.md, "Confidentiality").
 */
export interface EventManifest {
  readonly data: Shape;
  readonly public: boolean;
  readonly description?: string;
}

/** What `describe()` returns: the contract's methods (and declared events), as data. */
export interface ContractManifest {
  readonly methods: Readonly<Record<string, MethodManifest>>;
  readonly events?: Readonly<Record<string, EventManifest>>;
}

/** What `invoke` returns (JSON). A thrown exception instead means a fault or an exhausted limit. */
export type InvokeOutcome =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };
