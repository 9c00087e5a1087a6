/**
 * Admission of a request carried by a JWT bearer token (`Authorization: Bearer <jwt>`; see
 * sdk/bearer.ts): the token is verified (jwt.ts), then the body is checked as a signed request's
 * is: encoding, `nonce` and `createdMs` present, `createdMs` within the freshness window. The
 * request (caller id, `createdMs`, nonce) is consumed in the transaction like any caller's
 * (node/execution/nonces.ts, keyed by the JWT caller's id), so the same bytes never execute twice. What the ledger records is the
 * caller's id (a digest of issuer and subject) and the request digest (`bearerRequestDigest`,
 * which binds a digest of the token, never the token itself).
 */
import type { IncomingHttpHeaders } from "node:http";
import { bearerRequestDigest, HEADER_AUTHORIZATION } from "../../sdk/bearer.js";
import { TreatyError } from "../../sdk/errors.js";
import { HEADER_CALLER, HEADER_SIGNATURE, parseBody } from "../../sdk/request.js";
import {
  type AdmissionContext,
  type AdmittedRequest,
  bodyEncoding,
  refuseIfGovernanceMayLag,
} from "../admission.js";
import type { GovView } from "../gov/view.js";
import { GOV, type JwtIssuerRecord } from "../gov/tables.js";
import { JwtVerifier } from "./jwt.js";

const BEARER = /^Bearer +([^\s]+)$/i;

/** One verifier (and token cache) per governance view, i.e. per node. */
const verifiers = new WeakMap<GovView, JwtVerifier>();

/** The bearer-token verifier of the node whose governance view is `gov`. */
export function jwtVerifierFor(gov: GovView): JwtVerifier {
  let verifier = verifiers.get(gov);
  if (verifier === undefined) {
    verifier = new JwtVerifier();
    verifiers.set(gov, verifier);
  }
  return verifier;
}

/** True when the request carries an `Authorization` header (it is then a bearer request). */
export function hasBearer(headers: IncomingHttpHeaders): boolean {
  return headers[HEADER_AUTHORIZATION] !== undefined;
}

/**
 * Checks a bearer request to `path`. Throws TreatyError: InvalidToken, ExpiredToken,
 * TokenNotYetValid, UnknownIssuer (401) for the token (Unavailable instead of UnknownIssuer
 * while `ctx.governanceMayLag()`); MalformedRequest for a request that is also signed, or whose
 * body lacks `nonce`/`createdMs`; StaleRequest outside the window.
 */
export async function admitBearer(
  ctx: AdmissionContext,
  path: string,
  headers: IncomingHttpHeaders,
  bytes: Uint8Array,
): Promise<AdmittedRequest> {
  if (headers[HEADER_CALLER] !== undefined || headers[HEADER_SIGNATURE] !== undefined)
    throw new TreatyError(
      "MalformedRequest",
      `a request is signed (${HEADER_CALLER}, ${HEADER_SIGNATURE}) or carries a bearer token (authorization), not both`,
    );
  const match = BEARER.exec(String(headers[HEADER_AUTHORIZATION]));
  if (match === null) throw new TreatyError("InvalidToken", "authorization: expected `Bearer <token>`");
  const token = match[1]!;
  const caller = await jwtVerifierFor(ctx.gov).verify(token, ctx.nowMs, (issuer) => {
    const record = ctx.gov.row<JwtIssuerRecord>(GOV.jwtIssuers, issuer);
    if (record === undefined) refuseIfGovernanceMayLag(ctx, "trusted issuers");
    return record;
  });
  const body = parseBody(bytes, bodyEncoding(headers));
  if (body.nonce === undefined)
    throw new TreatyError("MalformedRequest", "body.nonce: required in a bearer request");
  if (body.createdMs === undefined)
    throw new TreatyError("MalformedRequest", "body.createdMs: required in a bearer request");
  const skew = Math.abs(ctx.nowMs - body.createdMs);
  if (skew > ctx.freshnessWindowMs)
    throw new TreatyError(
      "StaleRequest",
      `body.createdMs: ${skew} ms away from the node's clock; requests must be within ${ctx.freshnessWindowMs} ms`,
    );
  return { body, caller, requestDigest: bearerRequestDigest(ctx.serviceId, path, token, bytes) };
}
