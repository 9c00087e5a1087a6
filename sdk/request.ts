/**
 * Signed requests: how a caller proves who sent a call, even after it crossed untrusted hosts.
 *
 * A request is an HTTP POST to `/app/<contract>/<method>` (or a `/gov/...` path) whose body is
 * JSON or MessagePack `{args, nonce, createdMs}`. The caller signs the exact bytes
 *
 *   "treaty-request-v1\n" || serviceId || "\n" || path || "\n" || body
 *
 * and sends the signature and its key id in headers (`x-treaty-caller`, `x-treaty-signature`,
 * base64url). Binding the service id and the path stops a signature being replayed against
 * another service, contract or method; the nonce and `createdMs` (checked against the node's
 * freshness window), which with the caller identify the request in every node's replay table,
 * stop replays of the same request. Nothing is re-encoded
 * to verify: the node checks the bytes it received. Readonly methods whose policy is `anyone`
 * may be called without the two headers.
 */
import { concatBytes, fromBase64Url, toBase64Url, toHex, utf8 } from "./bytes.js";
import { decodeStrict, encode } from "./codec.js";
import { TreatyError } from "./errors.js";
import { parseStrictJson } from "./strict-json.js";
import { type KeyPair, type PublicKey, sign, signAsync, verify } from "./keys.js";

export const HEADER_CALLER = "x-treaty-caller";
export const HEADER_SIGNATURE = "x-treaty-signature";
export const HEADER_TXID = "x-treaty-txid";
/** Request header choosing the consistency of a readonly call (see `ReadConsistency`). */
export const HEADER_CONSISTENCY = "x-treaty-consistency";

/**
 * What a readonly call reads (docs/http.md, "Read consistency"):
 * - `committed` (default): committed state only, on any node; never a value that can be rolled
 *   back, possibly a little behind the leader;
 * - `linearizable`: committed state at least as new as every write committed before the call
 *   started (the leader confirms with a majority that it still leads);
 * - `latest`: the node's freshest applied state, which may include pending writes that can still
 *   be rolled back (the answer's status says `Pending` then).
 */
export type ReadConsistency = "committed" | "linearizable" | "latest";

/** Every consistency level, the default first. */
export const READ_CONSISTENCIES: readonly ReadConsistency[] = ["committed", "linearizable", "latest"];
export const CONTENT_JSON = "application/json";
export const CONTENT_MSGPACK = "application/msgpack";

const DOMAIN = utf8.encode("treaty-request-v1\n");
const NEWLINE = utf8.encode("\n");

/**
 * The body of a call. `nonce` is 16+ random bytes in hex; a request is (caller, `createdMs`,
 * `nonce`): resend the same bytes to retry, since the same nonce with another `createdMs` is
 * another request.
 */
export interface RequestBody {
  readonly args: unknown;
  readonly nonce?: string;
  readonly createdMs?: number;
}

export type BodyEncoding = "json" | "msgpack";

/** A request ready to send: exact body bytes plus the headers that authenticate it. */
export interface SignedRequest {
  readonly path: string;
  readonly body: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** The bytes a caller signs for `path` and `body` on service `serviceId`. */
export function signingInput(serviceId: string, path: string, body: Uint8Array): Uint8Array {
  return concatBytes(DOMAIN, utf8.encode(serviceId), NEWLINE, utf8.encode(path), NEWLINE, body);
}

/**
 * A fresh nonce: the time in ms (12 hex digits) then 128 random bits, 44 hex characters. The
 * random bits make it unique. (The time prefix once put a caller's rows in time order on every
 * node; nodes now key executed requests by `createdMs` first, node/execution/nonces.ts, so any
 * nonce is.) Any unique 32 to 64 hex characters are valid.
 */
export function newNonce(): string {
  return Date.now().toString(16).padStart(12, "0") + toHex(crypto.getRandomValues(new Uint8Array(16)));
}

/** Encodes the body in the chosen encoding. */
export function encodeBody(body: RequestBody, encoding: BodyEncoding): Uint8Array {
  return encoding === "json" ? utf8.encode(JSON.stringify(body)) : encode(body);
}

/**
 * Builds and signs a request.
 * @example
 *   const req = signRequest(key, service.id, "/app/log/writePrivate", { id: 1, msg: "hi" });
 *   await fetch(node + req.path, { method: "POST", body: req.body, headers: req.headers });
 */
export function signRequest(
  key: KeyPair,
  serviceId: string,
  path: string,
  args: unknown,
  options: RequestOptions = {},
): SignedRequest {
  const encoding = options.encoding ?? "json";
  const body = encodeBody(freshBody(args, options), encoding);
  return signedRequest(key, path, body, encoding, sign(key, signingInput(serviceId, path, body)));
}

/**
 * `signRequest` with the signature from `signAsync` (WebCrypto where the platform has Ed25519):
 * the same request, signed at a fraction of the CPU. What `Client` uses.
 */
export async function signRequestAsync(
  key: KeyPair,
  serviceId: string,
  path: string,
  args: unknown,
  options: RequestOptions = {},
): Promise<SignedRequest> {
  const encoding = options.encoding ?? "json";
  const body = encodeBody(freshBody(args, options), encoding);
  return signedRequest(key, path, body, encoding, await signAsync(key, signingInput(serviceId, path, body)));
}

/** The request carrying `body` and `key`'s `signature` over it. */
function signedRequest(
  key: KeyPair,
  path: string,
  body: Uint8Array,
  encoding: BodyEncoding,
  signature: Uint8Array,
): SignedRequest {
  return {
    path,
    body,
    headers: {
      "content-type": encoding === "json" ? CONTENT_JSON : CONTENT_MSGPACK,
      [HEADER_CALLER]: key.id,
      [HEADER_SIGNATURE]: toBase64Url(signature),
    },
  };
}

/** How a request builder encodes its body, and (for tests and resends) its nonce and time. */
export interface RequestOptions {
  readonly encoding?: BodyEncoding;
  readonly nonce?: string;
  readonly createdMs?: number;
}

/** The body of an authenticated request: `args` with a fresh nonce and `createdMs` (or the given ones). */
export function freshBody(
  args: unknown,
  options: RequestOptions,
): { args: unknown; nonce: string; createdMs: number } {
  return { args, nonce: options.nonce ?? newNonce(), createdMs: options.createdMs ?? Date.now() };
}

/** Builds an unsigned request (for readonly methods open to anyone). */
export function unsignedRequest(path: string, args: unknown, encoding: BodyEncoding = "json"): SignedRequest {
  return {
    path,
    body: encodeBody({ args }, encoding),
    headers: { "content-type": encoding === "json" ? CONTENT_JSON : CONTENT_MSGPACK },
  };
}

/**
 * Parses a body's bytes; MalformedRequest names the field at fault, MalformedEncoding refuses a
 * body (JSON or MessagePack) with a key twice in one object or nested deeper than 64 levels, and
 * a MessagePack body with a map key that is not a UTF-8 string or is `__proto__`
 * (sdk/msgpack-keys.ts). Never trusts its input.
 */
export function parseBody(bytes: Uint8Array, encoding: BodyEncoding): RequestBody {
  let value: unknown;
  if (encoding === "json") {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch (err) {
      throw new TreatyError("MalformedRequest", `body: not valid JSON (${(err as Error).message})`);
    }
    try {
      value = parseStrictJson(text, "body");
    } catch (err) {
      if (err instanceof TreatyError) throw err; // a duplicated key, too deep: MalformedEncoding
      throw new TreatyError("MalformedRequest", `body: not valid JSON (${(err as Error).message})`);
    }
  } else {
    value = decodeStrict(bytes, "body"); // a key twice, as in JSON: MalformedEncoding
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TreatyError("MalformedRequest", "body: expected an object {args, nonce?, createdMs?}");
  }
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (key !== "args" && key !== "nonce" && key !== "createdMs") {
      throw new TreatyError("MalformedRequest", `body.${key}: unknown field`);
    }
  }
  if (body.nonce !== undefined && (typeof body.nonce !== "string" || !/^[0-9a-f]{32,64}$/.test(body.nonce))) {
    throw new TreatyError("MalformedRequest", "body.nonce: expected 32 to 64 lowercase hex characters");
  }
  if (
    body.createdMs !== undefined &&
    (typeof body.createdMs !== "number" || !Number.isSafeInteger(body.createdMs) || body.createdMs < 0)
  ) {
    throw new TreatyError(
      "MalformedRequest",
      "body.createdMs: expected a non-negative integer (ms since the epoch)",
    );
  }
  // One literal per case (absent fields stay absent), not spreads of intermediate objects: this
  // runs for every request a node admits.
  const args = body.args === undefined ? {} : body.args;
  const nonce = body.nonce as string | undefined;
  const createdMs = body.createdMs as number | undefined;
  if (nonce !== undefined) return createdMs === undefined ? { args, nonce } : { args, nonce, createdMs };
  return createdMs === undefined ? { args } : { args, createdMs };
}

/** Decodes the signature header; MalformedRequest on bad input. */
export function parseSignatureHeader(value: string): Uint8Array {
  try {
    const signature = fromBase64Url(value, HEADER_SIGNATURE);
    if (signature.length !== 64) throw new TypeError("expected 64 bytes");
    return signature;
  } catch (err) {
    throw new TreatyError("MalformedRequest", `${HEADER_SIGNATURE}: ${(err as Error).message}`);
  }
}

/** Portable verification of a signed request (the node uses its faster node:crypto path). */
export function verifyRequest(
  key: PublicKey,
  serviceId: string,
  path: string,
  body: Uint8Array,
  signature: Uint8Array,
): boolean {
  return verify(key, signingInput(serviceId, path, body), signature);
}
