/**
 * Cross-origin access for pages on other origins (a dashboard, the console of another node).
 *
 * A node lists the exact origins it allows (`http.cors.allowedOrigins`, none by default). A
 * request from an allowed origin gets `access-control-allow-origin` naming that origin; any other
 * origin gets no CORS header at all, so the browser hides the answer from the page. Preflights
 * (`OPTIONS` with `access-control-request-method`) are answered here, before routing: 204 with
 * the methods and headers the API uses for an allowed origin, 403 `Forbidden` otherwise.
 * Credentials (cookies) are never allowed: Treaty requests carry their own signatures.
 */
import type { IncomingHttpHeaders } from "node:http";
import { TreatyError } from "../../sdk/errors.js";
import { HEADER_SIGNATURE_SCHEME } from "../../sdk/ethereum.js";
import { HEADER_CALLER, HEADER_CONSISTENCY, HEADER_SIGNATURE, HEADER_TXID } from "../../sdk/request.js";
import { HEADER_ANSWER_CHALLENGE } from "../../sdk/signed-answer.js";

export interface CorsPolicy {
  /** Exact origins (`scheme://host[:port]`) whose pages may call this node. */
  readonly allowedOrigins: readonly string[];
}

export const NO_CORS: CorsPolicy = { allowedOrigins: [] };

const ALLOWED_METHODS = "GET, POST";
// The signature scheme header too: a dapp's MetaMask-signed requests come from a page.
const ALLOWED_HEADERS = [
  "content-type",
  "accept",
  HEADER_CALLER,
  HEADER_SIGNATURE,
  HEADER_SIGNATURE_SCHEME,
  HEADER_CONSISTENCY,
  HEADER_ANSWER_CHALLENGE,
  // JWT bearer tokens (node/auth/bearer.ts): the page sends the token itself, never a cookie.
  "authorization",
].join(", ");
/** Response headers a page may read besides the CORS-safelisted ones. */
const EXPOSED_HEADERS = HEADER_TXID;
const PREFLIGHT_MAX_AGE_S = "600";

/**
 * An origin as configured: `scheme://host[:port]` with no path, exactly as a browser sends it in
 * the `Origin` header. Anything else (a trailing slash, a path, `*`) is a config error: a policy
 * that silently never matches is worse than one refused at start-up.
 */
export function parseOrigin(value: string, field: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TreatyError("MalformedRequest", `${field}: ${JSON.stringify(value)} is not an origin`);
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.origin !== value) {
    throw new TreatyError(
      "MalformedRequest",
      `${field}: ${JSON.stringify(value)} is not an origin (expected scheme://host[:port], e.g. ${JSON.stringify(url.origin)})`,
    );
  }
  return value;
}

/** The CORS headers for a request with these headers (empty when the origin is not allowed). */
export function corsHeaders(policy: CorsPolicy, headers: IncomingHttpHeaders): Record<string, string> {
  const origin = headers.origin;
  if (origin === undefined || !policy.allowedOrigins.includes(origin)) return {};
  return {
    "access-control-allow-origin": origin,
    "access-control-expose-headers": EXPOSED_HEADERS,
    vary: "origin",
  };
}

/** True for a CORS preflight (not any OPTIONS request: those route as usual, to a 404). */
export function isPreflight(method: string, headers: IncomingHttpHeaders): boolean {
  return (
    method === "OPTIONS" &&
    headers.origin !== undefined &&
    headers["access-control-request-method"] !== undefined
  );
}

/** The answer to a preflight: what an allowed origin may send, or Forbidden. */
export function preflight(
  policy: CorsPolicy,
  headers: IncomingHttpHeaders,
): { status: number; headers: Record<string, string> } | TreatyError {
  const allowed = corsHeaders(policy, headers);
  if (allowed["access-control-allow-origin"] === undefined) {
    return new TreatyError(
      "Forbidden",
      `origin ${JSON.stringify(headers.origin)} is not allowed by this node`,
    );
  }
  return {
    status: 204,
    headers: {
      ...allowed,
      "access-control-allow-methods": ALLOWED_METHODS,
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-max-age": PREFLIGHT_MAX_AGE_S,
    },
  };
}
