/**
 * Requests carried by a JWT bearer token (`Authorization: Bearer <jwt>`) from an issuer the
 * service trusts (`set_jwt_issuer`). The body is the same `{args, nonce, createdMs}` as a signed
 * request's; the token, not a signature, authenticates it. So whoever holds the token can call as
 * its subject until it expires: send it only over TLS, to the audience it names. The nonce still
 * makes each request execute at most once (a resend of the same bytes is `Replay`, as for signed
 * requests), and the node records the request's digest (`bearerRequestDigest`), never the token.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, toHex, utf8 } from "./bytes.js";
import {
  CONTENT_JSON,
  CONTENT_MSGPACK,
  encodeBody,
  freshBody,
  type RequestOptions,
  type SignedRequest,
} from "./request.js";

/** The header a bearer token travels in (lowercase, as Node's HTTP server reports it). */
export const HEADER_AUTHORIZATION = "authorization";

/** Longest token a node accepts, in characters. */
export const MAX_BEARER_TOKEN_CHARS = 8192;

const DOMAIN = utf8.encode("treaty-bearer-request-v1\n");
const NEWLINE = utf8.encode("\n");

/**
 * Builds a request authenticated by a bearer token: a fresh nonce and `createdMs` in the body,
 * the token in `Authorization`.
 * @example
 *   const req = bearerRequest(idToken, "/app/profile/set", { name: "Ada" });
 *   await fetch(node + req.path, { method: "POST", body: req.body, headers: req.headers });
 */
export function bearerRequest(
  token: string,
  path: string,
  args: unknown,
  options: RequestOptions = {},
): SignedRequest {
  const encoding = options.encoding ?? "json";
  const body = encodeBody(freshBody(args, options), encoding);
  return {
    path,
    body,
    headers: {
      "content-type": encoding === "json" ? CONTENT_JSON : CONTENT_MSGPACK,
      [HEADER_AUTHORIZATION]: `Bearer ${token}`,
    },
  };
}

/**
 * The request digest a node records (and a receipt carries) for a bearer request: SHA-256 of
 * `"treaty-bearer-request-v1\n" ‖ serviceId ‖ "\n" ‖ path ‖ "\n" ‖ hex SHA-256(token) ‖ "\n" ‖ body`.
 * It binds the exact body and the token that authorised it without recording the token, so a
 * client holding both can show which request a transaction ran.
 * @example
 *   const digest = bearerRequestDigest(client.serviceId, req.path, idToken, req.body);
 */
export function bearerRequestDigest(
  serviceId: string,
  path: string,
  token: string,
  body: Uint8Array,
): Uint8Array {
  return sha256(
    concatBytes(
      DOMAIN,
      utf8.encode(serviceId),
      NEWLINE,
      utf8.encode(path),
      NEWLINE,
      utf8.encode(toHex(sha256(utf8.encode(token)))),
      NEWLINE,
      body,
    ),
  );
}

/**
 * The caller id of a JWT user: `jwt:` and the hex SHA-256 of `"treaty-jwt-caller-v1\n" ‖ issuer
 * ‖ "\n" ‖ subject` (issuers hold no newline, so the pair is unambiguous). A digest, so the
 * ledger's clear header does not carry subjects, which are often e-mail addresses.
 * @example
 *   const id = jwtCallerId("https://login.example.com", "248289761001"); // caller().id in contracts
 */
export function jwtCallerId(issuer: string, subject: string): string {
  return `jwt:${toHex(sha256(utf8.encode(`treaty-jwt-caller-v1\n${issuer}\n${subject}`)))}`;
}

/** The token itself, or what a token function returns now. */
export async function tokenOf(token: string | (() => string | Promise<string>)): Promise<string> {
  return typeof token === "string" ? token : await token();
}
