/**
 * Admission of a client request, before anything executes: envelope encoding, caller identity,
 * signature over the exact bytes received, freshness. What comes out is a call the node may
 * execute and the digest recorded with it. Replays of an admitted request are stopped later, in
 * the transaction itself (the nonce table is replicated state; see node/execution). The signature
 * check itself runs where the context's `SignatureVerifier` puts it (node/verify/: on worker
 * threads in a node, on the main thread below saturation), so admission is async.
 */
import type { IncomingHttpHeaders } from "node:http";
import { TreatyError } from "../sdk/errors.js";
import { parsePublicKey, type PublicKey } from "../sdk/keys.js";
import {
  type BodyEncoding,
  CONTENT_JSON,
  CONTENT_MSGPACK,
  HEADER_CALLER,
  HEADER_SIGNATURE,
  parseBody,
  parseSignatureHeader,
  type RequestBody,
  signingInput,
} from "../sdk/request.js";
import {
  EIP191_SCHEME,
  EIP712_SCHEME,
  HEADER_SIGNATURE_SCHEME,
  isWalletScheme,
  parseWalletSignature,
  walletSignedBytes,
} from "../sdk/ethereum.js";
import { addStageTime } from "./stage-times.js";
import type { SignatureVerifier, VerifyJob } from "./verify/index.js";
import type { CallerInfo, KeyCallerRole } from "../runtime/sandbox/abi.js";
import type { GovView } from "./gov/view.js";

export interface AdmittedRequest {
  readonly body: RequestBody;
  readonly caller: CallerInfo | null;
  /** SHA-256 of the signed bytes (the receipt's request digest); null when unsigned. */
  readonly requestDigest: Uint8Array | null;
}

export interface AdmissionContext {
  readonly serviceId: string;
  readonly gov: GovView;
  readonly nowMs: number;
  readonly freshnessWindowMs: number;
  /** Checks the request's signature (node/verify/: the node's worker pool, or on this thread). */
  readonly verifier: SignatureVerifier;
  /**
   * Asked only when the caller is not in `gov`: may `gov` miss committed entries? True on a
   * just-elected leader that has not committed in its view yet; the caller is then refused with
   * Unavailable (retried by clients) rather than a final UnknownCaller.
   */
  readonly governanceMayLag?: () => boolean;
}

/** The body encoding named by a Content-Type header; UnsupportedMediaType otherwise. */
export function bodyEncoding(headers: IncomingHttpHeaders): BodyEncoding {
  const header = headers["content-type"];
  // The usual header, exactly: no split and case fold per request.
  if (header === undefined || header === CONTENT_JSON) return "json";
  if (header === CONTENT_MSGPACK) return "msgpack";
  const type = header.split(";")[0]!.trim().toLowerCase();
  if (type === CONTENT_JSON) return "json";
  if (type === CONTENT_MSGPACK) return "msgpack";
  throw new TreatyError(
    "UnsupportedMediaType",
    `content-type: expected ${CONTENT_JSON} or ${CONTENT_MSGPACK}, got ${type}`,
  );
}

/**
 * Looks up a member or user by id in the committed governance tables: its role and key, or for
 * an Ethereum wallet user its address (the key is recovered from each signature instead).
 */
export function findCaller(
  gov: GovView,
  id: string,
): { role: KeyCallerRole; key: PublicKey } | { role: KeyCallerRole; address: string } | undefined {
  const member = gov.member(id);
  const record = member ?? gov.user(id);
  if (record === undefined) return undefined;
  const role = member ? "member" : "user";
  if ("address" in record) return { role, address: record.address };
  return { role, key: callerKey(record.curve, record.publicKey) };
}

const CALLER_KEY_CACHE_LIMIT = 4096;
const callerKeys = new Map<string, PublicKey>();

/**
 * Parses a recorded caller key once: the point check decompresses the point with noble (~0.5 ms
 * for ed25519, about 10% of the node's per-write CPU when done per request). Cached by the
 * recorded hex and checked against the recorded curve, so a key changed by governance is parsed
 * afresh. The cached keys are shared: callers must not mutate them.
 */
function callerKey(curve: string, publicKeyHex: string): PublicKey {
  // By the hex alone (no key string built per request), the curve checked on the hit.
  let key = callerKeys.get(publicKeyHex);
  if (key === undefined || key.curve !== curve) {
    key = parsePublicKey(curve, publicKeyHex, "caller");
    if (callerKeys.size >= CALLER_KEY_CACHE_LIMIT) callerKeys.delete(callerKeys.keys().next().value!);
    callerKeys.set(publicKeyHex, key);
  }
  return key;
}

/**
 * Checks a request to `path`; rejects with a coded TreatyError for anything wrong with it, in the
 * same order whether the signature is checked on this thread or a worker: malformed, unknown
 * caller, bad signature, missing nonce or time, stale. `Unavailable` when the signature could
 * not be checked (the verifier is saturated or lost its worker).
 *
 * Runs for every request, so it is written as one synchronous check before the signature and one
 * after it, joined by awaiting the verifier's promise (no async layers of its own). An async
 * function rather than a `.then` closure made per request: V8 drops a per-call closure's optimized
 * code at every major GC and compiles it again (docs/performance.md, "Hot closures recompiled
 * after every major GC"). The `admission` stage is the main-thread time of both, not the wait for
 * the verifier.
 */
export async function admit(
  ctx: AdmissionContext,
  path: string,
  headers: IncomingHttpHeaders,
  bytes: Uint8Array,
): Promise<AdmittedRequest> {
  const startedMs = performance.now();
  let check: SignatureCheck;
  let answer: Promise<Uint8Array | null>;
  try {
    const before = checkBeforeSignature(ctx, path, headers, bytes);
    if (!("job" in before)) {
      addStageTime("admission", performance.now() - startedMs);
      return before;
    }
    check = before;
    const signatureStartedMs = performance.now();
    try {
      answer = before.job === null ? Promise.resolve(null) : ctx.verifier.verify(before.job);
    } finally {
      addStageTime("signature", performance.now() - signatureStartedMs);
    }
  } catch (err) {
    addStageTime("admission", performance.now() - startedMs);
    throw err;
  }
  addStageTime("admission", performance.now() - startedMs);
  const digest = await answer;
  const resumedMs = performance.now();
  try {
    return checkAfterSignature(ctx, check, digest);
  } finally {
    addStageTime("admission", performance.now() - resumedMs);
  }
}

/** A signed request parsed and its caller found, waiting for its signature check. */
interface SignatureCheck {
  readonly body: RequestBody;
  readonly callerId: string;
  readonly role: KeyCallerRole;
  readonly scheme: typeof EIP191_SCHEME | typeof EIP712_SCHEME | undefined;
  /** null when the caller's kind cannot sign with `scheme` (a BadSignature, without a check). */
  readonly job: VerifyJob | null;
}

/** Everything before the signature check: an unsigned request is admitted here. */
function checkBeforeSignature(
  ctx: AdmissionContext,
  path: string,
  headers: IncomingHttpHeaders,
  bytes: Uint8Array,
): AdmittedRequest | SignatureCheck {
  const body = parseBody(bytes, bodyEncoding(headers));
  const callerId = headers[HEADER_CALLER];
  const signatureHeader = headers[HEADER_SIGNATURE];
  if (callerId === undefined && signatureHeader === undefined)
    return { body, caller: null, requestDigest: null };
  if (typeof callerId !== "string" || typeof signatureHeader !== "string") {
    throw new TreatyError(
      "MalformedRequest",
      `a signed request needs both ${HEADER_CALLER} and ${HEADER_SIGNATURE} headers`,
    );
  }
  const scheme = headers[HEADER_SIGNATURE_SCHEME];
  if (scheme !== undefined && !isWalletScheme(scheme))
    throw new TreatyError(
      "MalformedRequest",
      `${HEADER_SIGNATURE_SCHEME}: expected ${EIP191_SCHEME} or ${EIP712_SCHEME} (or no header), got ${JSON.stringify(String(scheme)).slice(0, 80)}`,
    );
  const signature =
    scheme === undefined ? parseSignatureHeader(signatureHeader) : parseWalletSignature(signatureHeader);
  const caller = findCaller(ctx.gov, callerId);
  if (caller === undefined) refuseIfGovernanceMayLag(ctx, "members and users");
  if (caller === undefined)
    throw new TreatyError(
      "UnknownCaller",
      `${HEADER_CALLER}: ${callerId.slice(0, 80)} is not a member or user of this service`,
    );
  let job: VerifyJob | null;
  if (scheme === undefined) {
    job =
      "key" in caller
        ? {
            kind: "key",
            key: caller.key,
            inputPrefix: signingPrefix(ctx.serviceId, path),
            input: bytes,
            signature,
          }
        : null;
  } else {
    job =
      "address" in caller
        ? {
            kind: "wallet",
            scheme,
            address: caller.address,
            signed: walletSignedBytes(scheme, ctx.serviceId, path, bytes, body),
            signature,
          }
        : null;
  }
  return { body, callerId, role: caller.role, scheme, job };
}

const SIGNING_PREFIX_CACHE_LIMIT = 1024;
/** `signingInput(serviceId, path, empty body)` by service id, then path (few of each). */
const signingPrefixes = new Map<string, Map<string, Uint8Array>>();

/**
 * The bytes a caller signs before the body: `signingInput(serviceId, path, body)` (sdk/request.ts)
 * is this prefix followed by the body. It depends only on the service and path, so it is encoded
 * once per pair (at most SIGNING_PREFIX_CACHE_LIMIT kept), not per request; the verify job
 * carries it beside the body (node/verify/: the two are joined only where the job is encoded for
 * a worker). The prefix is shared: callers must not change it.
 */
export function signingPrefix(serviceId: string, path: string): Uint8Array {
  let byPath = signingPrefixes.get(serviceId);
  if (byPath === undefined) {
    if (signingPrefixes.size >= 16) signingPrefixes.clear();
    byPath = new Map();
    signingPrefixes.set(serviceId, byPath);
  }
  let prefix = byPath.get(path);
  if (prefix === undefined) {
    prefix = signingInput(serviceId, path, EMPTY);
    if (byPath.size >= SIGNING_PREFIX_CACHE_LIMIT) byPath.delete(byPath.keys().next().value!);
    byPath.set(path, prefix);
  }
  return prefix;
}

const EMPTY = new Uint8Array(0);

/**
 * Throws Unavailable when `ctx.governanceMayLag` says the governance view may miss committed
 * entries: a refusal for something it lacks (a caller, an issuer) could be wrong, and final.
 */
export function refuseIfGovernanceMayLag(ctx: AdmissionContext, what: string): void {
  if (ctx.governanceMayLag?.() === true)
    throw new TreatyError(
      "Unavailable",
      `the new leader has not committed in its view yet, so its list of ${what} may lag: retry shortly`,
    );
}

/** Everything after the signature check: its answer, then the nonce and freshness. */
function checkAfterSignature(
  ctx: AdmissionContext,
  check: SignatureCheck,
  digest: Uint8Array | null,
): AdmittedRequest {
  const { body, callerId, scheme } = check;
  if (digest === null) {
    throw new TreatyError(
      "BadSignature",
      scheme === undefined
        ? `${HEADER_SIGNATURE}: does not verify for caller ${callerId} over this path and body (wrong key, or signed for another service)`
        : `${HEADER_SIGNATURE}: the ${scheme} signature is not by ${callerId.slice(0, 80)} over this service, path and body`,
    );
  }
  if (body.nonce === undefined)
    throw new TreatyError("MalformedRequest", "body.nonce: required in a signed request");
  if (body.createdMs === undefined)
    throw new TreatyError("MalformedRequest", "body.createdMs: required in a signed request");
  const skew = Math.abs(ctx.nowMs - body.createdMs);
  if (skew > ctx.freshnessWindowMs) {
    throw new TreatyError(
      "StaleRequest",
      `body.createdMs: ${skew} ms away from the node's clock; requests must be within ${ctx.freshnessWindowMs} ms`,
    );
  }
  return { body, caller: { id: callerId, role: check.role }, requestDigest: digest };
}
